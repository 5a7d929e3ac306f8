//! The web console's sign-in: `POST /console/api/session` trades an API key, or a service
//! account's client id and secret, for a session held on the server; the browser keeps only a
//! random token in an `HttpOnly; SameSite=Strict` cookie, never the credential.
//!
//! A session acts exactly as its credential: on every request the credential is read again
//! (a revoked key or a deleted service account ends the session) and the API checks its scopes
//! and workspaces as for a bearer. Writes authenticated by the cookie must carry the session's
//! CSRF token in `X-CSRF-Token` (403 otherwise); requests with an `Authorization` header never
//! look at the cookie. Sessions end 8 hours after sign-in, after 1 hour without a request, or at
//! sign-out (`DELETE`), and live in the store, so every control node behind a load balancer
//! knows them.

use crate::auth::{authenticate_client, authenticate_key_digest, Principal};
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::throttle::client_ip;
use crate::ControlPlane;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use modelgate_domain::timestamp::{now_micros, to_rfc3339, Micros};
use modelgate_domain::{access_token, api_key};
use modelgate_store::ConsoleSessionRecord;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Name of the session cookie on plain http (loopback quickstarts).
pub const SESSION_COOKIE: &str = "modelgate_console";
/// Its name over TLS: the `__Host-` prefix makes browsers refuse it unless it is `Secure`, for
/// the whole host (`Path=/`) and set by this host itself, so no other site can plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-modelgate_console";
/// Header that carries the CSRF token on writes authenticated by the cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";
const SECOND: Micros = 1_000_000;
/// A session ends this long after sign-in, whatever happens.
pub const SESSION_LIFETIME: Micros = 8 * 3600 * SECOND;
/// A session ends after this long without a request.
pub const SESSION_IDLE_TIMEOUT: Micros = 3600 * SECOND;
/// Activity is written at most this often per session (the idle timeout's precision).
const TOUCH_EVERY: Micros = 60 * SECOND;

pub fn routes() -> axum::Router<Arc<ControlPlane>> {
    axum::Router::new().route("/session", axum::routing::post(sign_in).get(current).delete(sign_out))
}

/// What the sign-in form sends: an API key, or a service account's client credentials.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    api_key: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// What the page learns about its session (never the credential).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView {
    /// Sent back in `X-CSRF-Token` on every write.
    csrf_token: String,
    /// When the session ends at the latest (RFC 3339).
    expires_at: String,
    idle_timeout_seconds: i64,
    subject: String,
    subject_type: &'static str,
    /// The credential's own workspace (the page may switch to others the subject administers).
    workspace: String,
    scopes: Vec<&'static str>,
}

/// The session token a request's cookie carries, if any. Two session cookies are refused
/// rather than one picked: a second one can only have been planted (by a page served from the
/// same host on another port, whose cookies browsers do not keep apart), and trusting it would
/// swap the user's session for the planter's.
pub fn session_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut tokens = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE || name == SECURE_SESSION_COOKIE).then_some(value)
        })
        .filter(|token| !token.is_empty());
    let token = tokens.next();
    if tokens.next().is_some() {
        return Err(ApiError::Unauthorized(
            "the request carries two console session cookies, so neither is trusted: clear this site's cookies in the browser and sign in again".into(),
        ));
    }
    Ok(token)
}

/// A new session token: 32 random bytes, with a prefix of its own (not an API key's).
fn new_session_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("mgc_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The CSRF token of a session: derived from its token, so nothing more is stored, and
/// useless without the cookie it goes with.
fn csrf_token(token: &str) -> String {
    api_key::digest(&format!("modelgate/console/csrf/{token}"))
}

/// The principal a request's session cookie stands for; for a method that writes, the request
/// must carry the session's CSRF token.
pub async fn authenticate(
    state: &ControlPlane,
    method: &Method,
    headers: &HeaderMap,
    token: &str,
) -> Result<Principal, ApiError> {
    let (_, principal) = open_session(state, token).await?;
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !api_key::digests_match(sent, &csrf_token(token)) {
            return Err(ApiError::Forbidden(format!(
                "a write signed in by the console's session needs its CSRF token in the {CSRF_HEADER} header"
            )));
        }
    }
    Ok(principal)
}

