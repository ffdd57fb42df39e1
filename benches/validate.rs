//! Benchmark: validate a corpus of 1,000 generated config files and print files per second.
//!
//! `cargo bench --bench validate` (release build). Prints three figures: the corpus loaded as
//! 1,000 independent configs in-process, as one merged config, and through the binary with
//! `validate --each` (process start included). Goal: the whole corpus in under a second.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agno_run::config::{LoadOptions, load};

const FILES: usize = 1_000;

fn config(i: usize) -> String {
    format!(
        r#"# yaml-language-server: $schema=../configs/agno-run.schema.json
version: 1
databases:
  db_{i}:
    type: sqlite
    db_file: data/agno_{i}.db
    session_table: sessions_{i}
    runs_table: runs_{i}
  pg_{i}:
    type: postgres
    db_url: ${{DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}}
    db_schema: ai_{i}
models:
  gpt_{i}:
    provider: openai
    id: gpt-4o-mini
    base_url: ${{OPENAI_BASE_URL:-https://api.openai.com/v1}}
    api_key: ${{OPENAI_API_KEY:-}}
    temperature: 0.2
    max_retries: 3
  offline_{i}:
    provider: scripted
    replies:
      - "first reply"
      - content: "calling tools"
        tool_calls:
          - {{name: calculator, arguments: {{expression: "2+2"}}}}
agents:
  researcher_{i}:
    name: Researcher {i}
    model: gpt_{i}
    db: db_{i}
    description: Finds facts.
    instructions: ["Be concise.", "Cite sources."]
    add_history_to_context: true
    num_history_runs: 3
    session_state: {{topics: [], count: 0}}
    add_session_state_to_context: true
    tools: [datetime, calculator, {{name: http_request, allowed_hosts: [api.example.com]}}]
  writer_{i}:
    model: offline_{i}
    db: pg_{i}
    instructions: Write clearly.
    add_history_to_context: true
    num_history_messages: 10
    tools: [read_chat_history, {{name: search_past_sessions, limit: 5}}]
teams:
  crew_{i}:
    mode: coordinate
    model: gpt_{i}
    db: db_{i}
    members: [researcher_{i}, writer_{i}]
  board_{i}:
    mode: route
    model: offline_{i}
    db: db_{i}
    members: [crew_{i}, writer_{i}]
workflows:
  flow_{i}:
    db: db_{i}
    steps:
      - name: research
        agent: researcher_{i}
        input: "Research: {{{{ input }}}}"
      - name: both
        parallel:
          - {{name: a, agent: writer_{i}, input: "{{{{ steps.research.content }}}}"}}
          - {{name: b, team: crew_{i}}}
      - name: check
        condition: 'steps.research.content.contains("ok")'
        steps:
          - {{name: publish, team: board_{i}, input: "{{{{ previous.content }}}}"}}
        else_steps:
          - {{name: redo, agent: researcher_{i}}}
      - name: polish
        loop: {{max_iterations: 3, end_condition: 'steps.edit.content.contains("DONE")'}}
        steps:
          - {{name: edit, agent: writer_{i}}}
"#
    )
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files: Vec<PathBuf> = (0..FILES)
        .map(|i| {
            let p = dir.path().join(format!("config_{i:04}.yaml"));
            std::fs::write(&p, config(i)).expect("write");
            p
        })
        .collect();
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    println!("corpus: {FILES} files, {:.1} MiB, in {}", bytes as f64 / 1_048_576.0, dir.path().display());
    let options = LoadOptions::with_env(HashMap::new());

    // Warm the page cache and the code once.
    let warm = load(&files[..10], &options);
    assert!(warm.config.is_some(), "generated config is valid: {:?}", warm.report.diagnostics);

    let mut best_each = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for f in &files {
            let loaded = load(std::slice::from_ref(f), &options);
            assert!(loaded.config.is_some(), "{}: {:?}", f.display(), loaded.report.diagnostics);
        }
        best_each = best_each.min(t.elapsed());
    }
    println!(
        "in-process, 1,000 independent configs: {:>8.1} ms  {:>8.0} files/s  (best of 3)",
        best_each.as_secs_f64() * 1e3,
        per_second(FILES, best_each)
    );

    let mut best_merged = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let loaded = load(&[dir.path().to_path_buf()], &options);
        assert!(loaded.config.is_some(), "merged corpus is valid: {:?}", loaded.report.diagnostics.first());
        best_merged = best_merged.min(t.elapsed());
    }
    println!(
        "in-process, one merged config:         {:>8.1} ms  {:>8.0} files/s  (best of 3)",
        best_merged.as_secs_f64() * 1e3,
        per_second(FILES, best_merged)
    );

    binary(dir.path(), &files);
}

fn binary(dir: &Path, files: &[PathBuf]) {
    let exe = env!("CARGO_BIN_EXE_agno-run");
    let t = Instant::now();
    let out = std::process::Command::new(exe)
        .args(["validate", "--each", "--format", "json"])
        .args(files)
        .env_clear()
        .output()
        .expect("run agno-run");
    let d = t.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    println!(
        "binary, validate --each (1 process):   {:>8.1} ms  {:>8.0} files/s",
        d.as_secs_f64() * 1e3,
        per_second(files.len(), d)
    );
    let t = Instant::now();
    let out = std::process::Command::new(exe).args(["validate", "--format", "json"]).arg(dir).env_clear().output();
    let d = t.elapsed();
    assert!(out.is_ok_and(|o| o.status.success()));
    println!(
        "binary, validate DIR (merged):         {:>8.1} ms  {:>8.0} files/s",
        d.as_secs_f64() * 1e3,
        per_second(files.len(), d)
    );
}
