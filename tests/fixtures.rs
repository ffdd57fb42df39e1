//! One fixture per diagnostic under tests/fixtures/invalid, snapshot-tested; valid edge cases
//! under tests/fixtures/valid; exact spans for the reference and identifier errors.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use agno_run::cli::report::{self, Format, RenderOptions};
use agno_run::config::{Code, LoadOptions, Report, load};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Header lines of a fixture: `# expect: CODE` and `# env: NAME=value`.
fn header(case: &Path) -> (Option<String>, HashMap<String, String>) {
    let files: Vec<PathBuf> = if case.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(case).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    } else {
        vec![case.to_path_buf()]
    };
    let mut expect = None;
    let mut env = HashMap::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines().take(5) {
            if let Some(code) = line.strip_prefix("# expect: ") {
                expect = Some(code.trim().to_string());
            }
            if let Some((k, v)) = line.strip_prefix("# env: ").and_then(|kv| kv.trim().split_once('=')) {
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    (expect, env)
}

/// Loads a case with paths relative to the crate root, so snapshots hold no machine path.
fn check(case: &Path, env: HashMap<String, String>) -> Report {
    let rel = case.strip_prefix(root()).unwrap().to_path_buf();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cwd, root(), "tests run from the crate root");
    load(&[rel], &LoadOptions::with_env(env)).report
}

fn cases(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir)).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn every_invalid_fixture_reports_exactly_its_expected_code_and_matches_its_snapshot() {
    let cases = cases("tests/fixtures/invalid");
    let mut codes = BTreeSet::new();
    let opts = RenderOptions { color: false, width: 100 };
    for case in &cases {
        let (expect, env) = header(case);
        let expect = expect.unwrap_or_else(|| panic!("{} has no `# expect:` line", case.display()));
        let report = check(case, env);
        let got: Vec<&str> = report.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(got, vec![expect.as_str()], "{}", case.display());
        codes.insert(expect);
        let rendered = report::render(&[&report], Format::Human, &opts);
        let json = report::render(&[&report], Format::Json, &opts);
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(name, format!("{rendered}\n--- json ---\n{json}"));
    }
    assert!(cases.len() >= 40, "at least 40 invalid cases, found {}", cases.len());
    assert!(codes.len() >= 35, "distinct codes covered: {}: {codes:?}", codes.len());
}

#[test]
fn every_valid_fixture_has_no_problem() {
    for case in cases("tests/fixtures/valid") {
        let (_, env) = header(&case);
        let report = check(&case, env);
        assert!(report.diagnostics.is_empty(), "{}: {:?}", case.display(), report.diagnostics);
    }
}

#[test]
fn every_diagnostic_code_has_a_fixture_except_the_io_ones_tested_by_the_cli() {
    let mut covered = BTreeSet::new();
    for case in cases("tests/fixtures/invalid") {
        covered.insert(header(&case).0.unwrap());
    }
    let io_only = [Code::Io, Code::FileTooLarge];
    let missing: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !io_only.contains(c) && !covered.contains(c.as_str()))
        .map(|c| c.as_str())
        .collect();
    assert!(missing.is_empty(), "codes without a fixture: {missing:?}");
}

/// Loads `text` as one file in a temp folder and returns (text, diagnostics).
fn diagnose(text: &str) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, text).unwrap();
    load(&[path], &LoadOptions::with_env(HashMap::new())).report
}

fn span_text<'a>(text: &'a str, report: &Report, code: Code) -> Vec<&'a str> {
    report
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .map(|d| d.span.unwrap())
        .map(|s| &text[s.start..s.end])
        .collect()
}

const BASE: &str = "version: 1\nmodels:\n  main: {provider: scripted}\ndatabases:\n  main_db: {type: sqlite}\n";

#[test]
fn reference_errors_point_exactly_at_the_unknown_name() {
    let text = format!(
        "{BASE}agents:\n  a:\n    instructions: \"gründlich 🔍\"\n    model: mian\n    db: mian_db\n    tools: [calculater]\nteams:\n  t: {{model: main, members: [a, ghost]}}\nworkflows:\n  w:\n    steps:\n      - {{name: s1, agent: b}}\n      - {{name: s2, team: tt}}\n"
    );
    let r = diagnose(&text);
    assert_eq!(span_text(&text, &r, Code::UnknownModel), vec!["mian"]);
    assert_eq!(span_text(&text, &r, Code::UnknownDatabase), vec!["mian_db"]);
    assert_eq!(span_text(&text, &r, Code::UnknownTool), vec!["calculater"]);
    assert_eq!(span_text(&text, &r, Code::UnknownMember), vec!["ghost"]);
    assert_eq!(span_text(&text, &r, Code::UnknownAgent), vec!["b"]);
    assert_eq!(span_text(&text, &r, Code::UnknownTeam), vec!["tt"]);
    let model = r.diagnostics.iter().find(|d| d.code == Code::UnknownModel).unwrap();
    assert!(model.help.as_deref().unwrap().starts_with("did you mean `main`?"));
    let db = r.diagnostics.iter().find(|d| d.code == Code::UnknownDatabase).unwrap();
    assert!(db.help.as_deref().unwrap().starts_with("did you mean `main_db`?"));
}

