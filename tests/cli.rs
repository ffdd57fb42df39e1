//! Black-box tests of the `agno-run` binary: exit codes, output formats, multi-file configs,
//! hostile input, environment layering, secrets and the promise that `validate` never writes.
//!
//! Every run starts from an empty environment (plus `PATH`) so the machine's variables cannot
//! leak in, and has a timeout so a hang fails the test instead of stalling the suite.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

const EXIT_OK: i32 = 0;
const EXIT_USAGE: i32 = 2;
const EXIT_CONFIG: i32 = 78;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary with an empty environment (plus `PATH`) and a timeout.
fn agno() -> Command {
    let mut cmd = Command::cargo_bin("agno-run").unwrap();
    cmd.env_clear().timeout(Duration::from_secs(60));
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// The binary run from `dir`, so that file names in its output are relative and predictable.
fn agno_in(dir: &Path) -> Command {
    let mut cmd = agno();
    cmd.current_dir(dir);
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the command and checks the one thing every run must satisfy: it did not panic.
fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    let r = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "the binary panicked:\n{}", r.stderr);
    r
}

/// `validate --format json` from `dir`: the exit code and the parsed diagnostics.
fn validate_json(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let r = run(agno_in(dir).args(["validate", "--format", "json"]).args(args));
    (r.code, diagnostics(&r.stdout))
}

fn diagnostics(stdout: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{stdout}"));
    v.as_array().unwrap_or_else(|| panic!("stdout is not a JSON array:\n{stdout}")).clone()
}

fn codes(diags: &[Value]) -> Vec<&str> {
    diags.iter().map(|d| d["code"].as_str().unwrap()).collect()
}

/// The only diagnostic with `code`, failing when there is none or several.
fn only<'a>(diags: &'a [Value], code: &str) -> &'a Value {
    let found: Vec<&Value> = diags.iter().filter(|d| d["code"] == code).collect();
    assert_eq!(found.len(), 1, "expected one {code} in {diags:#?}");
    found[0]
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
    path
}

fn tmp() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// Every path under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().to_path_buf());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

const VALID: &str = "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m}\n";

/// Line 5 holds non-ASCII text before the unknown model `nope`: `ü` is 2 bytes and `🔍` 4, so
/// `nope` starts at character column 33 but byte column 37.
const UNKNOWN_MODEL_AFTER_UNICODE: &str =
    "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {description: \"ü🔍\", model: nope}\n";

/// Two databases, no `default_db`, an agent without `db`: only an `agno::ambiguous_db` warning.
const ONLY_A_WARNING: &str = "version: 1
databases:
  one: {type: memory}
  two: {type: memory}
models:
  m: {provider: scripted}
agents:
  a: {model: m}
";

// ---------------------------------------------------------------------------------------------
// Exit codes

#[test]
fn validate_exits_0_and_says_valid_for_the_shipped_config() {
    agno()
        .args(["validate", "--color", "never"])
        .arg(root().join("configs/app.yaml"))
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::starts_with("valid: 1 file ("));
}

#[test]
fn validate_exits_78_and_names_the_file_when_a_model_is_unknown() {
    let dir = tmp();
    write(dir.path(), "app.yaml", UNKNOWN_MODEL_AFTER_UNICODE);
    agno_in(dir.path())
        .args(["validate", "--color", "never", "app.yaml"])
        .assert()
        .code(EXIT_CONFIG)
        .stdout(predicate::str::contains("agno::unknown_model"))
        .stdout(predicate::str::contains("unknown model `nope`"))
        .stdout(predicate::str::contains("app.yaml:5:"))
        .stdout(predicate::str::contains("invalid: 1 error in 1 file"));
}

#[test]
fn validate_exits_2_on_an_unknown_flag() {
    agno()
        .args(["validate", "--no-such-flag"])
        .arg(root().join("configs/app.yaml"))
        .assert()
        .code(EXIT_USAGE)
        .stderr(predicate::str::contains("--no-such-flag"));
}

#[test]
fn validate_exits_2_when_no_path_is_given() {
    agno().arg("validate").assert().code(EXIT_USAGE).stderr(predicate::str::contains("<PATHS>"));
}

#[test]
fn validate_exits_2_when_codes_is_combined_with_a_path() {
    agno().args(["validate", "--codes"]).arg(root().join("configs/app.yaml")).assert().code(EXIT_USAGE);
}

#[test]
fn validate_codes_lists_every_code_with_its_severity() {
    let r = run(agno().args(["validate", "--codes"]));
    assert_eq!(r.code, Some(EXIT_OK));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.len() > 30, "{}", r.stdout);
    assert!(lines.iter().all(|l| l.starts_with("agno::")), "{}", r.stdout);
    assert!(lines.iter().any(|l| l.starts_with("agno::ambiguous_db") && l.contains("warning")));
    assert!(lines.iter().any(|l| l.starts_with("agno::unknown_model") && l.contains("error")));
}

