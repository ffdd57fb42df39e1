//! The browser test support (`support/browser.rs`) against a tiny page served from the test
//! itself: clicks, waits, typing, keys, dialogs, scripts, screenshots, collected errors, and what
//! a failed wait reports. Skipped without Chromium unless `AGNO_TEST_REQUIRE_BROWSER=1`.

#[path = "support/browser.rs"]
mod browser;

use std::time::{Duration, Instant};

use browser::{Browser, base64_decode, keys};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>selftest</title></head>
<body>
  <p id="status">idle</p>
  <button id="go" onclick="setTimeout(() => { status_('done') }, 300)">Go</button>
  <button id="later" onclick="setTimeout(() => {
    const p = document.createElement('p'); p.id = 'late'; p.textContent = 'arrived'; document.body.append(p);
  }, 300)">Later</button>
  <button id="unlate" onclick="setTimeout(() => document.getElementById('late').remove(), 200)">Remove</button>
  <form id="form" onsubmit="event.preventDefault(); status_('submitted: ' + this.name.value)">
    <input id="name" name="name" type="text" value="preset">
  </form>
  <button id="del" onclick="status_(confirm('Delete it?') ? 'deleted' : 'kept')">Delete</button>
  <button id="oops" onclick="console.error('x')">Oops</button>
  <button id="throw" onclick="setTimeout(() => { throw new Error('boom') }, 0)">Throw</button>
  <ul id="items"><li data-x="1">one</li><li>two</li><li>three</li></ul>
  <script>function status_(t) { document.getElementById('status').textContent = t; }</script>
</body>
</html>
"#;

