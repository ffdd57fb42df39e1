//! A server-sent-events parser for model streams: bytes in, the `data` of each event out.
//!
//! Written here rather than taken from a crate because what a model server sends is hostile:
//! the parser scans each byte once (the crate used before re-scanned its whole buffer on every
//! chunk, so one endless line cost quadratic time) and refuses a line longer than its bound
//! instead of buffering it. Lines end with LF, CRLF or CR, also across chunks; `:` comments,
//! `event`, `id` and `retry` fields are read and ignored; a blank line ends an event.

/// Why a stream cannot be read as server-sent events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line longer than the bound.
    #[error("a line of the event stream is longer than {0} bytes")]
    LineTooLong(usize),
    /// A line that is not UTF-8.
    #[error("a line of the event stream is not UTF-8")]
    NotUtf8,
}

/// An incremental parser; feed it chunks with [`Parser::push`].
#[derive(Debug)]
pub struct Parser {
    /// Bytes of the line in progress (never more than `max_line`).
    line: Vec<u8>,
    /// The `data` of the event in progress.
    data: String,
    /// True when the event in progress has a `data` field (an empty one counts).
    has_data: bool,
    /// The previous byte ended a line with CR: a LF right after it belongs to the same break.
    after_cr: bool,
    max_line: usize,
}

impl Parser {
    /// A parser that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Parser { line: Vec::new(), data: String::new(), has_data: false, after_cr: false, max_line }
    }

    /// Reads `chunk`; returns the `data` of each event it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        let mut start = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if b != b'\n' && b != b'\r' {
                continue;
            }
            let skip = b == b'\n' && self.after_cr && i == start && self.line.is_empty();
            self.after_cr = b == b'\r';
            if skip {
                start = i + 1;
                continue;
            }
            self.extend(&chunk[start..i])?;
            start = i + 1;
            let line = std::mem::take(&mut self.line);
            if let Some(data) = self.line_done(&line)? {
                events.push(data);
            }
        }
        if start < chunk.len() {
            self.after_cr = false;
            self.extend(&chunk[start..])?;
        }
        Ok(events)
    }

    fn extend(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max_line {
            return Err(SseError::LineTooLong(self.max_line));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// One complete line; a blank one ends the event and returns its data.
    fn line_done(&mut self, line: &[u8]) -> Result<Option<String>, SseError> {
        if line.is_empty() {
            if !std::mem::take(&mut self.has_data) {
                return Ok(None);
            }
            let mut data = std::mem::take(&mut self.data);
            if data.ends_with('\n') {
                data.pop();
            }
            // An event whose data is empty is not dispatched (as the WHATWG rules say): a proxy's
            // `data:` keep-alive is not an answer.
            return Ok((!data.is_empty()).then_some(data));
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            if self.data.len() + value.len() + 1 > self.max_line {
                return Err(SseError::LineTooLong(self.max_line));
            }
            self.data.push_str(value);
            self.data.push('\n');
            self.has_data = true;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = Parser::new(1024);
        chunks.iter().flat_map(|c| p.push(c).unwrap()).collect()
    }

    #[test]
    fn events_are_read_across_chunks_and_line_endings() {
        assert_eq!(all(&[b"data: a\n\ndata: b\n\n"]), ["a", "b"]);
        assert_eq!(all(&[b"da", b"ta: a", b"\n", b"\n"]), ["a"]);
        assert_eq!(all(&[b"data: a\r\n\r\ndata: b\r\r"]), ["a", "b"]);
        // A CRLF split across two chunks is one line break, not an empty line.
        assert_eq!(all(&[b"data: a\r", b"\ndata: b\r\n\r\n"]), ["a\nb"]);
        assert_eq!(all(&[b": keep-alive\n\nevent: x\nid: 1\ndata: {\"k\":1}\n\n"]), ["{\"k\":1}"]);
        assert_eq!(all(&[b"data:no-space\ndata: second\n\n"]), ["no-space\nsecond"]);
        assert_eq!(all(&[b"data: cut off without its blank line"]), Vec::<String>::new());
        assert_eq!(all(&[b"data:\n\ndata\n\ndata: x\n\n"]), ["x"], "empty events are not dispatched");
    }

    #[test]
    fn a_line_past_the_bound_is_an_error_and_is_not_buffered() {
        let mut p = Parser::new(16);
        assert_eq!(p.push(b"data: 0123456789").unwrap(), Vec::<String>::new());
        assert_eq!(p.push(b"abcdef"), Err(SseError::LineTooLong(16)));
        let mut p = Parser::new(16);
        assert!(p.push(&[b'x'; 100]).is_err());
        let mut p = Parser::new(64);
        assert_eq!(p.push(b"data: \xff\xfe\n"), Err(SseError::NotUtf8));
    }

    #[test]
    fn one_endless_line_costs_linear_time() {
        // 8 MiB in 8 KiB chunks: a quadratic parser would scan ~4 TiB.
        let mut p = Parser::new(64 * 1024 * 1024);
        let chunk = vec![b'x'; 8192];
        p.push(b"data: ").unwrap();
        for _ in 0..1024 {
            assert!(p.push(&chunk).unwrap().is_empty());
        }
        assert_eq!(p.push(b"\n\n").unwrap()[0].len(), 8 * 1024 * 1024);
    }
}
