//! The bound on what a stdio MCP server writes: one message per line, each at most `limit`
//! bytes. The SDK drops an oversized line silently, which would leave the call it answered
//! waiting for its timeout; [`BoundedLines`] sits between the child's stdout and the SDK and
//! turns an oversized answer into an error answer to the same request, at once, in constant
//! memory: the line's bytes past the limit are scanned for its top-level `id` and dropped.
//!
//! It also keeps a server from flooding agno-run: requests a server sends (ping, sampling,
//! roots) and notifications pass only within a budget (a token bucket each), and a message
//! nested deeper than the SDK parses is answered with an error at once rather than dropped
//! silently. A line is dropped by ending it with a byte that makes it unparsable: the SDK
//! ignores unparsable lines, so nothing is held back to decide.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};

/// Longest `id` value kept (a JSON number or string).
const MAX_ID: usize = 200;
/// Longest top-level key compared, as written (escapes included; the ones that matter are
/// short, but may be written with `\u` escapes).
const MAX_KEY: usize = 64;
/// Deepest nesting passed on (the SDK's JSON parser refuses past 128; a tool list's envelope
/// takes 5 of them).
const MAX_DEPTH: u32 = 120;
/// Requests from a server: a burst of this many, then this many a second.
const REQUESTS: (f64, f64) = (100.0, 20.0);
/// Notifications from a server (progress, logs): a burst, then a rate.
const NOTIFICATIONS: (f64, f64) = (2000.0, 500.0);
/// At most one warning about dropped messages per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A token bucket.
#[derive(Debug)]
struct Bucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new((burst, rate): (f64, f64)) -> Bucket {
        Bucket { burst, rate, tokens: burst, at: Instant::now() }
    }

    /// Takes one token, if there is one.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Finds the top-level `id`, `method`, `result` and `error` of one JSON-RPC line, a byte at a
/// time, keeping a bounded amount of it.
#[derive(Debug, Default)]
struct Scan {
    depth: u32,
    in_str: bool,
    esc: bool,
    /// At depth 1, outside a string: the next string is a key.
    expect_key: bool,
    key: Vec<u8>,
    key_long: bool,
    /// Collecting the value of `id` (raw bytes).
    in_id: bool,
    id: Vec<u8>,
    id_long: bool,
    method: bool,
    response: bool,
    /// The line has a top-level `id`.
    has_id: bool,
    /// The deepest nesting seen.
    max_depth: u32,
}