/// Serves `PAGE` at `/` (404 elsewhere) on a free port; its base URL.
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&req);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (status, body) = if path == "/" { ("200 OK", PAGE) } else { ("404 Not Found", "not found") };
                let kind = if path == "/" { "text/html; charset=utf-8" } else { "text/plain" };
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn clicks_waits_types_and_dialogs() {
    let Some(b) = Browser::start().await else { return };
    let base = serve().await;
    b.goto(&format!("{base}/")).await;
    assert_eq!(b.title().await, "selftest");
    assert_eq!(b.current_url().await, format!("{base}/"));
    assert_eq!(b.text("#status").await, "idle");

    // A text that changes 300 ms after the click.
    let clicked = Instant::now();
    b.click("#go").await;
    assert_eq!(b.wait_for_text("#status", "done", 5).await, "done");
    assert!(clicked.elapsed() >= Duration::from_millis(290), "{:?}", clicked.elapsed());

    // An element that appears later, then goes.
    assert!(!b.exists("#late").await);
    b.click("#later").await;
    assert_eq!(b.wait_for_text("#late", "arrived", 5).await, "arrived");
    b.click("#unlate").await;
    b.wait_until_gone("#late", "", 5).await;
    assert!(!b.exists("#late").await);

    // Typing replaces what was there; Enter submits the form.
    let input = b.find("#name").await;
    assert_eq!(input.property("value").await, json!("preset"));
    b.type_into("#name", "hello").await;
    assert_eq!(input.property("value").await, json!("hello"));
    assert_eq!(input.attr("value").await.as_deref(), Some("preset"), "the attribute is the HTML's");
    b.type_into("#name", "abc").await;
    b.press(keys::ENTER).await;
    b.wait_for_text("#status", "submitted: abc", 5).await;
    input.send_keys("d").await;
    assert_eq!(input.property("value").await, json!("abcd"));
    input.clear().await;
    assert_eq!(input.property("value").await, json!(""));

    // Lists and attributes.
    let items = b.find_all("#items li").await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].attr("data-x").await.as_deref(), Some("1"));
    assert_eq!(items[1].attr("data-x").await, None);
    assert_eq!(items[2].text().await, "three");
    assert_eq!(b.find("#items").await.find_all("li").await.len(), 3);
    let n = b.wait_for("three items", "return document.querySelectorAll('#items li').length === 3 && 'yes'", 5).await;
    assert_eq!(n, json!("yes"));

    // confirm(): accepted, then dismissed.
    assert_eq!(b.alert_text().await, None);
    b.click("#del").await;
    assert_eq!(b.alert_text().await.as_deref(), Some("Delete it?"));
    assert_eq!(b.accept_alert().await, "Delete it?");
    b.wait_for_text("#status", "deleted", 5).await;
    b.click("#del").await;
    b.dismiss_alert().await;
    b.wait_for_text("#status", "kept", 5).await;

    assert!(b.page_text().await.contains("kept"));
    assert_eq!(b.errors().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn screenshots_scripts_sizes_and_errors() {
    assert_eq!(base64_decode("aGVs\nbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("aGVsbA").unwrap(), b"hell");

    let Some(b) = Browser::start_with_size(800, 600).await else { return };
    let base = serve().await;
    b.goto(&format!("{base}/")).await;

    let png = b.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{:?}", &png[..png.len().min(16)]);
    assert!(png.len() > 1000, "{} bytes", png.len());

    assert_eq!(b.eval("return arguments[0] + arguments[1]", vec![json!(2), json!(3)]).await, json!(5));
    let go = b.find("#go").await;
    assert_eq!(b.eval("return arguments[0].id", vec![go.to_json()]).await, json!("go"));
    let later = b
        .eval_async(
            "const done = arguments[arguments.length - 1]; setTimeout(() => done('late ' + arguments[0]), 100)",
            vec![json!("ok")],
        )
        .await;
    assert_eq!(later, json!("late ok"));
    assert!(b.try_eval("return nope.nope", vec![]).await.is_err_and(|e| e.error == "javascript error"));

    let outer = b.eval("return [window.outerWidth, window.outerHeight]", vec![]).await;
    assert_eq!(outer, json!([800, 600]));
    b.set_viewport_size(1024, 700).await;
    assert_eq!(b.eval("return [window.innerWidth, window.innerHeight]", vec![]).await, json!([1024, 700]));

    // Errors: console.error and an uncaught exception, collected since the last goto.
    assert!(b.errors().await.is_empty());
    b.click("#oops").await;
    assert_eq!(b.errors().await, vec!["x".to_string()]);
    b.click("#throw").await;
    let errors = b.wait_for("the uncaught error", "return window.__errors.length === 2 && window.__errors", 5).await;
    let errors: Vec<&str> = errors.as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(errors[1].starts_with("uncaught: Error: boom"), "{errors:?}");
    b.goto(&format!("{base}/")).await;
    assert!(b.errors().await.is_empty(), "a new page starts without errors");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_wait_says_what_it_saw_and_cleans_up() {
    let Some(b) = Browser::start().await else { return };
    let base = serve().await;
    b.goto(&format!("{base}/")).await;
    let driver = b.driver_pid();

    // The browser is dropped while the task unwinds.
    let failed = tokio::spawn(async move { b.wait_for_text("#status", "never", 1).await }).await.unwrap_err();
    let msg = failed.into_panic();
    let msg = msg.downcast_ref::<String>().expect("a formatted panic message");
    assert!(msg.contains(r##"waited 1 s for "#status" to contain "never""##), "{msg}");
    assert!(msg.contains(r#"its text: "idle""#), "{msg}");
    assert!(msg.contains("--- page text ---\nidle\n"), "{msg}");
    let shot = msg.lines().find_map(|l| l.strip_prefix("screenshot: ")).expect("a screenshot line");
    let png = std::fs::read(shot).unwrap_or_else(|e| panic!("{shot}: {e}\n{msg}"));
    assert!(png.starts_with(b"\x89PNG"));
    let _ = std::fs::remove_file(shot);
    let _ = std::fs::remove_file(shot.replace(".png", ".html"));

    // chromedriver was killed and reaped, and took its Chromium with it.
    assert!(!std::path::Path::new(&format!("/proc/{driver}")).exists(), "chromedriver {driver} is still there");
    let group = format!("{driver}");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp …
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2) == Some(&group.as_str()) {
            assert_eq!(fields[0], "Z", "process {:?} of chromedriver's group is alive: {stat}", entry.file_name());
        }
    }
}
