//! Short-lived access tokens from the OAuth2 client-credentials flow: compact JWTs (HS256)
//! carrying subject, workspace and scopes, verified without a database call.
//!
//! The signing key is derived from the master key, so every node that shares the master key
//! verifies every node's tokens, and tokens survive restarts. Only the exact header this module
//! writes is accepted, so no `alg` confusion is possible.

use crate::secret_box::{Keyring, MasterKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const SIGNING_LABEL: &str = "modelgate/access-token/hs256/v1";
/// Issuer written into every token.
pub const ISSUER: &str = "modelgate";

/// What a token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The principal: a service account's client id.
    pub sub: String,
    /// `service_account` or `user`.
    pub sub_type: String,
    /// The only workspace the token acts in.
    pub ws: String,
    pub scopes: Vec<String>,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Unique id of this token.
    pub jti: String,
    /// The API key the token was signed on behalf of (the console's playground, for a session
    /// opened with a key): its calls count as that key's, in usage and in per-key limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token's signature is not valid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
}

fn mac_for(key: &MasterKey) -> Hmac<Sha256> {
    let subkey = key.derive(SIGNING_LABEL);
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(&subkey);
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

/// Whether `text` has the shape of a token (three dot-separated parts), as opposed to an API key.
pub fn looks_like_token(text: &str) -> bool {
    text.split('.').count() == 3
}

/// Signs `claims` with the keyring's current key.
pub fn sign(keyring: &Keyring, claims: &Claims) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let mut mac = mac_for(keyring.current());
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// Verifies a token against every key of the ring (constant-time) and its expiry at `now`
/// (seconds since the epoch).
pub fn verify(keyring: &Keyring, token: &str, now: i64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    if URL_SAFE_NO_PAD.decode(header).map_err(|_| TokenError::Malformed)? != HEADER.as_bytes() {
        return Err(TokenError::Malformed);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let valid = keyring.all().any(|key| {
        let mut mac = mac_for(key);
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).is_ok()
    });
    if !valid {
        return Err(TokenError::BadSignature);
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    if claims.iss != ISSUER {
        return Err(TokenError::Malformed);
    }
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(byte: u8) -> Keyring {
        Keyring::new(MasterKey::from_bytes([byte; 32]), vec![])
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "sa-1".into(),
            sub_type: "service_account".into(),
            ws: "default".into(),
            scopes: vec!["models:list".into()],
            iat: 0,
            exp,
            jti: "j".into(),
            key: None,
        }
    }

    #[test]
    fn round_trip_expiry_and_tampering() {
        let token = sign(&ring(1), &claims(100));
        assert!(looks_like_token(&token));
        assert_eq!(verify(&ring(1), &token, 99).unwrap(), claims(100));
        assert_eq!(verify(&ring(1), &token, 100), Err(TokenError::Expired));
        assert_eq!(verify(&ring(2), &token, 0), Err(TokenError::BadSignature));

        let (head, _) = token.rsplit_once('.').unwrap();
        let (header, _) = head.split_once('.').unwrap();
        let mut forged = claims(100);
        forged.scopes = vec!["admin".into()];
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let signature = token.rsplit_once('.').unwrap().1;
        assert_eq!(
            verify(&ring(1), &format!("{header}.{forged_payload}.{signature}"), 0),
            Err(TokenError::BadSignature)
        );

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = head.split_once('.').unwrap().1;
        assert_eq!(verify(&ring(1), &format!("{none_header}.{payload}."), 0), Err(TokenError::Malformed));
        assert_eq!(verify(&ring(1), "a.b", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn previous_keys_still_verify() {
        let token = sign(&ring(1), &claims(100));
        let rotated = Keyring::new(MasterKey::from_bytes([2; 32]), vec![MasterKey::from_bytes([1; 32])]);
        assert!(verify(&rotated, &token, 0).is_ok());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near};
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(MasterKey::from_bytes([7; 32]), vec![])
    }

    fn token(exp: i64, scopes: Vec<String>) -> String {
        let claims = Claims {
            iss: ISSUER.into(),
            sub: "sa_0123456789abcdef".into(),
            sub_type: "service_account".into(),
            ws: "default".into(),
            scopes,
            iat: 0,
            exp,
            jti: "ak_0".into(),
            key: None,
        };
        sign(&ring(), &claims)
    }

    /// Signs any payload with the right key, as only a holder of the master key could: the
    /// claims reader behind the signature check must not panic either.
    fn signed(payload: &[u8]) -> String {
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload));
        let mut mac = mac_for(ring().current());
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// A token changed in any way is refused; an unchanged one is verified.
        #[test]
        fn only_the_token_as_signed_verifies(
            (original, text) in (0i64..i64::MAX, proptest::collection::vec("[a-z:]{0,12}", 0..3))
                .prop_flat_map(|(exp, scopes)| {
                    let original = token(exp, scopes);
                    (Just(original.clone()), prop_oneof![Just(original.clone()), near(vec![original])])
                }),
            now in any::<i64>(),
        ) {
            looks_like_token(&text);
            match verify(&ring(), &text, now) {
                Ok(claims) => prop_assert!(text == original && claims.exp > now),
                Err(TokenError::Expired) => prop_assert_eq!(&text, &original),
                Err(_) => prop_assert_ne!(text, original),
            }
        }

        #[test]
        fn any_text_is_verified_or_refused(text in any::<String>()) {
            looks_like_token(&text);
            prop_assert!(verify(&ring(), &text, 0).is_err());
        }

        #[test]
        fn any_signed_payload_is_read_or_refused(payload in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            near(vec![r#"{"iss":"modelgate","sub":"s","sub_type":"user","ws":"w","scopes":["admin"],"iat":0,"exp":9,"jti":"j"}"#.into()])
                .prop_map(String::into_bytes),
        ]) {
            let _ = verify(&ring(), &signed(&payload), 0);
        }
    }
}
