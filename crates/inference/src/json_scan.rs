//! Reading a few integer fields of a JSON object where it sits, without parsing the document
//! around it or the object's other values: an answer's usage block is a small object at the end
//! of a large one, and building the nested token details only to drop them cost more than the
//! rest of reading the answer.

/// A key's path from the object read: `&[b"prompt_tokens"]` is a key of that object,
/// `&[b"prompt_tokens_details", b"cached_tokens"]` a key of the object one of its keys holds.
pub type KeyPath<'a> = &'a [&'a [u8]];

/// The integers at `paths` in the object at the start of `json` (after white space), and where
/// the object ends. `None` when `json` does not start with an object, a named key appears twice
/// or holds something other than an integer (an object, on the way to a deeper key), or a key is
/// written with escapes: the caller then reads the document with a real parser. At most 64 paths.
pub fn object_integers<const N: usize>(json: &[u8], paths: [KeyPath<'_>; N]) -> Option<([Option<i64>; N], usize)> {
    let mut cursor = Cursor { json, at: 0 };
    let mut values = [None; N];
    let every_path = u64::MAX >> (64 - N.min(64));
    cursor.read_object(&paths, every_path, 0, &mut values)?;
    Some((values, cursor.at))
}

impl Cursor<'_> {
    /// Reads the object at the cursor, where `open` marks the paths whose first `depth` keys
    /// led here.
    fn read_object<const N: usize>(
        &mut self,
        paths: &[KeyPath<'_>; N],
        open: u64,
        depth: usize,
        values: &mut [Option<i64>; N],
    ) -> Option<()> {
        self.expect(b'{')?;
        if self.next_is(b'}') {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            let (mut leaf, mut deeper) = (None, 0u64);
            for (index, path) in paths.iter().enumerate() {
                if open & (1 << index) == 0 || path.get(depth) != Some(&key) {
                    continue;
                }
                if path.len() == depth + 1 {
                    leaf = Some(index);
                } else {
                    deeper |= 1 << index;
                }
            }
            match leaf {
                Some(index) if values[index].is_some() => return None,
                Some(index) => values[index] = Some(self.integer()?),
                None if deeper != 0 && self.next_is(b'{') => self.read_object(paths, deeper, depth + 1, values)?,
                None => self.skip_value()?,
            }
            match self.token()? {
                b',' => continue,
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }
}

struct Cursor<'a> {
    json: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next byte after white space, consumed.
    fn token(&mut self) -> Option<u8> {
        while let Some(byte) = self.json.get(self.at).copied() {
            self.at += 1;
            if !byte.is_ascii_whitespace() {
                return Some(byte);
            }
        }
        None
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.token()? == byte).then_some(())
    }

    /// Whether the next byte after white space is `byte` (not consumed).
    fn next_is(&mut self, byte: u8) -> bool {
        while self.json.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        self.json.get(self.at) == Some(&byte)
    }

    /// A string without escapes, its content.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let length = memchr::memchr2(b'"', b'\\', &self.json[start..])?;
        if self.json[start + length] == b'\\' {
            return None;
        }
        self.at = start + length + 1;
        Some(&self.json[start..start + length])
    }

    /// An integer (not a fraction or an exponent) that fits in an `i64`.
    fn integer(&mut self) -> Option<i64> {
        let negative = self.next_is(b'-');
        if negative {
            self.at += 1;
        }
        let digits = self.json[self.at..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || matches!(self.json.get(self.at + digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let magnitude = self.json[self.at..self.at + digits]
            .iter()
            .try_fold(0i64, |n, digit| n.checked_mul(10)?.checked_add(i64::from(digit - b'0')))?;
        self.at += digits;
        Some(if negative { -magnitude } else { magnitude })
    }

    /// Steps over one value of any kind.
    fn skip_value(&mut self) -> Option<()> {
        let first = self.token()?;
        match first {
            b'"' => self.skip_string_rest(),
            b'{' | b'[' => {
                let mut depth = 1u32;
                while depth > 0 {
                    match self.token()? {
                        b'"' => self.skip_string_rest()?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                }
                Some(())
            }
            b',' | b':' | b'}' | b']' => None,
            _ => {
                // A number, true, false or null: up to the next delimiter.
                let rest = &self.json[self.at..];
                self.at +=
                    rest.iter().take_while(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()).count();
                Some(())
            }
        }
    }

    /// The rest of a string whose opening quote was consumed. An escape's backslash may be the
    /// last byte (a provider's answer is untrusted): then there is no string to skip.
    fn skip_string_rest(&mut self) -> Option<()> {
        loop {
            let offset = memchr::memchr2(b'"', b'\\', self.json.get(self.at..)?)?;
            let found = self.json[self.at + offset];
            self.at += offset + if found == b'\\' { 2 } else { 1 };
            if found == b'"' {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAI: [KeyPath<'static>; 3] = [&[b"prompt_tokens"], &[b"completion_tokens"], &[b"total_tokens"]];

    #[test]
    fn reads_the_named_integers_and_skips_everything_else() {
        let usage = br#" {"prompt_tokens":42, "x":"a \"}\\", "completion_tokens" : 64,
            "prompt_tokens_details":{"cached_tokens":0,"total_tokens":7,"l":[1,{"a":"]"}]},
            "flag":true,"none":null,"f":1.5e3,"total_tokens":106} ,"more":1}"#;
        let (values, end) = object_integers(usage, OPENAI).unwrap();
        assert_eq!(values, [Some(42), Some(64), Some(106)]);
        assert_eq!(&usage[end..], br#" ,"more":1}"#);
    }

    #[test]
    fn reads_a_nested_key_only_below_its_parent() {
        let paths: [KeyPath<'static>; 3] =
            [&[b"prompt_tokens"], &[b"prompt_tokens_details", b"cached_tokens"], &[b"x", b"y", b"z"]];
        let usage = br#"{"completion_tokens_details":{"cached_tokens":9},"prompt_tokens":40,
            "prompt_tokens_details":{"audio_tokens":1,"cached_tokens":32},"x":{"y":{"z":-1,"w":{}}}}"#;
        assert_eq!(object_integers(usage, paths), Some(([Some(40), Some(32), Some(-1)], usage.len())));
        // A parent that is not an object is skipped; one that holds a non-integer is refused.
        let null_details = br#"{"prompt_tokens_details":null,"prompt_tokens":1}"#;
        assert_eq!(object_integers(null_details, paths).unwrap().0, [Some(1), None, None]);
        assert_eq!(object_integers(br#"{"prompt_tokens_details":{"cached_tokens":"2"}}"#, paths), None);
        assert_eq!(
            object_integers(
                br#"{"prompt_tokens_details":{"cached_tokens":2},"prompt_tokens_details":{"cached_tokens":3}}"#,
                paths
            ),
            None
        );
    }

    #[test]
    fn absent_keys_are_none() {
        assert_eq!(object_integers(b"{}", OPENAI), Some(([None, None, None], 2)));
        assert_eq!(object_integers(br#"{"prompt_tokens":-3}"#, OPENAI).unwrap().0, [Some(-3), None, None]);
    }

    #[test]
    fn anything_it_cannot_read_exactly_is_left_to_a_parser() {
        for json in [
            &br#"{"prompt_tokens":1.5}"#[..],
            br#"{"prompt_tokens":"1"}"#,
            br#"{"prompt_tokens":1e3}"#,
            br#"{"prompt_tokens":99999999999999999999}"#,
            br#"{"prompt_tokens":1,"prompt_tokens":2}"#,
            br#"{"prompt\u005ftokens":1}"#,
            br#"{"prompt_tokens":1"#,
            br#"{"prompt_tokens":1 "x":2}"#,
            br#"{"x":{"y":1}"#,
            br#"{"x":"unterminated}"#,
            br#"{"x":"\"#,
            br#"{"x":["\"#,
            br#"[1]"#,
            br#"null"#,
            b"",
        ] {
            assert_eq!(object_integers(json, OPENAI), None, "{}", String::from_utf8_lossy(json));
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, json_value, near};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    const OPENAI: [KeyPath<'static>; 3] = [&[b"prompt_tokens"], &[b"completion_tokens"], &[b"total_tokens"]];
    const KEYS: [&str; 3] = ["prompt_tokens", "completion_tokens", "total_tokens"];

    const SAMPLES: [&str; 4] = [
        r#"{"prompt_tokens":42,"completion_tokens":64,"total_tokens":106,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}"#,
        r#" {"prompt_tokens":42, "x":"a \"}\\", "completion_tokens" : -64, "l":[1,{"a":"]"}], "f":1.5e3,"total_tokens":106} ,"more":1}"#,
        r#"{"x":"\"#,
        r#"{"usage":{"x":"\"#,
    ];

    /// Whenever the scanner answers, a JSON parser reading the same bytes agrees.
    fn agrees_with_a_parser(json: &[u8]) -> Result<(), TestCaseError> {
        let Some((values, end)) = object_integers(json, OPENAI) else { return Ok(()) };
        prop_assert!(end <= json.len());
        if let Ok(object) = serde_json::from_slice::<Map<String, Value>>(&json[..end]) {
            for (key, value) in KEYS.iter().zip(values) {
                prop_assert_eq!(object.get(*key).and_then(Value::as_i64), value, "{}", key);
            }
        }
        Ok(())
    }

    /// A usage object: the named integers (some absent) among other keys holding any value.
    fn usage_object() -> impl Strategy<Value = (Map<String, Value>, [Option<i64>; 3])> {
        let others = proptest::collection::vec(
            ("[a-z_]{1,12}".prop_filter("not named", |k| !KEYS.contains(&k.as_str())), json_value()),
            0..4,
        );
        (proptest::array::uniform3(proptest::option::of(any::<i64>())), others).prop_map(|(values, others)| {
            let mut object: Map<String, Value> = others.into_iter().collect();
            for (key, value) in KEYS.iter().zip(values) {
                if let Some(value) = value {
                    object.insert(key.to_string(), value.into());
                }
            }
            (object, values)
        })
    }

    proptest! {
        #![proptest_config(config(2000))]

        #[test]
        fn any_bytes_are_read_or_left_to_a_parser(json in proptest::collection::vec(any::<u8>(), 0..64)) {
            agrees_with_a_parser(&json)?;
        }

        #[test]
        fn bytes_near_a_usage_object_are_read_as_a_parser_would(json in near(&SAMPLES)) {
            agrees_with_a_parser(&json)?;
        }

    }

    proptest! {
        #![proptest_config(config(300))]

        #[test]
        fn a_usage_object_is_read_exactly((object, values) in usage_object(), pretty in any::<bool>(), tail in "[ ,}\\]]{0,3}") {
            let text = if pretty { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) }.unwrap();
            let json = format!("{text}{tail}");
            prop_assert_eq!(object_integers(json.as_bytes(), OPENAI), Some((values, text.len())));
        }

        /// Every prefix of a usage object (an answer cut anywhere) is read or refused, never
        /// read past its end.
        #[test]
        fn every_prefix_of_a_usage_object_is_read_or_refused((object, _) in usage_object()) {
            let text = serde_json::to_string(&object).unwrap();
            for end in 0..=text.len() {
                agrees_with_a_parser(&text.as_bytes()[..end])?;
            }
        }
    }
}
