//! The services integration tests need beside the mock provider, found through environment
//! variables that `.ci/run` sets. Outside CI a missing service skips the test with a printed
//! reason; under `CI=true` it fails the test.

/// The variable holding the Redis URL of tests.
pub const REDIS_URL_VARIABLE: &str = "MODELGATE_TEST_REDIS_URL";

/// The Redis URL for `test`, or `None` to skip it.
#[allow(clippy::panic, reason = "a test service missing under CI must fail the test that needs it")]
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var(REDIS_URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: {REDIS_URL_VARIABLE} is not set under CI=true (.ci/run sets it)")
        }
        _ => {
            eprintln!("skipping {test}: set {REDIS_URL_VARIABLE} (e.g. redis://127.0.0.1:6379) to run it");
            None
        }
    }
}

/// A key prefix no other test run uses, so tests can share one Redis.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("modelgate-test:{test}:{}:{nanos}", std::process::id())
}
