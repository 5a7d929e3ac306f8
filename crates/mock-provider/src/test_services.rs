//! The services integration tests need beside the mock provider: PostgreSQL and Redis, the one
//! rule every test that needs them follows.
//!
//! A service is found through its variable (`MODELGATE_TEST_POSTGRES_URL`,
//! `MODELGATE_TEST_REDIS_URL`; `.ci/run` sets both), else at its default loopback address. Whether
//! it answers there is checked once per process, with a short connect timeout. When it does not,
//! the test is skipped with a line on stderr naming it (written past libtest's capture, so a plain
//! `cargo test` shows every skipped test), or, under `CI=true`, the test fails naming the address.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

/// The variable holding the URL of a PostgreSQL database the tests may create schemas in.
pub const POSTGRES_URL_VARIABLE: &str = "MODELGATE_TEST_POSTGRES_URL";
/// Where the PostgreSQL tests look when [`POSTGRES_URL_VARIABLE`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The variable holding the Redis URL of tests.
pub const REDIS_URL_VARIABLE: &str = "MODELGATE_TEST_REDIS_URL";
/// Where the Redis tests look when [`REDIS_URL_VARIABLE`] is unset.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// How long the one connection attempt per service and process may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// A service some tests need.
struct Service {
    name: &'static str,
    variable: &'static str,
    default_url: &'static str,
    default_port: u16,
    /// The URL to use, or why the service cannot be used; decided on first use.
    found: OnceLock<Result<String, String>>,
}

static POSTGRES: Service = Service {
    name: "PostgreSQL",
    variable: POSTGRES_URL_VARIABLE,
    default_url: DEFAULT_POSTGRES_URL,
    default_port: 5432,
    found: OnceLock::new(),
};

static REDIS: Service = Service {
    name: "Redis",
    variable: REDIS_URL_VARIABLE,
    default_url: DEFAULT_REDIS_URL,
    default_port: 6379,
    found: OnceLock::new(),
};

/// The PostgreSQL URL for `test`, or `None` to skip it (see the module doc).
pub fn postgres_url(test: &str) -> Option<String> {
    POSTGRES.url_for(test)
}

/// The Redis URL for `test`, or `None` to skip it (see the module doc).
pub fn redis_url(test: &str) -> Option<String> {
    REDIS.url_for(test)
}

/// A key prefix no other test run uses, so tests can share one Redis.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("modelgate-test:{test}:{}:{nanos}", std::process::id())
}

impl Service {
    #[allow(clippy::panic, reason = "a test service missing under CI must fail the test that needs it")]
    fn url_for(&self, test: &str) -> Option<String> {
        match self.found.get_or_init(|| self.find()) {
            Ok(url) => Some(url.clone()),
            Err(reason) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: {reason}; under CI=true a test that needs it fails rather than skips")
            }
            Err(reason) => {
                // Straight to the process's stderr: libtest captures `eprintln!` of passing tests.
                let _ = writeln!(std::io::stderr(), "skipped {test}: {reason}");
                None
            }
        }
    }

    /// The URL from the variable or the default, if something accepts connections at its address.
    /// The error names the address, never the URL (which may hold a password).
    fn find(&self) -> Result<String, String> {
        let url = match std::env::var(self.variable) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => self.default_url.to_string(),
        };
        let address = host_and_port(&url, self.default_port);
        let unreachable = |why: String| {
            format!("{} does not answer at {address} ({why}; set {} to where it runs)", self.name, self.variable)
        };
        let addresses: Vec<SocketAddr> = address.to_socket_addrs().map_err(|e| unreachable(e.to_string()))?.collect();
        let mut last_error = String::from("no address");
        for socket in addresses {
            match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
                Ok(_) => return Ok(url),
                Err(error) => last_error = error.to_string(),
            }
        }
        Err(unreachable(last_error))
    }
}

/// `host:port` of a `scheme://[user[:password]@]host[:port][/path][?query]` URL.
fn host_and_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    // A port follows the last colon, unless that colon is inside a bracketed IPv6 address.
    let has_port = host_port.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
    if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    }
}

#[cfg(test)]
mod tests {
    use super::host_and_port;

    #[test]
    fn the_address_of_a_url_drops_credentials_path_and_query() {
        for (url, expected) in [
            ("postgres://postgres@127.0.0.1:5432/test", "127.0.0.1:5432"),
            ("postgres://user:secret@db.example:6000/test?sslmode=disable", "db.example:6000"),
            ("postgres://localhost/test", "localhost:5432"),
            ("redis://127.0.0.1:6379", "127.0.0.1:6379"),
            ("redis://127.0.0.1:6379/", "127.0.0.1:6379"),
            ("postgres://[::1]/test", "[::1]:5432"),
            ("postgres://[::1]:5433/test", "[::1]:5433"),
        ] {
            assert_eq!(host_and_port(url, 5432), expected, "{url}");
        }
    }
}
