//! Server-sent events as they pass through: finding where an event ends, and reading its
//! `event:` name and `data:` payload.

use bytes::BytesMut;

/// The end of the first complete event in `buffer` (index, separator length): a blank line,
/// `\n\n` or `\r\n\r\n`, whichever starts first. One pass over the line feeds.
pub fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'\n', buffer).find_map(|at| {
        let before = at.checked_sub(1).map(|i| buffer[i]);
        if before == Some(b'\r') && buffer.get(at + 1..at + 3) == Some(b"\r\n") {
            Some((at - 1, 4))
        } else if buffer.get(at + 1) == Some(&b'\n') {
            Some((at, 2))
        } else {
            None
        }
    })
}

/// The longest event held while waiting for its end (a provider may send an image inline): a
/// stream that sends more without a blank line is failing.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// SSE bytes as they arrive, given back one complete event at a time.
#[derive(Default)]
pub struct EventBuffer {
    pending: BytesMut,
    /// How much of `pending` is known to hold no event end: a long event arriving in many
    /// chunks is searched once, not again from its start for every chunk.
    searched: usize,
}

impl EventBuffer {
    /// Adds what arrived; an error once an event would pass [`MAX_EVENT_BYTES`] (what was held
    /// is dropped). Take every complete event with [`EventBuffer::next_event`] before the next push.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        if self.pending.len() + chunk.len() > MAX_EVENT_BYTES {
            self.pending.clear();
            self.searched = 0;
            return Err(format!("the provider sent a stream event longer than {} MiB", MAX_EVENT_BYTES >> 20));
        }
        self.pending.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete event, without the blank line that ends it.
    pub fn next_event(&mut self) -> Option<BytesMut> {
        // A separator may have begun in the last 3 bytes already searched.
        let from = self.searched.saturating_sub(3);
        let Some((end, separator)) = find_event_end(&self.pending[from..]) else {
            self.searched = self.pending.len();
            return None;
        };
        let mut event = self.pending.split_to(from + end + separator);
        event.truncate(from + end);
        self.searched = 0;
        Some(event)
    }

    /// What is left when the stream ends: a last event without its blank line, if any.
    pub fn rest(&mut self) -> Option<BytesMut> {
        self.searched = 0;
        (!self.pending.is_empty()).then(|| self.pending.split())
    }
}

