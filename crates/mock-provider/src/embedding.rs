//! Deterministic embedding vectors: the same text always gives the same unit vector.

/// Default vector length when the request names none.
pub(crate) const DEFAULT_DIMENSIONS: usize = 16;
/// Largest vector the mock produces.
pub(crate) const MAX_DIMENSIONS: usize = 8192;

/// A unit-length vector of `dimensions` values derived from `text`.
pub(crate) fn vector(text: &str, dimensions: usize) -> Vec<f32> {
    let dimensions = dimensions.clamp(1, MAX_DIMENSIONS);
    // FNV-1a seeds an xorshift generator.
    let mut state = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    let mut values: Vec<f32> = (0..dimensions)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Top 24 bits into [-1, 1).
            ((state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        values.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

/// The requested dimensions from a JSON field, else the default.
pub(crate) fn dimensions(value: Option<&serde_json::Value>) -> usize {
    value
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(DEFAULT_DIMENSIONS)
        .clamp(1, MAX_DIMENSIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector("hello", 8);
        assert_eq!(a, vector("hello", 8));
        assert_ne!(a, vector("world", 8));
        assert_eq!(a.len(), 8);
        let norm: f32 = a.iter().map(|v| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(vector("", 0).len(), 1);
    }
}
