//! `agno-run graph` through the real binary: the graph of the default config and of every
//! example, in Mermaid and DOT, checked in as snapshots (stable output: a diff of the graph is a
//! change of structure); the DOT rendered by Graphviz's `dot` without error. Mermaid's own parser
//! needs a browser build of mermaid that is not installable offline here, so the Mermaid output is
//! snapshot-tested only (its ids and labels are escaped: a unit test in `cli::graph_cmd`).

#[path = "support/cli.rs"]
mod cli;

use std::path::{Path, PathBuf};

use cli::{EXIT_CONFIG, EXIT_OK, agno, exec, write};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The configs whose graphs are checked in: the default config and every example file.
fn configs() -> Vec<PathBuf> {
    let mut files = vec![root().join("configs/app.yaml")];
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    examples.sort();
    files.extend(examples);
    files.push(root().join("examples/multi-file"));
    files
}

fn graph(path: &Path, format: &str) -> String {
    let out = exec(
        agno(&root())
            .args(["graph"])
            .arg(path)
            .args(["--format", format])
            .env("DATABASE_URL", "postgresql://u@localhost/db"),
    );
    out.expect(EXIT_OK);
    out.stdout
}

#[test]
fn every_example_has_a_stable_checked_in_graph_in_mermaid_and_dot() {
    for path in configs() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        for format in ["mermaid", "dot"] {
            let text = graph(&path, format);
            assert_eq!(text, graph(&path, format), "{name}: the same config draws the same graph");
            insta::assert_snapshot!(format!("{name}-{format}"), text);
        }
    }
}

#[test]
fn graphviz_renders_every_dot_graph() {
    let dot = std::process::Command::new("dot").arg("-V").output();
    if dot.is_err() {
        assert!(
            std::env::var("AGNO_TEST_REQUIRE_GRAPHVIZ").as_deref() != Ok("1"),
            "AGNO_TEST_REQUIRE_GRAPHVIZ=1 but Graphviz's `dot` is not installed"
        );
        eprintln!("skipped: Graphviz's `dot` is not installed");
        return;
    }
    for path in configs() {
        let text = graph(&path, "dot");
        let mut child = std::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{}: dot refused the graph: {stderr}",
            path.display()
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"), "{}", path.display());
    }
}

#[test]
fn a_team_graph_shows_members_nested_teams_and_modes_and_an_invalid_config_is_78() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {name: \"Say \\\"hi\\\" <b>\", model: m, tools: [calculator]}\n  b: {model: m}\nteams:\n  inner: {mode: broadcast, model: m, members: [a, b]}\n  outer: {mode: route, model: m, members: [inner, a]}\n",
    );
    let out = exec(agno(dir.path()).args(["graph", "app.yaml"]));
    out.expect(EXIT_OK);
    for line in [
        "team_3a_outer -->|\"member\"| team_3a_inner",
        "team_3a_outer -->|\"member\"| agent_3a_a",
        "team_3a_inner -->|\"member\"| agent_3a_b",
        "agent_3a_a -->|\"tool\"| tool_3a_calculator",
        "team_3a_inner[[\"inner (team, broadcast)\"]]",
        "team_3a_outer[[\"outer (team, route)\"]]",
        "agent_3a_a[\"Say #quot;hi#quot; #lt;b#gt; (agent)\"]",
    ] {
        assert!(out.stdout.contains(line), "lacks {line}:\n{}", out.stdout);
    }
    let dot = exec(agno(dir.path()).args(["graph", "app.yaml", "--format", "dot"]));
    assert!(dot.stdout.contains("\"team:outer\" -> \"team:inner\" [label=\"member\"];"), "{}", dot.stdout);
    assert!(dot.stdout.contains("label=\"Say \\\"hi\\\" <b> (agent)\""), "{}", dot.stdout);
    write(dir.path(), "bad.yaml", "version: 1\nagents:\n  a: {model: nope}\n");
    exec(agno(dir.path()).args(["graph", "bad.yaml"])).expect(EXIT_CONFIG);
}
