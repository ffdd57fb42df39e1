//! Versioned schema migrations: the built-in SQL under `migrations/<dialect>/` (embedded), then
//! the user's own folders, run through refinery with the configured identifiers substituted
//! (validated, quoted), one migrator at a time per database.
//!
//! Around refinery, which takes no lock and reports terse errors, this module adds: the lock
//! (PostgreSQL advisory lock on a dedicated connection, polled with a timeout; SQLite a lock
//! file), checks that explain refusals (an edited, missing or out-of-order migration, a table
//! renamed in config, a database written by a newer agno-run or by Agno 2.x), adoption of an
//! existing Agno 3.x database, dry runs and status. It reads and writes schema only; sessions are
//! `store`'s.

mod postgres;
mod sqlite;
pub(crate) mod statements;

use std::path::{Path, PathBuf};
use std::time::Duration;

use refinery::Migration;
use serde::Serialize;

use crate::config::{Backend, DatabaseConfig, TableNames};
use crate::store::sql::quote;

/// Default time to wait for another migrator to finish.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// The Agno schema version agno-run's tables match; stamped into `agno_schema_versions`.
pub const AGNO_SCHEMA_VERSION: &str = "3.0.0";

/// Built-in migrations: (refinery name, SQLite template, PostgreSQL template).
const BUILT_IN: &[(&str, &str, &str)] = &[
    (
        "V1__agno_core_tables",
        include_str!("../../migrations/sqlite/V1__agno_core_tables.sql"),
        include_str!("../../migrations/postgres/V1__agno_core_tables.sql"),
    ),
    (
        "V2__agno_run_runners",
        include_str!("../../migrations/sqlite/V2__agno_run_runners.sql"),
        include_str!("../../migrations/postgres/V2__agno_run_runners.sql"),
    ),
    (
        "V3__agno_run_generations",
        include_str!("../../migrations/sqlite/V3__agno_run_generations.sql"),
        include_str!("../../migrations/postgres/V3__agno_run_generations.sql"),
    ),
    (
        "V4__agno_traces_metrics",
        include_str!("../../migrations/sqlite/V4__agno_traces_metrics.sql"),
        include_str!("../../migrations/postgres/V4__agno_traces_metrics.sql"),
    ),
];

/// The highest built-in version this binary knows.
pub fn latest_built_in() -> i32 {
    BUILT_IN.iter().filter_map(|(n, _, _)| version_of(n)).max().unwrap_or(0)
}

fn version_of(name: &str) -> Option<i32> {
    name.strip_prefix('V')?.split("__").next()?.parse().ok()
}

/// What a migration failure or refusal is.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database cannot be reached or opened.
    #[error("cannot open database `{db}`: {message}")]
    Connect {
        /// Database id.
        db: String,
        /// What went wrong (never holds a password).
        message: String,
    },
    /// Another migrator holds the lock past the timeout.
    #[error("database `{db}` is being migrated by another process{holder}; gave up after {waited:.0?}")]
    Locked {
        /// Database id.
        db: String,
        /// ` (pid N)` when known.
        holder: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The migrations or the database are in a state agno-run will not touch.
    #[error("refusing to migrate database `{db}`: {reason}")]
    Refused {
        /// Database id.
        db: String,
        /// Why.
        reason: String,
        /// What to do.
        help: String,
    },
    /// A migration failed; the ones listed in `applied` were committed before it.
    #[error("migration {failed} of database `{db}` failed{at}: {message}")]
    Failed {
        /// Database id.
        db: String,
        /// The failing migration (`V2__name`).
        failed: String,
        /// ` at <file>:<line>` of the failing statement, when known.
        at: String,
        /// Versions committed by this run before the failure.
        applied: Vec<String>,
        /// The database's message.
        message: String,
    },
    /// A user migration folder or file cannot be read.
    #[error("cannot read migrations of database `{db}`: {message}")]
    Files {
        /// Database id.
        db: String,
        /// What went wrong.
        message: String,
    },
}