/// The `event:` name and the `data:` lines (joined by newlines) of one event.
pub fn parse_event(event: &[u8]) -> (Option<String>, Vec<u8>) {
    let mut name = None;
    let mut data = Vec::new();
    // Lines after the first data line join with a newline, even when that line was empty.
    let mut first_data = true;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"event:") {
            name = Some(String::from_utf8_lossy(rest).trim().to_string());
        } else if let Some(rest) = line.strip_prefix(b"data:") {
            if !std::mem::take(&mut first_data) {
                data.push(b'\n');
            }
            data.extend_from_slice(rest.strip_prefix(b" ").unwrap_or(rest));
        }
    }
    (name, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_their_fields() {
        assert_eq!(find_event_end(b"data: a\n\ndata: b"), Some((7, 2)));
        assert_eq!(find_event_end(b"data: a\r\n\r\n"), Some((7, 4)));
        assert_eq!(find_event_end(b"data: a\n"), None);
        assert_eq!(find_event_end(b"data: a\r\n"), None);
        assert_eq!(find_event_end(b"\n\n"), Some((0, 2)));
        assert_eq!(find_event_end(b"a\r\n\r\nb\n\n"), Some((1, 4)));
        assert_eq!(find_event_end(b"a\n\nb\r\n\r\n"), Some((1, 2)));
        assert_eq!(find_event_end(b"a\r\nb\n\n"), Some((4, 2)));
        let (name, data) = parse_event(b"event: message_delta\r\ndata: {\"a\":1}\ndata: 2");
        assert_eq!(name.as_deref(), Some("message_delta"));
        assert_eq!(data, b"{\"a\":1}\n2");
        // Found by the properties: empty data lines kept their line breaks only after a
        // non-empty one.
        assert_eq!(parse_event(b"data:\ndata: x").1, b"\nx");
    }

    #[test]
    fn an_event_split_in_its_separator_is_found_and_a_huge_one_refused() {
        let mut events = EventBuffer::default();
        for chunk in [&b"data: a\r"[..], b"\n", b"\r", b"\ndata: b\n", b"\n"] {
            events.push(chunk).unwrap();
        }
        assert_eq!(events.next_event().as_deref(), Some(&b"data: a"[..]));
        assert_eq!(events.next_event().as_deref(), Some(&b"data: b"[..]));
        assert_eq!(events.next_event(), None);
        let mut huge = EventBuffer::default();
        let megabyte = vec![b'x'; 1 << 20];
        for _ in 0..16 {
            huge.push(&megabyte).unwrap();
            assert_eq!(huge.next_event(), None);
        }
        assert!(huge.push(b"x").unwrap_err().contains("longer than 16 MiB"));
        assert_eq!(huge.rest(), None, "what was held is dropped");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{config, near};
    use proptest::prelude::*;

    const STREAMS: [&str; 3] = [
        "event: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {}\n\n",
        "data: {\"choices\":[]}\r\n\r\ndata: [DONE]\r\n\r\n",
        "data: a\ndata: b\n\n\n\ndata: c\r\n\n",
    ];

    /// A line of an SSE field: no line break in it.
    fn line() -> impl Strategy<Value = String> {
        any::<String>().prop_map(|s| s.replace(['\n', '\r'], ""))
    }

    proptest! {
        #![proptest_config(config(1000))]

        /// An event's end is a blank line, the first one; and a prefix of the bytes (what has
        /// arrived so far) finds no end or the same end, which is what makes framing the same
        /// however a stream is cut.
        #[test]
        fn an_event_ends_at_the_first_blank_line_whatever_has_arrived(bytes in prop_oneof![
            proptest::collection::vec(proptest::sample::select(&b"\r\nda: x"[..]), 0..24),
            near(&STREAMS),
        ]) {
            let found = find_event_end(&bytes);
            if let Some((end, separator)) = found {
                prop_assert!(matches!(&bytes[end..end + separator], b"\n\n" | b"\r\n\r\n"));
                prop_assert_eq!(find_event_end(&bytes[..end + separator - 1]), None);
            }
            for arrived in 0..=bytes.len() {
                let early = find_event_end(&bytes[..arrived]);
                prop_assert!(early.is_none() || early == found, "{:?} after {} bytes", early, arrived);
            }
            parse_event(&bytes);
        }

        /// The events of a stream are the same however it is cut into chunks.
        #[test]
        fn events_are_the_same_however_the_stream_is_cut(stream in near(&STREAMS), cuts in proptest::collection::vec(0usize..64, 0..12)) {
            let mut whole = EventBuffer::default();
            whole.push(&stream).unwrap();
            let mut expected = Vec::new();
            while let Some(event) = whole.next_event() {
                expected.push(event);
            }
            expected.extend(whole.rest());
            let mut cut = EventBuffer::default();
            let mut seen = Vec::new();
            let mut rest: &[u8] = &stream;
            for length in cuts.into_iter().chain([usize::MAX]) {
                let (chunk, after) = rest.split_at(length.min(rest.len()));
                rest = after;
                cut.push(chunk).unwrap();
                while let Some(event) = cut.next_event() {
                    seen.push(event);
                }
            }
            seen.extend(cut.rest());
            prop_assert_eq!(seen, expected);
        }

        /// An event written with a name and data lines reads back as written.
        #[test]
        fn an_event_reads_back(name in proptest::option::of(line()), lines in proptest::collection::vec(line(), 1..4), crlf in any::<bool>()) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut event = name.as_ref().map(|n| format!("event: {n}{newline}")).unwrap_or_default();
            event += &lines.iter().map(|l| format!("data: {l}")).collect::<Vec<_>>().join(newline);
            let (read_name, data) = parse_event(event.as_bytes());
            prop_assert_eq!(read_name, name.map(|n| n.trim().to_string()));
            prop_assert_eq!(String::from_utf8(data).unwrap(), lines.join("\n"));
        }
    }
}