#[test]
fn validate_exits_0_when_the_only_problem_is_a_warning() {
    let dir = tmp();
    write(dir.path(), "app.yaml", ONLY_A_WARNING);
    let r = run(agno_in(dir.path()).args(["validate", "--color", "never", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_OK), "{}", r.stdout);
    assert!(r.stdout.contains("agno::ambiguous_db"), "{}", r.stdout);
    assert!(r.stdout.contains("valid: 1 file") && r.stdout.contains("1 warning"), "{}", r.stdout);
}

#[test]
fn validate_exits_78_with_deny_warnings_when_the_only_problem_is_a_warning() {
    let dir = tmp();
    write(dir.path(), "app.yaml", ONLY_A_WARNING);
    let (code, diags) = validate_json(dir.path(), &["--deny-warnings", "app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(codes(&diags), ["agno::ambiguous_db"]);
    assert_eq!(diags[0]["severity"], "warning");
    agno_in(dir.path())
        .args(["validate", "--color", "never", "--deny-warnings", "app.yaml"])
        .assert()
        .code(EXIT_CONFIG)
        .stdout(predicate::str::contains("invalid: 0 errors, 1 warning in 1 file"));
}

#[test]
fn human_output_with_color_never_holds_no_escape_codes() {
    let dir = tmp();
    write(dir.path(), "app.yaml", UNKNOWN_MODEL_AFTER_UNICODE);
    let r = run(agno_in(dir.path()).args(["validate", "--color", "never", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(r.stdout.contains("unknown model"), "{}", r.stdout);
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
}

// ---------------------------------------------------------------------------------------------
// --format json

#[test]
fn json_output_is_an_array_of_diagnostics_with_every_documented_field() {
    let dir = tmp();
    write(dir.path(), "app.yaml", "version: 1\nbogus: 1\nmodels:\n  m: {provider: nope}\n");
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert!(diags.len() >= 2, "{diags:#?}");
    for d in &diags {
        for key in ["file", "line", "column", "code", "severity", "message", "help"] {
            assert!(d.get(key).is_some(), "`{key}` missing from {d:#}");
        }
        assert_eq!(d["file"], "app.yaml");
        assert!(d["line"].as_u64().unwrap() >= 1 && d["column"].as_u64().unwrap() >= 1, "1-based: {d:#}");
        assert!(d["code"].as_str().unwrap().starts_with("agno::"));
        assert!(["error", "warning"].contains(&d["severity"].as_str().unwrap()));
        assert!(!d["message"].as_str().unwrap().is_empty());
    }
    let unknown = only(&diags, "agno::unknown_key");
    assert_eq!((unknown["line"].as_u64(), unknown["column"].as_u64()), (Some(2), Some(1)));
}

#[test]
fn json_locates_an_unknown_model_by_line_and_character_column_after_non_ascii_text() {
    let dir = tmp();
    write(dir.path(), "app.yaml", UNKNOWN_MODEL_AFTER_UNICODE);
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::unknown_model");
    assert_eq!(d["file"], "app.yaml");
    assert_eq!(d["line"], 5);
    assert_eq!(d["column"], 33, "columns count characters, not bytes (37)");
    assert_eq!(d["end_line"], 5);
    assert_eq!(d["end_column"], 37);
    assert_eq!(d["offset"], UNKNOWN_MODEL_AFTER_UNICODE.find("nope").unwrap(), "offsets are in bytes");
    assert_eq!(d["length"], 4);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["help"], "declared models: m");
}

#[test]
fn json_prints_an_empty_array_for_a_valid_config() {
    let r = run(agno().args(["validate", "--format", "json"]).arg(root().join("configs/app.yaml")));
    assert_eq!(r.code, Some(EXIT_OK));
    assert_eq!(r.stdout.trim(), "[]");
}

#[test]
fn human_output_names_the_same_character_column_as_json_on_a_line_with_non_ascii_text() {
    let dir = tmp();
    write(dir.path(), "app.yaml", UNKNOWN_MODEL_AFTER_UNICODE);
    let r = run(agno_in(dir.path()).args(["validate", "--color", "never", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    // JSON and GitHub say 5:33; a header of 5:37 counts bytes and sends an editor to the wrong place.
    assert!(r.stdout.contains("[app.yaml:5:33]"), "{}", r.stdout);
}

#[test]
fn unknown_model_help_reads_naturally_when_no_model_is_declared() {
    let dir = tmp();
    write(dir.path(), "app.yaml", "version: 1\nagents:\n  a: {model: nope}\n");
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let help = only(&diags, "agno::unknown_model")["help"].as_str().unwrap().to_string();
    assert_eq!(help.matches("declared").count(), 1, "help says `declared` twice: {help:?}");
}

// ---------------------------------------------------------------------------------------------
// --format github

/// Checks one line against the workflow-command grammar GitHub's runner parses:
/// `::error|warning file=F,line=N,col=N,endLine=N,endColumn=N,title=T::MESSAGE`.
///
/// The runner ends the properties at the first `::` after the command, so property values must
/// escape `:` and `,` (as `%3A` and `%2C`, like `@actions/core`'s `escapeProperty`): the title
/// `agno::unknown_model` is therefore written `agno%3A%3Aunknown_model`. Written by hand
/// (split on `::`, `,` and `=`) to keep regex out of the dev-dependencies.
fn check_annotation(line: &str) -> Result<(), String> {
    let rest = line.strip_prefix("::").ok_or("does not start with `::`")?;
    let (command, rest) = rest.split_once(' ').ok_or("no space after the command")?;
    if command != "error" && command != "warning" {
        return Err(format!("command `{command}` is neither error nor warning"));
    }
    let (props, message) = rest.split_once("::").ok_or("no `::` before the message")?;
    if message.is_empty() {
        return Err("empty message".into());
    }
    if message.contains('\r') || message.contains('\n') {
        return Err("raw line break in the message".into());
    }
    let pairs: Vec<(&str, &str)> = props
        .split(',')
        .map(|p| p.split_once('=').ok_or(format!("property `{p}` has no `=`")))
        .collect::<Result<_, _>>()?;
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    if keys != ["file", "line", "col", "endLine", "endColumn", "title"] {
        return Err(format!("properties {keys:?}"));
    }
    let (_, file) = pairs[0];
    if file.is_empty() {
        return Err("empty file".into());
    }
    for (k, v) in &pairs[1..5] {
        match v.parse::<u64>() {
            Ok(n) if n >= 1 => {}
            _ => return Err(format!("{k}={v} is not a positive integer")),
        }
    }
    let (_, title) = pairs[5];
    let name = title.strip_prefix("agno%3A%3A").ok_or(format!("title `{title}` is not an escaped agno:: code"))?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(format!("title `{title}` is not agno::[a-z_]+"));
    }
    Ok(())
}

#[test]
fn annotation_checker_rejects_malformed_lines() {
    let good = "::error file=a.yaml,line=1,col=2,endLine=1,endColumn=3,title=agno%3A%3Atype::msg%0Ahelp: x";
    assert_eq!(check_annotation(good), Ok(()));
    for bad in [
        "::notice file=a.yaml,line=1,col=2,endLine=1,endColumn=3,title=agno%3A%3Atype::msg",
        "::error file=a.yaml,line=0,col=2,endLine=1,endColumn=3,title=agno%3A%3Atype::msg",
        "::error file=a.yaml,line=1,col=2,endLine=1,title=agno%3A%3Atype::msg",
        "::error file=a.yaml,line=1,col=2,endLine=1,endColumn=3,title=agno::type::msg",
        "::error file=a.yaml,line=1,col=2,endLine=1,endColumn=3,title=agno%3A%3Atype::",
        "::error file=a.yaml,line=1,col=2,endLine=1,endColumn=3,title=agno%3A%3Atype::a\rb",
    ] {
        assert!(check_annotation(bad).is_err(), "accepted {bad}");
    }
}

#[test]
fn github_output_is_one_well_formed_annotation_per_diagnostic() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        ONLY_A_WARNING.replace("a: {model: m}", "a: {model: m}\n  b: {model: nope}\nbogus: 1"),
    );
    let (_, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(codes(&diags), ["agno::ambiguous_db", "agno::ambiguous_db", "agno::unknown_model", "agno::unknown_key"]);
    let r = run(agno_in(dir.path()).args(["validate", "--format", "github", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(r.stdout.ends_with('\n'));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), diags.len(), "one line per diagnostic, help escaped:\n{}", r.stdout);
    for (line, d) in lines.iter().zip(&diags) {
        check_annotation(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let expected =
            format!("::{} file=app.yaml,line={},col={},", d["severity"].as_str().unwrap(), d["line"], d["column"]);
        assert!(line.starts_with(&expected), "{line} does not start with {expected}");
        assert!(line.contains("%0Ahelp: "), "help follows an escaped line break: {line}");
    }
    assert!(lines.iter().any(|l| l.starts_with("::warning ")), "{}", r.stdout);
}

#[test]
fn github_output_escapes_commas_and_colons_in_file_names() {
    let dir = tmp();
    write(dir.path(), "odd,name:x.yaml", "version: 1\nagents:\n  a: {model: nope}\n");
    let r = run(agno_in(dir.path()).args(["validate", "--format", "github", "odd,name:x.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    let line = r.stdout.lines().next().unwrap();
    check_annotation(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(line.starts_with("::error file=odd%2Cname%3Ax.yaml,line=3,col=14,"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Multi-file configs

fn write_split_config(dir: &Path) {
    write(
        dir,
        "cfg/databases.yaml",
        "version: 1\ndefault_db: main\ndatabases:\n  main: {type: memory}\n  audit: {type: memory}\n",
    );
    write(dir, "cfg/models.yaml", "version: 1\nmodels:\n  fast: {provider: scripted}\n  slow: {provider: scripted}\n");
    write(
        dir,
        "cfg/agents.yaml",
        "version: 1\nagents:\n  helper: {model: fast}\n  auditor: {model: slow, db: audit}\nteams:\n  desk: {mode: coordinate, model: fast, members: [helper, auditor]}\n",
    );
}

#[test]
fn validate_accepts_a_folder_whose_files_refer_to_each_other() {
    let dir = tmp();
    write_split_config(dir.path());
    agno_in(dir.path())
        .args(["validate", "--color", "never", "cfg"])
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 3 files (2 databases, 2 models, 2 agents, 1 team, 0 workflows)"));
}

#[test]
fn validate_reports_references_into_a_file_that_is_not_given() {
    let dir = tmp();
    write_split_config(dir.path());
    let (code, diags) = validate_json(dir.path(), &["cfg/agents.yaml", "cfg/databases.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert!(codes(&diags).contains(&"agno::unknown_model"), "{diags:#?}");
    assert!(diags.iter().all(|d| d["file"] == "cfg/agents.yaml"), "{diags:#?}");
}

#[test]
fn validate_reports_an_agent_id_declared_in_two_files_and_names_the_other_file() {
    let dir = tmp();
    write(dir.path(), "cfg/a.yaml", "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  helper: {model: m}\n");
    write(dir.path(), "cfg/b.yaml", "version: 1\nagents:\n  helper: {model: m}\n");
    let (code, diags) = validate_json(dir.path(), &["cfg"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::duplicate_id");
    assert_eq!(d["file"], "cfg/b.yaml");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(3)));
    assert!(d["message"].as_str().unwrap().contains("`helper`"), "{d:#}");
    let related = d["related"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{d:#}");
    assert_eq!(related[0]["file"], "cfg/a.yaml");
    assert_eq!((related[0]["line"].as_u64(), related[0]["column"].as_u64()), (Some(5), Some(3)));
}

#[test]
fn validate_reports_server_set_in_two_files_as_a_duplicate_setting() {
    let dir = tmp();
    write(dir.path(), "cfg/a.yaml", "version: 1\nserver: {port: 7000}\n");
    write(dir.path(), "cfg/b.yaml", "version: 1\nserver:\n  host: 0.0.0.0\n");
    let (code, diags) = validate_json(dir.path(), &["cfg"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::duplicate_setting");
    assert_eq!(d["file"], "cfg/b.yaml");
    assert_eq!(d["line"], 2);
    assert_eq!(d["related"][0]["file"], "cfg/a.yaml");
}

#[test]
fn validate_reads_the_files_of_a_folder_in_sorted_order() {
    let dir = tmp();
    // Written in reverse order, so a directory listing in creation order would disagree.
    write(dir.path(), "cfg/zeta.yaml", "version: 1\nmodels:\n  m: {provider: scripted}\n");
    write(dir.path(), "cfg/beta.yaml", "version: 1\nmodels:\n  m: {provider: scripted}\n");
    write(dir.path(), "cfg/alpha.yaml", "version: 1\nmodels:\n  m: {provider: scripted}\n");
    let (code, diags) = validate_json(dir.path(), &["cfg"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let dups: Vec<&Value> = diags.iter().filter(|d| d["code"] == "agno::duplicate_id").collect();
    assert_eq!(dups.len(), 2, "{diags:#?}");
    let mut seconds: Vec<&str> = dups.iter().map(|d| d["file"].as_str().unwrap()).collect();
    seconds.sort();
    assert_eq!(seconds, ["cfg/beta.yaml", "cfg/zeta.yaml"]);
    assert!(dups.iter().all(|d| d["related"][0]["file"] == "cfg/alpha.yaml"), "{dups:#?}");
}

#[test]
fn validate_reads_a_file_given_twice_only_once() {
    let dir = tmp();
    write(dir.path(), "app.yaml", VALID);
    agno_in(dir.path())
        .args(["validate", "--color", "never", "app.yaml", "./app.yaml", "."])
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 1 file"));
}

// ---------------------------------------------------------------------------------------------
// --each

#[test]
fn each_validates_files_that_clash_when_merged_as_separate_configs() {
    let dir = tmp();
    let config =
        "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  helper: {model: m}\nserver: {port: 7000}\n";
    write(dir.path(), "one.yaml", config);
    write(dir.path(), "two.yaml", config);

    let r = run(agno_in(dir.path()).args(["validate", "--color", "never", "--each", "one.yaml", "two.yaml"]));
    assert_eq!(r.code, Some(EXIT_OK), "{}", r.stdout);
    assert!(r.stdout.contains("one.yaml: valid: 1 file"), "{}", r.stdout);
    assert!(r.stdout.contains("two.yaml: valid: 1 file"), "{}", r.stdout);

    let (code, diags) = validate_json(dir.path(), &["one.yaml", "two.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let found = codes(&diags);
    assert!(found.contains(&"agno::duplicate_id") && found.contains(&"agno::duplicate_setting"), "{found:?}");
}

#[test]
fn each_fails_when_any_one_config_is_invalid() {
    let dir = tmp();
    write(dir.path(), "good.yaml", VALID);
    write(dir.path(), "bad.yaml", "version: 1\nagents:\n  a: {model: nope}\n");
    let (code, diags) = validate_json(dir.path(), &["--each", "good.yaml", "bad.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(codes(&diags), ["agno::unknown_model"]);
    assert_eq!(diags[0]["file"], "bad.yaml");
}

// ---------------------------------------------------------------------------------------------
// Hostile and unusual input: a located diagnostic, exit 78, never a panic or a hang

/// Deterministic pseudo-random bytes (xorshift) with a NUL every 7 bytes.
fn binary_bytes(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 7 == 3 { 0 } else { x.to_le_bytes()[0] }
        })
        .collect()
}

#[test]
fn a_binary_file_is_an_encoding_error() {
    let dir = tmp();
    write(dir.path(), "x.yaml", binary_bytes(4096));
    let (code, diags) = validate_json(dir.path(), &["x.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::encoding");
    assert_eq!(d["file"], "x.yaml");
    assert!(d["line"].as_u64().is_some_and(|l| l >= 1), "located: {d:#}");
}

#[test]
fn a_nul_byte_in_otherwise_valid_text_is_an_encoding_error_at_its_place() {
    let dir = tmp();
    write(dir.path(), "x.yaml", "version: 1\nmodels:\n  m: {provider: scr\0ipted}\n");
    let (code, diags) = validate_json(dir.path(), &["x.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::encoding");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(20)));
}

#[test]
fn invalid_utf8_is_an_encoding_error_on_its_line() {
    let dir = tmp();
    write(dir.path(), "x.yaml", b"version: 1\nmodels: \xff\xfe\n");
    let (code, diags) = validate_json(dir.path(), &["x.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::encoding");
    assert_eq!(d["file"], "x.yaml");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(2), Some(9)));
    assert_eq!(d["offset"], 19);
}

#[test]
fn invalid_utf8_span_covers_the_one_bad_byte() {
    let dir = tmp();
    write(dir.path(), "x.yaml", b"version: 1\nmodels: \xff\n");
    let (_, diags) = validate_json(dir.path(), &["x.yaml"]);
    let d = only(&diags, "agno::encoding");
    // `length` is documented as bytes of the file; 3 would be the length of the U+FFFD that
    // replaced the byte in the decoded text.
    assert_eq!(d["length"], 1, "{d:#}");
}

#[test]
fn a_10_mb_file_is_too_large() {
    let dir = tmp();
    write(dir.path(), "big.yaml", "a".repeat(10 * 1024 * 1024));
    let (code, diags) = validate_json(dir.path(), &["big.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::file_too_large");
    assert_eq!(d["file"], "big.yaml");
}

#[test]
fn ten_thousand_nested_brackets_are_a_yaml_error_not_a_stack_overflow() {
    let dir = tmp();
    write(dir.path(), "deep.yaml", "[".repeat(10_000));
    let (code, diags) = validate_json(dir.path(), &["deep.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(["agno::yaml_depth", "agno::yaml_syntax"].contains(&diags[0]["code"].as_str().unwrap()));
    assert_eq!(diags[0]["line"], 1);
}

#[test]
fn deeply_nested_block_sequences_are_a_yaml_depth_error() {
    let dir = tmp();
    write(dir.path(), "deep.yaml", format!("{}x\n", "- ".repeat(100_000)));
    let (code, diags) = validate_json(dir.path(), &["deep.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    only(&diags, "agno::yaml_depth");
}

#[test]
fn a_billion_laughs_alias_bomb_is_a_yaml_alias_error() {
    let dir = tmp();
    let mut yaml = String::from(
        "version: 1\nmodels:\n  m: {provider: scripted}\nagents:\n  a:\n    model: m\n    session_state:\n      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        yaml.push_str(&format!("      l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"));
    }
    write(dir.path(), "bomb.yaml", yaml);
    let (code, diags) = validate_json(dir.path(), &["bomb.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::yaml_alias");
    assert!(d["line"].as_u64().is_some_and(|l| l > 8), "located at an alias: {d:#}");
}

#[test]
fn anchors_aliases_and_merge_keys_are_valid() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1
models:
  m: {provider: scripted}
agents:
  base: &defaults
    model: m
    add_history_to_context: true
    instructions: &rules [Be concise., Cite sources.]
  writer:
    <<: *defaults
    name: Writer
  reviewer:
    model: m
    instructions: *rules
",
    );
    agno_in(dir.path())
        .args(["validate", "--color", "never", "app.yaml"])
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 1 file (0 databases, 1 model, 3 agents, 0 teams, 0 workflows)"));
}

#[test]
fn tab_indentation_is_a_yaml_syntax_error() {
    let dir = tmp();
    write(dir.path(), "app.yaml", "version: 1\nmodels:\n\tm:\n\t\tprovider: scripted\n");
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::yaml_syntax");
    assert_eq!(d["line"], 3);
}

#[test]
fn a_file_starting_with_a_byte_order_mark_is_valid() {
    let dir = tmp();
    write(dir.path(), "app.yaml", format!("\u{feff}{VALID}"));
    agno_in(dir.path())
        .args(["validate", "--color", "never", "app.yaml"])
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 1 file"));
}

#[test]
fn a_byte_order_mark_does_not_shift_locations_on_later_lines() {
    let dir = tmp();
    write(dir.path(), "app.yaml", "\u{feff}version: 1\n  \nbogus: 1\n");
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::unknown_key");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64(), d["end_column"].as_u64()), (Some(3), Some(1), Some(6)));
}

#[test]
fn a_byte_order_mark_is_not_counted_as_a_column_of_the_first_line() {
    let dir = tmp();
    write(dir.path(), "app.yaml", "\u{feff}bogus: 1\nversion: 1\n");
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::unknown_key");
    // Editors and GitHub do not show the BOM: `bogus` is at 1:1 to 1:6.
    assert_eq!((d["line"].as_u64(), d["column"].as_u64(), d["end_column"].as_u64()), (Some(1), Some(1), Some(6)));
}

#[test]
fn a_file_with_crlf_line_endings_is_valid() {
    let dir = tmp();
    write(dir.path(), "app.yaml", VALID.replace('\n', "\r\n"));
    agno_in(dir.path())
        .args(["validate", "--color", "never", "app.yaml"])
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 1 file (0 databases, 1 model, 1 agent"));
}

#[test]
fn a_file_with_crlf_line_endings_reports_the_right_line_and_column() {
    let dir = tmp();
    let yaml = "version: 1\r\nmodels:\r\n  m: {provider: scripted}\r\nagents:\r\n  a:\r\n    model: nope\r\n";
    write(dir.path(), "app.yaml", yaml);
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::unknown_model");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64(), d["end_column"].as_u64()), (Some(6), Some(12), Some(16)));
}

#[test]
fn a_lone_carriage_return_counts_as_a_line_break_in_locations() {
    let dir = tmp();
    // YAML 1.2 reads CR alone as a line break (b-break), so the parser sees six lines.
    let yaml = "version: 1\rmodels:\r  m: {provider: scripted}\ragents:\r  a:\r    model: nope\r";
    write(dir.path(), "app.yaml", yaml);
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::unknown_model");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(6), Some(12)), "{d:#}");
}

#[test]
fn a_folder_without_yaml_files_is_a_no_config_files_error() {
    let dir = tmp();
    write(dir.path(), "cfg/readme.txt", "not yaml");
    write(dir.path(), "cfg/app.json", "{}");
    let (code, diags) = validate_json(dir.path(), &["cfg"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(only(&diags, "agno::no_config_files")["file"], "cfg");
}

#[test]
fn a_path_that_does_not_exist_is_an_io_error() {
    let dir = tmp();
    let (code, diags) = validate_json(dir.path(), &["missing.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::io");
    assert_eq!(d["file"], "missing.yaml");
    assert!(d["message"].as_str().unwrap().contains("missing.yaml"), "{d:#}");
}

#[test]
fn a_symlink_loop_is_an_io_error() {
    let dir = tmp();
    std::os::unix::fs::symlink("b.yaml", dir.path().join("a.yaml")).unwrap();
    std::os::unix::fs::symlink("a.yaml", dir.path().join("b.yaml")).unwrap();
    let (code, diags) = validate_json(dir.path(), &["a.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::io");
    assert_eq!(d["file"], "a.yaml");
    assert!(d["help"].as_str().unwrap().contains("back at itself"), "{d:#}");
}

#[test]
fn a_folder_holding_a_symlink_to_itself_is_validated_once_without_hanging() {
    let dir = tmp();
    write(dir.path(), "cfg/app.yaml", VALID);
    std::os::unix::fs::symlink(".", dir.path().join("cfg/self")).unwrap();
    std::os::unix::fs::symlink("../cfg", dir.path().join("cfg/up")).unwrap();
    agno_in(dir.path())
        .args(["validate", "--color", "never", "cfg"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 1 file (0 databases, 1 model, 1 agent"));

    write(dir.path(), "cfg/bad.yaml", "version: 1\nagents:\n  b: {model: nope}\n");
    let (code, diags) = validate_json(dir.path(), &["cfg"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(codes(&diags), ["agno::unknown_model"], "read once, through no loop");
}

#[test]
fn a_fifo_in_a_folder_is_reported_instead_of_blocking_validate() {
    let dir = tmp();
    write(dir.path(), "cfg/app.yaml", VALID);
    let fifo = dir.path().join("cfg/pipe.yaml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // Nothing ever writes to the FIFO: reading it would block forever.
    let r = run(agno_in(dir.path()).args(["validate", "--format", "json", "cfg"]).timeout(Duration::from_secs(10)));
    assert!(r.code.is_some(), "validate hung on cfg/pipe.yaml and was killed");
    assert!(!r.stdout.contains("\"agno::unknown"), "{}", r.stdout);
    // Named on the command line, it is refused the same way.
    let r = run(agno_in(dir.path()).args(["validate", "cfg/pipe.yaml"]).timeout(Duration::from_secs(10)));
    assert_eq!(r.code, Some(EXIT_CONFIG), "validate hung on or accepted an explicit FIFO: {}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("not a regular file"), "{}", r.stdout);
}

#[test]
fn an_endless_file_is_cut_off_at_the_size_limit() {
    let dir = tmp();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.yaml")).unwrap();
    // A 1 GB address-space cap: reading /dev/zero without a bound must fail fast, not eat the
    // machine's memory.
    let bin = assert_cmd::cargo::cargo_bin("agno-run");
    let r = run(Command::new("sh")
        .env_clear()
        .current_dir(dir.path())
        .timeout(Duration::from_secs(60))
        .arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" validate --format json zero.yaml")
        .arg(&bin));
    assert_eq!(r.code, Some(EXIT_CONFIG), "{}{}", r.stdout, r.stderr);
    let diags = diagnostics(&r.stdout);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    // Cut off at the limit (file_too_large), or refused as no regular file (io): either way
    // without first trying to hold the endless contents in memory.
    let d = &diags[0];
    let message = d["message"].as_str().unwrap();
    assert!(d["code"] == "agno::file_too_large" || (d["code"] == "agno::io" && !message.contains("memory")), "{d:#}");
}

#[test]
fn an_empty_file_is_an_empty_file_error() {
    let dir = tmp();
    write(dir.path(), "empty.yaml", "");
    write(dir.path(), "comments.yaml", "# nothing but a comment\n");
    let (code, diags) = validate_json(dir.path(), &["empty.yaml", "comments.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(codes(&diags), ["agno::empty_file", "agno::empty_file"], "{diags:#?}");
}

#[test]
fn a_top_level_list_is_a_type_error() {
    let dir = tmp();
    write(dir.path(), "list.yaml", "- version: 1\n- models: {}\n");
    let (code, diags) = validate_json(dir.path(), &["list.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::type");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(1), Some(1)));
}

// ---------------------------------------------------------------------------------------------
// Environment variables

const NEEDS_ENV: &str = "version: 1\nmodels:\n  m:\n    provider: openai\n    id: ${MODEL_NAME}\n";

#[test]
fn an_unset_variable_is_a_missing_env_error() {
    let dir = tmp();
    write(dir.path(), "app.yaml", NEEDS_ENV);
    let (code, diags) = validate_json(dir.path(), &["app.yaml"]);
    assert_eq!(code, Some(EXIT_CONFIG));
    let d = only(&diags, "agno::missing_env");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(5), Some(9)));
    assert!(d["message"].as_str().unwrap().contains("MODEL_NAME"), "{d:#}");
}

#[test]
fn no_env_accepts_an_unset_variable() {
    let dir = tmp();
    write(dir.path(), "app.yaml", NEEDS_ENV);
    agno_in(dir.path()).args(["validate", "--color", "never", "--no-env", "app.yaml"]).assert().code(EXIT_OK);
}

#[test]
fn a_set_variable_satisfies_the_reference() {
    let dir = tmp();
    write(dir.path(), "app.yaml", NEEDS_ENV);
    agno_in(dir.path())
        .env("MODEL_NAME", "gpt-4o-mini")
        .args(["validate", "--color", "never", "app.yaml"])
        .assert()
        .code(EXIT_OK);
    let r = run(agno_in(dir.path()).env("MODEL_NAME", "gpt-4o-mini").args(["config", "app.yaml"]));
    let config: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(config["models"]["m"]["id"], "gpt-4o-mini");
}

const SERVER: &str = "version: 1\nserver:\n  host: 127.0.0.1\n  port: 7000\n";

fn resolved_config(cmd: &mut Command) -> Value {
    let r = run(cmd);
    assert_eq!(r.code, Some(EXIT_OK), "{}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("config output is not JSON ({e}):\n{}", r.stdout))
}

#[test]
fn config_uses_the_file_port_without_overrides() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SERVER);
    let config = resolved_config(agno_in(dir.path()).args(["config", "app.yaml"]));
    assert_eq!(config["server"]["port"], 7000);
}

#[test]
fn an_agno_server_variable_overrides_the_file_port() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SERVER);
    let config = resolved_config(agno_in(dir.path()).env("AGNO_SERVER__PORT", "8080").args(["config", "app.yaml"]));
    assert_eq!(config["server"]["port"], 8080);
    assert_eq!(config["server"]["host"], "127.0.0.1");
}

#[test]
fn the_port_flag_beats_the_agno_server_variable() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SERVER);
    let config = resolved_config(
        agno_in(dir.path()).env("AGNO_SERVER__PORT", "8080").args(["config", "app.yaml", "--port", "9000"]),
    );
    assert_eq!(config["server"]["port"], 9000);
}

#[test]
fn no_env_ignores_agno_server_variables() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SERVER);
    let config = resolved_config(
        agno_in(dir.path()).env("AGNO_SERVER__PORT", "notaport").args(["config", "--no-env", "app.yaml"]),
    );
    assert_eq!(config["server"]["port"], 7000);
}

#[test]
fn a_non_numeric_agno_server_port_is_a_type_error_in_the_environment() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SERVER);
    let r = run(agno_in(dir.path()).env("AGNO_SERVER__PORT", "notaport").args(["config", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    assert!(r.stdout.is_empty(), "no config is printed: {}", r.stdout);
    assert!(r.stderr.contains("agno::type") && r.stderr.contains("<environment>"), "{}", r.stderr);

    let r = run(agno_in(dir.path())
        .env("AGNO_SERVER__PORT", "notaport")
        .args(["validate", "--format", "json", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    let diags = diagnostics(&r.stdout);
    let d = only(&diags, "agno::type");
    assert_eq!(d["file"], "<environment>");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(1), Some(19)), "the value after `AGNO_SERVER__PORT=`");
}

#[test]
fn a_misspelt_agno_server_variable_is_an_unknown_key() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SERVER);
    let r = run(agno_in(dir.path()).env("AGNO_SERVER__PORTT", "1").args(["validate", "--format", "json", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_CONFIG));
    let diags = diagnostics(&r.stdout);
    let d = only(&diags, "agno::unknown_key");
    assert_eq!(d["file"], "<environment>");
    assert!(d["message"].as_str().unwrap().contains("portt"), "{d:#}");
    assert!(d["help"].as_str().unwrap().contains("`port`"), "did you mean: {d:#}");
}

// ---------------------------------------------------------------------------------------------
// Secrets

#[test]
fn config_never_prints_the_api_key_or_the_database_password() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1
databases:
  pg:
    type: postgres
    db_url: postgresql://u:hunter2@localhost/db
models:
  m:
    provider: openai
    id: gpt-4o-mini
    api_key: ${OPENAI_API_KEY}
agents:
  a: {model: m, db: pg}
",
    );
    let r = run(agno_in(dir.path()).env("OPENAI_API_KEY", "sk-secret-123").args(["config", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_OK), "{}", r.stderr);
    for secret in ["sk-secret-123", "hunter2"] {
        assert!(!r.stdout.contains(secret), "{secret} on stdout:\n{}", r.stdout);
        assert!(!r.stderr.contains(secret), "{secret} on stderr:\n{}", r.stderr);
    }
    let config: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(config["models"]["m"]["api_key"], "***", "the key is there, hidden");
    assert_eq!(config["databases"]["pg"]["backend"]["url"], "postgresql://u:***@localhost/db");
}

#[test]
fn validate_never_prints_an_environment_value_that_fails_a_type_check() {
    let dir = tmp();
    write(dir.path(), "app.yaml", "version: 1\nserver:\n  port: ${PORT}\n");
    let (code, diags) = {
        let r =
            run(agno_in(dir.path()).env("PORT", "sk-secret-xyz").args(["validate", "--format", "json", "app.yaml"]));
        assert!(!r.stdout.contains("sk-secret-xyz") && !r.stderr.contains("sk-secret-xyz"), "{}", r.stdout);
        (r.code, diagnostics(&r.stdout))
    };
    assert_eq!(code, Some(EXIT_CONFIG));
    assert_eq!(only(&diags, "agno::type")["line"], 3);
    for format in ["human", "github"] {
        let r = run(agno_in(dir.path())
            .env("PORT", "sk-secret-xyz")
            .args(["validate", "--color", "never", "--format", format, "app.yaml"]));
        assert_eq!(r.code, Some(EXIT_CONFIG));
        assert!(r.stdout.contains("agno::type") || r.stdout.contains("agno%3A%3Atype"), "{}", r.stdout);
        assert!(!r.stdout.contains("sk-secret-xyz") && !r.stderr.contains("sk-secret-xyz"), "{format}:\n{}", r.stdout);
    }
}

#[test]
fn config_never_prints_the_password_in_a_model_base_url() {
    let dir = tmp();
    write(
        dir.path(),
        "app.yaml",
        "version: 1\nmodels:\n  m:\n    provider: openai\n    id: x\n    base_url: ${BASE_URL}\n",
    );
    let r =
        run(agno_in(dir.path()).env("BASE_URL", "https://user:hunter2@llm.internal/v1").args(["config", "app.yaml"]));
    assert_eq!(r.code, Some(EXIT_OK), "{}", r.stderr);
    assert!(r.stdout.contains("llm.internal"), "{}", r.stdout);
    assert!(!r.stdout.contains("hunter2"), "a URL password is printed like db_url's is not:\n{}", r.stdout);
}

// ---------------------------------------------------------------------------------------------
// schema and help

#[test]
fn schema_prints_a_json_schema_object_with_definitions() {
    let r = run(agno().arg("schema"));
    assert_eq!(r.code, Some(EXIT_OK));
    let schema: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(schema["$schema"].as_str().unwrap().contains("json-schema.org"), "{}", schema["$schema"]);
    let definitions = schema["definitions"].as_object().unwrap();
    assert!(!definitions.is_empty());
    assert!(schema["properties"]["agents"].is_object(), "{schema:#}");
}

#[test]
fn every_help_page_shows_examples() {
    for args in [&["--help"][..], &["validate", "--help"], &["schema", "--help"], &["config", "--help"]] {
        let r = run(agno().args(args));
        assert_eq!(r.code, Some(EXIT_OK), "{args:?}");
        assert!(r.stdout.contains("Examples:"), "{args:?}:\n{}", r.stdout);
        assert!(r.stdout.contains("  agno-run "), "{args:?} shows a command line:\n{}", r.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// validate and config are read-only

const SQLITE_IN_DATA: &str = "version: 1
databases:
  local:
    type: sqlite
    db_file: data/agno.db
models:
  m: {provider: scripted}
agents:
  a: {model: m, db: local}
";

#[test]
fn validate_creates_no_file_next_to_a_sqlite_config() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SQLITE_IN_DATA);
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let before = tree(dir.path());
    agno_in(dir.path())
        .args(["validate", "--color", "never", "app.yaml"])
        .assert()
        .code(EXIT_OK)
        .stdout(predicate::str::contains("valid: 1 file (1 database"));
    assert_eq!(tree(dir.path()), before);

    let fresh = tmp();
    write(fresh.path(), "app.yaml", SQLITE_IN_DATA);
    agno_in(fresh.path()).args(["validate", "--color", "never", "app.yaml"]).assert().code(EXIT_OK);
    assert_eq!(tree(fresh.path()), [PathBuf::from("app.yaml")], "not even the data/ folder");
}

#[test]
fn config_creates_no_file_next_to_a_sqlite_config() {
    let dir = tmp();
    write(dir.path(), "app.yaml", SQLITE_IN_DATA);
    let config = resolved_config(agno_in(dir.path()).args(["config", "app.yaml"]));
    assert!(config["databases"]["local"]["backend"]["path"].as_str().unwrap().ends_with("data/agno.db"), "{config:#}");
    assert_eq!(tree(dir.path()), [PathBuf::from("app.yaml")]);
}