impl MigrateError {
    /// Help text for the user, when there is some.
    pub fn help(&self) -> Option<&str> {
        match self {
            MigrateError::Refused { help, .. } => Some(help),
            _ => None,
        }
    }
}

/// Which set a migration belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Set {
    /// agno-run's own, embedded.
    BuiltIn,
    /// From the database's `migrations:` folders.
    User,
}

/// One migration, rendered for a database.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Built-in or user.
    pub set: Set,
    /// Version.
    pub version: i32,
    /// Refinery name (`V1__agno_core_tables`).
    pub name: String,
    /// The exact SQL that runs.
    pub sql: String,
    /// The file it came from (user migrations).
    pub file: Option<PathBuf>,
    /// Refinery's checksum of it.
    pub checksum: String,
}

/// A migration recorded in a history table.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// Built-in or user.
    pub set: Set,
    /// Version.
    pub version: i32,
    /// Name.
    pub name: String,
    /// When (as refinery recorded it, RFC 3339).
    pub applied_on: String,
    /// Checksum recorded.
    pub checksum: String,
    /// True when the migration's current SQL no longer matches the checksum.
    pub changed: bool,
}

/// The migration state of one database.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Database id.
    pub db: String,
    /// `sqlite <path>`, `postgres <host:port> schema <s>`, `memory`.
    pub target: String,
    /// Applied migrations.
    pub applied: Vec<Applied>,
    /// Migrations not applied yet.
    pub pending: Vec<Planned>,
    /// Why applying would be refused, when it would.
    pub problem: Option<Problem>,
}

/// A refusal found by `status` (the same one `apply` would give).
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The refusal.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
}

/// Progress of an apply.
#[derive(Debug, Clone)]
pub enum Event {
    /// Waiting for another migrator.
    Waiting,
    /// Starting a migration.
    Applying(Planned),
    /// A migration committed.
    Applied(Planned, Duration),
}

/// Options of an apply.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to wait for the lock.
    pub lock_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { lock_timeout: DEFAULT_LOCK_TIMEOUT }
    }
}

/// The history table of a set.
pub(crate) fn history_table(tables: &TableNames, set: Set) -> String {
    match set {
        Set::BuiltIn => tables.migrations.clone(),
        Set::User => format!("{}_user", tables.migrations),
    }
}

/// Renders a built-in template with the database's identifiers (validated by config: they
/// match `^[A-Za-z_][A-Za-z0-9_]{0,62}$`, so quoting is enough).
fn render(template: &str, tables: &TableNames, schema: Option<&str>) -> String {
    let qualified = |name: &str| match schema {
        Some(s) => format!("{}.{}", quote(s), quote(name)),
        None => quote(name),
    };
    template
        .replace("{sessions}", &qualified(&tables.sessions))
        .replace("{runs}", &qualified(&tables.runs))
        .replace("{memories}", &qualified(&tables.memories))
        .replace("{versions}", &qualified(&tables.versions))
        .replace("{runners}", &qualified(&tables.runners))
        .replace("{generations}", &qualified(&tables.generations))
        .replace("{traces}", &qualified(&tables.traces))
        .replace("{spans}", &qualified(&tables.spans))
        .replace("{metrics}", &qualified(&tables.metrics))
        .replace("{sessions_name}", &tables.sessions)
        .replace("{runs_name}", &tables.runs)
        .replace("{memories_name}", &tables.memories)
        .replace("{versions_name}", &tables.versions)
        .replace("{generations_name}", &tables.generations)
        .replace("{traces_name}", &tables.traces)
        .replace("{spans_name}", &tables.spans)
        .replace("{metrics_name}", &tables.metrics)
}

fn planned(set: Set, name: &str, sql: String, file: Option<PathBuf>) -> Result<Planned, String> {
    let m = Migration::unapplied(name, &sql).map_err(|e| format!("{name}: {e}"))?;
    Ok(Planned { set, version: m.version(), name: name.to_string(), sql, file, checksum: m.checksum().to_string() })
}

