//! `maxToken` and rate-limit windows counted in Redis, so that they hold across gateway nodes.
//! One Lua script checks that a request's reservation fits in every window of its route and
//! holds it there, in a single atomic step; another settles a finished request's reservation to
//! the tokens it used. Each window is a hash (`input`, `output`, `total`, `requests`, `cost`) that
//! expires a little after its window ends. What a node counted alone while Redis was away is
//! added with [`RedisCounters::push`] when Redis answers again.
//!
//! Keys: `{prefix}:limit:{{workspace}}/{model}:{policy}:{caller or empty}:{window start}`, the
//! model `*` for a workspace-wide limit (`maxTokens.workspaceWide`). The braces are a Redis
//! Cluster hash tag: every window of one workspace lives in one slot, so one script may touch
//! all a request's windows, its model's and the workspace's.

use crate::reservation::{Amounts, Reservation};
use crate::snapshot::{Route, TokenLimit};
use crate::token_limits::{counted_caller, counted_model, window, UnsyncedWindow};
use crate::usage_tap::Usage;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::time::Duration;

/// `KEYS`: one hash per window. `ARGV`, eleven per window: the input, output, total, requests
/// and cost thresholds (0 = not evaluated), the input, output, total tokens, the request (1) and
/// the cost reserved, and the key's time to live in seconds. Answers 0 when admitted (and holds
/// the reservation in every window), else the 1-based index of the first window it does not
/// fit in.
const RESERVE: &str = r"
local fields = {'input', 'output', 'total', 'requests', 'cost'}
for i = 1, #KEYS do
  local base = (i - 1) * 11
  local counted = redis.call('HMGET', KEYS[i], unpack(fields))
  for j = 1, 5 do
    local threshold = tonumber(ARGV[base + j])
    if threshold > 0 and (tonumber(counted[j]) or 0) + tonumber(ARGV[base + 5 + j]) > threshold then
      return i
    end
  end
end
for i = 1, #KEYS do
  local base = (i - 1) * 11
  for j = 1, 5 do
    redis.call('HINCRBY', KEYS[i], fields[j], ARGV[base + 5 + j])
  end
  redis.call('EXPIRE', KEYS[i], ARGV[base + 11])
end
return 0
";

