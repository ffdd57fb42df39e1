//! The console at `/`, in a real headless browser (Debian's Chromium through chromedriver):
//! what a developer sees on the default config, chats with an agent, a team and a workflow,
//! a YAML save that adds an agent and one that breaks the config, sessions and memories, the
//! key, hostile replies, a narrow window. Each test asserts on what the page shows.
//!
//! Without Chromium these tests say "skipping" and pass, unless `AGNO_TEST_REQUIRE_BROWSER=1`
//! (as `.ci/run` sets it), when a missing browser fails them. The HTTP-level tests of the page's
//! files and of `/config/events` need no browser.
#[path = "support/browser.rs"]
mod browser;
#[path = "support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use browser::Browser;
use serde_json::{Value, json};
use server::{Server, Start, client, send};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A folder holding a copy of `configs/app.yaml` (the default config) as `app.yaml`.
fn default_config() -> (tempfile::TempDir, PathBuf) {
    copy_config("configs/app.yaml")
}

fn copy_config(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::copy(Path::new(ROOT).join(rel), &path).unwrap();
    (dir, path)
}

fn serve(dir: &Path) -> Server {
    Server::start(dir, Start::new(&["app.yaml"]))
}

/// Saves `text` as editors do: a temporary file renamed over the config.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A folder with a config of one agent `id` whose OpenAI-compatible model is on `port` of
/// loopback (no retries).
fn openai_agent(id: &str, name: &str, port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  m: {{provider: openai, id: gpt-4o-mini, base_url: \"http://127.0.0.1:{port}/v1\", api_key: test, timeout: 120, max_retries: 0}}\nagents:\n  {id}: {{name: {name}, model: m, db: local}}\nserver: {{host: 127.0.0.1, port: 7777}}\n"
    );
    std::fs::write(dir.path().join("app.yaml"), config).unwrap();
    dir
}

/// Opens the console and waits until it shows the generation it serves.
async fn open(b: &Browser, s: &Server, hash: &str) {
    b.goto(&s.url(&format!("/{hash}"))).await;
    b.wait_for_text("#generation", "generation ", 10).await;
    b.wait_for_text("#link-status", "live", 10).await;
}

/// Sends `message` in the chat view with Enter, as a keyboard user does.
async fn say(b: &Browser, message: &str) {
    b.type_into("#chat-input", message).await;
    b.find("#chat-input").await.send_keys("\u{E007}").await;
}

async fn no_page_errors(b: &Browser) {
    let errors = b.errors().await;
    assert!(errors.is_empty(), "the page logged errors: {errors:?}");
}

// ---------------------------------------------------------------------------------------------
// HTTP: the page, its files, and the config's event stream

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_its_files_are_served_with_a_strict_policy() {
    let (dir, _) = default_config();
    let s = serve(dir.path());
    let c = client();
    let page = send(c.get(s.url("/"))).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text.contains("/console/app.js"), "{}", page.text);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // Every module the page loads is served as JavaScript; an ETag answers a revalidation.
    for name in ["app.js", "api.js", "dom.js", "chat.js", "graph.js", "sessions.js", "memories.js"] {
        let a = send(c.get(s.url(&format!("/console/{name}")))).await;
        assert_eq!(a.status, 200, "{name}");
        assert!(a.header("content-type").unwrap().starts_with("text/javascript"), "{name}");
        let tag = a.header("etag").unwrap().to_string();
        let again = send(c.get(s.url(&format!("/console/{name}"))).header("if-none-match", &tag)).await;
        assert_eq!(again.status, 304, "{name}");
    }
    assert_eq!(send(c.get(s.url("/console/style.css"))).await.header("content-type"), Some("text/css; charset=utf-8"));
    // Nothing else is reachable under /console: not a made-up name, not a path out of it.
    for bad in ["/console/nope.js", "/console/..%2FCargo.toml", "/console/../Cargo.toml", "/console/"] {
        let a = send(c.get(s.url(bad))).await;
        assert_eq!(a.status, 404, "{bad}: {}", a.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_key_the_page_is_public_and_its_data_is_not() {
    let (dir, path) = default_config();
    let text =
        std::fs::read_to_string(&path).unwrap().replace("  port: 7777", "  port: 7777\n  security_key: s3cret-console");
    std::fs::write(&path, text).unwrap();
    let s = serve(dir.path());
    let c = client();
    assert_eq!(send(c.get(s.url("/"))).await.status, 200);
    assert_eq!(send(c.get(s.url("/console/app.js"))).await.status, 200);
    assert_eq!(send(c.get(s.url("/config/events"))).await.status, 401);
    assert_eq!(send(c.get(s.url("/agents"))).await.status, 401);
    // The page holds no key: it asks for one.
    let page = send(c.get(s.url("/"))).await;
    assert!(!page.text.contains("s3cret"));
}

/// Reads SSE events from `response` until `want` of them arrived (or 10 s passed).
async fn read_events(response: &mut reqwest::Response, want: usize) -> Vec<Value> {
    let mut buffer = String::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk()).await;
        let Ok(Ok(Some(chunk))) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(cut) = buffer.find("\n\n") {
            let block = buffer[..cut].to_string();
            buffer.drain(..cut + 2);
            if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                out.push(serde_json::from_str(data).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn config_events_send_the_state_now_and_after_each_reload() {
    let (dir, path) = default_config();
    let s = serve(dir.path());
    let c = client();
    let mut stream = c.get(s.url("/config/events")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let first = read_events(&mut stream, 1).await;
    assert_eq!(first[0]["event"], "ConfigState");
    assert_eq!(first[0]["config_generation"], 1);
    assert!(first[0]["config_files"][0].as_str().unwrap().ends_with("app.yaml"), "{}", first[0]);

    // A broken save: the state says why, located, and generation 1 keeps serving.
    let good = std::fs::read_to_string(&path).unwrap();
    save(
        &path,
        &good.replace(
            "model: ${AGNO_RUN_MODEL:-offline}\n    db: local\n    description",
            "model: nosuch\n    db: local\n    description",
        ),
    );
    let broken = read_events(&mut stream, 1).await;
    assert_eq!(broken.len(), 1, "no event after a broken save");
    assert_eq!(broken[0]["config_generation"], 1);
    let d = &broken[0]["last_error"]["diagnostics"][0];
    assert!(d["file"].as_str().unwrap().ends_with("app.yaml"), "{d}");
    assert!(d["line"].as_u64().unwrap() > 1, "{d}");
    assert!(d["code"].as_str().unwrap().starts_with("agno::"), "{d}");

    // Fixed: generation 2, no error.
    save(&path, &good);
    let fixed = read_events(&mut stream, 1).await;
    assert_eq!(fixed.len(), 1, "no event after the fix");
    assert_eq!(fixed[0]["config_generation"], 2);
    assert!(fixed[0]["last_error"].is_null(), "{}", fixed[0]);
}

// ---------------------------------------------------------------------------------------------
// In the browser

#[tokio::test(flavor = "multi_thread")]
async fn the_default_config_opens_and_the_offline_agent_streams_its_answer() {
    let Some(b) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    open(&b, &s, "").await;
    // The config view: generation, files, the databases.
    let main = b.wait_for_text("main", "Generation", 10).await;
    assert!(main.contains("app.yaml"), "{main}");
    assert!(main.contains("local"), "{main}");
    // The components: the agents with their models, tools and database.
    b.click("nav a[data-section=components]").await;
    let cards = b.wait_for_text("main", "Note keeper", 10).await;
    assert!(cards.contains("Assistant") && cards.contains("calculator") && cards.contains("Help desk"), "{cards}");
    // Chat with the assistant: Enter sends, the answer streams into the log.
    b.click("#agent-assistant a.button").await;
    b.find("#chat-input").await;
    say(&b, "Hello from the browser").await;
    b.wait_for_text(".turn > .bubble.answer", "Hello from the browser", 15).await;
    b.wait_for_text(".turn > .run-status", "completed", 15).await;
    // The new session is the one selected, and the server stored it for this user.
    let session =
        b.wait_for("the session is selected", "return document.getElementById('chat-session').value", 10).await;
    let session = session.as_str().unwrap().to_string();
    let stored = send(client().get(s.url(&format!("/sessions/{session}/runs?type=agent")))).await.json();
    assert_eq!(stored[0]["run_input"], "Hello from the browser");
    assert_eq!(stored[0]["user_id"], "console-user");
    assert_eq!(stored[0]["status"], "COMPLETED");
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_run_shows_the_delegation_and_a_workflow_run_its_steps() {
    let Some(b) = Browser::start().await else { return };
    // The route team of the shipped example delegates with a tool call on its first run.
    let (dir, _) = copy_config("examples/teams.yaml");
    let s = serve(dir.path());
    open(&b, &s, "#/components").await;
    // The team drawn with its members.
    let graph = b.wait_for_text("#team-helpdesk .graph", "Billing specialist", 10).await;
    assert!(graph.contains("Technical specialist"), "{graph}");
    b.goto(&s.url("/#/chat/team/helpdesk")).await;
    b.find("#chat-input").await;
    say(&b, "My invoice is wrong").await;
    b.wait_for_text(".turn .fold.tool summary", "delegate_task_to_member", 15).await;
    let member = b.wait_for_text(".turn .fold.member summary", "Billing specialist", 15).await;
    assert!(member.contains("member"), "{member}");
    b.wait_for_text(".turn > .run-status", "completed", 15).await;
    // Expanded, the tool call shows its arguments and result.
    b.click(".turn .fold.tool summary").await;
    let tool = b.wait_for_text(".turn .fold.tool", "arguments", 5).await;
    assert!(tool.contains("billing") && tool.contains("result"), "{tool}");
    drop(s);

    // The workflow of the default config: two steps, an agent then a team.
    let (dir, _) = default_config();
    let s = serve(dir.path());
    open(&b, &s, "#/components").await;
    let flow = b.wait_for_text("#workflow-brief .graph", "draft", 10).await;
    assert!(flow.contains("check") && flow.contains("team: Help desk"), "{flow}");
    b.goto(&s.url("/#/chat/workflow/brief")).await;
    b.find("#chat-input").await;
    say(&b, "What is agno-run?").await;
    b.wait_for_text(".turn > .run-status", "completed", 20).await;
    let steps = b.find_all(".turn .fold.step > summary").await;
    let mut names = Vec::new();
    for s in &steps {
        names.push(s.text().await);
    }
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("draft") && names[0].contains("done"), "{names:?}");
    assert!(names[1].contains("check") && names[1].contains("done"), "{names:?}");
    // The step's agent and the team are nested in their steps (collapsed until opened).
    steps[0].click().await;
    steps[1].click().await;
    let mut runs = Vec::new();
    for r in b.find_all(".turn .fold.step .fold.member > summary").await {
        runs.push(r.text().await);
    }
    assert!(runs.first().is_some_and(|r| r.contains("agent Assistant")), "{runs:?}");
    assert!(runs.iter().any(|r| r.contains("team Help desk")), "{runs:?}");
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saving_the_yaml_updates_the_page_and_a_broken_save_shows_where() {
    let Some(b) = Browser::start().await else { return };
    let (dir, path) = default_config();
    let s = serve(dir.path());
    open(&b, &s, "#/components").await;
    b.wait_for_text("main", "Note keeper", 10).await;
    // A marker that a page reload would lose.
    b.eval("window.__sameDocument = 42; return true;", vec![]).await;

    // Add an agent: it appears, and the header says generation 2.
    let good = std::fs::read_to_string(&path).unwrap();
    let added = good.replace(
        "\nteams:\n",
        "\n  poet:\n    name: Poet\n    model: ${AGNO_RUN_MODEL:-offline}\n    db: local\n    instructions: Answer in verse.\n\nteams:\n",
    );
    assert_ne!(added, good);
    save(&path, &added);
    let started = Instant::now();
    b.wait_for_text("main", "Poet", 10).await;
    b.wait_for_text("#generation", "generation 2", 5).await;
    eprintln!("the new agent appeared {} ms after the save", started.elapsed().as_millis());

    // Break it: a model nobody declared. The diagnostics show the file, line, code and help.
    let broken =
        added.replace("    name: Poet\n    model: ${AGNO_RUN_MODEL:-offline}", "    name: Poet\n    model: sonnet");
    let line = broken.lines().position(|l| l.contains("model: sonnet")).unwrap() + 1;
    save(&path, &broken);
    let started = Instant::now();
    let shown = b.wait_for_text("#diagnostics", &format!("app.yaml:{line}:"), 10).await;
    eprintln!("the diagnostics appeared {} ms after the broken save", started.elapsed().as_millis());
    assert!(shown.contains("agno::"), "no code: {shown}");
    assert!(shown.contains("sonnet"), "{shown}");
    assert!(shown.contains("help"), "no help: {shown}");
    assert!(b.text("#reload-status").await.contains("keeps serving"));
    // Still generation 2, and the agents still listed.
    assert!(b.text("#generation").await.contains("generation 2"));

    // Fixed: the diagnostics go, generation 3 serves.
    save(&path, &added);
    b.wait_for("the diagnostics are hidden", "return document.getElementById('diagnostics').hidden", 10).await;
    b.wait_for_text("#generation", "generation 3", 5).await;
    assert_eq!(b.eval("return window.__sameDocument", vec![]).await, json!(42), "the page was reloaded");
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_just_created_opens_with_its_runs_and_can_be_renamed_and_deleted() {
    let Some(b) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    open(&b, &s, "#/chat/agent/assistant").await;
    b.find("#chat-input").await;
    say(&b, "First question").await;
    b.wait_for_text(".turn > .run-status", "completed", 15).await;
    let session = b.wait_for("a session", "return document.getElementById('chat-session').value", 10).await;
    let session = session.as_str().unwrap().to_string();
    say(&b, "Second question").await;
    b.wait_for("two answers", "return document.querySelectorAll('.turn > .run-status.ok').length === 2", 15).await;

    // The list shows it; filtered by another user it does not.
    b.click("nav a[data-section=sessions]").await;
    b.wait_for_text("#sessions-list", "First question", 10).await;
    b.type_into("#sessions-user", "somebody-else").await;
    b.click("#sessions-filters button[type=submit]").await;
    b.wait_for_text("#sessions-list", "No sessions match", 10).await;
    b.type_into("#sessions-user", "console-user").await;
    b.click("#sessions-filters button[type=submit]").await;
    b.wait_for_text("#sessions-list", "First question", 10).await;

    // Open it: both runs, with messages and metrics.
    b.click("#sessions-list a").await;
    let runs = b.wait_for_text("#session-runs", "Second question", 10).await;
    assert!(runs.contains("First question") && runs.contains("COMPLETED"), "{runs}");
    assert!(runs.contains("Messages") && runs.contains("Metrics"), "{runs}");
    assert!(b.current_url().await.contains(&session));

    // Rename it.
    b.type_into("#session-name", "Renamed in the console").await;
    b.click("#session-rename button[type=submit]").await;
    b.wait_for_text("#session-title", "Renamed in the console", 10).await;
    let stored = send(client().get(s.url(&format!("/sessions/{session}?type=agent")))).await.json();
    assert_eq!(stored["session_name"], "Renamed in the console");

    // Delete it: asked once more, then gone from the list and from the database.
    b.click("#session-delete").await;
    b.click("#session-delete-confirm").await;
    b.wait_for_text("#sessions-list", "No sessions match", 10).await;
    let gone = send(client().get(s.url(&format!("/sessions/{session}?type=agent")))).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memories_of_a_user_are_listed_added_and_deleted() {
    let Some(b) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    // One memory of another user, which the page must not show.
    let other =
        send(client().post(s.url("/memories")).json(&json!({"memory": "Bob's secret", "user_id": "bob"}))).await;
    assert_eq!(other.status, 200, "{}", other.text);
    open(&b, &s, "#/memories?user_id=alice").await;
    b.wait_for_text("#memories-list", "No memories for alice", 10).await;
    b.type_into("#memory-text", "Prefers short answers").await;
    b.type_into("#memory-topics", "style, answers").await;
    b.click("#memory-add button[type=submit]").await;
    let list = b.wait_for_text("#memories-list", "Prefers short answers", 10).await;
    assert!(list.contains("style") && list.contains("answers"), "{list}");
    assert!(!list.contains("Bob"), "{list}");
    let stored = send(client().get(s.url("/memories?user_id=alice"))).await.json();
    assert_eq!(stored["data"][0]["memory"], "Prefers short answers");
    assert_eq!(stored["data"][0]["topics"], json!(["style", "answers"]));
    // The topic filter offers the topics.
    b.wait_for_text("#memories-topic", "style", 5).await;
    b.click("#memories-list button.danger").await;
    b.wait_for_text("#memories-list", "No memories for alice", 10).await;
    let stored = send(client().get(s.url("/memories?user_id=alice"))).await.json();
    assert_eq!(stored["data"], json!([]));
    let bob = send(client().get(s.url("/memories?user_id=bob"))).await.json();
    assert_eq!(bob["data"][0]["memory"], "Bob's secret");
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_security_key_the_page_asks_for_it_and_keeps_it_for_the_tab_only() {
    let Some(b) = Browser::start().await else { return };
    let (dir, path) = default_config();
    let text =
        std::fs::read_to_string(&path).unwrap().replace("  port: 7777", "  port: 7777\n  security_key: s3cret-console");
    std::fs::write(&path, text).unwrap();
    let s = serve(dir.path());
    b.goto(&s.url("/")).await;
    b.wait_for_text("#key-form", "needs its security key", 10).await;
    assert!(b.eval("return document.getElementById('main').hidden", vec![]).await == json!(true));
    // A wrong key is refused and asked again.
    b.type_into("#key-input", "wrong").await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for_text("#key-error", "refused", 10).await;
    // The right one opens the console.
    b.type_into("#key-input", "s3cret-console").await;
    b.click("#key-form button[type=submit]").await;
    b.wait_for_text("#link-status", "live", 10).await;
    b.wait_for_text("main", "Generation", 10).await;
    let stored = b.eval("return [sessionStorage.getItem('agno-run.key'), JSON.stringify(localStorage)]", vec![]).await;
    assert_eq!(stored[0], "s3cret-console");
    assert!(!stored[1].as_str().unwrap().contains("s3cret"), "the key reached localStorage: {stored}");
    // A chat works with the key.
    b.goto(&s.url("/#/chat/agent/assistant")).await;
    b.find("#chat-input").await;
    say(&b, "Keyed hello").await;
    b.wait_for_text(".turn > .bubble.answer", "Keyed hello", 15).await;
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_reply_is_shown_as_text_and_bounded() {
    let Some(b) = Browser::start().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let huge = "x".repeat(600_000);
    let config = format!(
        "version: 1\ndatabases:\n  local: {{type: sqlite, db_file: agno.db}}\nmodels:\n  evil:\n    provider: scripted\n    replies:\n      - \"<img src=x onerror=\\\"window.__pwned=1\\\"><script>window.__pwned=2</script>{huge}\"\nagents:\n  evil: {{name: \"<b onmouseover=alert(1)>Evil</b>\", model: evil, db: local}}\nserver: {{host: 127.0.0.1, port: 7777}}\n"
    );
    std::fs::write(dir.path().join("app.yaml"), config).unwrap();
    let s = serve(dir.path());
    open(&b, &s, "#/components").await;
    // The name is text, not markup.
    b.wait_for_text("main", "<b onmouseover=alert(1)>Evil</b>", 10).await;
    b.goto(&s.url("/#/chat/agent/evil")).await;
    b.find("#chat-input").await;
    say(&b, "hi").await;
    b.wait_for_text(".turn > .run-status", "completed", 20).await;
    let answer = b.text(".turn > .bubble.answer").await;
    assert!(answer.starts_with("<img src=x onerror="), "{}", &answer[..100.min(answer.len())]);
    assert!(answer.contains("more characters not shown"), "not bounded: {} chars", answer.len());
    assert!(answer.len() < 300_000, "{} chars shown", answer.len());
    assert_eq!(b.eval("return window.__pwned === undefined", vec![]).await, json!(true));
    assert_eq!(
        b.eval("return document.querySelectorAll('main img, main script, main b').length", vec![]).await,
        json!(0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_narrow_window_has_no_sideways_scroll_and_every_control_has_a_label() {
    let Some(b) = Browser::start_with_size(390, 844).await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    for hash in ["#/config", "#/components", "#/chat/agent/assistant", "#/sessions", "#/memories"] {
        open(&b, &s, hash).await;
        b.find("main h2").await;
        let wide = b.eval("return document.documentElement.scrollWidth - window.innerWidth", vec![]).await;
        assert!(wide.as_i64().unwrap() <= 0, "{hash}: {wide} px wider than the window");
        // Every form control has an accessible name: a <label> around it or pointing at it, or aria-label.
        let unlabelled = b
            .eval(
                "return [...document.querySelectorAll('input, select, textarea')].filter(e => !e.closest('[hidden]')).filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.name)",
                vec![],
            )
            .await;
        assert_eq!(unlabelled, json!([]), "{hash}: controls without a label");
    }
    // The sections are reachable by keyboard: Tab moves focus onto a link of the section nav.
    b.goto(&s.url("/#/config")).await;
    b.find("main h2").await;
    let focused = b
        .eval("document.querySelector('nav.sections a').focus(); return document.activeElement.textContent", vec![])
        .await;
    assert_eq!(focused, json!("Config"));
}

/// Writes the README's screenshot when `AGNO_CONSOLE_SCREENSHOT` names a file: the default
/// config after a team run, in a 1280×900 window. Without it, the screenshot is still taken
/// (and checked to be a PNG), then dropped.
#[tokio::test(flavor = "multi_thread")]
async fn screenshot_of_the_default_config() {
    let Some(b) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    open(&b, &s, "#/chat/workflow/brief").await;
    b.find("#chat-input").await;
    say(&b, "What does agno-run do?").await;
    b.wait_for_text(".turn > .run-status", "completed", 20).await;
    b.eval("document.querySelectorAll('.turn .fold.step').forEach(d => d.open = true); return true", vec![]).await;
    let png = b.screenshot().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    if let Ok(out) = std::env::var("AGNO_CONSOLE_SCREENSHOT") {
        std::fs::write(&out, &png).unwrap();
        eprintln!("wrote {out} ({} bytes)", png.len());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cancel_button_ends_a_run_that_waits_on_its_model() {
    let Some(b) = Browser::start().await else { return };
    // A model server that takes the request and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let dir = openai_agent("waiter", "Waiter", port);
    let s = serve(dir.path());
    open(&b, &s, "#/chat/agent/waiter").await;
    b.find("#chat-input").await;
    say(&b, "Take your time").await;
    b.wait_for_text(".turn > .run-status", "running", 10).await;
    b.wait_for("the cancel button is enabled", "return !document.getElementById('chat-cancel').disabled", 10).await;
    b.click("#chat-cancel").await;
    b.wait_for_text(".turn > .run-status", "cancelled", 15).await;
    let session = b.wait_for("a session", "return document.getElementById('chat-session').value", 10).await;
    let runs =
        send(client().get(s.url(&format!("/sessions/{}/runs?type=agent", session.as_str().unwrap())))).await.json();
    assert_eq!(runs[0]["status"], "CANCELLED", "{runs}");
    held.abort();
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_shows_the_error_it_stored() {
    let Some(b) = Browser::start().await else { return };
    // A model server that is not there: the connection is refused, no retry.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = openai_agent("broken", "Broken", port);
    let s = serve(dir.path());
    open(&b, &s, "#/chat/agent/broken").await;
    b.find("#chat-input").await;
    say(&b, "Anyone there?").await;
    let status = b.wait_for_text(".turn > .run-status", "error:", 15).await;
    let session = b.wait_for("a session", "return document.getElementById('chat-session').value", 10).await;
    let runs =
        send(client().get(s.url(&format!("/sessions/{}/runs?type=agent", session.as_str().unwrap())))).await.json();
    assert_eq!(runs[0]["status"], "ERROR", "{runs}");
    let stored = runs[0]["content"].as_str().unwrap();
    assert!(!stored.is_empty(), "{runs}");
    assert!(status.contains(stored), "the page shows {status:?}, the run stored {stored:?}");
    // Opened later from the session list, the run shows the same.
    b.goto(&s.url(&format!("/#/session/agent/{}", session.as_str().unwrap()))).await;
    let shown = b.wait_for_text("#session-runs", "ERROR", 10).await;
    assert!(shown.contains(stored), "{shown}");
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_list_pages_through_many_sessions() {
    let Some(b) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    for i in 0..25 {
        let body = json!({"session_id": format!("page-{i:02}"), "session_name": format!("Session number {i:02}"), "agent_id": "assistant", "user_id": "pager"});
        let a = send(client().post(s.url("/sessions?type=agent")).json(&body)).await;
        assert!(a.status == 200 || a.status == 201, "{}", a.text);
    }
    open(&b, &s, "#/sessions?type=agent&user_id=pager").await;
    let first = b.wait_for_text("#sessions-list", "page 1 of 2", 10).await;
    assert!(first.contains("25 sessions"), "{first}");
    assert_eq!(b.find_all("#sessions-list tbody tr").await.len(), 20);
    b.click("#sessions-list nav button:last-child").await;
    b.wait_for_text("#sessions-list", "page 2 of 2", 10).await;
    assert_eq!(b.find_all("#sessions-list tbody tr").await.len(), 5);
    assert!(b.current_url().await.contains("page=2"));
    no_page_errors(&b).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_follows_the_systems_dark_preference() {
    let background = "return getComputedStyle(document.body).backgroundColor";
    let dark_query = "return matchMedia('(prefers-color-scheme: dark)').matches";
    let Some(light) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let s = serve(dir.path());
    open(&light, &s, "").await;
    assert_eq!(light.eval(dark_query, vec![]).await, json!(false));
    assert_eq!(light.eval(background, vec![]).await, json!("rgb(247, 247, 249)"));
    drop(light);
    let Some(dark) = Browser::start_with(1280, 900, &["--force-dark-mode"]).await else { return };
    open(&dark, &s, "").await;
    assert_eq!(dark.eval(dark_query, vec![]).await, json!(true), "--force-dark-mode did not set the preference");
    assert_eq!(dark.eval(background, vec![]).await, json!("rgb(21, 23, 27)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_killed_under_the_page_is_followed_again_when_it_comes_back() {
    let Some(b) = Browser::start().await else { return };
    let (dir, _) = default_config();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let s = Server::start(dir.path(), Start::new(&["app.yaml", "--port", &port]));
    open(&b, &s, "#/config").await;
    // Killed mid-stream: the page says it lost the server and keeps what it showed.
    s.signal("KILL");
    let _ = s.wait(10);
    b.wait_for_text("#link-status", "reconnecting", 10).await;
    assert!(b.text("main").await.contains("Generation"));
    // Back on the same address: followed again without a page reload.
    b.eval("window.__sameDocument = 7; return true", vec![]).await;
    let _again = Server::start(dir.path(), Start::new(&["app.yaml", "--port", &port]));
    b.wait_for_text("#link-status", "live", 20).await;
    assert_eq!(b.eval("return window.__sameDocument", vec![]).await, json!(7));
    no_page_errors(&b).await;
}
