//! Black-box tests of `agno-run migrate`: fresh apply, re-apply, dry run, status, user
//! migrations, every refusal (edited, missing, out-of-order, renamed table, newer agno-run,
//! Agno 2.x), adoption of an Agno 3.x database, faults (corrupt, read-only, unreachable), a
//! migration failing halfway, identifier injection, locking and the eight-process race, on
//! SQLite and (when reachable) PostgreSQL.
//!
//! Every run starts from an empty environment (plus `PATH`) and has a timeout. The databases are
//! inspected directly, with rusqlite and tokio-postgres, never through agno-run.
//!
//! PostgreSQL tests use the server at 127.0.0.1:5432 (user postgres, database test) with a fresh
//! schema each, dropped at the end. When the server cannot be reached they print
//! "skipped: PostgreSQL not reachable" and pass, unless `AGNO_TEST_REQUIRE_POSTGRES=1`.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use rusqlite::Connection;
use serde_json::Value;
use tempfile::TempDir;

const EXIT_OK: i32 = 0;
const EXIT_FAILURE: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_CONFIG: i32 = 78;

const BIN: &str = env!("CARGO_BIN_EXE_agno-run");

/// agno-run's built-in migrations, in the order they run: (version, refinery name). Every
/// expectation about the built-in set (counts, history versions, names printed) derives from it.
const BUILT_IN: &[(i64, &str)] = &[
    (1, "V1__agno_core_tables"),
    (2, "V2__agno_run_runners"),
    (3, "V3__agno_run_generations"),
    (4, "V4__agno_traces_metrics"),
];

/// The tables the built-in migrations create for agno-run itself (not Agno's), default names,
/// sorted. Neither is stamped in the schema-versions table.
const AGNO_RUN_TABLES: &[&str] = &["agno_run_generations", "agno_run_runners"];

/// Agno's trace, span and metrics tables (migration V4), default names, sorted: stamped like the
/// core tables; created where an Agno 3.x database had no such table (Agno creates them lazily).
const AGNO_TRACE_TABLES: &[&str] = &["agno_metrics", "agno_spans", "agno_traces"];

/// The indexes of [`AGNO_TRACE_TABLES`], default names.
const AGNO_TRACE_INDEXES: &[&str] = &[
    "idx_agno_metrics_aggregation_period",
    "idx_agno_metrics_date",
    "idx_agno_metrics_user_id",
    "idx_agno_spans_created_at",
    "idx_agno_spans_parent_span_id",
    "idx_agno_spans_start_time",
    "idx_agno_spans_trace_id",
    "idx_agno_traces_agent_id",
    "idx_agno_traces_created_at",
    "idx_agno_traces_run_id",
    "idx_agno_traces_session_id",
    "idx_agno_traces_start_time",
    "idx_agno_traces_status",
    "idx_agno_traces_team_id",
    "idx_agno_traces_user_id",
    "idx_agno_traces_workflow_id",
];

/// The indexes on agno-run's own tables, default names, sorted.
const AGNO_RUN_INDEXES: &[&str] = &["idx_agno_run_generations_created_at"];

/// The built-in history's versions once every built-in migration is applied.
fn built_in_versions() -> Vec<i64> {
    BUILT_IN.iter().map(|(v, _)| *v).collect()
}

/// The built-in migrations' names, in order.
fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(_, n)| *n).collect()
}

/// The last built-in migration's name: user migrations run after it.
fn last_built_in() -> &'static str {
    BUILT_IN.last().unwrap().1
}

/// The tables, in SQLite's own words, that Agno 3.1.10's `SqliteDb` creates (from
/// `sqlite3 agno-3.1.10.db .schema` of the shared fixtures).
const AGNO_3_SQLITE_DDL: &str = r#"
CREATE TABLE agno_sessions (
	session_id VARCHAR NOT NULL,
	session_type VARCHAR NOT NULL,
	agent_id VARCHAR,
	team_id VARCHAR,
	workflow_id VARCHAR,
	user_id VARCHAR,
	session_data JSON,
	agent_data JSON,
	team_data JSON,
	workflow_data JSON,
	metadata JSON,
	summary JSON,
	created_at BIGINT NOT NULL,
	updated_at BIGINT,
	PRIMARY KEY (session_id)
);
CREATE INDEX idx_agno_sessions_created_at ON agno_sessions (created_at);
CREATE INDEX idx_agno_sessions_session_type ON agno_sessions (session_type);
CREATE TABLE agno_schema_versions (
	table_name VARCHAR NOT NULL,
	version VARCHAR NOT NULL,
	created_at VARCHAR NOT NULL,
	updated_at VARCHAR,
	PRIMARY KEY (table_name)
);
CREATE INDEX idx_agno_schema_versions_created_at ON agno_schema_versions (created_at);
CREATE TABLE agno_runs (
	run_id VARCHAR NOT NULL,
	session_id VARCHAR NOT NULL,
	run_type VARCHAR NOT NULL,
	agent_id VARCHAR,
	team_id VARCHAR,
	workflow_id VARCHAR,
	user_id VARCHAR,
	parent_run_id VARCHAR,
	status VARCHAR,
	run_index BIGINT,
	run_data JSON NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT,
	PRIMARY KEY (run_id),
	FOREIGN KEY(session_id) REFERENCES agno_sessions (session_id) ON DELETE CASCADE
);
CREATE INDEX idx_agno_runs_user_id ON agno_runs (user_id);
CREATE INDEX idx_agno_runs_workflow_id ON agno_runs (workflow_id);
CREATE INDEX idx_agno_runs_agent_id ON agno_runs (agent_id);
CREATE INDEX idx_agno_runs_session_id_run_index ON agno_runs (session_id, run_index);
CREATE INDEX idx_agno_runs_session_id ON agno_runs (session_id);
CREATE INDEX idx_agno_runs_created_at ON agno_runs (created_at);
CREATE INDEX idx_agno_runs_team_id ON agno_runs (team_id);
CREATE INDEX idx_agno_runs_status ON agno_runs (status);
CREATE INDEX idx_agno_runs_run_type ON agno_runs (run_type);
CREATE TABLE agno_memories (
	memory_id VARCHAR NOT NULL,
	memory JSON NOT NULL,
	input VARCHAR,
	agent_id VARCHAR,
	team_id VARCHAR,
	user_id VARCHAR,
	topics JSON,
	feedback VARCHAR,
	created_at BIGINT NOT NULL,
	updated_at BIGINT,
	PRIMARY KEY (memory_id)
);
CREATE INDEX idx_agno_memories_user_id ON agno_memories (user_id);
CREATE INDEX idx_agno_memories_updated_at ON agno_memories (updated_at);
CREATE INDEX idx_agno_memories_created_at ON agno_memories (created_at);
"#;

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn from(out: std::process::Output) -> Out {
        let o = Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!o.stderr.contains("panicked"), "the binary panicked:\n{}", o.stderr);
        o
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    #[track_caller]
    fn expect(&self, code: i32) -> &Out {
        assert_eq!(self.code, Some(code), "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    fn says(&self, needle: &str) -> &Out {
        assert!(
            self.all().contains(needle),
            "output lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn stderr_says(&self, needle: &str) -> &Out {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}\n--- stderr\n{}", self.stderr);
        self
    }

    #[track_caller]
    fn has_help(&self) -> &Out {
        self.stderr_says("help:")
    }
}

/// The binary, run from `dir`, with an empty environment (plus `PATH`) and a timeout.
fn agno(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("agno-run").unwrap();
    cmd.env_clear().current_dir(dir).timeout(Duration::from_secs(60));
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

/// The binary as a plain process (for concurrent runs).
fn agno_std(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.env_clear().current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd
}

fn run(mut cmd: Command) -> Out {
    Out::from(cmd.output().unwrap())
}

/// `agno-run migrate app.yaml ARGS` from `dir`.
fn migrate(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = agno(dir);
    cmd.args(["migrate", "app.yaml"]).args(args);
    run(cmd)
}

/// `agno-run migrate status app.yaml ARGS` from `dir`.
fn status(dir: &Path, args: &[&str]) -> Out {
    let mut cmd = agno(dir);
    cmd.args(["migrate", "status", "app.yaml"]).args(args);
    run(cmd)
}

fn wait_all(children: Vec<Child>) -> Vec<Out> {
    children.into_iter().map(|c| Out::from(c.wait_with_output().unwrap())).collect()
}

// ---------------------------------------------------------------------------------------------
// Configs and files
// ---------------------------------------------------------------------------------------------

fn tmp() -> TempDir {
    tempfile::tempdir().unwrap()
}

fn write(path: impl AsRef<Path>, text: &str) {
    let path = path.as_ref();
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, text).unwrap();
}