impl Scan {
    fn feed(&mut self, b: u8) {
        if self.in_id && self.depth == 1 && !self.in_str && (b == b',' || b == b'}') {
            self.in_id = false;
        }
        if self.in_id {
            if self.id.len() < MAX_ID {
                self.id.push(b);
            } else {
                self.id_long = true;
            }
        }
        if self.in_str {
            let in_key = self.depth == 1 && self.expect_key;
            let closing = !self.esc && b == b'"';
            if self.esc {
                self.esc = false;
            } else if b == b'\\' {
                self.esc = true;
            }
            if closing {
                self.in_str = false;
                if in_key {
                    self.expect_key = false;
                    self.key_done();
                }
            } else if in_key {
                if self.key.len() < MAX_KEY {
                    self.key.push(b);
                } else {
                    self.key_long = true;
                }
            }
            return;
        }
        match b {
            b'"' => {
                self.in_str = true;
                if self.depth == 1 && self.expect_key {
                    self.key.clear();
                    self.key_long = false;
                }
            }
            b'{' | b'[' => {
                self.depth = self.depth.saturating_add(1);
                self.max_depth = self.max_depth.max(self.depth);
                if self.depth == 1 {
                    self.expect_key = b == b'{';
                }
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b':' if self.depth == 1 && !self.key_long && self.key == b"id" => {
                self.in_id = true;
                self.has_id = true;
                self.id.clear();
            }
            b',' if self.depth == 1 => self.expect_key = true,
            _ => {}
        }
    }

    /// A top-level key ended: decoded (as the SDK decodes it, `\u` escapes and all), and
    /// noted when it is one that matters.
    fn key_done(&mut self) {
        if self.key_long {
            self.key.clear();
            return;
        }
        if self.key.contains(&b'\\') {
            let raw = format!("\"{}\"", String::from_utf8_lossy(&self.key));
            self.key = serde_json::from_str::<String>(&raw).map(String::into_bytes).unwrap_or_default();
        }
        match self.key.as_slice() {
            b"method" => self.method = true,
            b"result" | b"error" => self.response = true,
            _ => {}
        }
    }

    /// The request id this line answers, when it is an answer (not a request or notification).
    fn answered_id(&self) -> Option<serde_json::Value> {
        if self.method || !self.response || self.id_long {
            return None;
        }
        let id: serde_json::Value = serde_json::from_slice(self.id.trim_ascii()).ok()?;
        (id.is_number() || id.is_string()).then_some(id)
    }
}

/// An `AsyncRead` of newline-delimited JSON that never passes on a line longer than `limit`:
/// the part past the limit is dropped and the line ended there (the SDK ignores the cut,
/// unparsable line), followed by an error answer to the request the line answered.
pub struct BoundedLines<R> {
    inner: R,
    limit: usize,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes of the current line so far.
    line: u64,
    /// The current line is over the limit: its bytes are dropped.
    cutting: bool,
    scan: Scan,
    /// Bytes made here, passed on before anything else.
    pending: Vec<u8>,
    /// The server's id, for the error text.
    server: String,
    flood: Flood,
    /// When the last warning about an oversized or too deep message was logged, and how many
    /// were dropped since.
    warned: Option<Instant>,
    unwarned: u64,
}

/// The budget of what a server sends unasked: requests and notifications, each a token
/// bucket, with at most one warning per [`WARN_EVERY`] about what was dropped.
#[derive(Debug)]
pub(super) struct Flood {
    server: String,
    requests: Bucket,
    notifications: Bucket,
    dropped: u64,
    warned: Option<Instant>,
}

impl Flood {
    pub(super) fn new(server: &str) -> Flood {
        Flood {
            server: server.to_string(),
            requests: Bucket::new(REQUESTS),
            notifications: Bucket::new(NOTIFICATIONS),
            dropped: 0,
            warned: None,
        }
    }

    /// True when a message with (or without) `method` and `id` may pass.
    pub(super) fn admit(&mut self, method: bool, id: bool) -> bool {
        let within = match (method, id) {
            (true, true) => self.requests.take(),
            (true, false) => self.notifications.take(),
            _ => true,
        };
        if !within {
            self.dropped += 1;
            if self.warned.is_none_or(|w| w.elapsed() >= WARN_EVERY) {
                tracing::warn!(mcp_server = %self.server, dropped = self.dropped, "an MCP server sends requests or notifications faster than allowed; dropping the excess");
                self.warned = Some(Instant::now());
                self.dropped = 0;
            }
        }
        within
    }
}

impl<R> BoundedLines<R> {
    /// Bounds the lines of `inner` to `limit` bytes.
    pub fn new(inner: R, limit: usize, server: &str) -> BoundedLines<R> {
        BoundedLines {
            inner,
            limit: limit.max(1),
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            line: 0,
            cutting: false,
            scan: Scan::default(),
            pending: Vec::new(),
            server: server.to_string(),
            flood: Flood::new(server),
            warned: None,
            unwarned: 0,
        }
    }

    /// The end of an oversized line: a newline ending the cut line, and the error answer.
    fn cut_line_ended(&mut self) {
        self.pending.push(b'\n');
        let size = self.line;
        if self.warn_now() {
            tracing::warn!(mcp_server = %self.server, bytes = size, limit = self.limit, dropped = self.unwarned, "an MCP server wrote a message over the limit; dropped it");
            self.unwarned = 0;
        }
        let message = format!(
            "its answer was {size} bytes, more than the {} bytes allowed (max_result_bytes sets the bound); it was dropped",
            self.limit
        );
        self.answer_error(&message);
    }

    /// An error answer to the request the current line answered, if it is an answer.
    fn answer_error(&mut self, message: &str) {
        if let Some(id) = self.scan.answered_id() {
            let answer = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": message}});
            self.pending.extend_from_slice(answer.to_string().as_bytes());
            self.pending.push(b'\n');
        }
    }

