//! `maxToken` and rate-limit windows counted in Redis, so that they hold across gateway nodes.
//! One Lua script checks every window of a route and counts the request in a single atomic step;
//! another adds a finished request's tokens. Each window is a hash (`input`, `output`, `total`,
//! `requests`) that expires a little after its window ends.
//!
//! Keys: `{prefix}:limit:{{workspace/model}}:{policy}:{caller or empty}:{window start}`. The
//! braces are a Redis Cluster hash tag: every window of one model lives in one slot, so one
//! script may touch them all.

use crate::snapshot::{Route, TokenLimit};
use crate::token_limits::{counted_caller, window};
use crate::usage_tap::Usage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::time::Duration;

/// `KEYS`: one hash per window. `ARGV`, five per window: the input, output, total and requests
/// thresholds (0 = not evaluated) and the key's time to live in seconds. Answers 0 when admitted
/// (and counts the request in every window), else the 1-based index of the first window whose
/// limit is reached.
const ADMIT: &str = r"
for i = 1, #KEYS do
  local counted = redis.call('HMGET', KEYS[i], 'input', 'output', 'total', 'requests')
  for j = 1, 4 do
    local threshold = tonumber(ARGV[(i - 1) * 5 + j])
    if threshold > 0 and (tonumber(counted[j]) or 0) >= threshold then
      return i
    end
  end
end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'requests', 1)
  redis.call('EXPIRE', KEYS[i], ARGV[(i - 1) * 5 + 5])
end
return 0
";

/// `KEYS`: one hash per window. `ARGV`: input, output and total tokens, then one time to live (seconds) per key.
const ADD: &str = r"
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'input', ARGV[1])
  redis.call('HINCRBY', KEYS[i], 'output', ARGV[2])
  redis.call('HINCRBY', KEYS[i], 'total', ARGV[3])
  redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
end
return 0
";

/// Keys outlive their window by this much, so a node whose clock lags a little still finds them.
/// Times to live are relative, so Redis's own clock does not matter.
const EXPIRY_SLACK_SECS: i64 = 120;

/// Why Redis did not answer.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("{0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Windows counted in one Redis (or Valkey) server shared by the nodes.
pub struct RedisCounters {
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    admit: Script,
    add: Script,
}

impl RedisCounters {
    /// Counters at `url` (`redis://`, `rediss://` for TLS), keys under `prefix`. Connects lazily,
    /// so a node starts even while Redis is down; every call gives up after `timeout`.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisCounters, CounterError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        Ok(RedisCounters {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            prefix: prefix.to_string(),
            timeout,
            admit: Script::new(ADMIT),
            add: Script::new(ADD),
        })
    }

    fn key(&self, route: &Route, limit: &TokenLimit, caller: &str, start: i64) -> String {
        let who = counted_caller(limit, caller);
        format!("{}:limit:{{{}/{}}}:{}:{who}:{start}", self.prefix, route.workspace, route.name, limit.policy)
    }

    /// Checks the route's windows and counts the request: `Ok(Ok(()))` when admitted,
    /// `Ok(Err((policy, seconds until its window ends)))` when a limit is reached.
    pub async fn admit(
        &self,
        route: &Route,
        caller: &str,
        now: i64,
    ) -> Result<Result<(), (String, i64)>, CounterError> {
        let mut invocation = self.admit.prepare_invoke();
        let threshold = |value: Option<i64>| value.unwrap_or(0).max(0);
        for limit in &route.token_limits {
            let (start, end) = window(limit, now);
            let limits = &limit.limits;
            invocation
                .key(self.key(route, limit, caller, start))
                .arg(threshold(limits.input))
                .arg(threshold(limits.output))
                .arg(threshold(limits.total))
                .arg(threshold(limits.requests))
                .arg(end - now + EXPIRY_SLACK_SECS);
        }
        let mut connection = self.connection.clone();
        let reached: usize = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
            .await
            .map_err(|_| CounterError::Timeout(self.timeout))??;
        Ok(match reached.checked_sub(1).and_then(|index| route.token_limits.get(index)) {
            None => Ok(()),
            Some(limit) => Err((limit.policy.clone(), window(limit, now).1 - now)),
        })
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), CounterError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        tokio::time::timeout(self.timeout, ping).await.map_err(|_| CounterError::Timeout(self.timeout))??;
        Ok(())
    }

    /// Adds a finished request's tokens to the route's windows.
    pub async fn add(&self, route: &Route, caller: &str, usage: Usage, now: i64) -> Result<(), CounterError> {
        let mut invocation = self.add.prepare_invoke();
        invocation.arg(usage.input).arg(usage.output).arg(usage.total);
        for limit in &route.token_limits {
            let (start, end) = window(limit, now);
            invocation.key(self.key(route, limit, caller, start)).arg(end - now + EXPIRY_SLACK_SECS);
        }
        let mut connection = self.connection.clone();
        tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut connection))
            .await
            .map_err(|_| CounterError::Timeout(self.timeout))??;
        Ok(())
    }
}