/// An SQLite database `main` at `agno.db`, with extra keys (indented 4 spaces) appended.
fn sqlite_yaml(extra: &[&str]) -> String {
    let mut y = String::from("version: 1\ndatabases:\n  main:\n    type: sqlite\n    db_file: agno.db\n");
    for line in extra {
        y.push_str("    ");
        y.push_str(line);
        y.push('\n');
    }
    y
}

/// A folder with `app.yaml` for an SQLite database (plus extra keys).
fn sqlite_dir(extra: &[&str]) -> TempDir {
    let dir = tmp();
    write(dir.path().join("app.yaml"), &sqlite_yaml(extra));
    dir
}

/// A folder with `app.yaml` for an SQLite database with user migrations in `mig/`.
fn sqlite_dir_with_migrations(files: &[(&str, &str)]) -> TempDir {
    let dir = sqlite_dir(&["migrations: [mig]"]);
    fs::create_dir_all(dir.path().join("mig")).unwrap();
    for (name, sql) in files {
        write(dir.path().join("mig").join(name), sql);
    }
    dir
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("agno.db")
}

fn open(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn names(c: &Connection, kind: &str) -> Vec<String> {
    let mut stmt =
        c.prepare("SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%' ORDER BY name").unwrap();
    stmt.query_map([kind], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn tables(c: &Connection) -> Vec<String> {
    names(c, "table")
}

fn indexes(c: &Connection) -> Vec<String> {
    names(c, "index")
}

fn has_table(c: &Connection, t: &str) -> bool {
    tables(c).iter().any(|x| x == t)
}

/// (version, name, checksum) rows of a history table; empty when it does not exist.
fn history(c: &Connection, table: &str) -> Vec<(i64, String, String)> {
    if !has_table(c, table) {
        return Vec::new();
    }
    let mut stmt = c.prepare(&format!("SELECT version, name, checksum FROM \"{table}\" ORDER BY version")).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn history_versions(c: &Connection, table: &str) -> Vec<i64> {
    history(c, table).into_iter().map(|(v, _, _)| v).collect()
}

/// (table_name, version, created_at) rows of the schema-versions table.
fn stamps(c: &Connection, table: &str) -> Vec<(String, String, String)> {
    let mut stmt =
        c.prepare(&format!("SELECT table_name, version, created_at FROM \"{table}\" ORDER BY table_name")).unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

fn column_types(c: &Connection, table: &str) -> Vec<(String, String)> {
    let mut stmt = c.prepare(&format!("PRAGMA table_info(\"{table}\")")).unwrap();
    stmt.query_map([], |r| Ok((r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
}

/// True when this process writes into folders whose mode forbids it (it runs as root).
fn permissions_ignored() -> bool {
    let dir = tmp();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let ignored = fs::write(ro.join("probe"), b"x").is_ok();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    ignored
}

/// A copy of the binary that any user can run: the build folder may sit in a checkout only its
/// owner can enter (a `mktemp -d` clone is mode 0700).
fn binary_for_anyone() -> &'static Path {
    static COPY: std::sync::OnceLock<(TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, path) = COPY.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("agno-run-bin").tempdir_in("/tmp").unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("agno-run");
        fs::copy(BIN, &path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    });
    path
}

/// `migrate app.yaml` from `dir` as an unprivileged user: as `nobody` (uid/gid 65534) when
/// this process is root (root ignores file modes), else as ourselves.
fn migrate_unprivileged(dir: &Path) -> Out {
    let mut cmd = agno_std(dir);
    cmd.args(["migrate", "app.yaml", "--lock-timeout", "5"]);
    if permissions_ignored() {
        let mut as_nobody = std::process::Command::new(binary_for_anyone());
        as_nobody.env_clear().current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        as_nobody.args(["migrate", "app.yaml", "--lock-timeout", "5"]).uid(65534).gid(65534);
        cmd = as_nobody;
    }
    let child = cmd.spawn().unwrap();
    let start = Instant::now();
    let out = Out::from(child.wait_with_output().unwrap());
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    out
}

// ---------------------------------------------------------------------------------------------
// SQLite: apply, re-apply, names, user migrations
// ---------------------------------------------------------------------------------------------

#[test]
fn sqlite_fresh_apply_creates_agno_tables_indexes_and_stamps_3_0_0() {
    let dir = sqlite_dir(&[]);
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says("database `main`").says(&format!("{} migration(s) applied", BUILT_IN.len()));
    for name in built_in_names() {
        out.says(&format!("applying {name} (built-in)")).says(&format!("applied {name} in"));
    }

    let c = open(&db_path(&dir));
    let t = tables(&c);
    for want in ["agno_sessions", "agno_runs", "agno_memories", "agno_schema_versions", "agno_run_migrations"]
        .iter()
        .chain(AGNO_RUN_TABLES)
    {
        assert!(t.contains(&want.to_string()), "missing table {want}: {t:?}");
    }
    assert!(!has_table(&c, "agno_run_migrations_user"), "no user migrations, no user history: {t:?}");
    let idx = indexes(&c);
    for want in [
        "idx_agno_sessions_created_at",
        "idx_agno_sessions_session_type",
        "idx_agno_runs_session_id_run_index",
        "idx_agno_runs_session_id",
        "idx_agno_runs_status",
        "idx_agno_memories_user_id",
        "idx_agno_schema_versions_created_at",
    ]
    .iter()
    .chain(AGNO_RUN_INDEXES)
    {
        assert!(idx.contains(&want.to_string()), "missing index {want}: {idx:?}");
    }
    // Agno's column layout and types.
    let cols = column_types(&c, "agno_sessions");
    assert!(cols.contains(&("session_data".into(), "JSON".into())), "{cols:?}");
    assert!(cols.contains(&("created_at".into(), "BIGINT".into())), "{cols:?}");
    assert!(!cols.iter().any(|(n, _)| n == "runs"), "no Agno 2.x runs column: {cols:?}");
    let cols = column_types(&c, "agno_runs");
    assert!(cols.contains(&("run_data".into(), "JSON".into())), "{cols:?}");
    assert!(cols.contains(&("run_index".into(), "BIGINT".into())), "{cols:?}");
    let fk: String = c
        .query_row("SELECT \"table\" || '.' || on_delete FROM pragma_foreign_key_list('agno_runs')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, "agno_sessions.CASCADE");

    // One stamp per Agno table, version 3.0.0, ISO-8601 dates.
    let s = stamps(&c, "agno_schema_versions");
    let names: Vec<&str> = s.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(names, ["agno_memories", "agno_metrics", "agno_runs", "agno_sessions", "agno_spans", "agno_traces"]);
    for (t, v, created) in &s {
        assert_eq!(v, "3.0.0", "{t}");
        assert!(created.len() >= 19 && created.as_bytes()[10] == b'T', "ISO-8601 date for {t}: {created}");
    }
    // The built-in history has every built-in migration, by version and name, with checksums.
    let h = history(&c, "agno_run_migrations");
    assert_eq!(h.len(), BUILT_IN.len(), "{h:?}");
    for ((version, name, checksum), (want_version, want_name)) in h.iter().zip(BUILT_IN) {
        assert_eq!(version, want_version, "{h:?}");
        assert_eq!(&format!("V{version}__{name}"), want_name, "{h:?}");
        assert!(!checksum.is_empty(), "{h:?}");
    }
}

#[test]
fn sqlite_reapply_is_a_no_op() {
    let dir = sqlite_dir(&[]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let c = open(&db_path(&dir));
    let applied_on = |c: &Connection| -> String {
        c.query_row("SELECT applied_on FROM agno_run_migrations", [], |r| r.get(0)).unwrap()
    };
    let (h1, s1, a1, t1) = (history(&c, "agno_run_migrations"), stamps(&c, "agno_schema_versions"), applied_on(&c), {
        let mut t = tables(&c);
        t.extend(indexes(&c));
        t
    });
    drop(c);
    std::thread::sleep(Duration::from_millis(20));

    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says("up to date");
    assert!(!out.stdout.contains("applying"), "nothing applied twice:\n{}", out.stdout);
    let c = open(&db_path(&dir));
    assert_eq!(history(&c, "agno_run_migrations"), h1);
    assert_eq!(stamps(&c, "agno_schema_versions"), s1, "stamps untouched");
    assert_eq!(applied_on(&c), a1);
    let mut t2 = tables(&c);
    t2.extend(indexes(&c));
    assert_eq!(t2, t1);
}

#[test]
fn sqlite_configured_names_are_used_everywhere() {
    let dir = sqlite_dir(&[
        "session_table: my_sessions",
        "runs_table: my_runs",
        "memory_table: my_memories",
        "versions_table: my_versions",
        "migrations_table: my_history",
        "runners_table: my_runners",
        "generations_table: my_generations",
        "traces_table: my_traces",
        "spans_table: my_spans",
        "metrics_table: my_metrics",
        "migrations: [mig]",
    ]);
    write(dir.path().join("mig/V1__notes.sql"), "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);\n");
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let c = open(&db_path(&dir));
    let t = tables(&c);
    assert_eq!(
        t,
        [
            "my_generations",
            "my_history",
            "my_history_user",
            "my_memories",
            "my_metrics",
            "my_runners",
            "my_runs",
            "my_sessions",
            "my_spans",
            "my_traces",
            "my_versions",
            "notes"
        ],
        "only the configured names"
    );
    let idx = indexes(&c);
    assert!(idx.contains(&"idx_my_runs_session_id_run_index".to_string()), "{idx:?}");
    assert!(idx.contains(&"idx_my_generations_created_at".to_string()), "{idx:?}");
    assert!(!idx.iter().any(|i| i.contains("agno_")), "no default names in indexes: {idx:?}");
    let s = stamps(&c, "my_versions");
    let stamped: Vec<(&str, &str)> = s.iter().map(|(t, v, _)| (t.as_str(), v.as_str())).collect();
    assert_eq!(
        stamped,
        [
            ("my_memories", "3.0.0"),
            ("my_metrics", "3.0.0"),
            ("my_runs", "3.0.0"),
            ("my_sessions", "3.0.0"),
            ("my_spans", "3.0.0"),
            ("my_traces", "3.0.0")
        ]
    );
    let fk: String =
        c.query_row("SELECT \"table\" FROM pragma_foreign_key_list('my_spans')", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, "my_traces", "spans reference the configured traces table");
    let fk: String = c.query_row("SELECT \"table\" FROM pragma_foreign_key_list('my_runs')", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, "my_sessions");
    assert_eq!(history_versions(&c, "my_history"), built_in_versions());
    assert_eq!(history_versions(&c, "my_history_user"), [1]);
}

#[test]
fn sqlite_user_migrations_run_after_the_built_in_ones_with_their_own_history() {
    let dir = sqlite_dir_with_migrations(&[
        // References the built-in sessions table: only works if the built-in ones ran first.
        ("V1__tags.sql", "CREATE TABLE tags (session_id VARCHAR REFERENCES agno_sessions (session_id), tag TEXT);\n"),
        ("V2__tag_index.sql", "CREATE INDEX idx_tags_tag ON tags (tag);\n"),
        ("README.md", "not a migration"),
        ("notes.sql", "THIS IS NOT SQL AND NOT A MIGRATION NAME;"),
    ]);
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says(&format!("{} migration(s) applied", BUILT_IN.len() + 2));
    let built_in = out.stdout.find(&format!("applying {}", last_built_in())).expect("built-in applied");
    let v1 = out.stdout.find("applying V1__tags").expect("V1__tags applied");
    let v2 = out.stdout.find("applying V2__tag_index").expect("V2__tag_index applied");
    assert!(built_in < v1 && v1 < v2, "order built-in, V1, V2:\n{}", out.stdout);
    assert!(out.stdout.contains("(yours)"), "{}", out.stdout);

    let c = open(&db_path(&dir));
    assert!(has_table(&c, "tags"));
    assert!(indexes(&c).contains(&"idx_tags_tag".to_string()));
    assert_eq!(history_versions(&c, "agno_run_migrations"), built_in_versions());
    let user = history(&c, "agno_run_migrations_user");
    assert_eq!(user.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2]);
    assert!(user[0].1.contains("tags") && user[1].1.contains("tag_index"), "{user:?}");
    drop(c);

    // A new, higher user migration is applied alone on the next run.
    write(dir.path().join("mig/V3__more.sql"), "CREATE TABLE more_stuff (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says("applying V3__more").says("1 migration(s) applied");
    assert!(!out.stdout.contains("V1__"), "{}", out.stdout);
    let c = open(&db_path(&dir));
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1, 2, 3]);
    assert!(has_table(&c, "more_stuff"));
}

#[test]
fn sqlite_user_migrations_from_two_folders_with_the_same_version_are_refused() {
    let dir = sqlite_dir(&["migrations: [a, b]"]);
    write(dir.path().join("a/V1__one.sql"), "CREATE TABLE one (x INTEGER);\n");
    write(dir.path().join("b/V1__other.sql"), "CREATE TABLE other (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("version 1").stderr_says("V1__one").stderr_says("V1__other").has_help();
    if db_path(&dir).exists() {
        let c = open(&db_path(&dir));
        assert!(!has_table(&c, "one") && !has_table(&c, "other"), "{:?}", tables(&c));
    }
}

#[test]
fn db_flag_selects_one_database_and_an_unknown_id_is_a_usage_error() {
    let dir = tmp();
    write(
        dir.path().join("app.yaml"),
        "version: 1\ndatabases:\n  a: {type: sqlite, db_file: a.db}\n  b: {type: sqlite, db_file: b.db}\n",
    );
    let out = migrate(dir.path(), &["--db", "b"]);
    out.expect(EXIT_OK).says("database `b`");
    assert!(!out.stdout.contains("database `a`"), "{}", out.stdout);
    assert!(dir.path().join("b.db").exists());
    assert!(!dir.path().join("a.db").exists(), "--db b must not touch a");

    let out = migrate(dir.path(), &["--db", "nope"]);
    out.expect(EXIT_USAGE).stderr_says("nope");
    assert!(!dir.path().join("a.db").exists());

    // Without --db both are migrated.
    migrate(dir.path(), &[]).expect(EXIT_OK).says("database `a`").says("database `b`");
    assert!(dir.path().join("a.db").exists());
}

// ---------------------------------------------------------------------------------------------
// Dry run and status
// ---------------------------------------------------------------------------------------------

#[test]
fn sqlite_dry_run_prints_the_exact_sql_and_creates_nothing() {
    let dir = sqlite_dir_with_migrations(&[("V1__notes.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n")]);
    let out = migrate(dir.path(), &["--dry-run"]);
    out.expect(EXIT_OK)
        .says("CREATE TABLE IF NOT EXISTS \"agno_sessions\"")
        .says("CREATE TABLE IF NOT EXISTS \"agno_runs\"")
        .says("REFERENCES \"agno_sessions\" (session_id) ON DELETE CASCADE")
        .says("CREATE INDEX IF NOT EXISTS \"idx_agno_runs_session_id_run_index\" ON \"agno_runs\" (session_id, run_index)")
        .says("'3.0.0'")
        .says("CREATE TABLE notes (id INTEGER PRIMARY KEY);")
        .says("INSERT INTO \"agno_run_migrations\"")
        .says("INSERT INTO \"agno_run_migrations_user\"")
        .says("CREATE TABLE IF NOT EXISTS \"agno_run_runners\"")
        .says("CREATE TABLE IF NOT EXISTS \"agno_run_generations\"")
        .says("CREATE INDEX IF NOT EXISTS \"idx_agno_run_generations_created_at\" ON \"agno_run_generations\" (created_at)")
        .says(&format!("{} pending migration(s)", BUILT_IN.len() + 1));
    // The built-in SQL comes before the user's.
    let b = out.stdout.find("\"agno_sessions\"").unwrap();
    let u = out.stdout.find("CREATE TABLE notes").unwrap();
    assert!(b < u, "built-in before user");
    for placeholder in ["{sessions}", "{runs_name}", "{runners}", "{generations}", "{generations_name}"] {
        assert!(!out.stdout.contains(placeholder), "placeholder {placeholder} not replaced");
    }
    let entries: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!entries.iter().any(|e| e.starts_with("agno.db")), "dry run created files: {entries:?}");

    // With custom names the SQL carries them, quoted.
    let dir2 = sqlite_dir(&["session_table: chats"]);
    migrate(dir2.path(), &["--dry-run"]).expect(EXIT_OK).says("CREATE TABLE IF NOT EXISTS \"chats\"");
    assert!(!db_path(&dir2).exists());

    // After applying, nothing is pending and nothing would run.
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let out = migrate(dir.path(), &["--dry-run"]);
    out.expect(EXIT_OK).says("0 pending migration(s)");
    assert!(!out.stdout.contains("CREATE TABLE"), "{}", out.stdout);
}

#[test]
fn sqlite_status_lists_pending_then_applied_in_human_and_json() {
    let dir = sqlite_dir_with_migrations(&[("V1__notes.sql", "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n")]);
    let out = status(dir.path(), &[]);
    out.expect(EXIT_OK).says("database `main`").says("pending").says("V1__agno_core_tables").says("V1__notes");
    assert!(!out.stdout.contains("applied "), "{}", out.stdout);
    assert!(!db_path(&dir).exists(), "status creates nothing");

    let out = status(dir.path(), &["--format", "json"]);
    out.expect(EXIT_OK);
    let j: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(j[0]["db"], "main");
    assert_eq!(j[0]["applied"].as_array().unwrap().len(), 0);
    let pending: Vec<&str> = j[0]["pending"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    let mut want = built_in_names();
    want.push("V1__notes");
    assert_eq!(pending, want);
    assert!(!db_path(&dir).exists(), "status creates nothing");

    migrate(dir.path(), &[]).expect(EXIT_OK);
    let c = open(&db_path(&dir));
    let checksum = history(&c, "agno_run_migrations")[0].2.clone();
    drop(c);
    let out = status(dir.path(), &[]);
    out.expect(EXIT_OK).says("applied").says(&format!("checksum {checksum}"));
    assert!(!out.stdout.contains("pending"), "{}", out.stdout);
    assert!(out.stdout.contains("notes"), "{}", out.stdout);

    let out = status(dir.path(), &["--format", "json"]);
    out.expect(EXIT_OK);
    let j: Value = serde_json::from_str(&out.stdout).unwrap();
    let applied = j[0]["applied"].as_array().unwrap();
    assert_eq!(applied.len(), BUILT_IN.len() + 1, "{j:#}");
    assert_eq!(applied[0]["checksum"], checksum.as_str());
    assert_eq!(applied[0]["version"], 1);
    assert_eq!(applied[0]["changed"], false);
    let date = applied[0]["applied_on"].as_str().unwrap();
    assert!(date.starts_with("20") && date.contains('T'), "RFC 3339 date: {date}");
    assert_eq!(j[0]["pending"].as_array().unwrap().len(), 0);
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

#[test]
fn sqlite_edited_applied_migration_is_refused() {
    let dir = sqlite_dir_with_migrations(&[("V1__a.sql", "CREATE TABLE a (x INTEGER);\n")]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x INTEGER, y INTEGER);\n");
    write(dir.path().join("mig/V2__b.sql"), "CREATE TABLE b (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("edited").stderr_says("V1__a.sql").has_help().stderr_says("new migration");
    let c = open(&db_path(&dir));
    assert!(!has_table(&c, "b"), "nothing applied after a refusal");
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1]);
    let cols: Vec<String> = column_types(&c, "a").into_iter().map(|(n, _)| n).collect();
    assert_eq!(cols, ["x"]);
    drop(c);
    // Status shows it too, and fails: it is a CI gate.
    status(dir.path(), &[]).expect(EXIT_FAILURE).says("CHANGED");
}

#[test]
fn sqlite_missing_applied_migration_is_refused() {
    let dir = sqlite_dir_with_migrations(&[
        ("V1__a.sql", "CREATE TABLE a (x INTEGER);\n"),
        ("V2__b.sql", "CREATE TABLE b (x INTEGER);\n"),
    ]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    fs::remove_file(dir.path().join("mig/V1__a.sql")).unwrap();
    write(dir.path().join("mig/V3__c.sql"), "CREATE TABLE c (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("missing").stderr_says("a").has_help().stderr_says("restore");
    let c = open(&db_path(&dir));
    assert!(!has_table(&c, "c"));
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1, 2]);
}

#[test]
fn sqlite_out_of_order_migration_is_refused() {
    let dir = sqlite_dir_with_migrations(&[
        ("V1__a.sql", "CREATE TABLE a (x INTEGER);\n"),
        ("V3__c.sql", "CREATE TABLE c (x INTEGER);\n"),
    ]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    write(dir.path().join("mig/V2__b.sql"), "CREATE TABLE b (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("out of order").stderr_says("V2__b").has_help().stderr_says("above 3");
    let c = open(&db_path(&dir));
    assert!(!has_table(&c, "b"));
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1, 3]);
}

#[test]
fn sqlite_table_renamed_in_config_after_migration_is_refused() {
    let dir = sqlite_dir(&[]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let before = tables(&open(&db_path(&dir)));

    // The sessions table renamed.
    write(dir.path().join("app.yaml"), &sqlite_yaml(&["session_table: renamed_sessions"]));
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE)
        .stderr_says("renamed_sessions")
        .stderr_says("renamed")
        .has_help()
        .stderr_says("session_table");
    let c = open(&db_path(&dir));
    assert_eq!(tables(&c), before, "nothing created under the new name");
    assert!(!indexes(&c).iter().any(|i| i.contains("renamed")));
    drop(c);

    // The runs table renamed (the sessions table still exists).
    write(dir.path().join("app.yaml"), &sqlite_yaml(&["runs_table: renamed_runs"]));
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("other table or schema names").has_help().stderr_says("runs_table");
    let c = open(&db_path(&dir));
    assert_eq!(tables(&c), before, "nothing created under the new name");
    assert_eq!(stamps(&c, "agno_schema_versions").len(), 6);
    drop(c);

    // Back to the original names: fine again.
    write(dir.path().join("app.yaml"), &sqlite_yaml(&[]));
    migrate(dir.path(), &[]).expect(EXIT_OK).says("up to date");
}

#[test]
fn sqlite_database_migrated_by_a_newer_agno_run_is_refused() {
    let dir = sqlite_dir_with_migrations(&[]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let c = open(&db_path(&dir));
    c.execute(
        "INSERT INTO agno_run_migrations (version, name, applied_on, checksum) \
         VALUES (999, 'from_the_future', '2099-01-01T00:00:00Z', '42')",
        [],
    )
    .unwrap();
    drop(c);
    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("newer").stderr_says("999").has_help();
    let c = open(&db_path(&dir));
    assert!(!has_table(&c, "a"), "refuses to touch the database");
    assert!(!has_table(&c, "agno_run_migrations_user"));
    drop(c);
    // Status still works (read-only), shows the foreign row, and fails (a refusal).
    status(dir.path(), &[]).expect(EXIT_FAILURE).says("from_the_future");
}

#[test]
fn sqlite_agno_2_database_is_refused() {
    let dir = sqlite_dir(&[]);
    let c = open(&db_path(&dir));
    c.execute_batch(
        "CREATE TABLE agno_sessions (session_id VARCHAR PRIMARY KEY, session_type VARCHAR NOT NULL, agent_id VARCHAR,
           team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, session_data JSON, agent_data JSON, team_data JSON,
           workflow_data JSON, metadata JSON, runs JSON, summary JSON, created_at BIGINT NOT NULL, updated_at BIGINT);
         INSERT INTO agno_sessions (session_id, session_type, runs, created_at) VALUES ('s1', 'agent', '[]', 1);",
    )
    .unwrap();
    drop(c);
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("Agno 2.x").has_help().stderr_says("MigrationManager");
    let c = open(&db_path(&dir));
    assert_eq!(tables(&c), ["agno_sessions"], "nothing created, nothing recreated");
    let n: i64 = c.query_row("SELECT count(*) FROM agno_sessions", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn sqlite_agno_3_tables_stamped_older_are_refused() {
    let dir = sqlite_dir(&[]);
    let c = open(&db_path(&dir));
    c.execute_batch(AGNO_3_SQLITE_DDL).unwrap();
    c.execute_batch(
        "INSERT INTO agno_schema_versions (table_name, version, created_at) VALUES ('agno_sessions', '2.5.0', '2025-01-01T00:00:00');",
    )
    .unwrap();
    drop(c);
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("2.5.0").has_help();
    let c = open(&db_path(&dir));
    assert!(!has_table(&c, "agno_run_migrations"), "nothing recorded");
}

#[test]
fn sqlite_existing_agno_3_database_is_adopted() {
    let dir = sqlite_dir(&[]);
    let c = open(&db_path(&dir));
    c.execute_batch(AGNO_3_SQLITE_DDL).unwrap();
    c.execute_batch(
        "INSERT INTO agno_schema_versions (table_name, version, created_at) VALUES
           ('agno_sessions', '3.0.0', '2025-06-01T10:00:00.000000'),
           ('agno_runs', '3.0.0', '2025-06-01T10:00:00.000000'),
           ('agno_memories', '3.0.0', '2025-06-01T10:00:00.000000');
         INSERT INTO agno_sessions (session_id, session_type, agent_id, user_id, session_data, created_at)
           VALUES ('agent-s1', 'agent', 'assistant', 'u1', '{\"session_state\": {\"counter\": 3}}', 1750000000);
         INSERT INTO agno_runs (run_id, session_id, run_type, status, run_index, run_data, created_at)
           VALUES ('r1', 'agent-s1', 'agent', 'COMPLETED', 0, '{\"run_id\": \"r1\"}', 1750000001);",
    )
    .unwrap();
    let tables_before = tables(&c);
    let indexes_before = indexes(&c);
    drop(c);

    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says("applied V1__agno_core_tables");
    let c = open(&db_path(&dir));
    let sd: String =
        c.query_row("SELECT session_data FROM agno_sessions WHERE session_id = 'agent-s1'", [], |r| r.get(0)).unwrap();
    assert_eq!(sd, "{\"session_state\": {\"counter\": 3}}", "the row survived");
    let n: i64 = c.query_row("SELECT count(*) FROM agno_runs WHERE session_id = 'agent-s1'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
    let mut expected = tables_before.clone();
    expected.push("agno_run_migrations".into());
    expected.extend(AGNO_RUN_TABLES.iter().map(|t| t.to_string()));
    expected.extend(AGNO_TRACE_TABLES.iter().map(|t| t.to_string()));
    expected.sort();
    assert_eq!(tables(&c), expected, "only agno-run's own tables and Agno's trace tables are new");
    let mut expected = indexes_before.clone();
    expected.extend(AGNO_RUN_INDEXES.iter().map(|i| i.to_string()));
    expected.extend(AGNO_TRACE_INDEXES.iter().map(|i| i.to_string()));
    expected.sort();
    assert_eq!(indexes(&c), expected, "Agno's indexes kept, none duplicated; only the new tables' are new");
    for (t, v, created) in stamps(&c, "agno_schema_versions") {
        assert_eq!(v, "3.0.0", "{t}");
        if !AGNO_TRACE_TABLES.contains(&t.as_str()) {
            assert_eq!(created, "2025-06-01T10:00:00.000000", "{t}: Agno's stamp is kept");
        }
    }
    assert_eq!(history_versions(&c, "agno_run_migrations"), built_in_versions());
    drop(c);
    migrate(dir.path(), &[]).expect(EXIT_OK).says("up to date");
}

#[test]
fn sqlite_existing_tables_lacking_agno_3_columns_are_refused() {
    let dir = sqlite_dir(&[]);
    let c = open(&db_path(&dir));
    c.execute_batch(AGNO_3_SQLITE_DDL).unwrap();
    // An older runs table without run_index / parent_run_id.
    c.execute_batch(
        "DROP TABLE agno_runs;
         CREATE TABLE agno_runs (run_id VARCHAR PRIMARY KEY, session_id VARCHAR NOT NULL, run_type VARCHAR NOT NULL,
           agent_id VARCHAR, team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, status VARCHAR,
           run_data JSON NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT);",
    )
    .unwrap();
    drop(c);
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("agno_runs").stderr_says("run_index").has_help();
    let c = open(&db_path(&dir));
    assert!(!has_table(&c, "agno_run_migrations"), "nothing recorded");
    let cols: Vec<String> = column_types(&c, "agno_runs").into_iter().map(|(n, _)| n).collect();
    assert!(!cols.contains(&"run_index".to_string()), "not altered");
}

#[test]
fn sqlite_reserved_words_and_mixed_case_names_are_quoted() {
    let dir = sqlite_dir(&[
        "session_table: Select",
        "runs_table: order",
        "memory_table: group",
        "migrations_table: Where",
        "generations_table: Table",
    ]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    migrate(dir.path(), &[]).expect(EXIT_OK).says("up to date");
    let c = open(&db_path(&dir));
    let t = tables(&c);
    for want in ["Select", "order", "group", "Where", "Table", "agno_schema_versions"] {
        assert!(t.contains(&want.to_string()), "missing {want}: {t:?}");
    }
    assert!(!t.contains(&"agno_run_generations".to_string()), "{t:?}");
    let idx = indexes(&c);
    assert!(idx.contains(&"idx_Table_created_at".to_string()), "{idx:?}");
    let fk: String = c.query_row("SELECT \"table\" FROM pragma_foreign_key_list('order')", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, "Select");
    assert_eq!(history_versions(&c, "Where"), built_in_versions());
}

/// A renamed history table (`migrations_table`) is a renamed table too: agno-run must not take
/// the database for a fresh one and run the user's migrations a second time.
#[test]
fn sqlite_history_table_renamed_in_config_after_migration_is_refused() {
    let dir = sqlite_dir_with_migrations(&[(
        "V1__seed.sql",
        "CREATE TABLE IF NOT EXISTS settings (k TEXT, v TEXT);\nINSERT INTO settings VALUES ('mode', 'fast');\n",
    )]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let before = tables(&open(&db_path(&dir)));
    write(dir.path().join("app.yaml"), &sqlite_yaml(&["migrations: [mig]", "migrations_table: other_history"]));
    let out = migrate(dir.path(), &[]);
    let c = open(&db_path(&dir));
    let rows: i64 = c.query_row("SELECT count(*) FROM settings", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, 1, "the user's migration ran a second time (exit {:?}):\n{}{}", out.code, out.stdout, out.stderr);
    assert_eq!(tables(&c), before, "nothing created under the new name");
    out.expect(EXIT_FAILURE).stderr_says("migrations_table").has_help();
}

/// `--dry-run` says what a real run would do: when the run would be refused, so is the plan.
#[test]
fn sqlite_dry_run_reports_the_refusals_an_apply_would_make() {
    let dir = sqlite_dir_with_migrations(&[
        ("V1__a.sql", "CREATE TABLE a (x INTEGER);\n"),
        ("V3__c.sql", "CREATE TABLE c (x INTEGER);\n"),
    ]);
    migrate(dir.path(), &[]).expect(EXIT_OK);
    write(dir.path().join("mig/V2__b.sql"), "CREATE TABLE b (x INTEGER);\n");
    migrate(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("out of order");
    let out = migrate(dir.path(), &["--dry-run"]);
    assert!(
        !out.stdout.contains("CREATE TABLE b"),
        "dry run plans a migration that apply refuses (exit {:?}):\n{}",
        out.code,
        out.stdout
    );
    out.expect(EXIT_FAILURE).stderr_says("out of order").has_help();

    // A renamed table: apply refuses, the dry run must not report "0 pending" and succeed.
    fs::remove_file(dir.path().join("mig/V2__b.sql")).unwrap();
    write(dir.path().join("app.yaml"), &sqlite_yaml(&["migrations: [mig]", "session_table: chats"]));
    migrate(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("renamed");
    migrate(dir.path(), &["--dry-run"]).expect(EXIT_FAILURE).stderr_says("renamed").has_help();
}

/// A migration is called by its file name (`V1__a`) everywhere: in the dry run's history
/// INSERT, in the history row actually written, in `status` and in refusals.
#[test]
fn sqlite_migration_names_are_consistent_between_dry_run_history_status_and_refusals() {
    let dir = sqlite_dir_with_migrations(&[("V1__a.sql", "CREATE TABLE a (x INTEGER);\n")]);
    let plan = migrate(dir.path(), &["--dry-run"]);
    plan.expect(EXIT_OK);
    let before = status(dir.path(), &["--format", "json"]);
    let before: Value = serde_json::from_str(&before.stdout).unwrap();
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let c = open(&db_path(&dir));
    let (v, name, checksum) = history(&c, "agno_run_migrations_user").remove(0);
    drop(c);
    let printed = format!(
        "INSERT INTO \"agno_run_migrations_user\" (version, name, applied_on, checksum) VALUES ({v}, '{name}', <now>, '{checksum}');"
    );
    assert!(
        plan.stdout.contains(&printed),
        "the dry run printed another INSERT than the one run; recorded: {printed}\n{}",
        plan.stdout
    );
    let after = status(dir.path(), &["--format", "json"]);
    let after: Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(
        after[0]["applied"][1]["name"], before[0]["pending"][1]["name"],
        "status calls one migration by two names"
    );
    fs::remove_file(dir.path().join("mig/V1__a.sql")).unwrap();
    migrate(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("missing").stderr_says("V1__a");
}

#[test]
fn identifier_injection_is_refused_before_anything_is_created() {
    for (key, value) in [
        ("session_table", "\"x; DROP TABLE y\""),
        ("runs_table", "'agno_runs\"; DROP TABLE agno_sessions; --'"),
        ("memory_table", "\"m (x INT); --\""),
        ("versions_table", "\"1versions\""),
        ("migrations_table", "\"hist`\""),
    ] {
        let dir = sqlite_dir(&[&format!("{key}: {value}")]);
        let out = migrate(dir.path(), &[]);
        out.expect(EXIT_CONFIG).stderr_says("not a safe SQL identifier").stderr_says(key);
        let entries: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(entries, ["app.yaml"], "{key}: nothing may be created");
        // Dry run and status refuse too.
        migrate(dir.path(), &["--dry-run"]).expect(EXIT_CONFIG);
        status(dir.path(), &[]).expect(EXIT_CONFIG);
    }
    // A PostgreSQL schema name too, refused before any connection.
    let dir = tmp();
    write(
        dir.path().join("app.yaml"),
        "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: postgresql://postgres@127.0.0.1:1/test\n    db_schema: 'ai\"; DROP SCHEMA public CASCADE; --'\n    connect_timeout: 1\n",
    );
    migrate(dir.path(), &[]).expect(EXIT_CONFIG).stderr_says("db_schema");
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[test]
fn sqlite_corrupt_file_is_reported_and_left_alone() {
    let dir = sqlite_dir(&[]);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(db_path(&dir), &garbage).unwrap();
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("agno.db").stderr_says("not an SQLite database, or it is corrupt");
    assert_eq!(fs::read(db_path(&dir)).unwrap(), garbage, "the file is untouched");
    status(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("agno.db");
}

#[test]
fn sqlite_read_only_folder_is_reported() {
    // As root, file modes are ignored: the binary is then run as uid/gid 65534 (nobody).
    let dir = tmp();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    write(dir.path().join("app.yaml"), "version: 1\ndatabases:\n  main:\n    type: sqlite\n    db_file: ro/agno.db\n");
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let out = migrate_unprivileged(dir.path());
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    out.expect(EXIT_FAILURE).stderr_says("ro/").stderr_says("read-only");
    assert_eq!(fs::read_dir(&ro).unwrap().count(), 0, "nothing created");
}

#[test]
fn sqlite_read_only_file_is_reported() {
    // As root, file modes are ignored: the binary is then run as uid/gid 65534 (nobody).
    let dir = tmp();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    write(dir.path().join("app.yaml"), "version: 1\ndatabases:\n  main:\n    type: sqlite\n    db_file: w/agno.db\n");
    let w = dir.path().join("w");
    fs::create_dir(&w).unwrap();
    // The folder is writable (the lock file can be made); the database file is not.
    fs::set_permissions(&w, fs::Permissions::from_mode(0o777)).unwrap();
    let file = w.join("agno.db");
    let c = open(&file);
    c.execute_batch("CREATE TABLE existing (x INTEGER); INSERT INTO existing VALUES (1);").unwrap();
    drop(c);
    let bytes = fs::read(&file).unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o444)).unwrap();
    let out = migrate_unprivileged(dir.path());
    out.expect(EXIT_FAILURE).stderr_says("agno.db").stderr_says("read-only");
    assert_eq!(fs::read(&file).unwrap(), bytes, "the file is untouched");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(tables(&open(&file)), ["existing"]);
}

#[test]
fn sqlite_migration_failing_halfway_leaves_nothing_half_applied() {
    let dir = sqlite_dir_with_migrations(&[
        ("V1__a.sql", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\n"),
        ("V2__b.sql", "CREATE TABLE b (x INTEGER);\nINSERT INTO b VALUES (1);\nTHIS IS NOT SQL;\n"),
        ("V3__c.sql", "CREATE TABLE c (x INTEGER);\n"),
    ]);
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("V2__b").stderr_says("applied before the failure").stderr_says("V1__a");
    let applied_line = out.stderr.lines().find(|l| l.contains("applied before the failure")).unwrap();
    assert!(!applied_line.contains("V2__b") && !applied_line.contains("V3__c"), "{applied_line}");
    assert!(!out.stdout.contains("applying V3__c"), "V3 never started:\n{}", out.stdout);
    let c = open(&db_path(&dir));
    assert!(has_table(&c, "a"), "V1 committed");
    assert!(!has_table(&c, "b"), "V2 rolled back entirely");
    assert!(!has_table(&c, "c"), "V3 not applied");
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1]);
    assert_eq!(history_versions(&c, "agno_run_migrations"), built_in_versions());
    drop(c);

    // Fixing V2 lets the next run apply V2 and V3.
    write(dir.path().join("mig/V2__b.sql"), "CREATE TABLE b (x INTEGER);\n");
    migrate(dir.path(), &[]).expect(EXIT_OK).says("2 migration(s) applied");
    let c = open(&db_path(&dir));
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1, 2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Locking and races (SQLite)
// ---------------------------------------------------------------------------------------------

#[test]
fn sqlite_eight_processes_at_once_build_the_schema_once() {
    let dir = sqlite_dir_with_migrations(&[("V1__a.sql", "CREATE TABLE a (x INTEGER);\n")]);
    let children: Vec<Child> =
        (0..8).map(|_| agno_std(dir.path()).args(["migrate", "app.yaml"]).spawn().unwrap()).collect();
    let outs = wait_all(children);
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(o.code, Some(0), "process {i} failed:\n{}\n{}", o.stdout, o.stderr);
    }
    let appliers = outs.iter().filter(|o| o.stdout.contains("applied V1__agno_core_tables")).count();
    assert_eq!(appliers, 1, "exactly one process applied the built-in migration");
    let c = open(&db_path(&dir));
    assert_eq!(history_versions(&c, "agno_run_migrations"), built_in_versions());
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1]);
    assert_eq!(stamps(&c, "agno_schema_versions").len(), 6);
}

/// A user migration that keeps SQLite busy for about two seconds.
const SLOW_SQLITE: &str = "CREATE TABLE slow AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 15000000) SELECT count(*) AS n FROM c;\n";

/// Starts `migrate` in the background and returns once it prints `applying <name>`.
fn start_until_applying(dir: &Path, name: &str) -> (Child, Vec<String>) {
    let mut child = agno_std(dir).args(["migrate", "app.yaml"]).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let start = Instant::now();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(n > 0, "the first migrator ended before applying {name}: {lines:?}");
        lines.push(line.clone());
        if line.contains(&format!("applying {name}")) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
    }
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    });
    (child, lines)
}

#[test]
fn sqlite_second_migrator_waits_for_the_first_or_times_out() {
    let dir = sqlite_dir_with_migrations(&[("V1__slow.sql", SLOW_SQLITE)]);
    let (first, _) = start_until_applying(dir.path(), "V1__slow");
    let started = Instant::now();
    let impatient = agno_std(dir.path()).args(["migrate", "app.yaml", "--lock-timeout", "0.2"]).spawn().unwrap();
    let patient = agno_std(dir.path()).args(["migrate", "app.yaml", "--lock-timeout", "30"]).spawn().unwrap();
    let impatient = Out::from(impatient.wait_with_output().unwrap());
    let impatient_took = started.elapsed();
    let patient = Out::from(patient.wait_with_output().unwrap());
    let first = Out::from(first.wait_with_output().unwrap());

    first.expect(EXIT_OK);
    impatient.expect(EXIT_FAILURE).stderr_says("being migrated by another process").stderr_says("gave up after");
    assert!(impatient_took < Duration::from_secs(5), "gave up after {impatient_took:?}");
    patient.expect(EXIT_OK).says("waiting for another migrator").says("up to date");
    let c = open(&db_path(&dir));
    assert_eq!(history_versions(&c, "agno_run_migrations_user"), [1]);
    let n: i64 = c.query_row("SELECT n FROM slow", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 15_000_000);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

const PG_URL: &str = "postgresql://postgres@127.0.0.1:5432/test";

/// Runs `sql` (simple-query protocol) on the test server; the rows as text.
fn pg_query(sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut config: tokio_postgres::Config = PG_URL.parse().map_err(|e| format!("{e}"))?;
        config.connect_timeout(Duration::from_secs(3));
        let (client, conn) = config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let msgs = client.simple_query(sql).await.map_err(|e| e.to_string())?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect())
    })
}

fn pg_strings(sql: &str) -> Vec<String> {
    pg_query(sql).unwrap().into_iter().map(|r| r[0].clone().unwrap_or_default()).collect()
}

fn pg_count(sql: &str) -> i64 {
    pg_strings(sql)[0].parse().unwrap()
}

/// True when the test server answers; otherwise prints why and returns false, or panics when
/// `AGNO_TEST_REQUIRE_POSTGRES=1`.
fn pg_available() -> bool {
    match pg_query("SELECT 1") {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("AGNO_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL at 127.0.0.1:5432 is required (AGNO_TEST_REQUIRE_POSTGRES=1) but: {e}");
            }
            eprintln!("skipped: PostgreSQL not reachable ({e})");
            false
        }
    }
}

/// A fresh schema name, dropped (with everything in it) when this goes out of scope.
struct PgSchema(String);

impl PgSchema {
    fn new() -> PgSchema {
        PgSchema(format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]))
    }

    fn exists(&self) -> bool {
        pg_count(&format!("SELECT count(*) FROM information_schema.schemata WHERE schema_name = '{}'", self.0)) == 1
    }

    fn tables(&self) -> Vec<String> {
        pg_strings(&format!(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = '{}' ORDER BY 1",
            self.0
        ))
    }

    fn history(&self, table: &str) -> Vec<i64> {
        if !self.tables().iter().any(|t| t == table) {
            return Vec::new();
        }
        pg_strings(&format!("SELECT version FROM \"{}\".\"{table}\" ORDER BY version", self.0))
            .into_iter()
            .map(|v| v.parse().unwrap())
            .collect()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = pg_query(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.0));
    }
}

fn pg_dir(schema: &PgSchema, extra: &[&str]) -> TempDir {
    let dir = tmp();
    let mut y = format!(
        "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: {PG_URL}\n    db_schema: {}\n    connect_timeout: 5\n",
        schema.0
    );
    for line in extra {
        y.push_str("    ");
        y.push_str(line);
        y.push('\n');
    }
    write(dir.path().join("app.yaml"), &y);
    dir
}

#[test]
fn pg_fresh_apply_creates_jsonb_tables_in_the_schema_and_reapply_is_a_no_op() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    let dir = pg_dir(&schema, &["migrations: [mig]"]);
    write(dir.path().join("mig/V1__notes.sql"), "CREATE TABLE notes (id BIGINT PRIMARY KEY, body JSONB);\n");

    // Dry run: the exact, schema-qualified SQL; nothing created, not even the schema.
    let out = migrate(dir.path(), &["--dry-run"]);
    out.expect(EXIT_OK)
        .says(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", schema.0))
        .says(&format!("CREATE TABLE IF NOT EXISTS \"{}\".\"agno_sessions\"", schema.0))
        .says("session_data JSONB")
        .says("CREATE TABLE notes");
    assert!(!schema.exists(), "dry run created the schema");
    status(dir.path(), &[]).expect(EXIT_OK).says("pending").says("V1__agno_core_tables");
    assert!(!schema.exists(), "status created the schema");

    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says("applied V1__notes").says(&format!("{} migration(s) applied", BUILT_IN.len() + 1));
    for name in built_in_names() {
        out.says(&format!("applied {name}"));
    }
    assert!(!out.all().contains("s3cret"));
    assert_eq!(
        schema.tables(),
        [
            "agno_memories",
            "agno_metrics",
            "agno_run_generations",
            "agno_run_migrations",
            "agno_run_migrations_user",
            "agno_run_runners",
            "agno_runs",
            "agno_schema_versions",
            "agno_sessions",
            "agno_spans",
            "agno_traces",
            "notes"
        ]
    );
    let jsonb = pg_strings(&format!(
        "SELECT table_name || '.' || column_name FROM information_schema.columns \
         WHERE table_schema = '{}' AND data_type = 'jsonb' AND table_name LIKE 'agno_%' ORDER BY 1",
        schema.0
    ));
    for want in [
        "agno_memories.memory",
        "agno_memories.topics",
        "agno_runs.run_data",
        "agno_sessions.agent_data",
        "agno_sessions.session_data",
        "agno_sessions.summary",
    ] {
        assert!(jsonb.contains(&want.to_string()), "{want} is not JSONB: {jsonb:?}");
    }
    let bigint = pg_count(&format!(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = '{}' \
         AND table_name = 'agno_sessions' AND column_name = 'created_at' AND data_type = 'bigint'",
        schema.0
    ));
    assert_eq!(bigint, 1);
    let idx =
        pg_strings(&format!("SELECT indexname::text FROM pg_indexes WHERE schemaname = '{}' ORDER BY 1", schema.0));
    assert!(idx.contains(&"idx_agno_runs_session_id_run_index".to_string()), "{idx:?}");
    assert!(idx.contains(&"idx_agno_sessions_session_type".to_string()), "{idx:?}");
    for want in AGNO_RUN_INDEXES {
        assert!(idx.contains(&want.to_string()), "missing index {want}: {idx:?}");
    }
    let stamped = pg_strings(&format!(
        "SELECT table_name || '=' || version FROM \"{}\".agno_schema_versions ORDER BY 1",
        schema.0
    ));
    assert_eq!(
        stamped,
        [
            "agno_memories=3.0.0",
            "agno_metrics=3.0.0",
            "agno_runs=3.0.0",
            "agno_sessions=3.0.0",
            "agno_spans=3.0.0",
            "agno_traces=3.0.0"
        ]
    );
    assert_eq!(schema.history("agno_run_migrations"), built_in_versions());
    assert_eq!(schema.history("agno_run_migrations_user"), [1]);
    let stamp_dates =
        pg_strings(&format!("SELECT created_at FROM \"{}\".agno_schema_versions ORDER BY table_name", schema.0));

    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_OK).says("up to date");
    assert!(!out.stdout.contains("applying"), "{}", out.stdout);
    assert_eq!(schema.history("agno_run_migrations"), built_in_versions());
    assert_eq!(schema.history("agno_run_migrations_user"), [1]);
    assert_eq!(
        pg_strings(&format!("SELECT created_at FROM \"{}\".agno_schema_versions ORDER BY table_name", schema.0)),
        stamp_dates
    );

    let out = status(dir.path(), &["--format", "json"]);
    out.expect(EXIT_OK);
    let j: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(j[0]["applied"].as_array().unwrap().len(), BUILT_IN.len() + 1);
    assert!(j[0]["applied"][0]["checksum"].as_str().is_some_and(|c| !c.is_empty()));
    assert!(j[0]["applied"][0]["applied_on"].as_str().is_some());
    assert_eq!(j[0]["pending"].as_array().unwrap().len(), 0);
    assert!(j[0]["target"].as_str().unwrap().contains(&schema.0));
}

#[test]
fn pg_eight_processes_at_once_build_the_schema_once() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    let dir = pg_dir(&schema, &["migrations: [mig]"]);
    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x INTEGER);\n");
    let children: Vec<Child> =
        (0..8).map(|_| agno_std(dir.path()).args(["migrate", "app.yaml"]).spawn().unwrap()).collect();
    let outs = wait_all(children);
    for (i, o) in outs.iter().enumerate() {
        assert_eq!(o.code, Some(0), "process {i} failed:\n{}\n{}", o.stdout, o.stderr);
    }
    let appliers = outs.iter().filter(|o| o.stdout.contains("applied V1__agno_core_tables")).count();
    assert_eq!(appliers, 1, "exactly one process applied the built-in migration");
    assert_eq!(schema.history("agno_run_migrations"), built_in_versions());
    assert_eq!(schema.history("agno_run_migrations_user"), [1]);
    assert_eq!(pg_count(&format!("SELECT count(*) FROM \"{}\".agno_schema_versions", schema.0)), 6);
}