    /// At the end of a whole line within the limit: true to pass its newline on; false when
    /// the line is to be dropped (`pending` then ends it unparsable, and holds any answer).
    fn line_ended(&mut self) -> bool {
        if self.scan.max_depth > MAX_DEPTH {
            self.pending.extend_from_slice(b"x\n");
            if self.warn_now() {
                tracing::warn!(mcp_server = %self.server, depth = self.scan.max_depth, dropped = self.unwarned, "an MCP server wrote a message nested deeper than {MAX_DEPTH} levels; dropped it");
                self.unwarned = 0;
            }
            self.answer_error(&format!("its answer was nested deeper than {MAX_DEPTH} levels; it was dropped"));
            return false;
        }
        if self.flood.admit(self.scan.method, self.scan.has_id) {
            return true;
        }
        self.pending.extend_from_slice(b"x\n");
        false
    }

    /// True when a warning about a dropped message may be logged now (one per
    /// [`WARN_EVERY`]); counts the ones left unsaid.
    fn warn_now(&mut self) -> bool {
        self.unwarned += 1;
        let now = self.warned.is_none_or(|w| w.elapsed() >= WARN_EVERY);
        if now {
            self.warned = Some(Instant::now());
        }
        now
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BoundedLines<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.pending.is_empty() {
                let n = this.pending.len().min(out.remaining());
                out.put_slice(&this.pending[..n]);
                this.pending.drain(..n);
                return Poll::Ready(Ok(()));
            }
            if this.start < this.end {
                let before = out.filled().len();
                let mut room = out.remaining();
                // Bytes [run, start) are passed on in one copy.
                let mut run = this.start;
                while this.start < this.end && room > 0 && this.pending.is_empty() {
                    let b = this.buf[this.start];
                    this.start += 1;
                    if b == b'\n' {
                        if this.cutting {
                            run = this.start;
                            this.cut_line_ended();
                        } else if this.line_ended() {
                            room -= 1;
                        } else {
                            // Dropped: the line so far goes on, then `pending` ends it.
                            out.put_slice(&this.buf[run..this.start - 1]);
                            run = this.start;
                        }
                        this.line = 0;
                        this.cutting = false;
                        this.scan = Scan::default();
                        continue;
                    }
                    this.line += 1;
                    this.scan.feed(b);
                    if !this.cutting && this.line > this.limit as u64 {
                        out.put_slice(&this.buf[run..this.start - 1]);
                        this.cutting = true;
                    }
                    if this.cutting {
                        run = this.start;
                    } else {
                        room -= 1;
                    }
                }
                out.put_slice(&this.buf[run..this.start]);
                if out.filled().len() > before {
                    return Poll::Ready(Ok(()));
                }
                if !this.pending.is_empty() {
                    continue;
                }
            }
            let mut rb = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            this.start = 0;
            this.end = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn pass(input: &[u8], limit: usize) -> String {
        let mut r = BoundedLines::new(input, limit, "t");
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn short_lines_pass_unchanged() {
        let input = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\nnot json\n{\"a\":1}";
        assert_eq!(pass(input.as_bytes(), 100).await, input);
    }

    #[tokio::test]
    async fn an_oversized_answer_becomes_an_error_answer_to_its_id() {
        let big = "x".repeat(10_000);
        let input = format!(
            "{{\"jsonrpc\":\"2.0\",\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"{big}\\\"id\\\":9,\"}}]}},\"id\":\"r-7\"}}\nnext\n"
        );
        let out = pass(input.as_bytes(), 100).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0].len(), 100);
        let err: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(err["id"], "r-7");
        assert_eq!(err["error"]["code"], -32603);
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("{} bytes", input.lines().next().unwrap().len()))
        );
        assert_eq!(lines[2], "next");
    }

