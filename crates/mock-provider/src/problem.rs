//! Why a request fails, independent of any provider; each provider module renders a [`Problem`]
//! in its own error shape.

use axum::http::StatusCode;

/// A failed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// No credential where the provider expects one.
    MissingCredential,
    /// A credential that is not the configured key; `shown` is a masked form safe to echo.
    InvalidCredential { shown: String },
    /// The body is not JSON (or not a JSON object).
    MalformedJson(String),
    /// A required body field is absent.
    MissingField(&'static str),
    /// Any other invalid request.
    Invalid(String),
    /// Unknown resource (path, deployment, method).
    NotFound(String),
    /// A status injected by a fault.
    Injected { status: StatusCode, retry_after: Option<u64> },
}

impl Problem {
    /// The injected fault, if the plan asks for one.
    pub(crate) fn injected(status: Option<(u16, Option<u64>)>) -> Option<Self> {
        let (code, retry_after) = status?;
        let status = StatusCode::from_u16(code).ok()?;
        Some(Self::Injected { status, retry_after })
    }

    /// The HTTP status every provider uses for this problem.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::MissingCredential | Self::InvalidCredential { .. } => StatusCode::UNAUTHORIZED,
            Self::MalformedJson(_) | Self::MissingField(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Injected { status, .. } => *status,
        }
    }

    /// Seconds for the `retry-after` header: the injected value, or 1 for an injected 429.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Injected { status, retry_after } => {
                retry_after.or((*status == StatusCode::TOO_MANY_REQUESTS).then_some(1))
            }
            _ => None,
        }
    }

    /// A neutral message for an injected status.
    pub(crate) fn injected_message(status: StatusCode) -> String {
        let reason = status.canonical_reason().unwrap_or("error");
        format!("{reason} (injected by the mock provider)")
    }
}

/// Checks a presented credential against the configured key.
pub(crate) fn check_key(presented: Option<&str>, expected: &str) -> Result<(), Problem> {
    match presented.map(str::trim) {
        None | Some("") => Err(Problem::MissingCredential),
        Some(key) if key == expected => Ok(()),
        Some(key) => Err(Problem::InvalidCredential { shown: mask(key) }),
    }
}

/// A key as providers echo it: first and last few characters only.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// The value of an `Authorization: Bearer` header.
pub(crate) fn bearer(value: Option<&str>) -> Option<&str> {
    let value = value?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Parses a JSON object body.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Value, Problem> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err(Problem::MalformedJson("the body must be a JSON object".into())),
        Err(error) => Err(Problem::MalformedJson(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        assert_eq!(check_key(None, "k"), Err(Problem::MissingCredential));
        assert_eq!(check_key(Some(" "), "k"), Err(Problem::MissingCredential));
        assert_eq!(check_key(Some("k"), "k"), Ok(()));
        assert_eq!(
            check_key(Some("sk-wrong-key-123"), "k"),
            Err(Problem::InvalidCredential { shown: "sk-*********-123".into() })
        );
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(None), None);
    }

    #[test]
    fn statuses_and_retry_after() {
        let injected = Problem::injected(Some((429, None))).unwrap();
        assert_eq!(injected.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(injected.retry_after(), Some(1));
        assert_eq!(Problem::injected(Some((503, Some(4)))).unwrap().retry_after(), Some(4));
        assert_eq!(Problem::injected(Some((500, None))).unwrap().retry_after(), None);
        assert_eq!(Problem::MissingField("model").status(), StatusCode::BAD_REQUEST);
        assert!(json_object(b"[1]").is_err());
        assert!(json_object(b"{").is_err());
        assert!(json_object(b"{}").is_ok());
    }
}