#[test]
fn pg_unreachable_server_names_host_and_port_and_hides_the_password() {
    let dir = tmp();
    write(
        dir.path().join("app.yaml"),
        "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: postgresql://postgres:s3cret@127.0.0.1:1/test\n    connect_timeout: 1\n",
    );
    let start = Instant::now();
    let out = migrate(dir.path(), &[]);
    let took = start.elapsed();
    out.expect(EXIT_FAILURE).stderr_says("127.0.0.1:1").stderr_says("database `pg`");
    assert!(!out.all().contains("s3cret"), "password leaked:\n{}", out.all());
    assert!(took < Duration::from_secs(10), "took {took:?} with connect_timeout 1");
    let out = status(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("127.0.0.1:1");
    assert!(!out.all().contains("s3cret"), "password leaked:\n{}", out.all());
}

#[test]
fn pg_unknown_database_is_reported_with_the_servers_message() {
    if !pg_available() {
        return;
    }
    let dir = tmp();
    write(
        dir.path().join("app.yaml"),
        "version: 1\ndatabases:\n  pg:\n    type: postgres\n    db_url: postgresql://postgres:pw@127.0.0.1:5432/no_such_db_agno\n    connect_timeout: 2\n",
    );
    let start = Instant::now();
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("no_such_db_agno").stderr_says("does not exist").stderr_says("127.0.0.1:5432");
    assert!(!out.all().contains(":pw@"), "password leaked:\n{}", out.all());
    assert!(start.elapsed() < Duration::from_secs(10), "not retried until the timeout: {:?}", start.elapsed());
}

#[test]
fn pg_second_migrator_names_the_lock_holders_pid_or_waits() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    let dir = pg_dir(&schema, &["migrations: [mig]"]);
    write(dir.path().join("mig/V1__slow.sql"), "CREATE TABLE slow (x INTEGER);\nSELECT pg_sleep(4);\n");
    let (first, _) = start_until_applying(dir.path(), "V1__slow");
    let impatient = agno_std(dir.path()).args(["migrate", "app.yaml", "--lock-timeout", "1"]).spawn().unwrap();
    let patient = agno_std(dir.path()).args(["migrate", "app.yaml", "--lock-timeout", "30"]).spawn().unwrap();
    let impatient = Out::from(impatient.wait_with_output().unwrap());
    // The pid named must be the backend that is running the first migrator's pg_sleep.
    let sleeping = pg_strings(
        "SELECT pid::text FROM pg_stat_activity WHERE query LIKE '%pg_sleep(4)%' AND pid <> pg_backend_pid()",
    );
    let patient = Out::from(patient.wait_with_output().unwrap());
    let first = Out::from(first.wait_with_output().unwrap());

    first.expect(EXIT_OK);
    impatient.expect(EXIT_FAILURE).stderr_says("being migrated by another process").stderr_says("pid");
    let pid: String = impatient
        .stderr
        .split("pid ")
        .nth(1)
        .map(|s| s.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!pid.is_empty(), "no pid in: {}", impatient.stderr);
    assert!(sleeping.contains(&pid), "pid {pid} is not the holder; backends in pg_sleep: {sleeping:?}");
    patient.expect(EXIT_OK).says("waiting for another migrator").says("up to date");
    assert_eq!(schema.history("agno_run_migrations_user"), [1]);
}

