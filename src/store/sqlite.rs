//! The SQLite backend: a small pool of rusqlite connections used on tokio's blocking threads,
//! never on the async workers. Every connection runs with WAL, `busy_timeout` and foreign keys;
//! every write transaction is `BEGIN IMMEDIATE`, which is also the per-session write lock.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::sql::{Dialect, Listing, Param, Statements, memory_listing, quote, session_listing};
use super::{
    BeginRun, Begun, Conflict, GenerationRecord, InFlightRun, Memory, MemoryQuery, Page, Result, Run, RunStatus,
    RunnerRow, RunnerSeen, Session, SessionChange, SessionQuery, StoreError, admit, check_owner, decode_json, now,
    reaped_run_data,
};
use crate::config::TableNames;

/// Most connections open at once (WAL: several readers, one writer at a time).
const POOL_SIZE: usize = 4;
/// How long a writer waits for another writer before failing with "database is locked".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a store's background task copies the WAL back into the database (a passive
/// checkpoint). The store's own connections never checkpoint when they commit, so that a run's
/// transaction never waits for a checkpoint's fsync (it was the p99 of a run).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// The WAL file is truncated to this size after a checkpoint that resets it.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// SQLite store; clones share the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    tables: TableNames,
    sql: Statements,
    /// Idle connections; taken by an operation, returned after it. Dropped with the store.
    idle: Mutex<Vec<Connection>>,
    /// Bounds the connections in use to [`POOL_SIZE`].
    permits: Arc<Semaphore>,
}

impl Inner {
    async fn permits_owned(
        self: Arc<Self>,
    ) -> std::result::Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError> {
        self.permits.clone().acquire_owned().await
    }
}

fn err(action: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend { backend: "sqlite", action: action.into(), message: e.to_string() }
}

/// Opens a connection to an existing database file with the pragmas every connection needs.
pub(crate) fn connect(path: &Path, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "SQLite did not switch to WAL");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// A write transaction: `BEGIN IMMEDIATE` (the database's write lock, taken at once) ... `COMMIT`,
/// both as cached statements (parsed once per connection, not once per transaction); rolled
/// back when dropped without a commit.
struct Write<'c> {
    conn: &'c Connection,
    done: bool,
}

impl<'c> Write<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Write<'c>> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Write { conn, done: false })
    }

    fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.done = true;
        Ok(())
    }
}

impl std::ops::Deref for Write<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        if !self.done && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A connection of a store's pool: [`connect`], with automatic checkpoints off (the store's
/// background task checkpoints instead) and a bound on the WAL file's size.
fn store_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = connect(path, false)?;
    // Every statement of the store stays prepared (rusqlite keeps 16 by default; the store has
    // about 25).
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    Ok(conn)
}

/// Checkpoints the store's WAL every [`CHECKPOINT_INTERVAL`] while the store exists (it holds
/// only a weak reference: the task ends with the store). Passive: it never blocks a writer.
async fn checkpoints(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let store = SqliteStore { inner };
        let done = store
            .with("checkpoint the WAL", |c| {
                Ok(c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })?)
            })
            .await;
        match done {
            Ok((frames, copied)) => tracing::trace!(frames, copied, "checkpointed the WAL"),
            Err(e) => tracing::debug!(error = %e, "checkpoint failed; retrying next interval"),
        }
    }
}

fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

fn opt_json(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<Value>> {
    // Parsed from the column's bytes in place, without a copy of its text.
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
            Ok(Some(decode_json(&String::from_utf8_lossy(t))))
        }
        other => Ok(Some(match other {
            rusqlite::types::ValueRef::Integer(n) => Value::from(n),
            rusqlite::types::ValueRef::Real(f) => Value::from(f),
            _ => Value::Null,
        })),
    }
}

/// A text column parsed into an enum; a value the enum does not know is a conversion error that
/// names the column.
fn parsed<T: std::str::FromStr<Err = String>>(row: &Row<'_>, i: usize, column: &str) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("column {column}: {e}").into(),
        )
    })
}

fn status(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<RunStatus>> {
    match row.get_ref(i)? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => parsed(row, i, "status").map(Some),
    }
}

fn session_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        session_id: row.get(0)?,
        session_type: parsed(row, 1, "session_type")?,
        agent_id: row.get(2)?,
        team_id: row.get(3)?,
        workflow_id: row.get(4)?,
        user_id: row.get(5)?,
        session_data: opt_json(row, 6)?,
        agent_data: opt_json(row, 7)?,
        team_data: opt_json(row, 8)?,
        workflow_data: opt_json(row, 9)?,
        metadata: opt_json(row, 10)?,
        summary: opt_json(row, 11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
    })
}

