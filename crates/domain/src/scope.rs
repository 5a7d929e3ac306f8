//! Caller scopes, named as in Blaxel's control-plane reference. `admin` implies every other.

use std::fmt;

/// A permission a credential carries. Each control-plane route requires exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Admin,
    ModelsList,
    ModelsGet,
    ModelsCreate,
    ModelsUpdate,
    ModelsDelete,
    IntegrationsList,
    IntegrationsGet,
    IntegrationsCreate,
    IntegrationsUpdate,
    IntegrationsDelete,
    PoliciesList,
    PoliciesGet,
    PoliciesCreate,
    PoliciesUpdate,
    PoliciesDelete,
    WorkspacesGet,
    WorkspacesList,
    WorkspacesCreate,
    WorkspacesUpdate,
    WorkspacesDelete,
    ApiKeyList,
    ApiKeyWrite,
    /// Calling a model on the inference plane (modelgate's own scope; Blaxel has none).
    ModelsInvoke,
}

impl Scope {
    /// Every scope, in the order they are documented.
    pub const ALL: [Scope; 24] = [
        Scope::Admin,
        Scope::ModelsList,
        Scope::ModelsGet,
        Scope::ModelsCreate,
        Scope::ModelsUpdate,
        Scope::ModelsDelete,
        Scope::IntegrationsList,
        Scope::IntegrationsGet,
        Scope::IntegrationsCreate,
        Scope::IntegrationsUpdate,
        Scope::IntegrationsDelete,
        Scope::PoliciesList,
        Scope::PoliciesGet,
        Scope::PoliciesCreate,
        Scope::PoliciesUpdate,
        Scope::PoliciesDelete,
        Scope::WorkspacesGet,
        Scope::WorkspacesList,
        Scope::WorkspacesCreate,
        Scope::WorkspacesUpdate,
        Scope::WorkspacesDelete,
        Scope::ApiKeyList,
        Scope::ApiKeyWrite,
        Scope::ModelsInvoke,
    ];

    /// The scope's name on the wire (`models:create`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::ModelsList => "models:list",
            Scope::ModelsGet => "models:get",
            Scope::ModelsCreate => "models:create",
            Scope::ModelsUpdate => "models:update",
            Scope::ModelsDelete => "models:delete",
            Scope::IntegrationsList => "integrations:list",
            Scope::IntegrationsGet => "integrations:get",
            Scope::IntegrationsCreate => "integrations:create",
            Scope::IntegrationsUpdate => "integrations:update",
            Scope::IntegrationsDelete => "integrations:delete",
            Scope::PoliciesList => "policies:list",
            Scope::PoliciesGet => "policies:get",
            Scope::PoliciesCreate => "policies:create",
            Scope::PoliciesUpdate => "policies:update",
            Scope::PoliciesDelete => "policies:delete",
            Scope::WorkspacesGet => "workspaces:get",
            Scope::WorkspacesList => "workspaces:list",
            Scope::WorkspacesCreate => "workspaces:create",
            Scope::WorkspacesUpdate => "workspaces:update",
            Scope::WorkspacesDelete => "workspaces:delete",
            Scope::ApiKeyList => "apiKey:list",
            Scope::ApiKeyWrite => "apiKey:write",
            Scope::ModelsInvoke => "models:invoke",
        }
    }

    /// Parses a wire name; `None` for a name modelgate does not know.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a credential holding `granted` may act where `self` is required.
    pub fn is_granted_by(self, granted: &[Scope]) -> bool {
        granted.iter().any(|g| *g == Scope::Admin || *g == self)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("models:fly"), None);
    }

    #[test]
    fn admin_implies_every_scope() {
        assert!(Scope::ModelsDelete.is_granted_by(&[Scope::Admin]));
        assert!(Scope::ModelsDelete.is_granted_by(&[Scope::ModelsDelete]));
        assert!(!Scope::ModelsDelete.is_granted_by(&[Scope::ModelsGet]));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(2000))]

        /// Only a scope's exact name reads as that scope.
        #[test]
        fn only_exact_names_are_scopes(
            text in prop_oneof![any::<String>(), near(Scope::ALL.iter().map(|s| s.as_str().to_string()).collect())],
        ) {
            if let Some(scope) = Scope::parse(&text) {
                prop_assert_eq!(scope.as_str(), text);
            }
        }
    }
}
