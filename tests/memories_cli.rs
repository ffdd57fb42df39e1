//! Black-box tests of `agno-run memories`: the real binary against a temp SQLite config, what it
//! prints and its exit codes, user scoping, the bounds, and what lands in the `agno_memories`
//! table (read with rusqlite, never through agno-run). Every example the command's `--help` and
//! README's "The `memories` command" section show is run as written.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

#[path = "support/cli.rs"]
mod cli;

use agno_run::memory::{MAX_MEMORY_BYTES, MAX_TOPIC_BYTES, MAX_TOPICS};
use cli::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Out, agno, exec};
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use tempfile::TempDir;

/// One SQLite database, with an agent so the database is the agents' one.
const APP: &str = r#"version: 1
databases:
  local: {type: sqlite, db_file: agno.db}
models:
  offline: {provider: scripted}
agents:
  assistant: {model: offline, db: local}
"#;

fn setup() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    cli::write(dir.path(), "app.yaml", APP);
    dir
}

/// `agno-run memories app.yaml ARGS...` in `dir`, stdin closed.
fn mem(dir: &Path, args: &[&str]) -> Out {
    exec(agno(dir).arg("memories").arg("app.yaml").args(args).write_stdin(""))
}

/// `add TEXT ARGS...`: the new memory's id.
#[track_caller]
fn add(dir: &Path, text: &str, args: &[&str]) -> String {
    let out = mem(dir, &[&["add", text][..], args].concat());
    out.expect(EXIT_OK);
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 36, "add prints the id alone:\n{out:?}");
    id
}

#[track_caller]
fn json_of(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out:?}"))
}

/// A row of `agno_memories` as stored.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    memory_id: String,
    memory: Value,
    user_id: Option<String>,
    topics: Value,
    created_at: i64,
    updated_at: Option<i64>,
}

fn json_col(text: Option<String>) -> Value {
    text.map(|t| serde_json::from_str(&t).unwrap()).unwrap_or(Value::Null)
}