fn run_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    Ok(Run {
        run_id: row.get(0)?,
        session_id: row.get(1)?,
        run_type: parsed(row, 2, "run_type")?,
        agent_id: row.get(3)?,
        team_id: row.get(4)?,
        workflow_id: row.get(5)?,
        user_id: row.get(6)?,
        parent_run_id: row.get(7)?,
        status: status(row, 8)?,
        run_index: row.get(9)?,
        run_data: opt_json(row, 10)?.unwrap_or(Value::Null),
        created_at: row.get(11)?,
        updated_at: row.get(12)?,
    })
}

fn memory_row(row: &Row<'_>) -> rusqlite::Result<Memory> {
    Ok(Memory {
        memory_id: row.get(0)?,
        memory: opt_json(row, 1)?.unwrap_or(Value::Null),
        input: row.get(2)?,
        agent_id: row.get(3)?,
        team_id: row.get(4)?,
        user_id: row.get(5)?,
        topics: opt_json(row, 6)?,
        feedback: row.get(7)?,
        created_at: row.get(8)?,
        updated_at: row.get(9)?,
    })
}

/// Read-modify-write of a session inside a write transaction. Returns the session as written
/// (not read back: the caller's copy is the row).
fn modify_in(tx: &Connection, sql: &Statements, id: &str, change: SessionChange) -> Op<Session> {
    let mut s = tx
        .prepare_cached(&sql.get_session_for_update)?
        .query_row([id], session_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound { what: "session", id: id.to_string() })?;
    change(&mut s)?;
    let at = now();
    tx.prepare_cached(&sql.update_session)?.execute(params![
        id,
        json_text(&s.session_data),
        json_text(&s.metadata),
        json_text(&s.summary),
        at,
        json_text(&s.agent_data),
        json_text(&s.team_data),
        json_text(&s.workflow_data)
    ])?;
    s.updated_at = Some(at);
    Ok(s)
}

fn runner_row(row: &Row<'_>) -> rusqlite::Result<RunnerRow> {
    Ok(RunnerRow {
        runner_id: row.get(0)?,
        host: row.get(1)?,
        host_key: row.get(2)?,
        pid: row.get(3)?,
        process_start: row.get(4)?,
        started_at: row.get(5)?,
        heartbeat_at: row.get(6)?,
        version: row.get(7)?,
    })
}

/// The 14 parameters of an insert or upsert of `s` (`SESSION_COLUMNS` order).
fn session_values(s: &Session, updated_at: i64) -> Vec<SqlValue> {
    let text = |v: &Option<String>| v.clone().map_or(SqlValue::Null, SqlValue::Text);
    let json = |v: &Option<Value>| json_text(v).map_or(SqlValue::Null, SqlValue::Text);
    vec![
        SqlValue::Text(s.session_id.clone()),
        SqlValue::Text(s.session_type.as_str().into()),
        text(&s.agent_id),
        text(&s.team_id),
        text(&s.workflow_id),
        text(&s.user_id),
        json(&s.session_data),
        json(&s.agent_data),
        json(&s.team_data),
        json(&s.workflow_data),
        json(&s.metadata),
        json(&s.summary),
        SqlValue::Integer(s.created_at),
        SqlValue::Integer(updated_at),
    ]
}

/// Inserts a session that does not exist yet (inside a write transaction).
fn insert_session_in(tx: &Connection, sql: &Statements, s: &Session) -> rusqlite::Result<()> {
    let values = session_values(s, s.updated_at.unwrap_or(s.created_at));
    tx.prepare_cached(&sql.insert_session)?.execute(params_from_iter(&values))?;
    Ok(())
}

/// Inserts a run with the next `run_index` of its session (inside a write transaction, whose
/// lock makes the index unique).
fn append_in(tx: &Connection, sql: &Statements, mut r: Run) -> Op<Run> {
    r.updated_at = Some(r.updated_at.unwrap_or_else(now));
    let index = tx.prepare_cached(&sql.append_run)?.query_row(
        params![
            r.run_id,
            r.session_id,
            r.run_type.as_str(),
            r.agent_id,
            r.team_id,
            r.workflow_id,
            r.user_id,
            r.parent_run_id,
            r.status.map(RunStatus::as_str),
            r.run_data.to_string(),
            r.created_at,
            r.updated_at,
        ],
        |row| row.get::<_, i64>(0),
    );
    let index = match index {
        // Foreign key: the session does not exist. Primary key: the run does.
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
            return Err(StoreError::NotFound { what: "session", id: r.session_id.clone() }.into());
        }
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            return Err(StoreError::Conflict(Conflict::RunExists { run_id: r.run_id.clone() }).into());
        }
        other => other?,
    };
    r.run_index = Some(index);
    Ok(r)
}

