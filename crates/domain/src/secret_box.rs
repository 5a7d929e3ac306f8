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

/// The associated data that binds a connection's sealed secret to that connection.
pub fn connection_secret_context(workspace: &str, name: &str) -> String {
    format!("integration-connection/{workspace}/{name}")
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
    /// Kept only to derive purpose-specific subkeys (see [`MasterKey::derive`]).
    bytes: [u8; 32],
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
        MasterKey { id, cipher: XChaCha20Poly1305::new(&bytes.into()), bytes }
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

    /// A 32-byte subkey for one purpose (`label`), so the master key itself never signs or
    /// encrypts anything but secrets: HMAC-SHA256(master key, label).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        // HMAC zero-pads keys shorter than its 64-byte block, so this is HMAC(master key, label).
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.bytes);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block.into());
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
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

/// The current master key and the previous ones still accepted for opening, so the key can be
/// rotated without downtime: nodes first learn the new key (keeping the old one as previous),
/// then `modelgate rotate-master-key` reseals every secret, then the old key is dropped.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring with `current` for sealing and `previous` for opening older values.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Keyring {
        Keyring { current, previous }
    }

    /// The key new values are sealed with.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// Every key, current first.
    pub fn all(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// Seals with the current key.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<SealedSecret, SecretBoxError> {
        self.current.seal(plaintext, context)
    }

    /// Opens a value sealed by any key of the ring.
    pub fn open(&self, sealed: &SealedSecret, context: &str) -> Result<Vec<u8>, SecretBoxError> {
        match self.all().find(|k| k.id == sealed.key_id) {
            Some(key) => key.open(sealed, context),
            None => {
                Err(SecretBoxError::UnknownKeyId { found: sealed.key_id.clone(), current: self.current.id.clone() })
            }
        }
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
    fn keyring_opens_values_of_previous_keys_and_derives_per_key() {
        let old = key();
        let new = MasterKey::from_bytes([9u8; 32]);
        let sealed_by_old = old.seal(b"v", "c").unwrap();
        let ring = Keyring::new(new.clone(), vec![old.clone()]);
        assert_eq!(ring.open(&sealed_by_old, "c").unwrap(), b"v");
        assert_eq!(ring.seal(b"w", "c").unwrap().key_id, new.id());
        assert!(Keyring::new(new.clone(), vec![]).open(&sealed_by_old, "c").is_err());
        assert_eq!(old.derive("a"), old.derive("a"));
        assert_ne!(old.derive("a"), old.derive("b"));
        assert_ne!(old.derive("a"), new.derive("a"));
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
