//! Server-sent events as they pass through: finding where an event ends, and reading its
//! `event:` name and `data:` payload.

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
        assert_eq!(find_event_end(b"data: a\r\n"), None);
        assert_eq!(find_event_end(b"\n\n"), Some((0, 2)));
        assert_eq!(find_event_end(b"a\r\n\r\nb\n\n"), Some((1, 4)));
        assert_eq!(find_event_end(b"a\n\nb\r\n\r\n"), Some((1, 2)));
        assert_eq!(find_event_end(b"a\r\nb\n\n"), Some((4, 2)));
        let (name, data) = parse_event(b"event: message_delta\r\ndata: {\"a\":1}\ndata: 2");
        assert_eq!(name.as_deref(), Some("message_delta"));
        assert_eq!(data, b"{\"a\":1}\n2");
    }
}
