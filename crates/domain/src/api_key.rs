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

/// Prefix of service-account client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "mgs_";

/// Creates a service account's client id (`sa_` + 16 hex digits; not a secret).
pub fn generate_client_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("sa_{}", hex::encode(bytes))
}

/// Creates a service account's client secret: `mgs_` and 32 random bytes.
pub fn generate_client_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{CLIENT_SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Compares two digests in constant time.
pub fn digests_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const MAX_LIFETIME_SECONDS: i64 = 10 * 366 * 24 * 3600;

/// Parses a key lifetime such as `30d`, `24h`, `1w` (also `s` and `m` for seconds and
/// minutes) into seconds; empty means the key never expires. At most 10 years.
pub fn parse_expires_in(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    // The unit is the last character (not byte: the text is the client's).
    let unit = text.chars().last().unwrap_or_default();
    let number = &text[..text.len() - unit.len_utf8()];
    let seconds_per_unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return Err(format!("'{text}' must be a number followed by s, m, h, d or w (e.g. 30d, 24h, 1w)")),
    };
    let number: i64 = number.parse().map_err(|_| format!("'{text}' must start with a whole number (e.g. 30d)"))?;
    let seconds = number.checked_mul(seconds_per_unit).filter(|s| *s > 0 && *s <= MAX_LIFETIME_SECONDS);
    seconds.map(Some).ok_or_else(|| format!("'{text}' must be positive and at most 10 years"))
}

/// The digest under which a key is stored and looked up.
pub fn digest(key: &str) -> String {
    // `hex::encode` builds the string a char at a time; this digest is taken on every request.
    let mut text = [0u8; 64];
    match hex::encode_to_slice(Sha256::digest(key.as_bytes()), &mut text) {
        Ok(()) => String::from_utf8_lossy(&text).into_owned(),
        Err(_) => hex::encode(Sha256::digest(key.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_expires_in(""), Ok(None));
        assert_eq!(parse_expires_in("30d"), Ok(Some(30 * 86_400)));
        assert_eq!(parse_expires_in("24h"), Ok(Some(86_400)));
        assert_eq!(parse_expires_in("1w"), Ok(Some(604_800)));
        assert_eq!(parse_expires_in("2s"), Ok(Some(2)));
        // A unit that is not one byte long is refused, not cut in the middle of a character.
        for multi_byte in ["1é", "é", "30日", "1\u{1F600}"] {
            assert!(parse_expires_in(multi_byte).is_err(), "{multi_byte}");
        }
        for bad in ["0d", "-1d", "d", "30", "3x", "99999w"] {
            assert!(parse_expires_in(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(digests_match("abc", "abc"));
        assert!(!digests_match("abc", "abd"));
        assert!(!digests_match("abc", "ab"));
    }

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
        // Stored digests are lowercase hex SHA-256: the format may never change.
        assert_eq!(digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near_str};
    use proptest::prelude::*;

    const UNITS: [(char, i64); 5] = [('s', 1), ('m', 60), ('h', 3600), ('d', 86_400), ('w', 7 * 86_400)];

    /// A lifetime is either refused or within (0, 10 years], whatever the text.
    fn holds(text: &str) -> Result<(), TestCaseError> {
        if let Ok(Some(seconds)) = parse_expires_in(text) {
            prop_assert!(seconds > 0 && seconds <= MAX_LIFETIME_SECONDS, "{text:?} -> {seconds}");
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(config(2000))]

        #[test]
        fn any_text_is_a_lifetime_or_refused(text in any::<String>()) {
            holds(&text)?;
        }

        #[test]
        fn text_near_a_lifetime_is_a_lifetime_or_refused(
            text in near_str(&["30d", "24h", "1w", "2s", "10m", " 7d ", "1é", "3650d"]),
        ) {
            holds(&text)?;
        }

        #[test]
        fn whole_numbers_with_a_unit_are_read(number in 1i64..=10_000_000, unit in 0..UNITS.len(), pad in "[ \t]{0,2}") {
            let (unit, seconds) = UNITS[unit];
            let expected = Some(number * seconds).filter(|s| *s <= MAX_LIFETIME_SECONDS);
            prop_assert_eq!(parse_expires_in(&format!("{pad}{number}{unit}{pad}")).ok().flatten(), expected);
        }
    }
}
