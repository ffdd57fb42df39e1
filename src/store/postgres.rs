//! The PostgreSQL backend: tokio-postgres with a deadpool pool, tables in the configured schema,
//! JSONB columns. Per-session writes lock the session row (`SELECT ... FOR UPDATE`), which
//! serializes appends and state updates of one session across processes and replicas.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub(crate) use super::pg_connect::{connect_with_retry, endpoint, parse_url};
use super::sql::{Dialect, Listing, Param, Statements, memory_listing, session_listing};
use super::{
    BeginRun, Begun, Conflict, GenerationRecord, InFlightRun, Memory, MemoryQuery, Page, Result, Run, RunStatus,
    RunnerRow, RunnerSeen, Session, SessionChange, SessionQuery, StoreError, admit, check_owner, now, reaped_run_data,
};
use crate::config::TableNames;

/// PostgreSQL store; clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    pool_size: u32,
    /// `connect_timeout`: also the longest wait for a pooled connection.
    timeout: Duration,
    tables: TableNames,
    /// The schema holding the tables (validated).
    schema: String,
    sql: Statements,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("tables", &self.inner.tables).finish_non_exhaustive()
    }
}

fn err(action: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend { backend: "postgres", action: action.into(), message: e.to_string() }
}

fn pg_err(action: &str, e: &tokio_postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    StoreError::Backend { backend: "postgres", action: action.into(), message }
}

/// True when a string or key of `v` holds a NUL character, which PostgreSQL's JSONB refuses.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(t) => t.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn without_nul(v: &Value) -> Value {
    let fix = |t: &str| t.replace('\0', "\u{FFFD}");
    match v {
        Value::String(t) => Value::String(fix(t)),
        Value::Array(a) => Value::Array(a.iter().map(without_nul).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (fix(k), without_nul(v))).collect()),
        other => other.clone(),
    }
}

/// A JSON value as PostgreSQL can store it: a NUL in a string (a model may write one) becomes
/// U+FFFD, where JSONB would refuse the whole row and, with it, the run's end.
fn storable(v: &Value) -> std::borrow::Cow<'_, Value> {
    if has_nul(v) { std::borrow::Cow::Owned(without_nul(v)) } else { std::borrow::Cow::Borrowed(v) }
}

fn storable_opt(v: &Option<Value>) -> Option<std::borrow::Cow<'_, Value>> {
    v.as_ref().map(storable)
}

/// A session whose JSON columns PostgreSQL can store (see [`storable`]).
fn storable_session(s: &Session) -> std::borrow::Cow<'_, Session> {
    let cols = [&s.session_data, &s.agent_data, &s.team_data, &s.workflow_data, &s.metadata, &s.summary];
    if !cols.iter().any(|c| c.as_ref().is_some_and(has_nul)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let fix = |c: &Option<Value>| c.as_ref().map(without_nul);
    std::borrow::Cow::Owned(Session {
        session_data: fix(&s.session_data),
        agent_data: fix(&s.agent_data),
        team_data: fix(&s.team_data),
        workflow_data: fix(&s.workflow_data),
        metadata: fix(&s.metadata),
        summary: fix(&s.summary),
        ..s.clone()
    })
}

/// Reads a JSONB value; a JSON string holding a JSON object or array (double-encoded by an
/// old writer) is decoded.
fn norm(v: Option<Value>) -> Option<Value> {
    v.map(|v| match v {
        Value::String(s) => super::decode_json(&serde_json::to_string(&s).unwrap_or_default()),
        other => other,
    })
}

/// Decodes the columns of one row, naming the table and column of a value of an unexpected type
/// (an adopted table with other column types) instead of panicking.
struct Decode<'r> {
    row: &'r Row,
    table: &'r str,
}

impl<'r> Decode<'r> {
    fn get<T: tokio_postgres::types::FromSql<'r>>(&self, i: usize) -> Result<T> {
        self.row.try_get(i).map_err(|e| {
            let column = self.row.columns().get(i).map_or("?", |c| c.name());
            err(&format!("read table `{}`", self.table), format!("column `{column}`: {e}"))
        })
    }

    fn json(&self, i: usize) -> Result<Option<Value>> {
        Ok(norm(self.get(i)?))
    }

    fn parsed<T: std::str::FromStr<Err = String>>(&self, i: usize) -> Result<T> {
        let text: String = self.get(i)?;
        text.parse().map_err(|e: String| {
            let column = self.row.columns().get(i).map_or("?", |c| c.name());
            err(&format!("read table `{}`", self.table), format!("column `{column}`: {e}"))
        })
    }

    fn status(&self, i: usize) -> Result<Option<RunStatus>> {
        match self.get::<Option<String>>(i)? {
            None => Ok(None),
            Some(_) => self.parsed(i).map(Some),
        }
    }
}

fn session_row(row: &Row, table: &str) -> Result<Session> {
    let d = Decode { row, table };
    Ok(Session {
        session_id: d.get(0)?,
        session_type: d.parsed(1)?,
        agent_id: d.get(2)?,
        team_id: d.get(3)?,
        workflow_id: d.get(4)?,
        user_id: d.get(5)?,
        session_data: d.json(6)?,
        agent_data: d.json(7)?,
        team_data: d.json(8)?,
        workflow_data: d.json(9)?,
        metadata: d.json(10)?,
        summary: d.json(11)?,
        created_at: d.get(12)?,
        updated_at: d.get(13)?,
    })
}