/// The last `n` history runs, oldest first: the bounded query, then the unbounded one when
/// failed or member runs leave too few in its window.
fn history_in(c: &Connection, sql: &Statements, id: &str, n: u32) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = c.prepare_cached(&sql.history_runs)?;
    let mut runs = stmt
        .query_map(params![id, n, super::sql::history_window(n)], run_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if runs.len() < n as usize {
        let mut stmt = c.prepare_cached(&sql.history_runs_unbounded)?;
        runs = stmt.query_map(params![id, n], run_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    }
    runs.reverse();
    Ok(runs)
}

fn bind(params: &[Param]) -> Vec<SqlValue> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(s) => SqlValue::Text(s.clone()),
            Param::Int(i) => SqlValue::Integer(*i),
        })
        .collect()
}

/// An error inside an operation: the store's own, or the driver's.
enum OpError {
    Store(StoreError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Sql(e)
    }
}

impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        OpError::Store(e)
    }
}

type Op<T> = std::result::Result<T, OpError>;

impl SqliteStore {
    pub(super) async fn open(path: &Path, tables: &TableNames) -> Result<Self> {
        if !path.exists() {
            return Err(err(
                "open the database",
                format!("{} does not exist; run `agno-run migrate` to create it", path.display()),
            ));
        }
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                tables: tables.clone(),
                sql: Statements::new(Dialect::Sqlite, None, tables),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(POOL_SIZE)),
            }),
        };
        let table = tables.sessions.clone();
        let exists = store
            .with("check the tables", move |c| {
                Ok(c.query_row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", [&table], |_| Ok(()))
                    .optional()?
                    .is_some())
            })
            .await?;
        if !exists {
            return Err(err(
                "check the tables",
                format!("table `{}` does not exist in {}; run `agno-run migrate`", tables.sessions, path.display()),
            ));
        }
        tokio::spawn(checkpoints(Arc::downgrade(&store.inner)));
        Ok(store)
    }

    pub(super) fn tables(&self) -> &TableNames {
        &self.inner.tables
    }

    /// Runs `f` on a pooled connection on a blocking thread.
    async fn with<T, F>(&self, action: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Op<T> + Send + 'static,
    {
        // The permit goes with the work: a caller that stops waiting does not free a
        // connection the blocking thread still uses.
        let permit = self.inner.clone().permits_owned().await.map_err(|e| err(action, e))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = inner.idle.lock().ok().and_then(|mut v| v.pop());
            let mut conn = match conn {
                Some(c) => c,
                None => store_connection(&inner.path).map_err(|e| err(action, e))?,
            };
            let out = f(&mut conn);
            // A connection left inside a transaction (a panic in `f` is not caught here) is
            // dropped rather than reused.
            if conn.is_autocommit()
                && let Ok(mut idle) = inner.idle.lock()
            {
                idle.push(conn);
            }
            out.map_err(|e| match e {
                OpError::Store(s) => s,
                OpError::Sql(e) => err(action, e),
            })
        })
        .await
        .map_err(|e| err(action, e))?
    }

    pub(super) async fn upsert_session(&self, s: &Session) -> Result<Session> {
        let inner = self.inner.clone();
        let s = s.clone();
        self.with("upsert a session", move |c| {
            let tx = Write::begin(c)?;
            let owner: Option<Option<String>> =
                tx.prepare_cached(&inner.sql.session_owner)?.query_row([&s.session_id], |r| r.get(0)).optional()?;
            if let (Some(Some(existing)), Some(new)) = (&owner, &s.user_id)
                && existing != new
            {
                return Err(
                    StoreError::Conflict(Conflict::NotOwner { session_id: s.session_id.clone(), owned: true }).into()
                );
            }
            let values = session_values(&s, now());
            let stored = tx
                .prepare_cached(&inner.sql.upsert_session)?
                .query_row(params_from_iter(&values), session_row)
                .optional()?
                .ok_or_else(|| {
                    StoreError::Conflict(Conflict::NotOwner { session_id: s.session_id.clone(), owned: true })
                })?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    pub(super) async fn get_session(&self, id: &str) -> Result<Session> {
        let inner = self.inner.clone();
        let id = id.to_string();
        self.with("read a session", move |c| {
            let s = c.prepare_cached(&inner.sql.get_session)?.query_row([&id], session_row).optional()?;
            s.ok_or_else(|| StoreError::NotFound { what: "session", id }.into())
        })
        .await
    }

    pub(super) async fn list_sessions(&self, q: &SessionQuery) -> Result<Page<Session>> {
        let listing = session_listing(Dialect::Sqlite, &self.inner.sql.sessions, q);
        self.paged("list sessions", listing, session_row).await
    }

    /// Runs a listing's count and page queries.
    async fn paged<T: Send + 'static>(
        &self,
        action: &'static str,
        l: Listing,
        row: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>> {
        self.with(action, move |c| {
            let params = bind(&l.params);
            let total: i64 = c.query_row(&l.count, params_from_iter(&params), |r| r.get(0))?;
            let mut stmt = c.prepare(&l.select)?;
            let items = stmt.query_map(params_from_iter(&params), row)?.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page { items, total: total as u64, page: l.page, limit: l.limit })
        })
        .await
    }

    pub(super) async fn modify_session(&self, id: &str, change: SessionChange) -> Result<Session> {
        let inner = self.inner.clone();
        let id = id.to_string();
        self.with("update a session", move |c| {
            let tx = Write::begin(c)?;
            let stored = modify_in(&tx, &inner.sql, &id, change)?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    pub(super) async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        data: &Value,
        session_id: &str,
        change: SessionChange,
    ) -> Result<(Run, Session)> {
        let inner = self.inner.clone();
        let (id, status, data, session_id) =
            (run_id.to_string(), status.as_str(), data.to_string(), session_id.to_string());
        self.with("finish a run", move |c| {
            let tx = Write::begin(c)?;
            let run = tx
                .prepare_cached(&inner.sql.update_run)?
                .query_row(params![id, status, data, now()], run_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound { what: "run", id: id.clone() })?;
            let session = modify_in(&tx, &inner.sql, &session_id, change)?;
            tx.commit()?;
            Ok((run, session))
        })
        .await
    }

    pub(super) async fn delete_session(&self, id: &str, user: Option<&str>) -> Result<()> {
        let inner = self.inner.clone();
        let (id, user) = (id.to_string(), user.map(str::to_string));
        self.with("delete a session", move |c| {
            let tx = Write::begin(c)?;
            let s = tx
                .prepare_cached(&inner.sql.get_session)?
                .query_row([&id], session_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound { what: "session", id: id.clone() })?;
            check_owner(&s, user.as_deref()).map_err(StoreError::from)?;
            tx.prepare_cached(&inner.sql.delete_session)?.execute([&id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(super) async fn delete_sessions(&self, ids: &[String]) -> Result<u64> {
        let inner = self.inner.clone();
        let ids = ids.to_vec();
        self.with("delete sessions", move |c| {
            let tx = Write::begin(c)?;
            let mut n = 0;
            {
                let mut stmt = tx.prepare_cached(&inner.sql.delete_session)?;
                for id in &ids {
                    n += stmt.execute([id])? as u64;
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    pub(super) async fn begin_run(&self, b: BeginRun) -> Result<Begun> {
        let inner = self.inner.clone();
        self.with("start a run", move |c| {
            let sql = &inner.sql;
            let tx = Write::begin(c)?;
            let existing = tx.prepare_cached(&sql.get_session)?.query_row([&b.session.id], session_row).optional()?;
            let session = match (existing, b.new_session) {
                (Some(s), _) => {
                    admit(&s, &b.session.owner, b.user_id.as_deref()).map_err(StoreError::from)?;
                    s
                }
                (None, Some(new)) => {
                    insert_session_in(&tx, sql, &new)?;
                    new
                }
                (None, None) => return Err(StoreError::NotFound { what: "session", id: b.session.id.clone() }.into()),
            };
            let history =
                if b.history_runs > 0 { history_in(&tx, sql, &b.session.id, b.history_runs)? } else { Vec::new() };
            let run = append_in(&tx, sql, b.run)?;
            tx.commit()?;
            Ok(Begun { session, history, run })
        })
        .await
    }

    pub(super) async fn append_run(&self, run: &Run) -> Result<Run> {
        let inner = self.inner.clone();
        let r = run.clone();
        self.with("append a run", move |c| {
            let tx = Write::begin(c)?;
            let r = append_in(&tx, &inner.sql, r)?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }

    pub(super) async fn update_run(&self, run_id: &str, status: RunStatus, data: &Value) -> Result<Run> {
        let inner = self.inner.clone();
        let (id, status, data) = (run_id.to_string(), status.as_str(), data.to_string());
        self.with("update a run", move |c| {
            let tx = Write::begin(c)?;
            let r = tx
                .prepare_cached(&inner.sql.update_run)?
                .query_row(params![id, status, data, now()], run_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound { what: "run", id: id.clone() })?;
            tx.commit()?;
            Ok(r)
        })
        .await
    }

    pub(super) async fn get_run(&self, run_id: &str) -> Result<Run> {
        let inner = self.inner.clone();
        let id = run_id.to_string();
        self.with("read a run", move |c| {
            c.prepare_cached(&inner.sql.get_run)?
                .query_row([&id], run_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound { what: "run", id }.into())
        })
        .await
    }

    pub(super) async fn first_run(&self, session_id: &str) -> Result<Option<Run>> {
        let inner = self.inner.clone();
        let id = session_id.to_string();
        self.with("read a session's first run", move |c| {
            Ok(c.prepare_cached(&inner.sql.first_run)?.query_row([&id], run_row).optional()?)
        })
        .await
    }

    pub(super) async fn list_runs(&self, session_id: &str) -> Result<Vec<Run>> {
        let inner = self.inner.clone();
        let id = session_id.to_string();
        self.with("list runs", move |c| {
            let mut stmt = c.prepare_cached(&inner.sql.list_runs)?;
            Ok(stmt.query_map([&id], run_row)?.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub(super) async fn history_runs(&self, session_id: &str, n: u32) -> Result<Vec<Run>> {
        let inner = self.inner.clone();
        let id = session_id.to_string();
        self.with("read history runs", move |c| Ok(history_in(c, &inner.sql, &id, n)?)).await
    }

    pub(super) async fn register_runner(&self, r: &RunnerRow) -> Result<()> {
        let inner = self.inner.clone();
        let r = r.clone();
        self.with("record a runner", move |c| {
            c.prepare_cached(&inner.sql.upsert_runner)?.execute(params![
                r.runner_id,
                r.host,
                r.host_key,
                r.pid,
                r.process_start,
                r.started_at,
                r.version
            ])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn heartbeat_runner(&self, runner_id: &str) -> Result<bool> {
        let inner = self.inner.clone();
        let id = runner_id.to_string();
        self.with("heartbeat", move |c| Ok(c.prepare_cached(&inner.sql.heartbeat_runner)?.execute([id])? > 0)).await
    }

    pub(super) async fn clock(&self) -> Result<i64> {
        let inner = self.inner.clone();
        self.with("read the clock", move |c| Ok(c.prepare_cached(&inner.sql.clock)?.query_row([], |r| r.get(0))?)).await
    }

    pub(super) async fn write_traces(&self, batch: &super::traces::TraceBatch) -> Result<()> {
        let inner = self.inner.clone();
        let batch = batch.clone();
        self.with("write traces", move |c| {
            let tx = Write::begin(c)?;
            {
                let mut upsert = tx.prepare_cached(&inner.sql.traces.upsert_trace)?;
                for t in &batch.traces {
                    upsert.execute(params![
                        t.trace_id,
                        t.name,
                        t.status,
                        t.start_time,
                        t.end_time,
                        t.duration_ms,
                        t.run_id,
                        t.session_id,
                        t.user_id,
                        t.agent_id,
                        t.team_id,
                        t.workflow_id,
                        t.created_at
                    ])?;
                }
                let mut insert = tx.prepare_cached(&inner.sql.traces.insert_span)?;
                for s in &batch.spans {
                    insert.execute(params![
                        s.span_id,
                        s.trace_id,
                        s.parent_span_id,
                        s.name,
                        s.span_kind,
                        s.status_code,
                        s.status_message,
                        s.start_time,
                        s.end_time,
                        s.duration_ms,
                        s.attributes.to_string(),
                        s.created_at
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(super) async fn usage_bounds(&self) -> Result<(Option<String>, Option<String>, Option<i64>)> {
        let inner = self.inner.clone();
        self.with("read the usage dates", move |c| {
            let u = &inner.sql.usage;
            let latest: Option<String> = c.prepare_cached(&u.latest_completed)?.query_row([], |r| r.get(0))?;
            let earliest: Option<String> = c
                .prepare_cached(&u.earliest_incomplete)?
                .query_row([latest.clone().unwrap_or_default()], |r| r.get(0))?;
            let oldest: Option<i64> = c.prepare_cached(&u.oldest_session)?.query_row([], |r| r.get(0))?;
            Ok((latest, earliest, oldest))
        })
        .await
    }

    pub(super) async fn usage_groups(
        &self,
        from: i64,
        until: i64,
    ) -> Result<(Vec<super::usage::SessionGroup>, Vec<super::usage::RunGroup>)> {
        let inner = self.inner.clone();
        self.with("aggregate the usage", move |c| {
            let u = &inner.sql.usage;
            let sessions = c
                .prepare_cached(&u.sessions)?
                .query_map(params![from, until], |r| {
                    let mut tokens = [0i64; 9];
                    for (i, t) in tokens.iter_mut().enumerate() {
                        *t = r.get::<_, Option<i64>>(4 + i)?.unwrap_or(0);
                    }
                    Ok(super::usage::SessionGroup {
                        day: r.get(0)?,
                        user: r.get(1)?,
                        kind: r.get(2)?,
                        sessions: r.get(3)?,
                        tokens,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let runs = c
                .prepare_cached(&u.runs)?
                .query_map(params![from, until], |r| {
                    let text = |i: usize| -> rusqlite::Result<Option<String>> {
                        Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Text(t) => Some(t),
                            rusqlite::types::Value::Null => None,
                            other => Some(format!("{other:?}")),
                        })
                    };
                    Ok(super::usage::RunGroup {
                        day: r.get(0)?,
                        user: r.get(1)?,
                        kind: r.get(2)?,
                        model: text(3)?,
                        provider: text(4)?,
                        runs: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((sessions, runs))
        })
        .await
    }

    pub(super) async fn upsert_usage(&self, rows: &[super::usage::UsageRow]) -> Result<()> {
        let inner = self.inner.clone();
        let rows = rows.to_vec();
        self.with("write the usage", move |c| {
            let tx = Write::begin(c)?;
            {
                let mut stmt = tx.prepare_cached(&inner.sql.usage.upsert)?;
                for r in &rows {
                    stmt.execute(params![
                        r.id,
                        r.date,
                        r.user_id,
                        r.agent_runs_count,
                        r.team_runs_count,
                        r.workflow_runs_count,
                        r.agent_sessions_count,
                        r.team_sessions_count,
                        r.workflow_sessions_count,
                        r.users_count,
                        r.token_metrics.to_string(),
                        r.model_metrics.to_string(),
                        r.completed,
                        r.created_at,
                        r.updated_at
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub(super) async fn list_usage(
        &self,
        from: &str,
        until: &str,
        user: Option<&str>,
    ) -> Result<Vec<super::usage::UsageRow>> {
        let inner = self.inner.clone();
        let (from, until, user) = (from.to_string(), until.to_string(), user.map(str::to_string));
        self.with("read the usage", move |c| {
            let u = &inner.sql.usage;
            let map = |r: &Row<'_>| -> rusqlite::Result<super::usage::UsageRow> {
                let json = |i: usize| -> rusqlite::Result<Value> {
                    Ok(r.get::<_, Option<String>>(i)?
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null))
                };
                Ok(super::usage::UsageRow {
                    id: r.get(0)?,
                    date: r.get(1)?,
                    user_id: r.get(2)?,
                    agent_runs_count: r.get(3)?,
                    team_runs_count: r.get(4)?,
                    workflow_runs_count: r.get(5)?,
                    agent_sessions_count: r.get(6)?,
                    team_sessions_count: r.get(7)?,
                    workflow_sessions_count: r.get(8)?,
                    users_count: r.get(9)?,
                    token_metrics: json(10)?,
                    model_metrics: json(11)?,
                    completed: r.get(12)?,
                    created_at: r.get(13)?,
                    updated_at: r.get(14)?,
                })
            };
            let rows = match &user {
                Some(u_id) => c
                    .prepare_cached(&u.list_user)?
                    .query_map(params![from, until, u_id], map)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                None => c
                    .prepare_cached(&u.list)?
                    .query_map(params![from, until], map)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            };
            Ok(rows)
        })
        .await
    }

    pub(super) fn pool_status(&self) -> (usize, usize) {
        (POOL_SIZE - self.inner.permits.available_permits(), POOL_SIZE)
    }

    pub(super) async fn list_traces(&self, q: &super::traces::TraceQuery) -> Result<Page<super::traces::TraceSummary>> {
        let t = &self.inner.tables;
        let l = super::traces::trace_listing(Dialect::Sqlite, &quote(&t.traces), &quote(&t.spans), q);
        self.paged("list traces", l, |r| {
            Ok(super::traces::TraceSummary {
                trace: super::traces::TraceRow {
                    trace_id: r.get(0)?,
                    name: r.get(1)?,
                    status: r.get(2)?,
                    start_time: r.get(3)?,
                    end_time: r.get(4)?,
                    duration_ms: r.get::<_, f64>(5)? as i64,
                    run_id: r.get(6)?,
                    session_id: r.get(7)?,
                    user_id: r.get(8)?,
                    agent_id: r.get(9)?,
                    team_id: r.get(10)?,
                    workflow_id: r.get(11)?,
                    created_at: r.get(12)?,
                },
                total_spans: r.get(13)?,
                error_count: r.get(14)?,
                input: super::traces::root_input(r.get::<_, Option<String>>(15)?.as_deref()),
            })
        })
        .await
    }

    pub(super) async fn trace_spans(&self, trace_id: &str) -> Result<Vec<super::traces::SpanRow>> {
        let sql = super::traces::spans_sql(Dialect::Sqlite, &quote(&self.inner.tables.spans));
        let id = trace_id.to_string();
        self.with("read spans", move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map([id], |r| {
                    let attributes: Option<String> = r.get(10)?;
                    Ok(super::traces::SpanRow {
                        span_id: r.get(0)?,
                        trace_id: r.get(1)?,
                        parent_span_id: r.get(2)?,
                        name: r.get(3)?,
                        span_kind: r.get(4)?,
                        status_code: r.get(5)?,
                        status_message: r.get(6)?,
                        start_time: r.get(7)?,
                        end_time: r.get(8)?,
                        duration_ms: r.get::<_, f64>(9)? as i64,
                        attributes: attributes.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or(Value::Null),
                        created_at: r.get(11)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    pub(super) async fn trace_session_stats(
        &self,
        q: &super::traces::TraceQuery,
    ) -> Result<Page<super::traces::SessionTraceStats>> {
        let l = super::traces::stats_listing(Dialect::Sqlite, &quote(&self.inner.tables.traces), q);
        self.paged("read trace statistics", l, |r| {
            Ok(super::traces::SessionTraceStats {
                session_id: r.get(0)?,
                user_id: r.get(1)?,
                agent_id: r.get(2)?,
                team_id: r.get(3)?,
                workflow_id: r.get(4)?,
                total_traces: r.get(5)?,
                first_trace_at: r.get(6)?,
                last_trace_at: r.get(7)?,
            })
        })
        .await
    }

    pub(super) async fn record_generation(&self, g: &GenerationRecord) -> Result<()> {
        let inner = self.inner.clone();
        let g = g.clone();
        self.with("record a config generation", move |c| {
            let record = g.record.to_string();
            c.prepare_cached(&inner.sql.insert_generation)?.execute(params![
                g.generation_id,
                g.number,
                g.loaded,
                g.created_at,
                record
            ])?;
            c.prepare_cached(&inner.sql.prune_generations)?.execute([])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn list_generations(&self, limit: u32) -> Result<Vec<Value>> {
        let inner = self.inner.clone();
        self.with("list config generations", move |c| {
            let mut stmt = c.prepare_cached(&inner.sql.list_generations)?;
            let rows = stmt.query_map([i64::from(limit)], |r| r.get::<_, String>(0))?;
            Ok(rows.filter_map(|r| r.ok()).filter_map(|t| serde_json::from_str(&t).ok()).collect())
        })
        .await
    }

    pub(super) async fn remove_runner(&self, runner_id: &str) -> Result<()> {
        let inner = self.inner.clone();
        let id = runner_id.to_string();
        self.with("remove a runner", move |c| {
            c.prepare_cached(&inner.sql.delete_runner)?.execute([&id])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn expire_runner(&self, runner_id: &str) -> Result<bool> {
        let inner = self.inner.clone();
        let id = runner_id.to_string();
        self.with("expire a runner", move |c| Ok(c.prepare_cached(&inner.sql.expire_runner)?.execute([id])? > 0)).await
    }

    pub(super) async fn remove_stale_runner(&self, runner_id: &str, seen: i64) -> Result<bool> {
        let inner = self.inner.clone();
        let id = runner_id.to_string();
        self.with("remove a runner", move |c| {
            Ok(c.prepare_cached(&inner.sql.delete_stale_runner)?.execute(params![id, seen])? > 0)
        })
        .await
    }

    pub(super) async fn runners(&self) -> Result<Vec<RunnerRow>> {
        let inner = self.inner.clone();
        self.with("list runners", move |c| {
            let mut stmt = c.prepare_cached(&inner.sql.list_runners)?;
            // A row that cannot be read (written by something else) is skipped: it must not stop
            // the reaper from ending the runs of the runners it can read. Its runs are then
            // those of a runner with no record.
            let rows = stmt.query_map([], runner_row)?.filter_map(|r| match r {
                Ok(row) => Some(row),
                Err(e) => {
                    tracing::warn!(error = %e, "skipped a runner row that cannot be read");
                    None
                }
            });
            Ok(rows.collect())
        })
        .await
    }

    pub(super) async fn in_flight_runs(&self) -> Result<Vec<InFlightRun>> {
        let inner = self.inner.clone();
        self.with("list runs in flight", move |c| {
            let mut stmt = c.prepare_cached(&inner.sql.in_flight_runs)?;
            let rows = stmt.query_map([], |row| {
                Ok(InFlightRun {
                    run_id: row.get(0)?,
                    session_id: row.get(1)?,
                    status: parsed(row, 2, "status")?,
                    runner_id: row.get::<_, Option<String>>(3).unwrap_or(None),
                    created_at: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    pub(super) async fn reap_run(&self, run_id: &str, reason: &str, seen: Option<&RunnerSeen>) -> Result<bool> {
        let inner = self.inner.clone();
        let (id, reason, seen) = (run_id.to_string(), reason.to_string(), seen.cloned());
        self.with("end a run of a dead runner", move |c| {
            let tx = Write::begin(c)?;
            let data: Option<Option<String>> =
                tx.prepare_cached(&inner.sql.in_flight_run_data)?.query_row([&id], |r| r.get(0)).optional()?;
            let Some(data) = data else { return Ok(false) };
            let data = reaped_run_data(data.map(|t| decode_json(&t)).unwrap_or(Value::Null), &reason).to_string();
            let n = match &seen {
                None => tx.prepare_cached(&inner.sql.reap_run)?.execute(params![id, data, now()])?,
                Some(s) => tx.prepare_cached(&inner.sql.reap_run_if_stale)?.execute(params![
                    id,
                    data,
                    now(),
                    s.runner_id,
                    s.heartbeat_at.unwrap_or(i64::MIN)
                ])?,
            };
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn upsert_memory(&self, m: &Memory) -> Result<Memory> {
        let inner = self.inner.clone();
        let m = m.clone();
        self.with("upsert a memory", move |c| {
            let tx = Write::begin(c)?;
            let stored = tx
                .prepare_cached(&inner.sql.upsert_memory)?
                .query_row(
                    params![
                        m.memory_id,
                        m.memory.to_string(),
                        m.input,
                        m.agent_id,
                        m.team_id,
                        m.user_id,
                        json_text(&m.topics),
                        m.feedback,
                        m.created_at,
                        now(),
                    ],
                    memory_row,
                )
                .optional()?;
            tx.commit()?;
            // No row: the id is another user's memory (an upsert never moves one).
            stored.ok_or_else(|| StoreError::NotFound { what: "memory", id: m.memory_id.clone() }.into())
        })
        .await
    }

    pub(super) async fn get_memory(&self, id: &str, user: Option<&str>) -> Result<Memory> {
        let inner = self.inner.clone();
        let (id, user) = (id.to_string(), user.map(str::to_string));
        self.with("read a memory", move |c| {
            let m = c.prepare_cached(&inner.sql.get_memory)?.query_row([&id], memory_row).optional()?;
            m.filter(|m| user.is_none() || m.user_id == user)
                .ok_or_else(|| StoreError::NotFound { what: "memory", id }.into())
        })
        .await
    }

    pub(super) async fn list_memories(&self, q: &MemoryQuery) -> Result<Page<Memory>> {
        let listing = memory_listing(Dialect::Sqlite, &self.inner.sql.memories, q);
        self.paged("list memories", listing, memory_row).await
    }

    pub(super) async fn delete_memory(&self, id: &str, user: Option<&str>) -> Result<()> {
        let inner = self.inner.clone();
        let (id, user) = (id.to_string(), user.map(str::to_string));
        self.with("delete a memory", move |c| {
            let n = match &user {
                Some(u) => c.execute(&inner.sql.delete_user_memory, [&id, u])?,
                None => c.execute(&inner.sql.delete_memory, [&id])?,
            };
            if n == 0 { Err(StoreError::NotFound { what: "memory", id }.into()) } else { Ok(()) }
        })
        .await
    }

    pub(super) async fn clear_memories(&self, user: &str) -> Result<u64> {
        let inner = self.inner.clone();
        let user = user.to_string();
        self.with("clear a user's memories", move |c| Ok(c.execute(&inner.sql.clear_user_memories, [&user])? as u64))
            .await
    }
}
