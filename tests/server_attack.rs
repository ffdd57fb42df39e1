//! A hostile HTTP client against the real `agno-run serve`: each test sends the hostile input
//! itself (oversized pages, stalled readers, floods of abandoned streams, path tricks, odd ids,
//! huge forms and JSON) and asserts the safe behaviour: a JSON `{"detail": …}` answer or a
//! bounded cost, the process alive, no secret in any answer or log.
//!
//! Models are offline: the `scripted` provider, or the fake OpenAI server of
//! `support/fake_openai.rs`. Nothing reaches the internet, nothing sleeps for a fixed time where
//! it can poll, and no assertion is about time.

#[path = "support/fake_openai.rs"]
mod fake_openai;
#[path = "support/server.rs"]
mod server;

use std::time::{Duration, Instant};

use fake_openai::{FakeOpenAi, Response};
use serde_json::{Value, json};
use server::{Answer, Server, Start, client, parse_sse, send};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Helpers

const KEY: &str = "attack-key-5f1e2d3c4b";

/// Offline components; `server_extra` is appended under `server:`.
fn app(server_extra: &str) -> String {
    format!(
        r#"version: 1
databases:
  local: {{type: sqlite, db_file: agno.db}}
models:
  echo: {{provider: scripted}}
agents:
  echo: {{name: Echo, model: echo, db: local}}
  other: {{name: Other, model: echo, db: local}}
server:
{server_extra}"#
    )
}

/// A server and the folder it runs in (the server goes first: fields drop in order).
struct Running {
    server: Server,
    dir: TempDir,
}

impl Running {
    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    fn addr(&self) -> String {
        self.server.base.trim_start_matches("http://").to_string()
    }

    /// Resident memory of the server process, in bytes.
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.server.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }

    fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open_with_flags(
            self.dir.path().join("agno.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    /// `(status, count)` of every stored run.
    fn run_statuses(&self) -> Vec<(Option<String>, i64)> {
        let c = self.db();
        let mut stmt = c.prepare("SELECT status, COUNT(*) FROM agno_runs GROUP BY status ORDER BY status").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }
}

fn serve_in(dir: TempDir, yaml: &str, env: &[(&str, &str)]) -> Running {
    server::write_config(dir.path(), yaml);
    let mut start = Start::new(&["app.yaml", "--no-reload"]);
    for (k, v) in env {
        start = start.env(k, v);
    }
    let server = Server::start(dir.path(), start);
    Running { server, dir }
}

fn serve(yaml: &str) -> Running {
    serve_in(tempfile::tempdir().unwrap(), yaml, &[])
}

fn authed(req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    req.header("authorization", format!("Bearer {KEY}"))
}

async fn get(s: &Running, path: &str) -> Answer {
    send(authed(client().get(s.url(path)))).await
}

/// Sends `request` (raw HTTP/1.1 bytes) and reads the whole answer (the connection is closed
/// by the request's `Connection: close`).
async fn raw(addr: &str, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `f` (up to `secs`) until it returns Some.
async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The server still answers, and runs.
async fn still_serving(s: &Running) {
    assert_eq!(get(s, "/health").await.ok()["status"], "ok");
    let run =
        send(authed(client().post(s.url("/agents/echo/runs"))).form(&[("message", "alive"), ("stream", "false")]));
    assert_eq!(run.await.ok()["content"], "alive");
}

// ---------------------------------------------------------------------------------------------
// Paging

/// `page` near `u32::MAX` times `limit` overflowed `u32` in the memory routes that page in
/// memory: a panic in the handler (debug builds), the connection dropped with no answer.
#[tokio::test(flavor = "multi_thread")]
async fn pages_past_u32_are_answered_not_dropped() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let c = client();
    let created = send(authed(c.post(s.url("/memories"))).json(&json!({"memory": "likes tea", "user_id": "u1"})));
    created.await.ok();
    for path in [
        "/user_memory_stats?page=4294967295&limit=1000",
        "/memories?page=4294967295&limit=1000&sort_order=asc",
        "/memories?page=4294967295&limit=1000&agent_id=a",
        "/sessions?page=4294967295&limit=1000",
        "/memories?page=4294967295&limit=1000",
    ] {
        let r = authed(c.get(s.url(path))).send().await;
        let r = r.unwrap_or_else(|e| panic!("{path}: no answer ({e})"));
        assert_eq!(r.status(), 200, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["data"], json!([]), "{path}: {body}");
        assert_eq!(body["meta"]["page"], 4294967295u32, "{path}: {body}");
    }
    // Out of range and negative pages are a JSON 400, not a panic.
    for path in ["/memories?page=4294967296", "/memories?page=-1", "/user_memory_stats?limit=-5"] {
        get(&s, path).await.error(400);
    }
    assert!(!s.server.stderr().contains("panicked"), "{}", s.server.stderr());
    still_serving(&s).await;
}

// ---------------------------------------------------------------------------------------------
// Slow and vanished readers

/// A fake OpenAI model for `fake`, streaming fast.
fn fake_app(fake: &FakeOpenAi, agent_extra: &str) -> String {
    format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  remote: {{provider: openai, id: gpt-4o-mini, base_url: \"{}\", api_key: sk-fake-4e1d, max_retries: 0}}\nagents:\n  fast: {{name: Fast, model: remote, db: local{agent_extra}}}\n  echo: {{name: Echo, model: echo, db: local}}\nserver:\n  security_key: {KEY}\n",
        fake.base_url()
    )
    .replace("models:\n", "models:\n  echo: {provider: scripted}\n")
}

/// An OpenAI stream of `n` one-byte content deltas, written in a few large pieces.
fn tiny_deltas(n: usize) -> Response {
    let one = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\n";
    let mut pieces = Vec::new();
    let per_piece = 20_000;
    let mut left = n;
    while left > 0 {
        let k = left.min(per_piece);
        pieces.push(one.repeat(k));
        left -= k;
    }
    pieces.push(
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\ndata: [DONE]\n\n"
            .to_string(),
    );
    Response::RawStream { pieces, gap: Duration::ZERO }
}

/// Starts a streamed run on a connection that reads the answer's head and then never reads
/// again (a tiny receive buffer, so the kernel holds little of it).
async fn stalled_stream(addr: &str, session: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let body = format!("message=go&stream=true&session_id={session}");
    let head = format!(
        "POST /agents/fast/runs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The head, byte by byte: the body is left unread.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("chunked"), "{head}");
    stream
}

/// The status of the only run of `session`, when stored.
fn session_run_status(s: &Running, session: &str) -> Option<String> {
    let c = s.db();
    c.query_row("SELECT status FROM agno_runs WHERE session_id = ?1", [session], |r| r.get::<_, Option<String>>(0))
        .ok()
        .flatten()
}

/// A client that stops reading an SSE stream while the model streams fast: the run's events
/// queue in the server (the event channel is unbounded) for as long as the client keeps the
/// connection. 400k one-byte deltas queued as 400k events took well over 100 MB; the queue must
/// stay near the size of the text itself.
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_that_stalls_does_not_make_the_server_queue_every_event() {
    const DELTAS: usize = 400_000;
    let fake = FakeOpenAi::start().await;
    let s = serve(&fake_app(&fake, ""));
    still_serving(&s).await;
    let before = s.rss();
    fake.push(tiny_deltas(DELTAS));
    let stalled = stalled_stream(&s.addr(), "s-stall").await;
    // The model's whole answer is read and the run ends while the client reads nothing.
    let status =
        eventually(20, "the run to end", || async { session_run_status(&s, "s-stall").filter(|st| st != "RUNNING") })
            .await;
    assert_eq!(status, "COMPLETED");
    let grown = s.rss().saturating_sub(before);
    eprintln!("rss grew by {} MB", grown / 1_000_000);
    assert!(grown < 48_000_000, "the server holds {} MB for one stalled reader", grown / 1_000_000);
    // Nothing was lost: once the client reads again it gets the whole text, then the end.
    let mut stalled = stalled;
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stalled.read_to_end(&mut rest)).await.unwrap().unwrap();
    let events = parse_sse(&dechunk(&rest));
    let text: String =
        events.iter().filter(|(n, _)| n == "RunContent").map(|(_, d)| d["content"].as_str().unwrap()).collect();
    assert_eq!(text.len(), DELTAS);
    assert_eq!(events.last().map(|(n, _)| n.as_str()), Some("RunCompleted"));
    still_serving(&s).await;
}

/// The body of a chunked HTTP answer, its head already read.
fn dechunk(bytes: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n + 2..];
    }
    String::from_utf8(out).unwrap()
}