#[test]
fn pg_migration_failing_halfway_leaves_nothing_half_applied() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    let dir = pg_dir(&schema, &["migrations: [mig]"]);
    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x INTEGER);\n");
    write(
        dir.path().join("mig/V2__b.sql"),
        "CREATE TABLE b (x INTEGER);\nINSERT INTO b VALUES (1);\nTHIS IS NOT SQL;\n",
    );
    write(dir.path().join("mig/V3__c.sql"), "CREATE TABLE c (x INTEGER);\n");
    let out = migrate(dir.path(), &[]);
    out.expect(EXIT_FAILURE).stderr_says("V2__b").stderr_says("applied before the failure").stderr_says("V1__a");
    let t = schema.tables();
    assert!(t.contains(&"a".to_string()), "{t:?}");
    assert!(!t.contains(&"b".to_string()), "V2 rolled back: {t:?}");
    assert!(!t.contains(&"c".to_string()), "V3 not applied: {t:?}");
    assert_eq!(schema.history("agno_run_migrations_user"), [1]);
}

#[test]
fn pg_renamed_table_and_edited_migration_are_refused() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    let dir = pg_dir(&schema, &["migrations: [mig]"]);
    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x INTEGER);\n");
    migrate(dir.path(), &[]).expect(EXIT_OK);
    let before = schema.tables();

    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x BIGINT);\n");
    migrate(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("edited").has_help();
    write(dir.path().join("mig/V1__a.sql"), "CREATE TABLE a (x INTEGER);\n");

    let yaml = fs::read_to_string(dir.path().join("app.yaml")).unwrap();
    write(dir.path().join("app.yaml"), &format!("{yaml}    session_table: chats\n"));
    migrate(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("chats").stderr_says("renamed").has_help();
    assert_eq!(schema.tables(), before, "nothing created under the new name");
}

#[test]
fn pg_agno_2_tables_are_refused() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    pg_query(&format!(
        "CREATE SCHEMA \"{0}\"; CREATE TABLE \"{0}\".agno_sessions (session_id VARCHAR PRIMARY KEY, \
         session_type VARCHAR NOT NULL, agent_id VARCHAR, team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, \
         session_data JSONB, agent_data JSONB, team_data JSONB, workflow_data JSONB, metadata JSONB, runs JSONB, \
         summary JSONB, created_at BIGINT NOT NULL, updated_at BIGINT)",
        schema.0
    ))
    .unwrap();
    let dir = pg_dir(&schema, &[]);
    migrate(dir.path(), &[]).expect(EXIT_FAILURE).stderr_says("Agno 2.x").has_help();
    assert_eq!(schema.tables(), ["agno_sessions"]);
}