    #[tokio::test]
    async fn an_oversized_request_or_notification_is_dropped_without_an_answer() {
        let big = "y".repeat(5_000);
        for line in [
            format!("{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{{\"data\":\"{big}\"}}}}\n"),
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sampling/createMessage\",\"params\":{{\"x\":\"{big}\"}}}}\n"
            ),
            format!("[{{\"id\":4,\"result\":\"{big}\"}}]\n"),
        ] {
            let out = pass(line.as_bytes(), 64).await;
            assert_eq!(out.lines().count(), 1, "{out}");
            assert_eq!(out.len(), 65);
        }
    }

    #[tokio::test]
    async fn a_nested_id_is_not_the_answer_id() {
        let big = "z".repeat(1_000);
        let line = format!("{{\"result\":{{\"id\":99,\"t\":\"{big}\"}},\"id\":5}}\n");
        let out = pass(line.as_bytes(), 50).await;
        let err: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
        assert_eq!(err["id"], 5);
    }

    /// Gives at most 7 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl AsyncRead for Trickle<'_> {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            let n = self.0.len().min(7).min(out.remaining());
            out.put_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn small_reads_on_both_sides_give_the_same_stream() {
        let big = "q".repeat(300);
        let input = format!(
            "{{\"id\":1,\"result\":{{}}}}\n{{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"{big}\"}}\nshort\n{{\"id\":3,\"result\":\"{big}\"}}\n"
        );
        let whole = pass(input.as_bytes(), 40).await;
        let mut r = BoundedLines::new(Trickle(input.as_bytes()), 40, "t");
        let mut out = Vec::new();
        let mut chunk = [0u8; 5];
        loop {
            let n = r.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(String::from_utf8(out).unwrap(), whole);
        let lines: Vec<&str> = whole.lines().collect();
        assert_eq!(lines.len(), 6, "{whole}");
        assert_eq!(lines[0], "{\"id\":1,\"result\":{}}");
        assert!(lines[2].contains("\"id\":2") && lines[2].contains("error"), "{}", lines[2]);
        assert_eq!(lines[3], "short");
        assert!(lines[5].contains("\"id\":3"), "{}", lines[5]);
    }

    #[tokio::test]
    async fn requests_from_a_server_pass_within_a_budget_the_rest_become_unparsable() {
        let mut input = String::new();
        for i in 0..150 {
            input.push_str(&format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}\n"));
        }
        input.push_str("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n");
        let out = pass(input.as_bytes(), 1000).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 151);
        let parsed = lines.iter().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).count();
        // The burst is 100; a few more may have been refilled while the test ran.
        assert!((100..110).contains(&parsed.saturating_sub(1)), "{parsed} parsed");
        assert!(lines[149].ends_with("}x"), "{}", lines[149]);
        assert_eq!(lines[150], "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", "answers are never budgeted");
    }

    #[tokio::test]
    async fn an_answer_nested_too_deep_is_answered_with_an_error_at_once() {
        let deep = format!("{}{}", "[".repeat(150), "]".repeat(150));
        let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":{deep}}}\n{{\"ok\":1}}\n");
        let out = pass(line.as_bytes(), 10_000).await;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert!(lines[0].ends_with("}x"));
        let err: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(err["id"], 12);
        assert!(err["error"]["message"].as_str().unwrap().contains("deeper than 120 levels"));
        assert_eq!(lines[2], "{\"ok\":1}");
        // 120 levels pass.
        let ok = format!("{{\"id\":1,\"result\":{}{}}}\n", "[".repeat(119), "]".repeat(119));
        assert_eq!(pass(ok.as_bytes(), 10_000).await, ok);
    }

    #[tokio::test]
    async fn escaped_keys_are_read_as_the_sdk_reads_them() {
        let mut input = String::new();
        for i in 0..150 {
            input.push_str(&format!("{{\"jsonrpc\":\"2.0\",\"\\u0069d\":{i},\"m\\u0065thod\":\"ping\"}}\n"));
        }
        let out = pass(input.as_bytes(), 1000).await;
        let dropped = out.lines().filter(|l| l.ends_with("}x")).count();
        assert!(dropped >= 40, "escaped keys count against the request budget: {dropped} dropped");
        let deep = format!("{{\"r\\u0065sult\":{}{},\"\\u0069d\":\"q\"}}\n", "[".repeat(130), "]".repeat(130));
        let out = pass(deep.as_bytes(), 10_000).await;
        let err: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
        assert_eq!(err["id"], "q");
    }
}