/// Opens `n` streamed runs at once (sessions `{tag}-{i}`), reads each one's first event (the run
/// started) and walks away from all of them.
async fn open_and_abandon(s: &Running, n: usize, tag: &str) {
    let url = s.url("/agents/fast/runs");
    let mut opened = Vec::new();
    for i in 0..n {
        let (url, session) = (url.clone(), format!("{tag}-{i}"));
        opened.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut r =
                authed(c.post(url)).form(&[("message", "go"), ("session_id", session.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let first = r.chunk().await.unwrap().unwrap();
            assert!(String::from_utf8_lossy(&first).contains("RunStarted"));
        }));
    }
    for o in opened {
        o.await.unwrap();
    }
}

/// Hundreds of streamed runs opened at once and abandoned mid-run, twice: every one is stored
/// CANCELLED (none left RUNNING), the second wave costs no more memory than the first left
/// behind (nothing of a cancelled run is kept), and the server goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_abandoned_streams_ends_every_run_cancelled() {
    const N: usize = 300;
    let fake = FakeOpenAi::start().await;
    // The model never answers in time: every run is in flight when its client leaves.
    fake.respond_with(|_| Response::delayed(Duration::from_secs(60), Response::text("late")));
    let s = serve(&fake_app(&fake, ""));
    let all_cancelled = |n: usize| {
        let s = &s;
        async move {
            let st = s.run_statuses();
            let total: i64 = st.iter().map(|(_, k)| k).sum();
            (total == n as i64 && st.iter().all(|(k, _)| k.as_deref() != Some("RUNNING"))).then_some(st)
        }
    };
    open_and_abandon(&s, N, "s-wave1").await;
    let statuses = eventually(20, "every run to end", || all_cancelled(N)).await;
    assert_eq!(statuses, [(Some("CANCELLED".to_string()), N as i64)]);
    let after_first = s.rss();
    open_and_abandon(&s, N, "s-wave2").await;
    let statuses = eventually(20, "every run to end", || all_cancelled(2 * N)).await;
    assert_eq!(statuses, [(Some("CANCELLED".to_string()), 2 * N as i64)]);
    let kept = s.rss().saturating_sub(after_first);
    eprintln!("second wave kept {} kB", kept / 1000);
    assert!(kept < 32_000_000, "{N} cancelled runs left {} MB behind", kept / 1_000_000);
    still_serving(&s).await;
}