fn session_ended() -> ApiError {
    ApiError::Unauthorized("the console session has ended (signed out, expired or idle); sign in again".into())
}

/// The live session of `token` and its credential's principal, read again from the store.
async fn open_session(state: &ControlPlane, token: &str) -> Result<(ConsoleSessionRecord, Principal), ApiError> {
    let digest = api_key::digest(token);
    let session = state.store.find_console_session(&digest).await?.ok_or_else(session_ended)?;
    let now = now_micros();
    if session.expires_at <= now || session.last_seen_at.saturating_add(SESSION_IDLE_TIMEOUT) <= now {
        state.store.delete_console_session(&digest).await?;
        return Err(session_ended());
    }
    let principal = match &session.client_id {
        Some(client_id) => authenticate_client(state, client_id, &session.credential_digest).await,
        None => authenticate_key_digest(state, &session.credential_digest).await,
    }
    .map_err(|error| match error {
        ApiError::Unauthorized(reason) => {
            ApiError::Unauthorized(format!("the console session's credential no longer holds: {reason}"))
        }
        other => other,
    })?;
    if now - session.last_seen_at >= TOUCH_EVERY {
        state.store.touch_console_session(&digest, now).await?;
    }
    Ok((session, principal))
}

/// Whether the request reached us over TLS (through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value of a session (or, with `None`, of its removal). Over TLS it is
/// `Secure` and named with the `__Host-` prefix; plain http is only for loopback quickstarts.
fn cookie(token: Option<&str>, secure: bool) -> Result<HeaderValue, ApiError> {
    let (value, max_age) = match token {
        Some(token) => (token, SESSION_LIFETIME / SECOND),
        None => ("", 0),
    };
    let (name, secure) = if secure { (SECURE_SESSION_COOKIE, "; Secure") } else { (SESSION_COOKIE, "") };
    HeaderValue::from_str(&format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"))
        .map_err(|_| ApiError::Internal("a session cookie is not a header value".into()))
}

fn view(token: &str, session: &ConsoleSessionRecord, principal: Principal) -> SessionView {
    SessionView {
        csrf_token: csrf_token(token),
        expires_at: to_rfc3339(session.expires_at),
        idle_timeout_seconds: SESSION_IDLE_TIMEOUT / SECOND,
        subject: principal.subject,
        subject_type: principal.subject_type.as_str(),
        workspace: principal.home_workspace,
        scopes: principal.scopes.iter().map(|s| s.as_str()).collect(),
    }
}

/// Checks the credential exactly as the API does; a failure counts against the address's
/// throttle like any failed authentication.
async fn check_credential(
    state: &ControlPlane,
    body: &SignIn,
) -> Result<(Principal, String, Option<String>), ApiError> {
    match (&body.api_key, &body.client_id, &body.client_secret) {
        (Some(key), None, None) => {
            let key = key.trim();
            if access_token::looks_like_token(key) {
                return Err(ApiError::BadRequest(
                    "sign in with an API key or a service account's client id and secret, not an access token".into(),
                ));
            }
            let digest = api_key::digest(key);
            Ok((authenticate_key_digest(state, &digest).await?, digest, None))
        }
        (None, Some(client_id), Some(secret)) => {
            let digest = api_key::digest(secret.trim());
            let principal = authenticate_client(state, client_id.trim(), &digest).await?;
            Ok((principal, digest, Some(client_id.trim().to_string())))
        }
        _ => Err(ApiError::BadRequest("send either apiKey, or clientId and clientSecret".into())),
    }
}

/// `POST /console/api/session`: signs in.
async fn sign_in(State(state): State<Arc<ControlPlane>>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let (ip, secure) = (client_ip(&parts), over_tls(&parts.headers));
    let request = Request::from_parts(parts, body);
    let body: SignIn = JsonBody::from_request(request, &state).await?.parse()?;
    let (principal, credential_digest, client_id) = match check_credential(&state, &body).await {
        Ok(checked) => checked,
        Err(error @ ApiError::Unauthorized(_)) => {
            return Err(state.auth_throttle.record_failure(ip).await.unwrap_or(error))
        }
        Err(error) => return Err(error),
    };
    let token = new_session_token();
    let now = now_micros();
    let session = ConsoleSessionRecord {
        token_digest: api_key::digest(&token),
        credential_digest,
        client_id,
        created_at: now,
        last_seen_at: now,
        expires_at: now + SESSION_LIFETIME,
    };
    state.store.create_console_session(&session).await?;
    let set_cookie = axum::response::AppendHeaders([
        (SET_COOKIE, cookie(Some(&token), secure)?),
        // The other name's cookie removed: one who reached the console both ways never sends two.
        (SET_COOKIE, cookie(None, !secure)?),
    ]);
    Ok((set_cookie, Json(view(&token, &session, principal))).into_response())
}

/// `GET /console/api/session`: the page's session, with its CSRF token.
async fn current(State(state): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Json<SessionView>, ApiError> {
    let token = session_token(&headers)?.ok_or_else(session_ended)?;
    let (session, principal) = open_session(&state, token).await?;
    Ok(Json(view(token, &session, principal)))
}

/// `DELETE /console/api/session`: signs out, ending the session on the server.
async fn sign_out(State(state): State<Arc<ControlPlane>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = session_token(&headers)?.ok_or_else(session_ended)?;
    authenticate(&state, &Method::DELETE, &headers, token).await?;
    state.store.delete_console_session(&api_key::digest(token)).await?;
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, cookie(None, over_tls(&headers))?)]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("theme=dark; modelgate_console_x=no"));
        assert_eq!(session_token(&headers).unwrap(), None);
        headers.append(COOKIE, HeaderValue::from_static("a=b; modelgate_console=tok123 ; c=d"));
        assert_eq!(session_token(&headers).unwrap(), Some("tok123"));
        let mut empty = HeaderMap::new();
        empty.insert(COOKIE, HeaderValue::from_static("modelgate_console="));
        assert_eq!(session_token(&empty).unwrap(), None);
        let mut secure = HeaderMap::new();
        secure.insert(COOKIE, HeaderValue::from_static("__Host-modelgate_console=tok9"));
        assert_eq!(session_token(&secure).unwrap(), Some("tok9"));
    }

    #[test]
    fn two_session_cookies_are_refused_not_one_picked() {
        for planted in [
            "modelgate_console=planted; modelgate_console=mine",
            "modelgate_console=mine; __Host-modelgate_console=other",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(COOKIE, HeaderValue::from_static(planted));
            assert!(matches!(session_token(&headers), Err(ApiError::Unauthorized(_))), "{planted}");
        }
        let mut split = HeaderMap::new();
        split.append(COOKIE, HeaderValue::from_static("modelgate_console=planted"));
        split.append(COOKIE, HeaderValue::from_static("modelgate_console=mine"));
        assert!(session_token(&split).is_err());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_tls() {
        let plain = cookie(Some("t"), false).unwrap();
        assert_eq!(plain, "modelgate_console=t; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800");
        let tls = cookie(Some("t"), true).unwrap();
        assert!(
            tls.to_str().unwrap().starts_with("__Host-modelgate_console=t; ")
                && tls.to_str().unwrap().ends_with("; Secure")
        );
        // Signing in over TLS also removes a plain cookie left from plain http.
        assert!(cookie(None, false).unwrap().to_str().unwrap().starts_with("modelgate_console=; "));
        assert!(cookie(None, false).unwrap().to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_are_not_the_token() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_ne!(csrf_token("a"), api_key::digest("a"), "not the digest the store keeps");
        assert_eq!(csrf_token("a").len(), 64);
    }
}