/// Every migration of `db`, rendered, in order: built-in, then the user's.
pub fn plan(db: &DatabaseConfig) -> Result<(Vec<Planned>, Vec<Planned>), MigrateError> {
    let (dialect_sqlite, schema) = match &db.backend {
        Backend::Sqlite { .. } | Backend::Memory => (true, None),
        Backend::Postgres { schema, .. } => (false, Some(schema.as_str())),
    };
    let files_err = |message: String| MigrateError::Files { db: db.id.clone(), message };
    let mut built_in = Vec::new();
    for (name, sqlite_sql, pg_sql) in BUILT_IN {
        let template = if dialect_sqlite { sqlite_sql } else { pg_sql };
        built_in.push(planned(Set::BuiltIn, name, render(template, &db.tables, schema), None).map_err(files_err)?);
    }
    let mut user = Vec::new();
    for folder in &db.migrations {
        let dialect = if dialect_sqlite { statements::Dialect::Sqlite } else { statements::Dialect::Postgres };
        user.extend(read_folder(folder, dialect).map_err(files_err)?);
    }
    user.sort_by_key(|m| m.version);
    for pair in user.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(MigrateError::Refused {
                db: db.id.clone(),
                reason: format!(
                    "two migrations have version {}: {} and {}",
                    pair[0].version, pair[0].name, pair[1].name
                ),
                help: "give every migration file its own version number".into(),
            });
        }
    }
    Ok((built_in, user))
}

/// Reads `V<n>__<name>.sql` files of a folder (other files are ignored).
fn read_folder(folder: &Path, dialect: statements::Dialect) -> Result<Vec<Planned>, String> {
    let entries = std::fs::read_dir(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", folder.display()))?.path();
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(name) = file.strip_suffix(".sql") else { continue };
        if !name.starts_with('V') || !name.contains("__") {
            continue;
        }
        let sql = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(s) = statements::transaction_control(&sql, dialect) {
            return Err(format!(
                "{}:{}: `{}` controls the transaction, which a migration may not do: agno-run runs each migration in a transaction of its own (so a failure leaves nothing half applied); remove the statement",
                path.display(),
                s.line,
                s.text.lines().next().unwrap_or_default()
            ));
        }
        let name = name.to_string();
        out.push(planned(Set::User, &name, sql, Some(path))?);
    }
    Ok(out)
}

/// Applies every pending migration of `db` under its lock, reporting progress.
pub async fn apply(
    db: &DatabaseConfig,
    options: &Options,
    progress: &mut (dyn FnMut(Event) + Send),
) -> Result<Vec<Planned>, MigrateError> {
    let (built_in, user) = plan(db)?;
    match &db.backend {
        Backend::Memory => Ok(Vec::new()),
        Backend::Sqlite { path } => sqlite::apply(db, path, built_in, user, options, progress).await,
        Backend::Postgres { .. } => postgres::apply(db, built_in, user, options, progress).await,
    }
}

/// Applied and pending migrations of `db`. Takes no lock and creates nothing.
pub async fn status(db: &DatabaseConfig) -> Result<Status, MigrateError> {
    let (built_in, user) = plan(db)?;
    match &db.backend {
        Backend::Memory => Ok(Status {
            db: db.id.clone(),
            target: "memory".into(),
            applied: Vec::new(),
            pending: Vec::new(),
            problem: None,
        }),
        Backend::Sqlite { path } => sqlite::status(db, path, built_in, user).await,
        Backend::Postgres { .. } => postgres::status(db, built_in, user).await,
    }
}

/// The columns of a table: name and declared type.
pub(crate) type Columns = Vec<(String, String)>;

/// What a backend found in a database before migrating it.
#[derive(Debug, Default)]
pub(crate) struct Inspection {
    /// Rows of both history tables.
    pub history: Vec<Recorded>,
    /// Whether the configured sessions table exists.
    pub tables_present: bool,
    /// Another table holding agno-run's built-in history (the config's `migrations_table`
    /// changed after the database was migrated).
    pub other_history: Option<String>,
    /// Columns of the Agno tables that exist (configured names): name and declared type.
    pub columns: std::collections::HashMap<String, Columns>,
    /// Agno schema-version stamps of those tables.
    pub stamps: std::collections::HashMap<String, String>,
}