// ---------------------------------------------------------------------------------------------
// Cancel

/// The cancel route of one component cannot stop another component's run, whatever the kind in
/// the path (`/teams/echo/…` names no team).
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_naming_another_component_leaves_the_run_alone() {
    let fake = FakeOpenAi::start().await;
    fake.respond_with(|_| Response::delayed(Duration::from_secs(3), Response::text("finished")));
    let s = serve(&fake_app(&fake, ""));
    let mut r = authed(client().post(s.url("/agents/fast/runs")))
        .form(&[("message", "go"), ("session_id", "s-cancel")])
        .send()
        .await
        .unwrap();
    let first = String::from_utf8_lossy(&r.chunk().await.unwrap().unwrap()).into_owned();
    let run_id = parse_sse(&first)[0].1["run_id"].as_str().unwrap().to_string();
    for path in [
        format!("/agents/echo/runs/{run_id}/cancel"),
        format!("/teams/fast/runs/{run_id}/cancel"),
        format!("/workflows/fast/runs/{run_id}/cancel"),
        format!("/agents/FAST/runs/{run_id}/cancel"),
        format!("/agents/fast/runs/{}/cancel", run_id.to_uppercase()),
    ] {
        assert_eq!(send(authed(client().post(s.url(&path)))).await.ok(), json!({}), "{path}");
    }
    let mut body = first;
    while let Some(chunk) = r.chunk().await.unwrap() {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = parse_sse(&body);
    assert_eq!(events.last().unwrap().0, "RunCompleted", "{body}");
    assert_eq!(session_run_status(&s, "s-cancel").as_deref(), Some("COMPLETED"));
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Every crate's debug and trace logs (not only agno-run's), a run through a model with a key,
/// a form and JSON bodies with the key in odd places: the key, the model's key and the
/// database password appear in no answer and no log line.
#[tokio::test(flavor = "multi_thread")]
async fn trace_logs_of_every_crate_hold_no_secret() {
    let api_key = "sk-trace-key-77aa01";
    let pg_password = "pg-trace-pass-3e9d";
    let fake = FakeOpenAi::start().await;
    let schema = format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let with_pg = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
    let pg = if with_pg {
        format!(
            "databases:\n  pg: {{type: postgres, db_url: \"postgresql://postgres:{pg_password}@127.0.0.1:5432/test\", db_schema: {schema}, connect_timeout: 10}}\n"
        )
    } else {
        "databases:\n".to_string()
    };
    let yaml = fake_app(&fake, "").replace("sk-fake-4e1d", api_key).replace("databases:\n", &pg);
    let s = serve_in(tempfile::tempdir().unwrap(), &yaml, &[("RUST_LOG", "trace")]);
    let c = client();
    let mut seen = String::new();
    for req in [
        authed(c.post(s.url("/agents/fast/runs"))).form(&[("message", "hi"), ("stream", "false")]),
        authed(c.post(s.url("/agents/fast/runs"))).form(&[("message", "hi")]),
        authed(c.get(s.url("/sessions?db_id=pg"))),
        authed(c.get(s.url("/config"))),
        authed(c.get(s.url("/health"))),
        authed(c.get(s.url("/config/generations"))),
        c.get(s.url("/agents")).header("authorization", format!("Bearer {KEY}x")),
        authed(c.post(s.url("/config/reload"))),
    ] {
        let a = send(req).await;
        seen.push_str(&format!("{:?}\n{}\n", a.headers, a.text));
    }
    // Broken reloads whose diagnostics or errors could quote a secret: a database URL that
    // does not parse or connect, the key and the model key where a list or a number belongs.
    let broken = [
        yaml.replace("databases:\n", &format!("databases:\n  bad: {{type: postgres, db_url: \"postgresql://postgres:{pg_password}@127.0.0.1:notaport/x\"}}\n")),
        yaml.replace("databases:\n", &format!("databases:\n  bad: {{type: postgres, db_url: \"postgresql://postgres:{pg_password}@127.0.0.1:1/x\", connect_timeout: 1}}\n")),
        yaml.replace(&format!("security_key: {KEY}"), &format!("security_key: [{KEY}]")),
        yaml.replace(&format!("api_key: {api_key}"), &format!("api_key: {{k: {api_key}}}")),
        yaml.replace(&format!("api_key: {api_key}"), &format!("api_kye: {api_key}")),
        yaml.replace(&format!("api_key: {api_key}"), &format!("api_key: {api_key}, max_retries: {api_key}")),
    ];
    for text in &broken {
        server::write_config(s.dir.path(), text);
        let a = send(authed(c.post(s.url("/config/reload")))).await;
        assert_eq!(a.json()["loaded"], false, "{a:?}");
        seen.push_str(&a.text);
        seen.push_str(&send(c.get(s.url("/health"))).await.text);
        seen.push_str(&send(authed(c.get(s.url("/config/generations")))).await.text);
    }
    assert!(fake.requests().iter().any(|r| r.header("authorization") == Some(&format!("Bearer {api_key}"))));
    let log = s.server.stderr();
    assert!(log.len() > 10_000, "trace logging is on: {log}");
    for secret in [KEY, api_key, pg_password] {
        assert!(!seen.contains(secret), "an answer holds {secret}:\n{seen}");
        let line = log.lines().find(|l| l.contains(secret));
        assert!(line.is_none(), "a log line holds {secret}: {line:?}");
    }
    drop(s);
    if with_pg {
        let (pgc, conn) =
            tokio_postgres::connect("postgresql://postgres@127.0.0.1:5432/test", tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        pgc.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Amplification: small bodies that cost a lot of memory

impl Running {
    /// Peak resident memory of the server process so far, in bytes.
    fn peak(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.server.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }
}

/// `[0,0,…]` with `n` zeros.
fn zeros(n: usize) -> String {
    let mut s = String::with_capacity(2 * n + 2);
    s.push('[');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('0');
    }
    s.push(']');
    s
}

fn form_body(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

async fn post_raw_form(s: &Running, body: String) -> Answer {
    let req = authed(client().post(s.url("/agents/echo/runs")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    send(req).await
}

/// A form of half a million fields (`a&a&…`, under the 1 MiB body limit) was parsed whole into
/// pairs before the field count was checked: ~70 MB for one request, 88 MB for three.
#[tokio::test(flavor = "multi_thread")]
async fn a_form_of_a_million_fields_is_refused_before_it_is_parsed() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    still_serving(&s).await;
    let before = s.peak();
    let body = vec!["a"; 520_000].join("&");
    // Four at once, as an attacker would send them.
    let answers = futures_util::future::join_all((0..4).map(|_| post_raw_form(&s, body.clone()))).await;
    for a in answers {
        let detail = a.error(422);
        assert_eq!(detail[0]["type"], "too_long", "{detail}");
    }
    let grown = s.peak().saturating_sub(before);
    assert!(grown < 40_000_000, "a 1 MB form cost {} MB", grown / 1_000_000);
    // A form of many fields under the limit still runs.
    let mut fields = vec![("message", "fine"), ("stream", "false")];
    fields.extend(std::iter::repeat_n(("x", "1"), 200));
    assert_eq!(post_raw_form(&s, form_body(&fields)).await.ok()["content"], "fine");
    still_serving(&s).await;
}

/// `session_state` of 200k zeros in an 800 kB form: held as a JSON tree (~80 bytes a value)
/// and copied into the session, the run and the answer, it cost 117 MB for one request; 400k
/// zeros of `metadata` in a PATCH of a session, 78 MB. The JSON bodies and `session_state`
/// are refused past a count of values, counted before they are parsed.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_state_of_a_huge_json_tree_is_refused() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    still_serving(&s).await;
    let before = s.peak();
    let state = format!("{{\"a\":{}}}", zeros(200_000));
    let detail = post_raw_form(&s, form_body(&[("message", "hi"), ("stream", "false"), ("session_state", &state)]))
        .await
        .error(422);
    assert_eq!(detail[0]["loc"], json!(["body", "session_state"]), "{detail}");
    // The same through the session routes' JSON bodies.
    let c = client();
    let created =
        send(authed(c.post(s.url("/sessions?type=agent"))).json(&json!({"agent_id": "echo", "session_id": "s-big"})));
    assert_eq!(created.await.status, 201);
    for (method, path, body) in [
        (reqwest::Method::PATCH, "/sessions/s-big", format!("{{\"session_state\": {state}}}")),
        (reqwest::Method::PATCH, "/sessions/s-big", format!("{{\"metadata\": {}}}", zeros(400_000))),
        (
            reqwest::Method::POST,
            "/sessions?type=agent",
            format!("{{\"agent_id\": \"echo\", \"metadata\": {}}}", zeros(400_000)),
        ),
        (
            reqwest::Method::POST,
            "/memories",
            format!("{{\"memory\": \"m\", \"topics\": [{}]}}", vec!["\"t\""; 250_000].join(",")),
        ),
        (reqwest::Method::DELETE, "/sessions", format!("{{\"session_ids\": [{}]}}", vec!["\"i\""; 250_000].join(","))),
    ] {
        let r = authed(c.request(method.clone(), s.url(path))).header("content-type", "application/json").body(body);
        let detail = send(r).await.error(422);
        assert_eq!(detail[0]["type"], "too_long", "{method} {path}: {detail}");
    }
    let grown = s.peak().saturating_sub(before);
    assert!(grown < 40_000_000, "these requests cost {} MB", grown / 1_000_000);
    // An ordinary state still goes through.
    let ok = post_raw_form(
        &s,
        form_body(&[("message", "hi"), ("stream", "false"), ("session_state", "{\"cart\": [1, 2, 3]}")]),
    );
    assert_eq!(ok.await.ok()["session_state"]["cart"], json!([1, 2, 3]));
    still_serving(&s).await;
}

// ---------------------------------------------------------------------------------------------
// Odd ids

/// A NUL in an id or a filter, or a 10 kB session id, on PostgreSQL: the database refuses the
/// value (22021, 54000), which was answered 503 "unavailable" — an outage to retry, logged as a
/// server failure. It is the caller's error: a JSON 400, and the database still serves.
#[tokio::test(flavor = "multi_thread")]
async fn ids_postgres_cannot_store_are_a_400_not_an_outage() {
    if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
        eprintln!("skipped: PostgreSQL is not reachable at 127.0.0.1:5432");
        return;
    }
    let schema = format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let yaml = app(&format!("  security_key: {KEY}\n"))
        .replace(
            "databases:\n",
            &format!("databases:\n  pg: {{type: postgres, db_url: \"postgresql://postgres@127.0.0.1:5432/test\", db_schema: {schema}}}\n"),
        )
        .replace("db: local", "db: pg");
    let s = serve(&yaml);
    // Random letters and digits: PostgreSQL cannot compress them under its index row size.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let long: String = (0..625)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .map(|b| char::from(alphabet[usize::from(b % 64)]))
        .collect();
    let c = client();
    let runs = [
        vec![("message", "hi"), ("stream", "false"), ("session_id", "a\0b")],
        vec![("message", "hi"), ("stream", "false"), ("user_id", "a\0b")],
        vec![("message", "hi"), ("stream", "false"), ("session_id", long.as_str())],
    ];
    for form in &runs {
        let a = send(authed(c.post(s.url("/agents/echo/runs"))).form(form)).await;
        a.error(400);
    }
    for path in ["/sessions/a%00b", "/sessions?user_id=a%00b", "/memories?search_content=a%00b", "/memories/a%00b"] {
        let a = get(&s, path).await;
        assert!(a.status == 400 || a.status == 404, "{path}: {a:?}");
        a.error(a.status);
    }
    assert!(!s.server.stderr().contains("request failed"), "logged as server failures:\n{}", s.server.stderr());
    still_serving(&s).await;
    drop(s);
    let (pgc, conn) =
        tokio_postgres::connect("postgresql://postgres@127.0.0.1:5432/test", tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    pgc.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await.unwrap();
}

/// Session ids of SQL, NUL, slashes and 10 kB on SQLite, `db_id`, `table` and `sort_by`
/// holding SQL, pages and limits at their extremes: each is stored and read back as the text it
/// is, or refused with a JSON error; no table is touched.
#[tokio::test(flavor = "multi_thread")]
async fn odd_ids_and_parameters_are_data_never_sql() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let c = client();
    let long = "x".repeat(10_000);
    for id in ["a'; DROP TABLE agno_sessions;--", "a\0b", "a/b/../c", "%2e%2e", long.as_str(), "😀", " "] {
        let a = send(authed(c.post(s.url("/agents/echo/runs"))).form(&[
            ("message", "hi"),
            ("stream", "false"),
            ("session_id", id),
        ]));
        assert_eq!(a.await.ok()["session_id"], id, "{id:?}");
        let enc: String = url_escape(id);
        let got = get(&s, &format!("/sessions/{enc}")).await;
        assert_eq!(got.ok()["session_id"], id, "{id:?}");
    }
    let n: i64 = s.db().query_row("SELECT COUNT(*) FROM agno_sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 7);
    for (path, status) in [
        ("/sessions?db_id=local'--", 404),
        ("/sessions?db_id=../../etc/passwd", 404),
        ("/sessions?table=agno_sessions;DROP%20TABLE%20agno_runs", 404),
        ("/sessions/x/runs?table=x%27%20OR%201=1", 404),
        ("/memories?table=agno_memories--", 404),
        ("/config/generations?db_id=nope", 404),
        ("/sessions?sort_by=created_at;DROP%20TABLE%20agno_runs", 400),
        ("/sessions?sort_order=asc;--", 422),
        ("/sessions?limit=4294967296", 400),
        ("/sessions?type=robot", 400),
        ("/sessions/x/runs?created_after=-1e3", 400),
        ("/sessions/%FF", 400),
    ] {
        get(&s, path).await.error(status);
    }
    for path in [
        "/sessions?limit=0&page=0",
        "/sessions?limit=1000000000",
        "/memories?sort_by=memory_id;DROP%20TABLE%20x&limit=0",
        "/memories?search_content=%25%27%20OR%201=1--",
        "/sessions/x/runs?created_after=-9223372036854775808&status=COMPLETED&status=x%27--",
        "/user_memory_stats?limit=1000000000&page=0",
    ] {
        let a = get(&s, path).await;
        assert!(a.status == 200 || a.status == 404, "{path}: {a:?}");
    }
    let n: i64 = s.db().query_row("SELECT COUNT(*) FROM agno_runs", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 7, "every table is still there");
    still_serving(&s).await;
}

/// Percent-encodes every byte but unreserved ones.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Auth

/// Path tricks, methods, header forms and empty keys: nothing but the public routes answers
/// without the key, and every refusal is a JSON 401.
#[tokio::test(flavor = "multi_thread")]
async fn no_path_method_or_header_trick_gets_past_the_key() {
    let s = serve(&app(&format!("  security_key: {KEY}\n  cors_origins: [\"http://ok.test\"]\n")));
    let addr = s.addr();
    let protected = [
        "/agents",
        "//agents",
        "/agents/",
        "/agents//",
        "/agents/../config",
        "/health/../agents",
        "/health/../config",
        "/./agents",
        "/%61gents",
        "/agents%2F",
        "/health%2F..%2Fagents",
        "/HEALTH",
        "/Health",
        "/health;/../agents",
        "/health/x",
        "/sessions",
        "/config/reload",
        "/no/such/route",
        "/agents/echo/runs",
        "*",
    ];
    for path in protected {
        for method in ["GET", "HEAD", "POST", "DELETE", "PATCH", "PUT"] {
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\nConnection: close\r\n\r\nmessage=hi"
            );
            let answer = raw(&addr, req.as_bytes()).await;
            let status: u16 = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            assert!(status == 401 || status == 400, "{method} {path}: {answer}");
            if method != "HEAD" && status == 401 {
                assert!(answer.contains(r#"{"detail":"#), "{method} {path}: {answer}");
            }
        }
    }
    // OPTIONS is public for the preflight only: it reaches no handler (CORS answers it, empty).
    for path in ["/agents", "/agents/echo/runs", "/sessions", "/config/reload", "/memories"] {
        let req = format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\nConnection: close\r\n\r\nmessage=hi"
        );
        let answer = raw(&addr, req.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "OPTIONS {path}: {answer}");
        assert!(answer.ends_with("\r\n\r\n"), "OPTIONS {path} has a body: {answer}");
        let preflight = format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://evil.test\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"
        );
        let answer = raw(&addr, preflight.as_bytes()).await;
        assert!(!answer.to_ascii_lowercase().contains("access-control-allow-origin"), "{answer}");
        assert!(!answer.contains("\"data\"") && !answer.contains("agent_id"), "{answer}");
    }
    // Header forms that are not the key.
    let c = client();
    for value in [
        String::new(),
        "Bearer".into(),
        "Bearer ".into(),
        format!("Bearer  {KEY}"),
        format!("Basic {KEY}"),
        format!("Token {KEY}"),
        format!("Bearer {}", &KEY[..KEY.len() - 1]),
        format!("Bearer {KEY}\u{0}"),
        format!("{KEY}{KEY}"),
        KEY.to_uppercase(),
    ] {
        let Ok(v) = reqwest::header::HeaderValue::from_bytes(value.as_bytes()) else { continue };
        let a = send(c.get(s.url("/agents")).header("authorization", v)).await;
        assert_eq!(a.status, 401, "{value:?}");
        a.error(401);
    }
    // Two Authorization headers, the second the key: the first is the one read.
    let req = format!(
        "GET /agents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer nope\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    );
    assert!(raw(&addr, req.as_bytes()).await.starts_with("HTTP/1.1 401"));
    // The key in the query string or a cookie is no key.
    get_unauthed_401(&s, &format!("/agents?key={KEY}&security_key={KEY}&authorization=Bearer%20{KEY}")).await;
    let a = send(c.get(s.url("/agents")).header("cookie", format!("authorization=Bearer {KEY}"))).await;
    a.error(401);
    // The public routes are public; nothing was run.
    assert_eq!(send(c.get(s.url("/health/"))).await.ok()["status"], "ok");
    let n: i64 = s.db().query_row("SELECT COUNT(*) FROM agno_runs", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0);
}

async fn get_unauthed_401(s: &Running, path: &str) {
    send(client().get(s.url(path))).await.error(401);
}

/// An empty or blank key in the config or the environment is no key: the server does not
/// accept an empty `Authorization` as the key, and refuses a public address without a key.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_key_is_no_key() {
    let dir = tempfile::tempdir().unwrap();
    server::write_config(dir.path(), &app("  security_key: \"\"\n  host: 0.0.0.0\n"));
    let (mut child, stderr, _) = server::spawn(
        dir.path(),
        &["serve".into(), "app.yaml".into(), "--port".into(), "0".into(), "--no-reload".into()],
        &[("OS_SECURITY_KEY".into(), String::new())],
    );
    let status = child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!status.success(), "served a public address with an empty key");
    assert!(stderr.lock().unwrap().join("\n").contains("security key"), "{:?}", stderr.lock().unwrap());
    // On loopback with an empty key: open, as without one (no empty-header match to rely on).
    let s = serve(&app("  security_key: \"\"\n"));
    assert_eq!(send(client().get(s.url("/agents"))).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Error shapes and input bounds

/// Router-level refusals (no route, wrong method, bad path, bad query, bad JSON, wrong content
/// type, too large) are JSON `{"detail": …}` like the handlers' own.
#[tokio::test(flavor = "multi_thread")]
async fn every_router_refusal_is_json() {
    let s = serve(&app(&format!("  security_key: {KEY}\n  max_body_bytes: 4096\n")));
    let c = client();
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (c.get(s.url("/nope")), 404),
        (c.put(s.url("/agents")), 405),
        (c.delete(s.url("/agents/echo/runs")), 405),
        (c.get(s.url("/sessions/%FF%FE")), 400),
        (c.get(s.url("/sessions?limit=abc")), 400),
        (c.get(s.url("/sessions?limit=1&limit=2")), 400),
        (c.patch(s.url("/sessions/x")).body("{not json"), 422),
        (c.patch(s.url("/sessions/x")).header("content-type", "application/json").body("[".repeat(3000)), 422),
        (c.post(s.url("/memories")).json(&json!({"memory": "x".repeat(5000)})), 413),
        (c.post(s.url("/agents/echo/runs")).body(vec![b'a'; 5000]), 413),
        (c.post(s.url("/agents/echo/runs")).header("content-type", "multipart/form-data").body("x"), 422),
        (c.post(s.url("/agents/echo/runs")).header("content-type", "multipart/form-data; boundary=").body("x"), 422),
        (c.post(s.url("/agents/echo/runs")).form(&[("message", "hi"), ("session_state", "[1]")]), 422),
        (c.post(s.url("/agents/echo/runs")).form(&[("message", "hi"), ("stream", "maybe")]), 422),
        (c.post(s.url("/agents/echo/runs")).form(&[("message", "hi"), ("session_state", &"[".repeat(1000))]), 422),
    ];
    for (req, status) in cases {
        let a = send(authed(req)).await;
        a.error(status);
    }
}

/// A message at `max_input_bytes` runs; one byte more (also as a multi-byte character across
/// the limit) is a JSON 413 and nothing is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_one_byte_over_max_input_bytes_is_refused_and_not_stored() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")).replace(
        "other: {name: Other, model: echo, db: local}",
        "other: {name: Other, model: echo, db: local, max_input_bytes: 1000}",
    ));
    let run = |m: String, session: &'static str| {
        let req = authed(client().post(s.url("/agents/other/runs")));
        send(req.form(&[("message", m.as_str()), ("stream", "false"), ("session_id", session)]))
    };
    assert_eq!(run("a".repeat(1000), "s-at").await.ok()["status"], "COMPLETED");
    run("a".repeat(1001), "s-over").await.error(413);
    run(format!("{}é", "a".repeat(999)), "s-char").await.error(413);
    let streamed = send(
        authed(client().post(s.url("/agents/other/runs")))
            .form(&[("message", "a".repeat(1001).as_str()), ("session_id", "s-over-stream")]),
    );
    streamed.await.error(413);
    let sessions: Vec<String> = {
        let c = s.db();
        let mut st = c.prepare("SELECT session_id FROM agno_sessions").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(sessions, ["s-at"]);
}