#[test]
fn pg_reserved_words_and_mixed_case_names_are_quoted() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema(format!("Mixed_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let dir = pg_dir(
        &schema,
        &["session_table: Select", "runs_table: order", "migrations_table: Hist", "generations_table: Table"],
    );
    migrate(dir.path(), &[]).expect(EXIT_OK);
    migrate(dir.path(), &[]).expect(EXIT_OK).says("up to date");
    assert_eq!(
        schema.tables(),
        [
            "Hist",
            "Select",
            "Table",
            "agno_memories",
            "agno_metrics",
            "agno_run_runners",
            "agno_schema_versions",
            "agno_spans",
            "agno_traces",
            "order"
        ]
    );
    let idx =
        pg_strings(&format!("SELECT indexname::text FROM pg_indexes WHERE schemaname = '{}' ORDER BY 1", schema.0));
    assert!(idx.contains(&"idx_Table_created_at".to_string()), "{idx:?}");
    assert_eq!(schema.history("Hist"), built_in_versions());
    let stamped = pg_strings(&format!(
        "SELECT table_name || '=' || version FROM \"{}\".agno_schema_versions ORDER BY 1",
        schema.0
    ));
    assert_eq!(
        stamped,
        [
            "Select=3.0.0",
            "agno_memories=3.0.0",
            "agno_metrics=3.0.0",
            "agno_spans=3.0.0",
            "agno_traces=3.0.0",
            "order=3.0.0"
        ]
    );
}

