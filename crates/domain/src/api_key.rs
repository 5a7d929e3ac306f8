//! modelgate API keys: high-entropy random tokens with a recognisable prefix, stored only as a
//! SHA-256 digest (a fast hash is right for 256-bit random keys; there is nothing to brute-force).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every modelgate key starts with this, so secret scanners can find leaked keys.
pub const KEY_PREFIX: &str = "mgk_";

/// Creates a new random key: `mgk_` followed by 32 random bytes in URL-safe base64.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates a short public identifier for a key record (`ak_` + 16 hex digits).
pub fn generate_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("ak_{}", hex::encode(bytes))
}

/// The digest under which a key is stored and looked up.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_unique_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert!(!digest(&a).contains(&a));
    }
}
