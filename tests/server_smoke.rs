//! The harness itself: the default config serves, a run answers.
#[path = "support/server.rs"]
mod server;

use server::{Server, Start, client, parse_sse};

#[tokio::test(flavor = "multi_thread")]
async fn the_default_config_serves_a_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/app.yaml"), dir.path().join("app.yaml")).unwrap();
    let server = Server::start(dir.path(), Start::new(&["app.yaml"]));
    let c = client();
    let r = c
        .post(server.url("/agents/assistant/runs"))
        .form(&[("message", "Hi"), ("stream", "true")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = parse_sse(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"RunStarted"));
    assert_eq!(names.last(), Some(&"RunCompleted"));
    assert_eq!(events.last().unwrap().1["content"], "Hi");
}