/// `KEYS`: one hash per window. `ARGV`, six per window: the input, output, total, requests and
/// cost to add (negative when a reservation was larger than the usage) and the key's time to
/// live.
const ADD: &str = r"
local fields = {'input', 'output', 'total', 'requests', 'cost'}
for i = 1, #KEYS do
  local base = (i - 1) * 6
  for j = 1, 5 do
    redis.call('HINCRBY', KEYS[i], fields[j], ARGV[base + j])
  end
  redis.call('EXPIRE', KEYS[i], ARGV[base + 6])
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
    reserve: Script,
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
            reserve: Script::new(RESERVE),
            add: Script::new(ADD),
        })
    }

    /// The hash of one window. Its Redis Cluster hash tag is the workspace: one request's windows
    /// (its model's and, with a workspace-wide policy, the workspace's) then live in one slot, as
    /// the scripts that touch them together need.
    fn key(&self, workspace: &str, model: &str, policy: &str, who: &str, start: i64) -> String {
        format!("{}:limit:{{{workspace}}}/{model}:{policy}:{who}:{start}", self.prefix)
    }

    fn route_key(&self, route: &Route, limit: &TokenLimit, caller: &str, start: i64) -> String {
        let model = counted_model(limit, route);
        self.key(&route.workspace, model, &limit.policy, counted_caller(limit, caller), start)
    }

    /// Admits a request when its reservation fits in every window of its route and holds it
    /// there: `Ok(Ok(()))` when admitted, `Ok(Err((policy, seconds until its window ends)))`
    /// when it does not fit.
    pub async fn reserve(
        &self,
        route: &Route,
        caller: &str,
        reservation: Reservation,
    ) -> Result<Result<(), (String, i64)>, CounterError> {
        let now = reservation.at;
        let mut invocation = self.reserve.prepare_invoke();
        let threshold = |value: Option<i64>| value.unwrap_or(0).max(0);
        for limit in &route.token_limits {
            let (start, end) = window(limit, now);
            let (limits, reserved) = (&limit.limits, reservation.reserved(limit));
            invocation
                .key(self.route_key(route, limit, caller, start))
                .arg(threshold(limits.input))
                .arg(threshold(limits.output))
                .arg(threshold(limits.total))
                .arg(threshold(limits.requests))
                .arg(threshold(limit.budget()))
                .arg(reserved.input)
                .arg(reserved.output)
                .arg(reserved.total)
                .arg(reserved.requests)
                .arg(reserved.cost)
                .arg(end - now + EXPIRY_SLACK_SECS);
        }
        let reached: usize = self.invoke(&invocation).await?;
        Ok(match reached.checked_sub(1).and_then(|index| route.token_limits.get(index)) {
            None => Ok(()),
            Some(limit) => Err((limit.policy.clone(), window(limit, now).1 - now)),
        })
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), CounterError> {
        self.retried::<String>(Call::Ping).await?;
        Ok(())
    }

    /// Replaces a finished request's reservation by the tokens it used, in the windows it was
    /// admitted in (unless they have expired by `now`).
    pub async fn settle(
        &self,
        route: &Route,
        caller: &str,
        reservation: Reservation,
        usage: Usage,
        now: i64,
    ) -> Result<(), CounterError> {
        let mut invocation = self.add.prepare_invoke();
        let mut windows = 0;
        for limit in &route.token_limits {
            let (start, end) = window(limit, reservation.at);
            let ttl = end - now + EXPIRY_SLACK_SECS;
            if ttl > 0 {
                let key = self.route_key(route, limit, caller, start);
                add_args(invocation.key(key), reservation.settlement(limit, usage, route.price.as_ref()), ttl);
                windows += 1;
            }
        }
        if windows == 0 {
            return Ok(());
        }
        self.run(invocation).await
    }

    /// Adds what a node counted alone in one window to the same window in Redis.
    pub async fn push(&self, window: &UnsyncedWindow, now: i64) -> Result<(), CounterError> {
        let counter = &window.key;
        let key = self.key(&counter.workspace, &counter.model, &counter.policy, &counter.caller, window.start);
        let mut invocation = self.add.prepare_invoke();
        add_args(invocation.key(key), window.amounts, window.end - now + EXPIRY_SLACK_SECS);
        self.run(invocation).await
    }

    async fn run(&self, invocation: redis::ScriptInvocation<'_>) -> Result<(), CounterError> {
        self.invoke::<i64>(&invocation).await?;
        Ok(())
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, CounterError> {
        self.retried(Call::Script(invocation)).await
    }

    /// Runs `call` within the timeout, once more if the connection turns out broken: a
    /// connection Redis dropped (a restart, a network cut) fails its next command, and the
    /// manager reconnects for the next one. Without the second try, every node would count
    /// alone for a moment after each such break.
    async fn retried<T: redis::FromRedisValue>(&self, call: Call<'_>) -> Result<T, CounterError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut connection = self.connection.clone();
            let once = async {
                match call {
                    Call::Script(invocation) => invocation.invoke_async(&mut connection).await,
                    Call::Ping => redis::cmd("PING").query_async(&mut connection).await,
                }
            };
            match tokio::time::timeout(self.timeout, once).await {
                Err(_) => return Err(CounterError::Timeout(self.timeout)),
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) if tries == 1 && (error.is_connection_dropped() || error.is_io_error()) => continue,
                Ok(Err(error)) => return Err(error.into()),
            }
        }
    }
}

/// What [`RedisCounters::retried`] sends.
#[derive(Clone, Copy)]
enum Call<'a> {
    Script(&'a redis::ScriptInvocation<'a>),
    Ping,
}

/// The `ADD` script's arguments for one window.
fn add_args(invocation: &mut redis::ScriptInvocation<'_>, amounts: Amounts, ttl: i64) {
    invocation
        .arg(amounts.input)
        .arg(amounts.output)
        .arg(amounts.total)
        .arg(amounts.requests)
        .arg(amounts.cost)
        .arg(ttl);
}
