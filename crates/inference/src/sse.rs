//! Server-sent events as they pass through: finding where an event ends, and reading its
//! `event:` name and `data:` payload.

/// The end of the first complete event in `buffer` (index, separator length): a blank line,
/// `\n\n` or `\r\n\r\n`.
pub fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = memchr::memmem::find(buffer, b"\n\n").map(|i| (i, 2));
    let crlf = memchr::memmem::find(buffer, b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The `event:` name and the `data:` lines (joined by newlines) of one event.
pub fn parse_event(event: &[u8]) -> (Option<String>, Vec<u8>) {
    let mut name = None;
    let mut data = Vec::new();
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"event:") {
            name = Some(String::from_utf8_lossy(rest).trim().to_string());
        } else if let Some(rest) = line.strip_prefix(b"data:") {
            if !data.is_empty() {
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
        let (name, data) = parse_event(b"event: message_delta\r\ndata: {\"a\":1}\ndata: 2");
        assert_eq!(name.as_deref(), Some("message_delta"));
        assert_eq!(data, b"{\"a\":1}\n2");
    }
}