fn run_row(row: &Row, table: &str) -> Result<Run> {
    let d = Decode { row, table };
    Ok(Run {
        run_id: d.get(0)?,
        session_id: d.get(1)?,
        run_type: d.parsed(2)?,
        agent_id: d.get(3)?,
        team_id: d.get(4)?,
        workflow_id: d.get(5)?,
        user_id: d.get(6)?,
        parent_run_id: d.get(7)?,
        status: d.status(8)?,
        run_index: d.get(9)?,
        run_data: d.json(10)?.unwrap_or(Value::Null),
        created_at: d.get(11)?,
        updated_at: d.get(12)?,
    })
}

fn memory_row(row: &Row, table: &str) -> Result<Memory> {
    let d = Decode { row, table };
    Ok(Memory {
        memory_id: d.get(0)?,
        memory: d.json(1)?.unwrap_or(Value::Null),
        input: d.get(2)?,
        agent_id: d.get(3)?,
        team_id: d.get(4)?,
        user_id: d.get(5)?,
        topics: d.json(6)?,
        feedback: d.get(7)?,
        created_at: d.get(8)?,
        updated_at: d.get(9)?,
    })
}

fn runner_row(row: &Row, table: &str) -> Result<RunnerRow> {
    let d = Decode { row, table };
    Ok(RunnerRow {
        runner_id: d.get(0)?,
        host: d.get(1)?,
        host_key: d.get(2)?,
        pid: d.get(3)?,
        process_start: d.get(4)?,
        started_at: d.get(5)?,
        heartbeat_at: d.get(6)?,
        version: d.get(7)?,
    })
}

/// Read-modify-write of a session inside a transaction, the row locked.
async fn modify_in(
    tx: &deadpool_postgres::Transaction<'_>,
    inner: &Inner,
    id: &str,
    change: SessionChange,
    action: &str,
) -> Result<Session> {
    let sql = &inner.sql;
    let e = |e: tokio_postgres::Error| pg_err(action, &e);
    // Cached statements: a run's start and end are prepared once per pooled connection.
    let lock = tx.prepare_cached(&sql.get_session_for_update).await.map_err(e)?;
    let row = tx
        .query_opt(&lock, &[&id])
        .await
        .map_err(e)?
        .ok_or_else(|| StoreError::NotFound { what: "session", id: id.into() })?;
    let mut s = session_row(&row, &inner.tables.sessions)?;
    change(&mut s)?;
    let at = now();
    let update = tx.prepare_cached(&sql.update_session).await.map_err(e)?;
    tx.execute(
        &update,
        &[
            &id,
            &storable_opt(&s.session_data).as_deref(),
            &storable_opt(&s.metadata).as_deref(),
            &storable_opt(&s.summary).as_deref(),
            &at,
            &storable_opt(&s.agent_data).as_deref(),
            &storable_opt(&s.team_data).as_deref(),
            &storable_opt(&s.workflow_data).as_deref(),
        ],
    )
    .await
    .map_err(e)?;
    // The caller's copy is the row: it is not read back.
    s.updated_at = Some(at);
    Ok(s)
}

/// Inserts a run with the next `run_index` of its session, whose row this transaction has locked.
async fn append_in(tx: &deadpool_postgres::Transaction<'_>, inner: &Inner, r: &Run, action: &str) -> Result<Run> {
    let sql = &inner.sql;
    let next = tx.prepare_cached(&sql.next_run_index).await.map_err(|e| pg_err(action, &e))?;
    let index: i64 = tx
        .query_one(&next, &[&r.session_id])
        .await
        .map_err(|e| pg_err(action, &e))?
        .try_get(0)
        .map_err(|e| pg_err(action, &e))?;
    let updated = r.updated_at.unwrap_or_else(now);
    let insert = tx.prepare_cached(&sql.insert_run).await.map_err(|e| pg_err(action, &e))?;
    let row = tx
        .query_one(
            &insert,
            &[
                &r.run_id,
                &r.session_id,
                &r.run_type.as_str(),
                &r.agent_id,
                &r.team_id,
                &r.workflow_id,
                &r.user_id,
                &r.parent_run_id,
                &r.status.map(RunStatus::as_str),
                &index,
                &storable(&r.run_data).as_ref(),
                &r.created_at,
                &updated,
            ],
        )
        .await;
    let row = match row {
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            return Err(StoreError::Conflict(Conflict::RunExists { run_id: r.run_id.clone() }));
        }
        other => other.map_err(|e| pg_err(action, &e))?,
    };
    run_row(&row, &inner.tables.runs)
}

/// The last `n` history runs, oldest first (bounded query, then unbounded when too few).
async fn history_in(
    c: &impl deadpool_postgres::GenericClient,
    inner: &Inner,
    session_id: &str,
    n: u32,
    action: &str,
) -> Result<Vec<Run>> {
    let sql = &inner.sql;
    let stmt = c.prepare_cached(&sql.history_runs).await.map_err(|e| pg_err(action, &e))?;
    let window = super::sql::history_window(n);
    let mut rows = c.query(&stmt, &[&session_id, &i64::from(n), &window]).await.map_err(|e| pg_err(action, &e))?;
    if rows.len() < n as usize {
        let stmt = c.prepare_cached(&sql.history_runs_unbounded).await.map_err(|e| pg_err(action, &e))?;
        rows = c.query(&stmt, &[&session_id, &i64::from(n)]).await.map_err(|e| pg_err(action, &e))?;
    }
    let mut runs = rows.iter().map(|r| run_row(r, &inner.tables.runs)).collect::<Result<Vec<_>>>()?;
    runs.reverse();
    Ok(runs)
}