/// Decides whether migrating is safe: history against the migrations, then (for a database
/// agno-run never migrated) the existing tables.
pub(crate) fn assess(
    db: &DatabaseConfig,
    found: &Inspection,
    built_in: &[Planned],
    user: &[Planned],
) -> Result<(), MigrateError> {
    verify(db, &found.history, built_in, user, found.tables_present)?;
    if found.history.iter().any(|h| h.set == Set::BuiltIn) {
        return Ok(());
    }
    if let Some(other) = &found.other_history {
        return Err(MigrateError::Refused {
            db: db.id.clone(),
            reason: format!(
                "agno-run's migration history is in the table `{other}`, but the config names `{}` (`migrations_table` changed after the database was migrated)",
                db.tables.migrations
            ),
            help: format!("set `migrations_table: {other}` on this database again"),
        });
    }
    check_adoption(db, &|t| found.columns.get(t).cloned(), &|t| found.stamps.get(t).cloned())
}

/// The name refinery records for a migration (`agno_core_tables` for `V1__agno_core_tables`).
pub fn recorded_name(full: &str) -> &str {
    full.split_once("__").map_or(full, |(_, n)| n)
}

/// The name agno-run shows for a recorded migration: `V<version>__<name>`.
pub(crate) fn full_name(version: i32, recorded: &str) -> String {
    format!("V{version}__{recorded}")
}

/// A row of a history table.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub set: Set,
    pub version: i32,
    pub name: String,
    pub applied_on: String,
    pub checksum: String,
}

/// Combines recorded history with the current migrations into applied and pending lists.
pub(crate) fn compare(
    db: &DatabaseConfig,
    target: String,
    found: Inspection,
    built_in: Vec<Planned>,
    user: Vec<Planned>,
) -> Status {
    let problem = assess(db, &found, &built_in, &user)
        .err()
        .map(|e| Problem { help: e.help().map(str::to_string), message: e.to_string() });
    let history = found.history;
    let current: Vec<Planned> = built_in.into_iter().chain(user).collect();
    let applied = history
        .into_iter()
        .map(|Recorded { set, version, name, applied_on, checksum }| {
            let changed = current.iter().any(|m| m.set == set && m.version == version && m.checksum != checksum);
            Applied { set, version, name, applied_on, checksum, changed }
        })
        .collect::<Vec<_>>();
    let pending =
        current.into_iter().filter(|m| !applied.iter().any(|a| a.set == m.set && a.version == m.version)).collect();
    Status { db: db.id.clone(), target, applied, pending, problem }
}