// ---------------------------------------------------------------------------------------------
// Aggregating routes

/// `/memory_topics`, `/user_memory_stats` and a filtered `/memories` scan up to 100k memories
/// of up to 64 kB each, and held every memory's text while they did: a small GET cost more
/// than the whole table (145 MB for 1,500 memories of 60 kB; 6.4 GB at the bounds). They must
/// hold a page of texts at a time, and only what they answer.
#[tokio::test(flavor = "multi_thread")]
async fn aggregating_memory_routes_do_not_load_every_text() {
    const N: usize = 1000;
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let text = "m".repeat(65_000);
    let url = s.url("/memories");
    let mut posts = Vec::new();
    for w in 0..16 {
        let (url, text) = (url.clone(), text.clone());
        posts.push(tokio::spawn(async move {
            let c = client();
            for i in (w..N).step_by(16) {
                let body = json!({"memory": format!("{i} {text}"), "user_id": format!("u{}", i % 7), "topics": [format!("t{}", i % 5)]});
                let r = authed(c.post(&url)).json(&body).send().await.unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for p in posts {
        p.await.unwrap();
    }
    still_serving(&s).await;
    let before = s.peak();
    let topics = get(&s, "/memory_topics").await.ok();
    assert_eq!(topics, json!(["t0", "t1", "t2", "t3", "t4"]));
    let stats = get(&s, "/user_memory_stats").await.ok();
    assert_eq!(stats["meta"]["total_count"], 7);
    assert_eq!(
        stats["data"].as_array().unwrap().iter().map(|r| r["total_memories"].as_u64().unwrap()).sum::<u64>(),
        N as u64
    );
    let oldest = get(&s, "/memories?sort_by=created_at&sort_order=asc&limit=2&page=3").await.ok();
    assert_eq!(oldest["meta"]["total_count"], N);
    assert_eq!(oldest["data"].as_array().unwrap().len(), 2);
    assert!(oldest["data"][0]["memory"].as_str().unwrap().ends_with(&text));
    let filtered = get(&s, "/memories?topics=t1,t2&limit=5").await.ok();
    assert_eq!(filtered["meta"]["total_count"], 0);
    let grown = s.peak().saturating_sub(before);
    assert!(grown < 40_000_000, "reading {N} memories of 65 kB for an aggregate cost {} MB", grown / 1_000_000);
    // A filtered page still answers every text of the page.
    let by_topic = get(&s, "/memories?topics=t3&sort_by=memory_id&limit=1000").await.ok();
    assert_eq!(by_topic["meta"]["total_count"], N / 5);
    assert!(by_topic["data"].as_array().unwrap().iter().all(|m| m["memory"].as_str().unwrap().ends_with(&text)));
}

// ---------------------------------------------------------------------------------------------
// Hostile config edits

/// A table name with a multi-byte character in its first seven bytes made the config check
/// slice inside the character: a panic (the load "panicked" on reload; `validate` and a start
/// crashed with a backtrace). It is a diagnostic like any bad name, and the server serves on.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_of_a_table_name_with_multibyte_characters_is_a_diagnostic() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let bad = app(&format!("  security_key: {KEY}\n"))
        .replace("db_file: agno.db}", "db_file: agno.db, session_table: \"sqlit€x\"}");
    server::write_config(s.dir.path(), &bad);
    let out = send(authed(client().post(s.url("/config/reload")))).await.ok();
    assert_eq!(out["loaded"], false, "{out}");
    let codes: Vec<&str> =
        out["error"]["diagnostics"].as_array().unwrap().iter().filter_map(|d| d["code"].as_str()).collect();
    assert!(codes.contains(&"agno::identifier"), "{out}");
    assert!(!s.server.stderr().contains("panicked"), "{}", s.server.stderr());
    // A name that truly begins with `sqlite_`, in any case, is still refused.
    server::write_config(s.dir.path(), &bad.replace("sqlit€x", "SQLite_x"));
    let out = send(authed(client().post(s.url("/config/reload")))).await.ok();
    assert_eq!(out["loaded"], false, "{out}");
    still_serving(&s).await;
}

/// Multipart run forms: twenty thousand tiny parts, a part without a name, a 60 kB boundary, a file part, an unterminated body: each a JSON
/// answer, the form read at most to its field limit.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_multipart_forms_are_bounded_and_json() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let post = |boundary: &str, body: Vec<u8>| {
        let req = authed(client().post(s.url("/agents/echo/runs")))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        send(req)
    };
    let part =
        |name: &str, value: &str| format!("--X\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    let many = format!("{}--X--\r\n", part("a", "").repeat(20_000));
    post("X", many.into_bytes()).await.error(422);
    let unnamed = format!(
        "--X\r\nContent-Disposition: form-data\r\n\r\nhi\r\n{}{}--X--\r\n",
        part("message", "named"),
        part("stream", "false")
    );
    assert_eq!(post("X", unnamed.into_bytes()).await.ok()["content"], "named");
    let big = "B".repeat(60_000);
    let body = format!(
        "--{big}\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nbig boundary\r\n--{big}\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\nfalse\r\n--{big}--\r\n"
    );
    assert_eq!(post(&big, body.into_bytes()).await.ok()["content"], "big boundary");
    let file = "--X\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nhello\r\n--X--\r\n";
    post("X", file.into()).await.error(415);
    let cut = "--X\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello";
    post("X", cut.into()).await.error(422);
    // Five thousand headers in one part.
    let headers: String = (0..5000).map(|i| format!("H{i}: v\r\n")).collect();
    post("X", format!("--X\r\n{headers}\r\nhi\r\n--X--\r\n").into_bytes()).await.error(422);
    still_serving(&s).await;
}

/// Huge query strings and header sets are refused by the HTTP layer before any handler (a
/// 414 / 431 with no body: hyper answers them, not the router); as many `status=` values as
/// a URI can hold are answered.
#[tokio::test(flavor = "multi_thread")]
async fn huge_queries_and_headers_stop_at_the_http_layer() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let run = send(authed(client().post(s.url("/agents/echo/runs"))).form(&[
        ("message", "hi"),
        ("stream", "false"),
        ("session_id", "s-q"),
    ]));
    run.await.ok();
    let auth = format!("Authorization: Bearer {KEY}\r\n");
    let addr = s.addr();
    let q = "status=COMPLETED&".repeat(100_000);
    let answer = raw(
        &addr,
        format!("GET /sessions/s-q/runs?{q} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);
    let q = "status=COMPLETED&".repeat(5000);
    let answer = raw(
        &addr,
        format!("GET /sessions/s-q/runs?{q} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 414"), "{}", &answer[..answer.len().min(200)]);
    let q = "status=X&".repeat(7000);
    let runs = get(&s, &format!("/sessions/s-q/runs?{q}status=completed")).await.ok();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer =
        raw(&addr, format!("GET /agents HTTP/1.1\r\nHost: x\r\n{auth}{many}Connection: close\r\n\r\n").as_bytes())
            .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let big = "v".repeat(1_000_000);
    let answer = raw(
        &addr,
        format!("GET /agents HTTP/1.1\r\nHost: x\r\n{auth}X-Big: {big}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);
    still_serving(&s).await;
}

/// A reload pointing a database at a file that is not SQLite leaves that file as it was and
/// the current generation serving; a reload to ten thousand agents loads and serves them.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_at_a_foreign_file_or_ten_thousand_agents_keeps_serving() {
    let s = serve(&app(&format!("  security_key: {KEY}\n")));
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("passwd");
    let original = "root:x:0:0:root:/root:/bin/bash\n".repeat(50);
    std::fs::write(&victim, &original).unwrap();
    let text = app(&format!("  security_key: {KEY}\n"))
        .replace("databases:\n", &format!("databases:\n  evil: {{type: sqlite, db_file: \"{}\"}}\n", victim.display()));
    server::write_config(s.dir.path(), &text);
    let out = send(authed(client().post(s.url("/config/reload")))).await.ok();
    assert_eq!(out["loaded"], false, "{out}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), original);
    still_serving(&s).await;

    let many: String = (0..10_000).map(|i| format!("  a{i}: {{model: echo, db: local}}\n")).collect();
    let text = app(&format!("  security_key: {KEY}\n")).replace("agents:\n", &format!("agents:\n{many}"));
    server::write_config(s.dir.path(), &text);
    let out = send(authed(client().post(s.url("/config/reload")))).await.ok();
    assert_eq!(out["loaded"], true, "{out}");
    assert_eq!(get(&s, "/config").await.ok()["agents"].as_array().unwrap().len(), 10_002);
    let run =
        send(authed(client().post(s.url("/agents/a9999/runs"))).form(&[("message", "last"), ("stream", "false")]));
    assert_eq!(run.await.ok()["content"], "last");
    still_serving(&s).await;
}
