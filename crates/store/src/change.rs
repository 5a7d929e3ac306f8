//! What a configuration change touched, and the feed on which nodes hear of other nodes'
//! changes.

use crate::StoreError;
use async_trait::async_trait;

/// What a configuration change touched, so that nodes rebuild only that part of their route
/// snapshot: a model write costs one row read, not a read of every model.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "camelCase")]
pub enum ConfigChange {
    /// Anything (connections, policies, workspaces): rebuild from scratch.
    Everything,
    /// One model endpoint was created, updated or deleted.
    Model { workspace: String, name: String },
    /// API keys, service accounts or administrators: who may call, not what is served.
    Grants,
}

impl ConfigChange {
    /// The announcement's payload (well under PostgreSQL's 8,000-byte `NOTIFY` limit: names are
    /// short).
    pub fn to_payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a payload; anything unreadable (an older node's empty payload) means everything.
    pub fn from_payload(payload: &str) -> ConfigChange {
        serde_json::from_str(payload).unwrap_or(ConfigChange::Everything)
    }
}

/// An engine's subscription to announcements, behind a [`ChangeFeed`].
#[async_trait]
pub trait ChangeSource: Send {
    /// The next announcement; an error when the subscription's connection is lost.
    async fn next(&mut self) -> Result<ConfigChange, StoreError>;
}

/// Announcements of configuration changes made by any node.
pub struct ChangeFeed {
    source: Box<dyn ChangeSource>,
}

impl ChangeFeed {
    /// A feed reading `source`.
    pub fn new(source: impl ChangeSource + 'static) -> ChangeFeed {
        ChangeFeed { source: Box::new(source) }
    }

    /// Waits for the next announcement. An error means the connection broke: subscribe again,
    /// and rebuild everything, as announcements made meanwhile are lost. (The engine does not
    /// reconnect by itself, which would lose them silently.)
    pub async fn next(&mut self) -> Result<ConfigChange, StoreError> {
        self.source.next().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_notify_payloads() {
        let model = ConfigChange::Model { workspace: "w".into(), name: "m".into() };
        assert_eq!(model.to_payload(), r#"{"change":"model","workspace":"w","name":"m"}"#);
        for change in [model, ConfigChange::Grants, ConfigChange::Everything] {
            assert_eq!(ConfigChange::from_payload(&change.to_payload()), change);
        }
        assert_eq!(ConfigChange::from_payload(""), ConfigChange::Everything, "an older node's empty payload");
        assert_eq!(ConfigChange::from_payload(r#"{"change":"future"}"#), ConfigChange::Everything);
    }
}
