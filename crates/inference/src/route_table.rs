//! The routes of one workspace, by model name, split into shards so that a change copies one
//! shard (about 1/64 of the workspace) rather than the whole table: with 100,000 models a model
//! write stays cheap in time and in the memory churn of copying.

use crate::snapshot::Route;
use std::hash::BuildHasher;
use std::sync::Arc;

/// Number of shards per workspace.
const SHARDS: usize = 64;

type Shard = hashbrown::HashMap<String, Arc<Route>>;

/// An immutable table; [`RouteTable::with`] makes a changed copy sharing the untouched shards.
#[derive(Debug, Clone)]
pub struct RouteTable {
    shards: Vec<Arc<Shard>>,
    len: usize,
}

impl Default for RouteTable {
    fn default() -> RouteTable {
        RouteTable { shards: (0..SHARDS).map(|_| Arc::default()).collect(), len: 0 }
    }
}

/// The shard of a model name (foldhash with a fixed seed: a name stays in its shard in every
/// copy of the table; names come from the operator).
fn shard_of(name: &str) -> usize {
    usize::try_from(foldhash::fast::FixedState::default().hash_one(name) % SHARDS as u64).unwrap_or(0)
}

impl RouteTable {
    /// A table of `routes`.
    pub fn from_routes(routes: impl IntoIterator<Item = (String, Arc<Route>)>) -> RouteTable {
        let mut shards: Vec<Shard> = (0..SHARDS).map(|_| Shard::new()).collect();
        for (name, route) in routes {
            shards[shard_of(&name)].insert(name, route);
        }
        let len = shards.iter().map(Shard::len).sum();
        RouteTable { shards: shards.into_iter().map(Arc::new).collect(), len }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Route>> {
        self.shards.get(shard_of(name))?.get(name)
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.shards.iter().flat_map(|shard| shard.values())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// This table with `name` set to `route`, or removed when `None`; only its shard is copied.
    pub fn with(&self, name: &str, route: Option<Route>) -> RouteTable {
        let index = shard_of(name);
        let mut shard = self.shards[index].as_ref().clone();
        match route {
            Some(route) => {
                shard.insert(name.to_string(), Arc::new(route));
            }
            None => {
                shard.remove(name);
            }
        }
        let len = self.len - self.shards[index].len() + shard.len();
        let mut shards = self.shards.clone();
        shards[index] = Arc::new(shard);
        RouteTable { shards, len }
    }

    /// Whether the shard holding `name` is the same in both tables (for tests).
    #[cfg(test)]
    pub fn shares_shard_of(&self, other: &RouteTable, name: &str) -> bool {
        Arc::ptr_eq(&self.shards[shard_of(name)], &other.shards[shard_of(name)])
    }
}