/// Every row of `agno_memories`, by id.
fn rows(dir: &Path) -> Vec<Row> {
    let c = Connection::open_with_flags(dir.join("agno.db"), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut st = c
        .prepare(
            "SELECT memory_id, memory, user_id, topics, created_at, updated_at FROM agno_memories ORDER BY memory_id",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(Row {
            memory_id: r.get(0)?,
            memory: json_col(r.get(1)?),
            user_id: r.get(2)?,
            topics: json_col(r.get(3)?),
            created_at: r.get(4)?,
            updated_at: r.get(5)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn row(dir: &Path, id: &str) -> Option<Row> {
    rows(dir).into_iter().find(|r| r.memory_id == id)
}

fn ids_of(list: &Value) -> BTreeSet<String> {
    list["data"].as_array().unwrap().iter().map(|m| m["memory_id"].as_str().unwrap().to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// The whole life of a memory
// ---------------------------------------------------------------------------------------------

#[test]
fn add_list_show_update_delete_and_clear_land_in_the_sqlite_file() {
    let dir = setup();
    let d = dir.path();

    // add: the id alone on stdout; the row is alice's, with its topics (repeats dropped).
    let tea =
        add(d, "Prefers green tea", &["--user", "alice", "--topic", "food", "--topic", "drinks", "--topic", "food"]);
    let r = row(d, &tea).expect("the memory is in agno_memories");
    assert_eq!(r.memory, json!("Prefers green tea"));
    assert_eq!(r.user_id.as_deref(), Some("alice"));
    assert_eq!(r.topics, json!(["food", "drinks"]));
    assert!(r.created_at > 1_600_000_000 && r.updated_at.is_some(), "{r:?}");
    // Without --user: Agno's `default` user.
    let utc = add(d, "Works in UTC", &[]);
    assert_eq!(row(d, &utc).unwrap().user_id.as_deref(), Some(agno_run::memory::DEFAULT_USER));
    // add --format json: the stored row.
    let out = mem(d, &["add", "Has a cat", "--user", "alice", "--format", "json"]);
    out.expect(EXIT_OK);
    let cat = json_of(&out);
    assert_eq!(cat["user_id"], "alice");
    assert_eq!(cat["memory"], "Has a cat");
    let cat = cat["memory_id"].as_str().unwrap().to_string();
    assert!(row(d, &cat).is_some());
    assert_eq!(rows(d).len(), 3);

    // list, human: a count, a header and one line per memory with id, user, topics and text.
    let out = mem(d, &["list"]);
    out.expect(EXIT_OK).says("3 memories, page 1 of 1").says("ID").says("USER").says("TOPICS").says("MEMORY");
    let line = out.stdout.lines().find(|l| l.starts_with(&tea)).expect("a line for the tea memory");
    for part in ["alice", "food,drinks", "Prefers green tea", " UTC "] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
    assert!(out.stdout.lines().any(|l| l.starts_with(&utc) && l.contains("default")), "{out:?}");
    // list, JSON: {data, meta} with every column.
    let out = mem(d, &["list", "--format", "json"]);
    out.expect(EXIT_OK);
    let list = json_of(&out);
    assert_eq!(list["meta"]["total_count"], 3, "{list:#}");
    assert_eq!(list["meta"]["page"], 1);
    assert_eq!(list["meta"]["limit"], 20);
    assert_eq!(ids_of(&list), BTreeSet::from([tea.clone(), utc.clone(), cat.clone()]));
    let first = list["data"][0].as_object().unwrap();
    for column in [
        "memory_id",
        "memory",
        "input",
        "agent_id",
        "team_id",
        "user_id",
        "topics",
        "feedback",
        "created_at",
        "updated_at",
    ] {
        assert!(first.contains_key(column), "{column} missing from {first:?}");
    }
    // Filters and pages.
    let alice = json_of(mem(d, &["list", "--user", "alice", "--format", "json"]).expect(EXIT_OK));
    assert_eq!(ids_of(&alice), BTreeSet::from([tea.clone(), cat.clone()]));
    let food = json_of(mem(d, &["list", "--topic", "food", "--format", "json"]).expect(EXIT_OK));
    assert_eq!(ids_of(&food), BTreeSet::from([tea.clone()]));
    let search = json_of(mem(d, &["list", "--search", "GREEN", "--format", "json"]).expect(EXIT_OK));
    assert_eq!(ids_of(&search), BTreeSet::from([tea.clone()]));
    let p1 = json_of(mem(d, &["list", "--limit", "2", "--format", "json"]).expect(EXIT_OK));
    let p2 = json_of(mem(d, &["list", "--limit", "2", "--page", "2", "--format", "json"]).expect(EXIT_OK));
    assert_eq!((ids_of(&p1).len(), ids_of(&p2).len()), (2, 1));
    assert_eq!(p2["meta"]["total_count"], 3);
    assert_eq!(ids_of(&p1).union(&ids_of(&p2)).count(), 3);
    mem(d, &["list", "--limit", "2", "--page", "2"]).expect(EXIT_OK).says("3 memories, page 2 of 2");
    mem(d, &["list", "--limit", "0"]).expect(EXIT_USAGE);

    // show: every column, as the owner and as an operator (no --user).
    mem(d, &["show", &tea]).expect(EXIT_OK).says("user: alice").says("topics: food, drinks").says("Prefers green tea");
    let shown = json_of(mem(d, &["show", &tea, "--user", "alice", "--format", "json"]).expect(EXIT_OK));
    assert_eq!(shown["memory_id"], tea.as_str());
    assert_eq!(shown["topics"], json!(["food", "drinks"]));
    mem(d, &["show", "no-such-memory"]).expect(EXIT_FAILURE).says("not found");

    // update: text, then topics; the owner stays alice.
    mem(d, &["update", &tea, "--text", "Prefers black tea", "--user", "alice"]).expect(EXIT_OK).says("updated");
    let r = row(d, &tea).unwrap();
    assert_eq!(
        (r.memory.clone(), r.user_id.as_deref(), r.topics.clone()),
        (json!("Prefers black tea"), Some("alice"), json!(["food", "drinks"]))
    );
    let updated = json_of(mem(d, &["update", &tea, "--topic", "mornings", "--format", "json"]).expect(EXIT_OK));
    assert_eq!(updated["topics"], json!(["mornings"]));
    assert_eq!(updated["user_id"], "alice", "an operator's update keeps the owner");
    assert_eq!(row(d, &tea).unwrap().topics, json!(["mornings"]));
    mem(d, &["update", &tea, "--no-topics"]).expect(EXIT_OK);
    assert_eq!(row(d, &tea).unwrap().topics, json!([]));
    assert_eq!(row(d, &tea).unwrap().memory, json!("Prefers black tea"));
    mem(d, &["update", &tea]).expect(EXIT_USAGE).says("nothing to change");
    mem(d, &["update", "no-such-memory", "--text", "x"]).expect(EXIT_FAILURE).says("not found");

    // delete: reports how many; an unknown id among them fails the command, the others go.
    mem(d, &["delete", &utc]).expect(EXIT_OK).says("deleted 1 memory");
    assert!(row(d, &utc).is_none());
    let out = mem(d, &["delete", &cat, "no-such-memory", "--format", "json"]);
    out.expect(EXIT_FAILURE).says("`no-such-memory` not found");
    assert_eq!(json_of(&out), json!({"deleted": 1, "ids": [cat], "not_found": ["no-such-memory"]}));
    assert!(row(d, &cat).is_none());

    // clear: alice's memories go.
    add(d, "Second of alice", &["--user", "alice"]);
    assert_eq!(rows(d).len(), 2);
    mem(d, &["clear", "--user", "alice", "--yes"]).expect(EXIT_OK).says("cleared 2 memories of user alice");
    assert!(rows(d).is_empty());
    mem(d, &["list"]).expect(EXIT_OK).says("0 memories, page 1 of 1").never_says("USER");
}

// ---------------------------------------------------------------------------------------------
// User scoping
// ---------------------------------------------------------------------------------------------

#[test]
fn another_user_can_neither_see_change_nor_delete_a_memory_and_clear_is_per_user() {
    let dir = setup();
    let d = dir.path();
    let a = add(d, "Alice's secret plan", &["--user", "alice", "--topic", "plans"]);
    let b = add(d, "Bob's note", &["--user", "bob"]);
    let before = row(d, &a).unwrap();

    mem(d, &["show", &a, "--user", "bob"]).expect(EXIT_FAILURE).says("not found").never_says("secret plan");
    let out = mem(d, &["list", "--user", "bob", "--format", "json"]);
    assert_eq!(ids_of(&json_of(out.expect(EXIT_OK))), BTreeSet::from([b.clone()]));
    mem(d, &["list", "--user", "bob"]).expect(EXIT_OK).never_says(&a).never_says("secret plan");
    mem(d, &["update", &a, "--text", "Bob was here", "--user", "bob"]).expect(EXIT_FAILURE).says("not found");
    mem(d, &["update", &a, "--topic", "bob", "--user", "bob"]).expect(EXIT_FAILURE);
    mem(d, &["delete", &a, "--user", "bob"]).expect(EXIT_FAILURE).says("not found").says("deleted 0 memories");
    assert_eq!(row(d, &a), Some(before.clone()), "bob changed nothing of alice's");

    // The owner's update never moves the memory, and bob's clear leaves alice's.
    mem(d, &["update", &a, "--text", "Alice's new plan", "--user", "alice"]).expect(EXIT_OK);
    assert_eq!(row(d, &a).unwrap().user_id.as_deref(), Some("alice"));
    mem(d, &["clear", "--user", "bob", "--yes"]).expect(EXIT_OK).says("cleared 1 memory of user bob");
    assert!(row(d, &b).is_none());
    assert_eq!(row(d, &a).unwrap().memory, json!("Alice's new plan"));
    // A user with nothing: nothing cleared, still fine.
    mem(d, &["clear", "--user", "carol", "--yes"]).expect(EXIT_OK).says("cleared 0 memories");
    assert_eq!(rows(d).len(), 1);

    // Alice deletes her own.
    mem(d, &["delete", &a, "--user", "alice"]).expect(EXIT_OK).says("deleted 1 memory");
    assert!(rows(d).is_empty());
}

#[test]
fn clear_needs_a_user_and_on_a_non_interactive_stdin_yes() {
    let dir = setup();
    let d = dir.path();
    let a = add(d, "Kept", &["--user", "alice"]);
    add(d, "Kept too", &[]);
    mem(d, &["clear"]).expect(EXIT_USAGE).says("needs --user").says("never every user's");
    mem(d, &["clear", "--yes"]).expect(EXIT_USAGE).says("needs --user");
    mem(d, &["clear", "--user", "alice"]).expect(EXIT_USAGE).says("pass --yes");
    mem(d, &["clear", "--user", ""]).expect(EXIT_USAGE).says("--user is empty");
    assert_eq!(rows(d).len(), 2, "nothing cleared");
    assert!(row(d, &a).is_some());
    mem(d, &["clear", "--user", "alice", "-y"]).expect(EXIT_OK);
    assert_eq!(rows(d).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Bounds
// ---------------------------------------------------------------------------------------------

#[test]
fn text_and_topics_over_the_bounds_are_usage_errors_and_write_nothing() {
    let dir = setup();
    let d = dir.path();
    let long_text = "x".repeat(MAX_MEMORY_BYTES + 1);
    let long_topic = "t".repeat(MAX_TOPIC_BYTES + 1);
    let many: Vec<String> = (0..=MAX_TOPICS).map(|i| format!("topic{i}")).collect();
    let mut too_many = vec!["add", "many topics"];
    for t in &many {
        too_many.extend(["--topic", t.as_str()]);
    }
    let bad: Vec<(Vec<&str>, &str)> = vec![
        (vec!["add", &long_text], "at most"),
        (vec!["add", ""], "empty"),
        (vec!["add", "  \n "], "empty"),
        (too_many.clone(), "topics; at most"),
        (vec!["add", "x", "--topic", &long_topic], "a topic is"),
        (vec!["add", "x", "--topic", " "], "a topic is empty"),
        (vec!["add", "x", "--user", ""], "--user is empty"),
    ];
    // Before any database exists: refused without creating one.
    for (args, says) in &bad {
        mem(d, args).expect(EXIT_USAGE).says(says);
    }
    assert!(!d.join("agno.db").exists(), "a refused add created the database");

    let id = add(d, "fine", &["--topic", "ok"]);
    let before = rows(d);
    for (args, says) in &bad {
        mem(d, args).expect(EXIT_USAGE).says(says);
    }
    for args in [
        vec!["update", &id, "--text", &long_text],
        vec!["update", &id, "--text", ""],
        vec!["update", &id, "--topic", &long_topic],
    ] {
        mem(d, &args).expect(EXIT_USAGE);
    }
    let mut update_many = vec!["update", id.as_str()];
    for t in &many {
        update_many.extend(["--topic", t.as_str()]);
    }
    mem(d, &update_many).expect(EXIT_USAGE).says("topics; at most");
    assert_eq!(rows(d), before, "nothing was written");

    // At the bounds: accepted.
    let max_text = "y".repeat(MAX_MEMORY_BYTES);
    let max_topic = "u".repeat(MAX_TOPIC_BYTES);
    let mut at_bounds = vec!["add", max_text.as_str(), "--topic", max_topic.as_str()];
    for t in many.iter().take(MAX_TOPICS - 1) {
        at_bounds.extend(["--topic", t.as_str()]);
    }
    let out = mem(d, &at_bounds);
    out.expect(EXIT_OK);
    let r = row(d, out.stdout.trim()).unwrap();
    assert_eq!(r.memory, json!(max_text));
    assert_eq!(r.topics.as_array().unwrap().len(), MAX_TOPICS);
}

#[test]
fn an_unknown_database_is_a_usage_error_and_a_password_is_never_printed() {
    let dir = setup();
    let d = dir.path();
    mem(d, &["list", "--db", "nope"]).expect(EXIT_USAGE).says("no database `nope`").says("local");
    cli::write(
        d,
        "pg.yaml",
        "version: 1\ndatabases:\n  local: {type: sqlite, db_file: agno.db}\n  warehouse:\n    type: postgres\n    db_url: postgresql://agno:s3cret-pw-42@127.0.0.1:1/agno\n    connect_timeout: 1\n",
    );
    let out = exec(agno(d).args(["memories", "pg.yaml", "--db", "warehouse", "list"]));
    out.expect(EXIT_FAILURE).says("warehouse").never_says("s3cret-pw-42");
    let out = exec(agno(d).args(["memories", "pg.yaml", "--db", "nope", "list"]));
    out.expect(EXIT_USAGE).never_says("s3cret-pw-42");
    // An invalid config is EX_CONFIG.
    cli::write(d, "bad.yaml", "version: 1\nagents: {a: {model: missing}}\n");
    exec(agno(d).args(["memories", "bad.yaml", "list"])).expect(cli::EXIT_CONFIG);
}

#[test]
fn control_characters_in_a_memory_are_shown_escaped_not_sent_to_the_terminal() {
    let dir = setup();
    let d = dir.path();
    let id = add(d, "evil \u{1b}[2J text\nsecond line", &["--topic", "bell\u{7}"]);
    let out = mem(d, &["list"]);
    out.expect(EXIT_OK).never_says("\u{1b}").never_says("\u{7}").says("evil \\u{1b}[2J text second line");
    let out = mem(d, &["show", &id]);
    out.expect(EXIT_OK).never_says("\u{1b}").says("text\nsecond line");
    // JSON keeps the text as stored (escaped by JSON itself).
    let shown = json_of(mem(d, &["show", &id, "--format", "json"]).expect(EXIT_OK));
    assert_eq!(shown["memory"], "evil \u{1b}[2J text\nsecond line");
}

// ---------------------------------------------------------------------------------------------
// Every command the docs show
// ---------------------------------------------------------------------------------------------

/// The `Examples:` lines of a `--help` text that run `agno-run memories`.
fn help_examples(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim() == "Examples:" {
            inside = true;
            continue;
        }
        match line.strip_prefix("  ") {
            Some(cmd) if inside && cmd.contains("agno-run") => out.push(cmd.trim().to_string()),
            _ => inside = false,
        }
    }
    out
}

/// The subcommands `memories --help` lists.
fn subcommands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim() == "Commands:" {
            inside = true;
            continue;
        }
        match line.strip_prefix("  ").and_then(|l| l.split_whitespace().next()) {
            Some(name) if inside && name != "help" => out.push(name.to_string()),
            Some(_) if inside => {}
            _ => inside = false,
        }
    }
    out
}

/// Runs each documented command line by bash in `dir`, with the binary first on PATH and stdin
/// closed; every one must exit 0. `MEMORY_ID` stands for a memory created just before (each
/// occurrence its own; alice's when the line says `--user alice`, else the default user's).
fn run_documented(dir: &Path, config: &str, commands: &[(String, String)]) {
    let bin_dir = Path::new(cli::BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    for (i, (origin, cmd)) in commands.iter().enumerate() {
        // A trailing `# comment` is the docs', not the shell's business.
        let mut line = cmd.split("  #").next().unwrap().trim().to_string();
        let mut n = 0;
        while line.contains("MEMORY_ID") {
            let mut make = agno(dir);
            make.args(["memories", config, "add", &format!("documented memory {i}.{n}")]);
            if line.contains("--user alice") {
                make.args(["--user", "alice"]);
            }
            let out = exec(&mut make);
            out.expect(EXIT_OK);
            line = line.replacen("MEMORY_ID", out.stdout.trim(), 1);
            n += 1;
        }
        let mut shell = std::process::Command::new("bash");
        shell.env_clear().current_dir(dir).arg("-c").arg(format!("set -o pipefail; {line}"));
        shell.env("PATH", &path).env("HOME", dir).stdin(std::process::Stdio::null());
        let out = shell.output().unwrap();
        let (code, stdout, stderr) =
            (out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("{origin}: `{line}` → exit {code:?}");
        assert!(!stderr.contains("panicked"), "{origin}: `{line}` panicked:\n{stderr}");
        assert_eq!(code, Some(0), "{origin}: `{line}` failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    }
}

#[test]
fn every_example_in_the_memories_help_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    cli::write(dir.path(), "configs/app.yaml", APP);
    let top = exec(agno(dir.path()).args(["memories", "--help"]));
    top.expect(EXIT_OK);
    let subs = subcommands(&top.stdout);
    assert_eq!(subs, ["list", "show", "add", "update", "delete", "clear"], "{top:?}");
    let mut texts = vec![("agno-run memories --help".to_string(), top.stdout.clone())];
    for sub in &subs {
        let out = exec(agno(dir.path()).args(["help", "memories", sub]));
        out.expect(EXIT_OK);
        texts.push((format!("agno-run help memories {sub}"), out.stdout.clone()));
    }
    let mut commands = Vec::new();
    for (origin, text) in &texts {
        let examples = help_examples(text);
        assert!(!examples.is_empty(), "{origin} shows no example:\n{text}");
        for cmd in examples {
            // clap wraps help at 100 columns: a longer line would be cut in two.
            assert!(cmd.len() <= 96, "{origin}: an example too long to show on one line: {cmd}");
            assert!(cmd.starts_with("agno-run memories configs/app.yaml "), "{origin}: {cmd}");
            commands.push((origin.clone(), cmd));
        }
    }
    assert!(commands.len() >= 20, "{commands:#?}");
    run_documented(dir.path(), "configs/app.yaml", &commands);
    // They really ran against the config's database.
    assert!(dir.path().join("configs/agno.db").exists());
}

#[test]
fn every_command_in_the_readme_memories_section_runs_as_written() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    let section: Vec<&str> = readme
        .lines()
        .skip_while(|l| l.trim_end() != "### The `memories` command")
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("## ") && !l.starts_with("### "))
        .map(|(_, l)| l)
        .collect();
    assert!(!section.is_empty(), "README.md has no Memories section");
    let prose = section.join("\n");
    for bound in [MAX_MEMORY_BYTES, MAX_TOPICS, MAX_TOPIC_BYTES] {
        assert!(prose.contains(&bound.to_string()), "README's Memories section does not say the bound {bound}");
    }
    let mut commands = Vec::new();
    let mut inside = false;
    for line in section {
        if line.starts_with("```sh") {
            inside = true;
        } else if line.starts_with("```") {
            inside = false;
        } else if inside && line.starts_with("agno-run memories ") {
            commands.push(("README.md".to_string(), line.to_string()));
        }
    }
    assert!(commands.len() >= 5, "{commands:#?}");
    // Against the project's default config, as a reader would run them.
    let dir = tempfile::tempdir().unwrap();
    let app = std::fs::read_to_string(project.join("configs/app.yaml")).unwrap();
    cli::write(dir.path(), "configs/app.yaml", app);
    run_documented(dir.path(), "configs/app.yaml", &commands);
}