/// The 14 parameters of an insert or upsert of `s` (`SESSION_COLUMNS` order).
/// `s` must be [`storable_session`]'s.
fn session_params<'a>(s: &'a Session, kind: &'a &'a str, updated_at: &'a i64) -> [&'a (dyn ToSql + Sync); 14] {
    [
        &s.session_id,
        kind,
        &s.agent_id,
        &s.team_id,
        &s.workflow_id,
        &s.user_id,
        &s.session_data,
        &s.agent_data,
        &s.team_data,
        &s.workflow_data,
        &s.metadata,
        &s.summary,
        &s.created_at,
        updated_at,
    ]
}

fn bind(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Text(s) => Box::new(s.clone()),
                Param::Int(i) => Box::new(*i),
            }
        })
        .collect()
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

impl PostgresStore {
    pub(super) async fn open(
        url: &str,
        schema: &str,
        tables: &TableNames,
        pool_size: u32,
        timeout: f64,
    ) -> Result<Self> {
        let target = parse_url(url).map_err(|e| err("open the database", e))?;
        // Fail early, with retries, and with a message naming the server.
        let timeout = Duration::from_secs_f64(timeout);
        let probe = connect_with_retry(&target, timeout).await.map_err(|e| err("connect", e))?;
        let present = probe
            .query_opt(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2",
                &[&schema, &tables.sessions],
            )
            .await
            .map_err(|e| pg_err("check the tables", &e))?;
        if present.is_none() {
            return Err(err(
                "check the tables",
                format!("table `{schema}.{}` does not exist; run `agno-run migrate`", tables.sessions),
            ));
        }
        drop(probe);
        Self::with_pool(&target, schema, tables, pool_size, timeout)
    }