/// Checks recorded history against the migrations this run would apply; explains each refusal.
/// `tables_present` says whether the configured sessions table exists.
pub(crate) fn verify(
    db: &DatabaseConfig,
    history: &[Recorded],
    built_in: &[Planned],
    user: &[Planned],
    tables_present: bool,
) -> Result<(), MigrateError> {
    let refused = |reason: String, help: String| MigrateError::Refused { db: db.id.clone(), reason, help };
    let latest = latest_built_in();
    if let Some(Recorded { version: v, name, .. }) =
        history.iter().find(|h| h.set == Set::BuiltIn && h.version > latest)
    {
        return Err(refused(
            format!(
                "it was migrated by a newer agno-run (built-in migration {name}, version {v}; this agno-run knows up to version {latest})"
            ),
            "use that newer agno-run, or a newer release of this one; this one will not touch the database".into(),
        ));
    }
    for (set, list) in [(Set::BuiltIn, built_in), (Set::User, user)] {
        let recorded: Vec<&Recorded> = history.iter().filter(|h| h.set == set).collect();
        let last = recorded.iter().map(|h| h.version).max();
        for Recorded { version, name, checksum, .. } in recorded.iter().copied() {
            match list.iter().find(|m| m.version == *version) {
                None if set == Set::User => {
                    return Err(refused(
                        format!("migration {name} was applied but its file is missing from the `migrations:` folders"),
                        "restore the file (migrations are never deleted once applied); to undo it, write a new migration".into(),
                    ));
                }
                None => {}
                Some(m) if m.checksum != *checksum => {
                    if set == Set::BuiltIn {
                        let reason = if tables_present {
                            format!(
                                "built-in migration {name} was applied with other table or schema names than the config gives now"
                            )
                        } else {
                            format!(
                                "the configured table `{}` does not exist, but migration {name} was applied: a table was renamed in the config after the database was migrated",
                                db.tables.sessions
                            )
                        };
                        return Err(refused(
                            reason,
                            "put the table names the database was migrated with back in the config (`session_table`, `runs_table`, `memory_table`, `versions_table`, `runners_table`, `generations_table`, `traces_table`, `spans_table`, `metrics_table`, `db_schema`); agno-run never recreates tables under new names".into(),
                        ));
                    }
                    return Err(refused(
                        format!(
                            "migration {name} was edited after it was applied (checksum {checksum} recorded, {} now{})",
                            m.checksum,
                            m.file.as_ref().map(|f| format!(", file {}", f.display())).unwrap_or_default()
                        ),
                        "restore the applied version of the file, and put the change in a new migration with a higher version".into(),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(last) = last
            && let Some(m) = list.iter().find(|m| m.version < last && !recorded.iter().any(|h| h.version == m.version))
        {
            return Err(refused(
                format!(
                    "migration {} (version {}) is older than the last applied one (version {last}) but was never applied: it is out of order",
                    m.name, m.version
                ),
                format!("renumber it above {last} so that it runs after the applied ones"),
            ));
        }
    }
    Ok(())
}

/// The columns each Agno 3.x table must have for an existing database to be adopted.
pub(crate) fn required_columns(tables: &TableNames) -> [(String, &'static [&'static str]); 3] {
    [
        (
            tables.sessions.clone(),
            &[
                "session_id",
                "session_type",
                "agent_id",
                "team_id",
                "workflow_id",
                "user_id",
                "session_data",
                "agent_data",
                "team_data",
                "workflow_data",
                "metadata",
                "summary",
                "created_at",
                "updated_at",
            ],
        ),
        (
            tables.runs.clone(),
            &[
                "run_id",
                "session_id",
                "run_type",
                "agent_id",
                "team_id",
                "workflow_id",
                "user_id",
                "parent_run_id",
                "status",
                "run_index",
                "run_data",
                "created_at",
                "updated_at",
            ],
        ),
        (
            tables.memories.clone(),
            &[
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
            ],
        ),
    ]
}

/// Checks an existing (not yet agno-run-migrated) database before adopting it: every table
/// that exists has Agno 3.x's columns, and no table is stamped with an Agno 2.x version.
/// `columns(table)` returns None for a missing table; `stamp(table)` the recorded version.
pub(crate) fn check_adoption(
    db: &DatabaseConfig,
    columns: &dyn Fn(&str) -> Option<Columns>,
    stamp: &dyn Fn(&str) -> Option<String>,
) -> Result<(), MigrateError> {
    let sqlite = !matches!(db.backend, Backend::Postgres { .. });
    let refused = |reason: String, help: &str| MigrateError::Refused { db: db.id.clone(), reason, help: help.into() };
    let sessions_cols = columns(&db.tables.sessions);
    if let Some(cols) = &sessions_cols
        && cols.iter().any(|c| c.0 == "runs")
        && columns(&db.tables.runs).is_none()
    {
        return Err(refused(
            format!(
                "`{}` has Agno 2.x's `runs` column and there is no `{}` table: this is an Agno 2.x database",
                db.tables.sessions, db.tables.runs
            ),
            "upgrade it with Python Agno 3.x first (agno.db.migrations.manager.MigrationManager(db).up()), then migrate again",
        ));
    }
    for (table, required) in required_columns(&db.tables) {
        let Some(cols) = columns(&table) else { continue };
        let missing: Vec<&str> = required.iter().copied().filter(|c| !cols.iter().any(|x| x.0 == *c)).collect();
        if !missing.is_empty() {
            return Err(refused(
                format!("the existing table `{table}` lacks the columns {} of Agno 3.x", missing.join(", ")),
                "point the config at Agno 3.x tables (session_table, runs_table, memory_table), or upgrade the database with Python Agno's MigrationManager",
            ));
        }
        for (column, declared) in cols.iter().filter(|c| required.contains(&c.0.as_str())) {
            let kind = column_kind(column);
            if !kind.accepts(declared, sqlite) {
                return Err(refused(
                    format!(
                        "the column `{column}` of the existing table `{table}` has the type `{declared}`; Agno 3.x's is {}",
                        kind.expected(sqlite)
                    ),
                    "agno-run reads and writes these tables as Agno 3.x does; point the config at Agno 3.x tables, or fix the column's type",
                ));
            }
        }
        if let Some(version) = stamp(&table)
            && version_lt(&version, AGNO_SCHEMA_VERSION)
        {
            return Err(refused(
                format!(
                    "the table `{table}` is stamped with Agno schema version {version}, older than {AGNO_SCHEMA_VERSION}"
                ),
                "upgrade it with Python Agno 3.x's MigrationManager first, then migrate again",
            ));
        }
    }
    Ok(())
}

/// What a column of Agno's tables holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Text,
    Json,
    Integer,
}

fn column_kind(column: &str) -> ColumnKind {
    match column {
        "session_data" | "agent_data" | "team_data" | "workflow_data" | "metadata" | "summary" | "run_data"
        | "memory" | "topics" => ColumnKind::Json,
        "created_at" | "updated_at" | "run_index" => ColumnKind::Integer,
        _ => ColumnKind::Text,
    }
}

impl ColumnKind {
    /// Whether a column declared `declared` holds this kind as agno-run reads it: on
    /// PostgreSQL the types tokio-postgres decodes (`information_schema` names); on SQLite the
    /// type affinities that keep the values as written (an id in an INTEGER column would come
    /// back as a number, a time in a TEXT column as text).
    fn accepts(self, declared: &str, sqlite: bool) -> bool {
        let t = declared.to_ascii_uppercase();
        if sqlite {
            let integer = t.contains("INT");
            let text = !integer && (t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT"));
            let real = !integer && !text && (t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB"));
            return match self {
                ColumnKind::Text => text,
                ColumnKind::Json => !integer && !real,
                ColumnKind::Integer => integer,
            };
        }
        match self {
            ColumnKind::Text => matches!(t.as_str(), "CHARACTER VARYING" | "TEXT" | "CHARACTER" | "NAME"),
            ColumnKind::Json => matches!(t.as_str(), "JSON" | "JSONB"),
            ColumnKind::Integer => t == "BIGINT",
        }
    }

    fn expected(self, sqlite: bool) -> &'static str {
        match (self, sqlite) {
            (ColumnKind::Text, true) => "VARCHAR (text affinity)",
            (ColumnKind::Json, true) => "JSON",
            (ColumnKind::Integer, true) => "BIGINT (integer affinity)",
            (ColumnKind::Text, false) => "VARCHAR",
            (ColumnKind::Json, false) => "JSONB",
            (ColumnKind::Integer, false) => "BIGINT",
        }
    }
}

fn version_lt(a: &str, b: &str) -> bool {
    let parse = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parse(a) < parse(b)
}

/// Converts a refinery error into ours, naming what was committed before it.
pub(crate) fn from_refinery(
    db: &DatabaseConfig,
    e: &refinery::Error,
    current: &Planned,
    before: &[Planned],
) -> MigrateError {
    use refinery::error::Kind;
    match e.kind() {
        Kind::DivergentVersion(applied, _) | Kind::MissingVersion(applied) => MigrateError::Refused {
            db: db.id.clone(),
            reason: format!("refinery refused migration {applied}: {}", e.kind()),
            help: "see `agno-run migrate status`".into(),
        },
        _ => MigrateError::Failed {
            db: db.id.clone(),
            failed: current.name.clone(),
            at: String::new(),
            applied: before.iter().map(|m| m.name.clone()).collect(),
            message: cause(e),
        },
    }
}

/// The database's own words for a failed migration: refinery says only "error applying
/// migration", and tokio-postgres's display only "db error"; the server's message, detail and
/// hint are in the error's sources.
fn cause(e: &refinery::Error) -> String {
    let first = std::error::Error::source(e);
    let mut source = first;
    while let Some(s) = source {
        if let Some(pg) = s.downcast_ref::<tokio_postgres::Error>()
            && let Some(d) = pg.as_db_error()
        {
            let mut m = format!("{} (SQLSTATE {})", d.message(), d.code().code());
            if let Some(detail) = d.detail() {
                m.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = d.hint() {
                m.push_str(&format!("; hint: {hint}"));
            }
            return m;
        }
        source = s.source();
    }
    // The driver's own error (rusqlite's names the table or the syntax); refinery's wrapper
    // adds nothing.
    first.map_or_else(|| e.to_string(), ToString::to_string)
}

impl MigrateError {
    /// Adds where the failing statement is (` at <file>:<line>`, or the line in a built-in
    /// migration) to a [`MigrateError::Failed`].
    /// `line` None: every statement ran on its own, so the failure came when the migration
    /// committed (a deferred constraint).
    pub(crate) fn at_line(mut self, m: &Planned, line: Option<usize>) -> Self {
        if let MigrateError::Failed { at, .. } = &mut self {
            let file =
                m.file.as_ref().map_or_else(|| "the built-in migration".to_string(), |f| f.display().to_string());
            *at = match line {
                Some(line) if m.file.is_some() => format!(" at {file}:{line}"),
                Some(line) => format!(" at line {line} of {file}"),
                None => format!(" when {file} committed (each statement ran; a deferred constraint failed?)"),
            };
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_knows_every_index_the_migrations_create() {
        let placeholder = |key: &str| match key {
            "versions_table" => "versions_name",
            "session_table" => "sessions_name",
            "runs_table" => "runs_name",
            "generations_table" => "generations_name",
            "traces_table" => "traces_name",
            "spans_table" => "spans_name",
            "metrics_table" => "metrics_name",
            _ => "memories_name",
        };
        for (_, sqlite_sql, pg_sql) in BUILT_IN {
            for sql in [sqlite_sql, pg_sql] {
                let mut found: Vec<String> = sql
                    .lines()
                    .filter_map(|l| l.split("INDEX IF NOT EXISTS \"idx_{").nth(1))
                    .filter_map(|rest| rest.split('"').next())
                    .map(str::to_string)
                    .collect();
                found.sort();
                let mut known: Vec<String> = Vec::new();
                if sql.contains("INDEX") {
                    for (key, suffixes) in crate::config::check::INDEXES {
                        if sql.contains(&format!("idx_{{{}}}", placeholder(key))) {
                            known.extend(suffixes.iter().map(|s| format!("{}}}_{s}", placeholder(key))));
                        }
                    }
                }
                known.sort();
                assert_eq!(found, known);
            }
        }
    }

    #[test]
    fn templates_get_quoted_configured_names() {
        let tables = TableNames {
            sessions: "s".into(),
            runs: "r".into(),
            memories: "m".into(),
            versions: "v".into(),
            migrations: "h".into(),
            runners: "w".into(),
            generations: "g".into(),
            traces: "t".into(),
            spans: "p".into(),
            metrics: "x".into(),
        };
        let sql = render(BUILT_IN[0].2, &tables, Some("ai"));
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"ai\".\"s\""));
        assert!(sql.contains("REFERENCES \"ai\".\"s\" (session_id) ON DELETE CASCADE"));
        assert!(sql.contains("\"idx_r_session_id_run_index\""));
        assert!(!sql.contains('{') || !sql.contains("{sessions"), "every placeholder replaced");
        let sql = render(BUILT_IN[1].1, &tables, None);
        assert!(sql.contains("CREATE TABLE IF NOT EXISTS \"w\""), "{sql}");
        assert!(!sql.contains("{runners}"));
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_lt("2.5.6", "3.0.0"));
        assert!(!version_lt("3.0.0", "3.0.0"));
        assert!(version_lt("3.0.0", "3.10.0"));
    }
}