#[test]
fn pg_existing_agno_3_schema_is_adopted() {
    if !pg_available() {
        return;
    }
    let schema = PgSchema::new();
    pg_query(&format!(
        "CREATE SCHEMA \"{0}\";
         CREATE TABLE \"{0}\".agno_schema_versions (table_name VARCHAR PRIMARY KEY, version VARCHAR NOT NULL,
           created_at VARCHAR NOT NULL, updated_at VARCHAR);
         CREATE TABLE \"{0}\".agno_sessions (session_id VARCHAR PRIMARY KEY, session_type VARCHAR NOT NULL,
           agent_id VARCHAR, team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, session_data JSONB,
           agent_data JSONB, team_data JSONB, workflow_data JSONB, metadata JSONB, summary JSONB,
           created_at BIGINT NOT NULL, updated_at BIGINT);
         CREATE TABLE \"{0}\".agno_runs (run_id VARCHAR PRIMARY KEY, session_id VARCHAR NOT NULL
           REFERENCES \"{0}\".agno_sessions (session_id) ON DELETE CASCADE, run_type VARCHAR NOT NULL,
           agent_id VARCHAR, team_id VARCHAR, workflow_id VARCHAR, user_id VARCHAR, parent_run_id VARCHAR,
           status VARCHAR, run_index BIGINT, run_data JSONB NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT);
         CREATE TABLE \"{0}\".agno_memories (memory_id VARCHAR PRIMARY KEY, memory JSONB NOT NULL, input TEXT,
           agent_id VARCHAR, team_id VARCHAR, user_id VARCHAR, topics JSONB, feedback TEXT,
           created_at BIGINT NOT NULL, updated_at BIGINT);
         INSERT INTO \"{0}\".agno_schema_versions VALUES
           ('agno_sessions', '3.0.0', '2025-06-01T10:00:00', NULL),
           ('agno_runs', '3.0.0', '2025-06-01T10:00:00', NULL),
           ('agno_memories', '3.0.0', '2025-06-01T10:00:00', NULL);
         INSERT INTO \"{0}\".agno_sessions (session_id, session_type, session_data, created_at)
           VALUES ('s1', 'agent', '{{\"session_state\": {{\"n\": 1}}}}', 1750000000);",
        schema.0
    ))
    .unwrap();
    let dir = pg_dir(&schema, &[]);
    migrate(dir.path(), &[]).expect(EXIT_OK).says("applied V1__agno_core_tables");
    assert_eq!(
        pg_strings(&format!("SELECT session_data->'session_state'->>'n' FROM \"{}\".agno_sessions", schema.0)),
        ["1"],
        "the row survived"
    );
    assert_eq!(
        pg_strings(&format!(
            "SELECT DISTINCT created_at FROM \"{}\".agno_schema_versions WHERE table_name IN ('agno_sessions', 'agno_runs', 'agno_memories')",
            schema.0
        )),
        ["2025-06-01T10:00:00"],
        "Agno's stamps kept"
    );
    assert_eq!(schema.history("agno_run_migrations"), built_in_versions());
}