    /// The store over a new pool for `target`; every wait of the pool is bounded: for a free
    /// connection of an exhausted pool, for a new one to a host that stopped answering, for the
    /// check of a returned one.
    fn with_pool(
        target: &super::pg_connect::Target,
        schema: &str,
        tables: &TableNames,
        pool_size: u32,
        timeout: Duration,
    ) -> Result<Self> {
        let mut config = target.config.clone();
        config.connect_timeout(timeout);
        let manager =
            Manager::from_config(config, target.tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size as usize)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(Duration::from_secs(5).min(timeout)))
            .build()
            .map_err(|e| err("create the pool", e))?;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                pool,
                pool_size,
                timeout,
                tables: tables.clone(),
                schema: schema.to_string(),
                sql: Statements::new(Dialect::Postgres, Some(schema), tables),
            }),
        })
    }

    pub(super) fn tables(&self) -> &TableNames {
        &self.inner.tables
    }

    async fn client(&self, action: &str) -> Result<Object> {
        use deadpool_postgres::{PoolError, TimeoutType};
        self.inner.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(TimeoutType::Wait) => err(
                action,
                format!(
                    "all {} connections of the pool stayed busy for {:.1}s (`pool_size`, `connect_timeout`)",
                    self.inner.pool_size,
                    self.inner.timeout.as_secs_f64()
                ),
            ),
            PoolError::Timeout(TimeoutType::Create) => err(
                action,
                format!("PostgreSQL did not accept a new connection within {:.1}s", self.inner.timeout.as_secs_f64()),
            ),
            PoolError::Backend(e) => pg_err(action, &e),
            other => err(action, other),
        })
    }

    pub(super) async fn upsert_session(&self, s: &Session) -> Result<Session> {
        const A: &str = "upsert a session";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let sql = &self.inner.sql;
        if let Some(row) = tx.query_opt(&sql.session_owner, &[&s.session_id]).await.map_err(|e| pg_err(A, &e))? {
            let owner: Option<String> = row.try_get(0).map_err(|e| pg_err(A, &e))?;
            if let (Some(existing), Some(new)) = (&owner, &s.user_id)
                && existing != new
            {
                return Err(StoreError::Conflict(Conflict::NotOwner { session_id: s.session_id.clone(), owned: true }));
            }
        }
        let s = &*storable_session(s);
        let (kind, updated) = (s.session_type.as_str(), now());
        // The statement re-checks the owner: of two concurrent first upserts by two users, the
        // second finds the first's row and changes nothing.
        let row = tx
            .query_opt(&sql.upsert_session, &session_params(s, &kind, &updated))
            .await
            .map_err(|e| pg_err(A, &e))?
            .ok_or_else(|| {
                StoreError::Conflict(Conflict::NotOwner { session_id: s.session_id.clone(), owned: true })
            })?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        session_row(&row, &self.inner.tables.sessions)
    }

    pub(super) async fn get_session(&self, id: &str) -> Result<Session> {
        const A: &str = "read a session";
        let c = self.client(A).await?;
        let row = c.query_opt(&self.inner.sql.get_session, &[&id]).await.map_err(|e| pg_err(A, &e))?;
        match row {
            Some(r) => session_row(&r, &self.inner.tables.sessions),
            None => Err(StoreError::NotFound { what: "session", id: id.into() }),
        }
    }

    pub(super) async fn list_sessions(&self, q: &SessionQuery) -> Result<Page<Session>> {
        let listing = session_listing(Dialect::Postgres, &self.inner.sql.sessions, q);
        self.paged("list sessions", listing, session_row, &self.inner.tables.sessions).await
    }

    /// Runs a listing's count and page queries.
    async fn paged<T>(
        &self,
        action: &str,
        l: Listing,
        row: fn(&Row, &str) -> Result<T>,
        table: &str,
    ) -> Result<Page<T>> {
        let c = self.client(action).await?;
        let params = bind(&l.params);
        let total: i64 = c
            .query_one(&l.count, &refs(&params))
            .await
            .map_err(|e| pg_err(action, &e))?
            .try_get(0)
            .map_err(|e| pg_err(action, &e))?;
        let rows = c.query(&l.select, &refs(&params)).await.map_err(|e| pg_err(action, &e))?;
        let items = rows.iter().map(|r| row(r, table)).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total: total as u64, page: l.page, limit: l.limit })
    }

    pub(super) async fn modify_session(&self, id: &str, change: SessionChange) -> Result<Session> {
        const A: &str = "update a session";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let session = modify_in(&tx, &self.inner, id, change, A).await?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        Ok(session)
    }

    pub(super) async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        data: &Value,
        session_id: &str,
        change: SessionChange,
    ) -> Result<(Run, Session)> {
        const A: &str = "finish a run";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        // The session's row is locked before the run's, as every writer does (a delete of the
        // session locks it, then its runs through the cascade): no deadlock between the two.
        let session = modify_in(&tx, &self.inner, session_id, change, A).await?;
        let update = tx.prepare_cached(&self.inner.sql.update_run).await.map_err(|e| pg_err(A, &e))?;
        let row = tx
            .query_opt(&update, &[&run_id, &status.as_str(), &storable(data).as_ref(), &now()])
            .await
            .map_err(|e| pg_err(A, &e))?
            .ok_or_else(|| StoreError::NotFound { what: "run", id: run_id.into() })?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        Ok((run_row(&row, &self.inner.tables.runs)?, session))
    }

    pub(super) async fn delete_session(&self, id: &str, user: Option<&str>) -> Result<()> {
        const A: &str = "delete a session";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let sql = &self.inner.sql;
        let row = tx
            .query_opt(&sql.get_session_for_update, &[&id])
            .await
            .map_err(|e| pg_err(A, &e))?
            .ok_or_else(|| StoreError::NotFound { what: "session", id: id.into() })?;
        check_owner(&session_row(&row, &self.inner.tables.sessions)?, user)?;
        tx.execute(&sql.delete_session, &[&id]).await.map_err(|e| pg_err(A, &e))?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        Ok(())
    }

    pub(super) async fn delete_sessions(&self, ids: &[String]) -> Result<u64> {
        const A: &str = "delete sessions";
        let c = self.client(A).await?;
        let sql = format!("DELETE FROM {} WHERE session_id = ANY($1)", self.inner.sql.sessions);
        c.execute(&sql, &[&ids]).await.map_err(|e| pg_err(A, &e))
    }

    pub(super) async fn begin_run(&self, b: BeginRun) -> Result<Begun> {
        const A: &str = "start a run";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let (sql, table) = (&self.inner.sql, &self.inner.tables.sessions);
        let lock = tx.prepare_cached(&sql.get_session_for_update).await.map_err(|e| pg_err(A, &e))?;
        let mut row = tx.query_opt(&lock, &[&b.session.id]).await.map_err(|e| pg_err(A, &e))?;
        let mut created = false;
        if row.is_none()
            && let Some(s) = &b.new_session
        {
            // Insert-if-absent: of two first runs, one inserts and the other waits for its
            // commit, then finds the session; neither resets the other.
            let s = &*storable_session(s);
            let (kind, updated) = (s.session_type.as_str(), s.updated_at.unwrap_or(s.created_at));
            let n = tx
                .execute(&sql.insert_session, &session_params(s, &kind, &updated))
                .await
                .map_err(|e| pg_err(A, &e))?;
            created = n == 1;
            row = tx.query_opt(&lock, &[&b.session.id]).await.map_err(|e| pg_err(A, &e))?;
        }
        let Some(row) = row else {
            return Err(StoreError::NotFound { what: "session", id: b.session.id.clone() });
        };
        let session = session_row(&row, table)?;
        if !created {
            admit(&session, &b.session.owner, b.user_id.as_deref())?;
        }
        let history = if b.history_runs > 0 {
            history_in(&tx, &self.inner, &b.session.id, b.history_runs, A).await?
        } else {
            Vec::new()
        };
        let run = append_in(&tx, &self.inner, &b.run, A).await?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        Ok(Begun { session, history, run })
    }

    pub(super) async fn append_run(&self, r: &Run) -> Result<Run> {
        const A: &str = "append a run";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        // Locks the session row: appends to one session are serialized, across processes too.
        if tx.query_opt(&self.inner.sql.session_owner, &[&r.session_id]).await.map_err(|e| pg_err(A, &e))?.is_none() {
            return Err(StoreError::NotFound { what: "session", id: r.session_id.clone() });
        }
        let run = append_in(&tx, &self.inner, r, A).await?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        Ok(run)
    }

    pub(super) async fn update_run(&self, run_id: &str, status: RunStatus, data: &Value) -> Result<Run> {
        const A: &str = "update a run";
        let c = self.client(A).await?;
        let row = c
            .query_opt(&self.inner.sql.update_run, &[&run_id, &status.as_str(), &storable(data).as_ref(), &now()])
            .await
            .map_err(|e| pg_err(A, &e))?;
        match row {
            Some(r) => run_row(&r, &self.inner.tables.runs),
            None => Err(StoreError::NotFound { what: "run", id: run_id.into() }),
        }
    }

    pub(super) async fn get_run(&self, run_id: &str) -> Result<Run> {
        const A: &str = "read a run";
        let c = self.client(A).await?;
        let row = c.query_opt(&self.inner.sql.get_run, &[&run_id]).await.map_err(|e| pg_err(A, &e))?;
        match row {
            Some(r) => run_row(&r, &self.inner.tables.runs),
            None => Err(StoreError::NotFound { what: "run", id: run_id.into() }),
        }
    }

    pub(super) async fn first_run(&self, session_id: &str) -> Result<Option<Run>> {
        const A: &str = "read a session's first run";
        let c = self.client(A).await?;
        let row = c.query_opt(&self.inner.sql.first_run, &[&session_id]).await.map_err(|e| pg_err(A, &e))?;
        row.map(|r| run_row(&r, &self.inner.tables.runs)).transpose()
    }

    pub(super) async fn list_runs(&self, session_id: &str) -> Result<Vec<Run>> {
        const A: &str = "list runs";
        let c = self.client(A).await?;
        let stmt = c.prepare_cached(&self.inner.sql.list_runs).await.map_err(|e| pg_err(A, &e))?;
        let rows = c.query(&stmt, &[&session_id]).await.map_err(|e| pg_err(A, &e))?;
        rows.iter().map(|r| run_row(r, &self.inner.tables.runs)).collect()
    }

    pub(super) async fn history_runs(&self, session_id: &str, n: u32) -> Result<Vec<Run>> {
        const A: &str = "read history runs";
        let c = self.client(A).await?;
        history_in(&c, &self.inner, session_id, n, A).await
    }

    pub(super) async fn register_runner(&self, r: &RunnerRow) -> Result<()> {
        const A: &str = "record a runner";
        let c = self.client(A).await?;
        c.execute(
            &self.inner.sql.upsert_runner,
            &[&r.runner_id, &r.host, &r.host_key, &r.pid, &r.process_start, &r.started_at, &r.version],
        )
        .await
        .map_err(|e| pg_err(A, &e))?;
        Ok(())
    }

    pub(super) async fn heartbeat_runner(&self, runner_id: &str) -> Result<bool> {
        const A: &str = "heartbeat";
        let c = self.client(A).await?;
        let n = c.execute(&self.inner.sql.heartbeat_runner, &[&runner_id]).await.map_err(|e| pg_err(A, &e))?;
        Ok(n > 0)
    }

    pub(super) async fn clock(&self) -> Result<i64> {
        const A: &str = "read the clock";
        let c = self.client(A).await?;
        let row = c.query_one(&self.inner.sql.clock, &[]).await.map_err(|e| pg_err(A, &e))?;
        row.try_get(0).map_err(|e| pg_err(A, &e))
    }

    pub(super) async fn usage_bounds(&self) -> Result<(Option<String>, Option<String>, Option<i64>)> {
        const A: &str = "read the usage dates";
        let c = self.client(A).await?;
        let u = &self.inner.sql.usage;
        let latest: Option<String> =
            c.query_one(&u.latest_completed, &[]).await.and_then(|r| r.try_get(0)).map_err(|e| pg_err(A, &e))?;
        let after = latest.clone().unwrap_or_default();
        let earliest: Option<String> = c
            .query_one(&u.earliest_incomplete, &[&after])
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| pg_err(A, &e))?;
        let oldest: Option<i64> =
            c.query_one(&u.oldest_session, &[]).await.and_then(|r| r.try_get(0)).map_err(|e| pg_err(A, &e))?;
        Ok((latest, earliest, oldest))
    }

    pub(super) async fn usage_groups(
        &self,
        from: i64,
        until: i64,
    ) -> Result<(Vec<super::usage::SessionGroup>, Vec<super::usage::RunGroup>)> {
        const A: &str = "aggregate the usage";
        let c = self.client(A).await?;
        let u = &self.inner.sql.usage;
        let rows = c.query(&u.sessions, &[&from, &until]).await.map_err(|e| pg_err(A, &e))?;
        let mut sessions = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut tokens = [0i64; 9];
            for (i, t) in tokens.iter_mut().enumerate() {
                *t = r.try_get::<_, Option<i64>>(4 + i).map_err(|e| pg_err(A, &e))?.unwrap_or(0);
            }
            sessions.push(super::usage::SessionGroup {
                day: r.try_get(0).map_err(|e| pg_err(A, &e))?,
                user: r.try_get(1).map_err(|e| pg_err(A, &e))?,
                kind: r.try_get(2).map_err(|e| pg_err(A, &e))?,
                sessions: r.try_get(3).map_err(|e| pg_err(A, &e))?,
                tokens,
            });
        }
        let rows = c.query(&u.runs, &[&from, &until]).await.map_err(|e| pg_err(A, &e))?;
        let mut runs = Vec::with_capacity(rows.len());
        for r in &rows {
            runs.push(super::usage::RunGroup {
                day: r.try_get(0).map_err(|e| pg_err(A, &e))?,
                user: r.try_get(1).map_err(|e| pg_err(A, &e))?,
                kind: r.try_get(2).map_err(|e| pg_err(A, &e))?,
                model: r.try_get(3).map_err(|e| pg_err(A, &e))?,
                provider: r.try_get(4).map_err(|e| pg_err(A, &e))?,
                runs: r.try_get(5).map_err(|e| pg_err(A, &e))?,
            });
        }
        Ok((sessions, runs))
    }

    pub(super) async fn upsert_usage(&self, rows: &[super::usage::UsageRow]) -> Result<()> {
        const A: &str = "write the usage";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let stmt = tx.prepare_cached(&self.inner.sql.usage.upsert).await.map_err(|e| pg_err(A, &e))?;
        for r in rows {
            tx.execute(
                &stmt,
                &[
                    &r.id,
                    &r.date,
                    &r.user_id,
                    &r.agent_runs_count,
                    &r.team_runs_count,
                    &r.workflow_runs_count,
                    &r.agent_sessions_count,
                    &r.team_sessions_count,
                    &r.workflow_sessions_count,
                    &r.users_count,
                    &r.token_metrics,
                    &r.model_metrics,
                    &r.completed,
                    &r.created_at,
                    &r.updated_at,
                ],
            )
            .await
            .map_err(|e| pg_err(A, &e))?;
        }
        tx.commit().await.map_err(|e| pg_err(A, &e))
    }

    pub(super) async fn list_usage(
        &self,
        from: &str,
        until: &str,
        user: Option<&str>,
    ) -> Result<Vec<super::usage::UsageRow>> {
        const A: &str = "read the usage";
        let c = self.client(A).await?;
        let u = &self.inner.sql.usage;
        let rows = match user {
            Some(user) => c.query(&u.list_user, &[&from, &until, &user]).await,
            None => c.query(&u.list, &[&from, &until]).await,
        }
        .map_err(|e| pg_err(A, &e))?;
        rows.iter()
            .map(|r| -> std::result::Result<super::usage::UsageRow, tokio_postgres::Error> {
                let json = |i: usize| -> std::result::Result<Value, tokio_postgres::Error> {
                    Ok(r.try_get::<_, Option<String>>(i)?
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null))
                };
                Ok(super::usage::UsageRow {
                    id: r.try_get(0)?,
                    date: r.try_get(1)?,
                    user_id: r.try_get(2)?,
                    agent_runs_count: r.try_get(3)?,
                    team_runs_count: r.try_get(4)?,
                    workflow_runs_count: r.try_get(5)?,
                    agent_sessions_count: r.try_get(6)?,
                    team_sessions_count: r.try_get(7)?,
                    workflow_sessions_count: r.try_get(8)?,
                    users_count: r.try_get(9)?,
                    token_metrics: json(10)?,
                    model_metrics: json(11)?,
                    completed: r.try_get(12)?,
                    created_at: r.try_get(13)?,
                    updated_at: r.try_get(14)?,
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| pg_err(A, &e))
    }

    pub(super) fn pool_status(&self) -> (usize, usize) {
        let s = self.inner.pool.status();
        (s.size.saturating_sub(s.available), s.max_size)
    }

    pub(super) async fn list_traces(&self, q: &super::traces::TraceQuery) -> Result<Page<super::traces::TraceSummary>> {
        let (t, s) = (self.qualified(&self.inner.tables.traces), self.qualified(&self.inner.tables.spans));
        let l = super::traces::trace_listing(Dialect::Postgres, &t, &s, q);
        self.paged("list traces", l, trace_summary, "traces").await
    }

    pub(super) async fn trace_spans(&self, trace_id: &str) -> Result<Vec<super::traces::SpanRow>> {
        const A: &str = "read spans";
        let sql = super::traces::spans_sql(Dialect::Postgres, &self.qualified(&self.inner.tables.spans));
        let c = self.client(A).await?;
        let rows = c.query(&sql, &[&trace_id]).await.map_err(|e| pg_err(A, &e))?;
        rows.iter()
            .map(|r| -> std::result::Result<super::traces::SpanRow, tokio_postgres::Error> {
                let attributes: Option<String> = r.try_get(10)?;
                Ok(super::traces::SpanRow {
                    span_id: r.try_get(0)?,
                    trace_id: r.try_get(1)?,
                    parent_span_id: r.try_get(2)?,
                    name: r.try_get(3)?,
                    span_kind: r.try_get(4)?,
                    status_code: r.try_get(5)?,
                    status_message: r.try_get(6)?,
                    start_time: r.try_get(7)?,
                    end_time: r.try_get(8)?,
                    duration_ms: r.try_get(9)?,
                    attributes: attributes.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or(Value::Null),
                    created_at: r.try_get(11)?,
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| pg_err(A, &e))
    }

    pub(super) async fn trace_session_stats(
        &self,
        q: &super::traces::TraceQuery,
    ) -> Result<Page<super::traces::SessionTraceStats>> {
        let l = super::traces::stats_listing(Dialect::Postgres, &self.qualified(&self.inner.tables.traces), q);
        self.paged("read trace statistics", l, session_stats, "traces").await
    }

    fn qualified(&self, table: &str) -> String {
        format!("{}.{}", super::sql::quote(&self.inner.schema), super::sql::quote(table))
    }

    pub(super) async fn write_traces(&self, batch: &super::traces::TraceBatch) -> Result<()> {
        const A: &str = "write traces";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let sql = &self.inner.sql.traces;
        let upsert = tx.prepare_cached(&sql.upsert_trace).await.map_err(|e| pg_err(A, &e))?;
        for t in &batch.traces {
            tx.execute(
                &upsert,
                &[
                    &t.trace_id,
                    &t.name,
                    &t.status,
                    &t.start_time,
                    &t.end_time,
                    &t.duration_ms,
                    &t.run_id,
                    &t.session_id,
                    &t.user_id,
                    &t.agent_id,
                    &t.team_id,
                    &t.workflow_id,
                    &t.created_at,
                ],
            )
            .await
            .map_err(|e| pg_err(A, &e))?;
        }
        let insert = tx.prepare_cached(&sql.insert_span).await.map_err(|e| pg_err(A, &e))?;
        for s in &batch.spans {
            tx.execute(
                &insert,
                &[
                    &s.span_id,
                    &s.trace_id,
                    &s.parent_span_id,
                    &s.name,
                    &s.span_kind,
                    &s.status_code,
                    &s.status_message,
                    &s.start_time,
                    &s.end_time,
                    &s.duration_ms,
                    &s.attributes,
                    &s.created_at,
                ],
            )
            .await
            .map_err(|e| pg_err(A, &e))?;
        }
        tx.commit().await.map_err(|e| pg_err(A, &e))
    }

    pub(super) async fn record_generation(&self, g: &GenerationRecord) -> Result<()> {
        const A: &str = "record a config generation";
        let c = self.client(A).await?;
        let record = g.record.to_string();
        c.execute(&self.inner.sql.insert_generation, &[&g.generation_id, &g.number, &g.loaded, &g.created_at, &record])
            .await
            .map_err(|e| pg_err(A, &e))?;
        c.execute(&self.inner.sql.prune_generations, &[]).await.map_err(|e| pg_err(A, &e))?;
        Ok(())
    }

    pub(super) async fn list_generations(&self, limit: u32) -> Result<Vec<Value>> {
        const A: &str = "list config generations";
        let c = self.client(A).await?;
        let rows = c.query(&self.inner.sql.list_generations, &[&i64::from(limit)]).await.map_err(|e| pg_err(A, &e))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .filter_map(|t| serde_json::from_str(&t).ok())
            .collect())
    }

    pub(super) async fn remove_runner(&self, runner_id: &str) -> Result<()> {
        const A: &str = "remove a runner";
        let c = self.client(A).await?;
        c.execute(&self.inner.sql.delete_runner, &[&runner_id]).await.map_err(|e| pg_err(A, &e))?;
        Ok(())
    }

    pub(super) async fn expire_runner(&self, runner_id: &str) -> Result<bool> {
        const A: &str = "expire a runner";
        let c = self.client(A).await?;
        let n = c.execute(&self.inner.sql.expire_runner, &[&runner_id]).await.map_err(|e| pg_err(A, &e))?;
        Ok(n > 0)
    }

    pub(super) async fn remove_stale_runner(&self, runner_id: &str, seen: i64) -> Result<bool> {
        const A: &str = "remove a runner";
        let c = self.client(A).await?;
        let n =
            c.execute(&self.inner.sql.delete_stale_runner, &[&runner_id, &seen]).await.map_err(|e| pg_err(A, &e))?;
        Ok(n > 0)
    }

    pub(super) async fn runners(&self) -> Result<Vec<RunnerRow>> {
        const A: &str = "list runners";
        let c = self.client(A).await?;
        let rows = c.query(&self.inner.sql.list_runners, &[]).await.map_err(|e| pg_err(A, &e))?;
        // A row that cannot be read is skipped (see the SQLite backend).
        Ok(rows
            .iter()
            .filter_map(|r| match runner_row(r, &self.inner.tables.runners) {
                Ok(row) => Some(row),
                Err(e) => {
                    tracing::warn!(error = %e, "skipped a runner row that cannot be read");
                    None
                }
            })
            .collect())
    }

    pub(super) async fn in_flight_runs(&self) -> Result<Vec<InFlightRun>> {
        const A: &str = "list runs in flight";
        let c = self.client(A).await?;
        let rows = c.query(&self.inner.sql.in_flight_runs, &[]).await.map_err(|e| pg_err(A, &e))?;
        let table = &self.inner.tables.runs;
        rows.iter()
            .map(|row| {
                let d = Decode { row, table };
                Ok(InFlightRun {
                    run_id: d.get(0)?,
                    session_id: d.get(1)?,
                    status: d.parsed(2)?,
                    runner_id: d.get(3)?,
                    created_at: d.get(4)?,
                })
            })
            .collect()
    }

    pub(super) async fn reap_run(&self, run_id: &str, reason: &str, seen: Option<&RunnerSeen>) -> Result<bool> {
        const A: &str = "end a run of a dead runner";
        let mut c = self.client(A).await?;
        let tx = c.transaction().await.map_err(|e| pg_err(A, &e))?;
        let Some(row) =
            tx.query_opt(&self.inner.sql.in_flight_run_data, &[&run_id]).await.map_err(|e| pg_err(A, &e))?
        else {
            return Ok(false);
        };
        let data: Option<Value> = Decode { row: &row, table: &self.inner.tables.runs }.json(0)?;
        let data = without_nul(&reaped_run_data(data.unwrap_or(Value::Null), reason));
        let n = match seen {
            None => tx.execute(&self.inner.sql.reap_run, &[&run_id, &data, &now()]).await,
            Some(s) => {
                let hb = s.heartbeat_at.unwrap_or(i64::MIN);
                tx.execute(&self.inner.sql.reap_run_if_stale, &[&run_id, &data, &now(), &s.runner_id, &hb]).await
            }
        }
        .map_err(|e| pg_err(A, &e))?;
        tx.commit().await.map_err(|e| pg_err(A, &e))?;
        Ok(n > 0)
    }

    pub(super) async fn upsert_memory(&self, m: &Memory) -> Result<Memory> {
        const A: &str = "upsert a memory";
        let c = self.client(A).await?;
        let row = c
            .query_opt(
                &self.inner.sql.upsert_memory,
                &[
                    &m.memory_id,
                    &storable(&m.memory).as_ref(),
                    &m.input,
                    &m.agent_id,
                    &m.team_id,
                    &m.user_id,
                    &storable_opt(&m.topics).as_deref(),
                    &m.feedback,
                    &m.created_at,
                    &now(),
                ],
            )
            .await
            .map_err(|e| pg_err(A, &e))?;
        // No row: the id is another user's memory (an upsert never moves one).
        let row = row.ok_or_else(|| StoreError::NotFound { what: "memory", id: m.memory_id.clone() })?;
        memory_row(&row, &self.inner.tables.memories)
    }

    pub(super) async fn get_memory(&self, id: &str, user: Option<&str>) -> Result<Memory> {
        const A: &str = "read a memory";
        let c = self.client(A).await?;
        let row = c.query_opt(&self.inner.sql.get_memory, &[&id]).await.map_err(|e| pg_err(A, &e))?;
        let memory = row.map(|r| memory_row(&r, &self.inner.tables.memories)).transpose()?;
        memory
            .filter(|m| user.is_none() || m.user_id.as_deref() == user)
            .ok_or_else(|| StoreError::NotFound { what: "memory", id: id.into() })
    }

    pub(super) async fn list_memories(&self, q: &MemoryQuery) -> Result<Page<Memory>> {
        let listing = memory_listing(Dialect::Postgres, &self.inner.sql.memories, q);
        self.paged("list memories", listing, memory_row, &self.inner.tables.memories).await
    }

    pub(super) async fn delete_memory(&self, id: &str, user: Option<&str>) -> Result<()> {
        const A: &str = "delete a memory";
        let c = self.client(A).await?;
        let n = match user {
            Some(u) => c.execute(&self.inner.sql.delete_user_memory, &[&id, &u]).await,
            None => c.execute(&self.inner.sql.delete_memory, &[&id]).await,
        }
        .map_err(|e| pg_err(A, &e))?;
        if n == 0 { Err(StoreError::NotFound { what: "memory", id: id.into() }) } else { Ok(()) }
    }

    pub(super) async fn clear_memories(&self, user: &str) -> Result<u64> {
        const A: &str = "clear a user's memories";
        let c = self.client(A).await?;
        c.execute(&self.inner.sql.clear_user_memories, &[&user]).await.map_err(|e| pg_err(A, &e))
    }
}

fn trace_summary(r: &Row, table: &str) -> Result<super::traces::TraceSummary> {
    let e = |e: tokio_postgres::Error| pg_err(&format!("read {table}"), &e);
    let attributes: Option<String> = r.try_get(15).map_err(e)?;
    Ok(super::traces::TraceSummary {
        trace: super::traces::TraceRow {
            trace_id: r.try_get(0).map_err(e)?,
            name: r.try_get(1).map_err(e)?,
            status: r.try_get(2).map_err(e)?,
            start_time: r.try_get(3).map_err(e)?,
            end_time: r.try_get(4).map_err(e)?,
            duration_ms: r.try_get(5).map_err(e)?,
            run_id: r.try_get(6).map_err(e)?,
            session_id: r.try_get(7).map_err(e)?,
            user_id: r.try_get(8).map_err(e)?,
            agent_id: r.try_get(9).map_err(e)?,
            team_id: r.try_get(10).map_err(e)?,
            workflow_id: r.try_get(11).map_err(e)?,
            created_at: r.try_get(12).map_err(e)?,
        },
        total_spans: r.try_get(13).map_err(e)?,
        error_count: r.try_get(14).map_err(e)?,
        input: super::traces::root_input(attributes.as_deref()),
    })
}

fn session_stats(r: &Row, table: &str) -> Result<super::traces::SessionTraceStats> {
    let e = |e: tokio_postgres::Error| pg_err(&format!("read {table}"), &e);
    Ok(super::traces::SessionTraceStats {
        session_id: r.try_get(0).map_err(e)?,
        user_id: r.try_get(1).map_err(e)?,
        agent_id: r.try_get(2).map_err(e)?,
        team_id: r.try_get(3).map_err(e)?,
        workflow_id: r.try_get(4).map_err(e)?,
        total_traces: r.try_get(5).map_err(e)?,
        first_trace_at: r.try_get(6).map_err(e)?,
        last_trace_at: r.try_get(7).map_err(e)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test server, or None (with a skip line) when it is absent and not required.
    fn server() -> Option<super::super::pg_connect::Target> {
        let up = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
        if !up {
            assert!(
                !std::env::var("AGNO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1"),
                "PostgreSQL at 127.0.0.1:5432 is required (AGNO_TEST_REQUIRE_POSTGRES=1)"
            );
            eprintln!("skipped: PostgreSQL is not reachable at 127.0.0.1:5432");
            return None;
        }
        Some(parse_url("postgresql://postgres@127.0.0.1:5432/test").unwrap())
    }

    #[tokio::test]
    async fn an_exhausted_pool_is_a_clear_error_after_the_timeout_not_a_hang() {
        let Some(target) = server() else { return };
        let store =
            PostgresStore::with_pool(&target, "ai", &TableNames::default(), 1, Duration::from_millis(300)).unwrap();
        let held = store.client("hold").await.unwrap();
        let e = store.client("read a session").await.expect_err("no free connection");
        let text = e.to_string();
        assert!(text.contains("all 1 connections of the pool stayed busy for 0.3s"), "{text}");
        drop(held);
        let _free = store.client("read a session").await.expect("free again");
    }
}