#[test]
fn identifier_errors_point_exactly_at_the_bad_name() {
    let text = "version: 1\ndatabases:\n  d:\n    type: postgres\n    db_url: postgresql://localhost/db\n    db_schema: 1bad\n    session_table: sessions; DROP TABLE x\n    runs_table: \"runs\\\"\"\n";
    let r = diagnose(text);
    assert_eq!(span_text(text, &r, Code::Identifier), vec!["1bad", "sessions; DROP TABLE x", "\"runs\\\"\""]);
}

#[test]
fn a_team_cycle_is_reported_once_at_the_member_that_closes_it() {
    let text = format!(
        "{BASE}agents:\n  a: {{model: main}}\nteams:\n  x: {{model: main, members: [a, y]}}\n  y: {{model: main, members: [z]}}\n  z: {{model: main, members: [x]}}\n  self: {{model: main, members: [self]}}\n"
    );
    let r = diagnose(&text);
    let cycles: Vec<_> = r.diagnostics.iter().filter(|d| d.code == Code::TeamCycle).collect();
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(cycles.iter().any(|d| d.message.contains("x → y → z → x")));
    assert_eq!(span_text(&text, &r, Code::TeamCycle), vec!["x", "self"]);
}

#[test]
fn problems_in_several_entities_and_files_are_all_reported_in_one_pass() {
    let text = format!(
        "{BASE}agents:\n  a: {{model: nope}}\n  b: {{model: main, num_history_runs: 0}}\n  c: {{model: main, instrucions: x}}\n  d: {{model: main, num_history_runs: 1, num_history_messages: 2}}\n"
    );
    let r = diagnose(&text);
    let codes: Vec<Code> = r.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec![Code::UnknownModel, Code::Range, Code::UnknownKey, Code::Exclusive]);
}

#[test]
fn a_migrations_table_name_leaves_room_for_the_user_history_table() {
    let ok = format!("version: 1\ndatabases:\n  d: {{type: memory, migrations_table: {}}}\n", "m".repeat(58));
    assert!(diagnose(&ok).diagnostics.is_empty());
    let long = format!("version: 1\ndatabases:\n  d: {{type: memory, migrations_table: {}}}\n", "m".repeat(59));
    let r = diagnose(&long);
    assert_eq!(span_text(&long, &r, Code::Identifier), vec!["m".repeat(59).as_str()]);
}

#[test]
fn mcp_values_that_cannot_work_are_located() {
    let text = format!(
        "{BASE}mcp_servers:\n  s: {{transport: stdio, command: x, tool_name_prefix: \"bad prefix!\"}}\n  h: {{transport: streamable-http, url: 'http://127.0.0.1:1/mcp', headers: {{\"bad header\": v, Good: \"a\\nb\"}}}}\n  ok: {{transport: stdio, command: y, tool_name_prefix: g_}}\nagents:\n  a: {{model: main, tools: [{{mcp: s}}, {{mcp: h}}, {{mcp: ok}}, {{mcp: s, include_tools: [t]}}]}}\n"
    );
    let r = diagnose(&text);
    let invalid: Vec<(&str, &str)> = r
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::InvalidValue)
        .map(|d| {
            let s = d.span.unwrap();
            (&text[s.start..s.end], d.message.as_str())
        })
        .collect();
    assert_eq!(invalid.len(), 4, "{:#?}", r.diagnostics);
    assert_eq!(invalid[0].0, "\"bad prefix!\"");
    assert!(invalid[0].1.contains("tool_name_prefix"), "{invalid:?}");
    assert_eq!(invalid[1].0, "v");
    assert!(invalid[1].1.contains("header `bad header`"), "{invalid:?}");
    assert_eq!(invalid[2].0, "\"a\\nb\"");
    assert!(invalid[2].1.contains("header `Good`"), "{invalid:?}");
    assert_eq!(invalid[3].0, "s");
    assert!(invalid[3].1.contains("uses MCP server `s` twice"), "{invalid:?}");
    assert_eq!(r.diagnostics.len(), 4, "nothing else: {:#?}", r.diagnostics);
}
