//! Sealing of provider credentials at rest: XChaCha20-Poly1305 under a 32-byte master key.
//!
//! Each sealed value carries the id of the key that sealed it, so a node can tell which key a
//! value needs (and the master key can be rotated by keeping old keys for opening). The
//! associated data binds a sealed value to the row it belongs to, so ciphertexts cannot be moved
//! between connections.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

const NONCE_LEN: usize = 24;

/// Why a master key or a sealed value could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretBoxError {
    #[error("the master key must be 32 bytes written as 64 hex digits or as base64")]
    BadMasterKey,
    #[error("the secret was sealed with master key {found}, but this node has only key {current}")]
    UnknownKeyId { found: String, current: String },
    #[error("the sealed secret is corrupt or was sealed for another resource")]
    Corrupt,
}

/// A value sealed by [`MasterKey::seal`]: the id of the sealing key and `nonce || ciphertext`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret(key {}, {} bytes)", self.key_id, self.bytes.len())
    }
}

/// The key that seals provider secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// Builds a key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let id = hex::encode(&Sha256::digest([b"modelgate-master-key-id:".as_slice(), &bytes].concat())[..4]);
        MasterKey { id, cipher: XChaCha20Poly1305::new(&bytes.into()) }
    }

    /// Parses a key written as 64 hex digits or as standard base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<MasterKey, SecretBoxError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| SecretBoxError::BadMasterKey)?
        } else {
            STANDARD.decode(text).map_err(|_| SecretBoxError::BadMasterKey)?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretBoxError::BadMasterKey)?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// A new random key, written as 64 hex digits (for a key file).
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        hex::encode(bytes)
    }

    /// The short public id of this key, stored beside everything it seals.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext`, bound to `context` (e.g. `workspace/connection`).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<SealedSecret, SecretBoxError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| SecretBoxError::Corrupt)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Ok(SealedSecret { key_id: self.id.clone(), bytes })
    }

    /// Opens a value sealed by this key for the same `context`.
    pub fn open(&self, sealed: &SealedSecret, context: &str) -> Result<Vec<u8>, SecretBoxError> {
        if sealed.key_id != self.id {
            return Err(SecretBoxError::UnknownKeyId { found: sealed.key_id.clone(), current: self.id.clone() });
        }
        if sealed.bytes.len() < NONCE_LEN {
            return Err(SecretBoxError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| SecretBoxError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_bytes([7u8; 32])
    }

    #[test]
    fn seals_and_opens_without_plaintext_in_ciphertext() {
        let sealed = key().seal(b"sk-very-secret", "default/openai").unwrap();
        assert!(!sealed.bytes.windows(14).any(|w| w == b"sk-very-secret"));
        assert_eq!(key().open(&sealed, "default/openai").unwrap(), b"sk-very-secret");
    }

    #[test]
    fn refuses_other_context_other_key_and_tampering() {
        let sealed = key().seal(b"sk", "default/a").unwrap();
        assert_eq!(key().open(&sealed, "default/b"), Err(SecretBoxError::Corrupt));
        let other = MasterKey::from_bytes([8u8; 32]);
        assert!(matches!(other.open(&sealed, "default/a"), Err(SecretBoxError::UnknownKeyId { .. })));
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.bytes.last_mut() {
            *last ^= 1;
        }
        assert_eq!(key().open(&tampered, "default/a"), Err(SecretBoxError::Corrupt));
    }

    #[test]
    fn parses_hex_and_base64_and_rejects_the_rest() {
        let hex_key = "11".repeat(32);
        let b64 = STANDARD.encode([0x11u8; 32]);
        assert_eq!(MasterKey::parse(&hex_key).unwrap().id(), MasterKey::parse(&b64).unwrap().id());
        assert_eq!(MasterKey::parse("short").unwrap_err(), SecretBoxError::BadMasterKey);
        assert_eq!(MasterKey::parse(&"11".repeat(16)).unwrap_err(), SecretBoxError::BadMasterKey);
        assert!(!format!("{:?}", key()).contains("0707"));
    }
}
