//! SQL text shared by the SQLite and PostgreSQL backends, written once with `$n` parameters
//! (rewritten to `?n` for SQLite) and the configured, validated, quoted table names.

use crate::config::TableNames;

/// The SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// Quotes a validated identifier.
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub(crate) const SESSION_COLUMNS: &str = "session_id, session_type, agent_id, team_id, workflow_id, user_id, session_data, agent_data, team_data, workflow_data, metadata, summary, created_at, updated_at";
pub(crate) const RUN_COLUMNS: &str = "run_id, session_id, run_type, agent_id, team_id, workflow_id, user_id, parent_run_id, status, run_index, run_data, created_at, updated_at";
pub(crate) const MEMORY_COLUMNS: &str =
    "memory_id, memory, input, agent_id, team_id, user_id, topics, feedback, created_at, updated_at";
pub(crate) const RUNNER_COLUMNS: &str =
    "runner_id, host, host_key, pid, process_start, started_at, heartbeat_at, version";

/// The statuses history leaves out, as an SQL list: Agno's `HISTORY_SKIP_STATUSES` and the runs
/// that have not finished.
const HISTORY_SKIP_SQL: &str = "('PENDING', 'RUNNING', 'PAUSED', 'CANCELLED', 'ERROR', 'REGENERATED')";

/// The statements one store uses, rendered once at open.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    pub dialect: Dialect,
    pub sessions: String,
    pub memories: String,
    pub get_session: String,
    pub get_session_for_update: String,
    pub session_owner: String,
    pub upsert_session: String,
    pub update_session: String,
    pub next_run_index: String,
    pub insert_run: String,
    /// SQLite: insert with the next index computed in the same statement (the write lock of
    /// `BEGIN IMMEDIATE` makes it atomic); returns the index.
    pub append_run: String,
    pub update_run: String,
    pub get_run: String,
    pub list_runs: String,
    pub history_runs: String,
    pub history_runs_unbounded: String,
    pub upsert_memory: String,
    pub get_memory: String,
    pub delete_memory: String,
    /// Deletes one memory of one user.
    pub delete_user_memory: String,
    /// Deletes every memory of one user.
    pub clear_user_memories: String,
    /// Inserts a session; when it exists, does nothing (PostgreSQL `ON CONFLICT DO NOTHING`).
    pub insert_session: String,
    pub delete_session: String,
    /// Records a runner; its heartbeat is the database's clock.
    pub upsert_runner: String,
    pub heartbeat_runner: String,
    pub delete_runner: String,
    /// Removes a runner only if it has not heartbeated since it was seen.
    pub delete_stale_runner: String,
    /// Sets a runner's heartbeat to 0 (declared gone).
    pub expire_runner: String,
    /// The database's clock (epoch seconds): every heartbeat is written and judged by it.
    pub clock: String,
    pub list_runners: String,
    /// Runs not finished, with `run_data.runner.id`.
    pub in_flight_runs: String,
    /// `run_data` of a run still in flight, locked (PostgreSQL).
    pub in_flight_run_data: String,
    /// Ends a run still in flight (compare-and-set on its status).
    pub reap_run: String,
    /// Ends a run still in flight whose runner has not heartbeated since it was seen.
    pub reap_run_if_stale: String,
    /// The first top-level run of a session (what names an unnamed session).
    pub first_run: String,
    /// Records one config generation (a load or reload attempt).
    pub insert_generation: String,
    /// Keeps the newest [`super::MAX_GENERATION_RECORDS`] records (a server reloaded in a loop
    /// must not grow the table without end).
    pub prune_generations: String,
    /// The newest generation records, newest first.
    pub list_generations: String,
    /// Agno's traces and spans.
    pub traces: super::traces::TraceStatements,
    /// Agno's daily usage aggregates.
    pub usage: super::usage::UsageStatements,
}

impl Statements {
    pub(crate) fn new(dialect: Dialect, schema: Option<&str>, t: &TableNames) -> Self {
        let q = |name: &str| match schema {
            Some(s) => format!("{}.{}", quote(s), quote(name)),
            None => quote(name),
        };
        let (sessions, runs, memories, runners) = (q(&t.sessions), q(&t.runs), q(&t.memories), q(&t.runners));
        let generations = q(&t.generations);
        let traces = super::traces::TraceStatements::new(dialect, &q(&t.traces), &q(&t.spans));
        let usage = super::usage::UsageStatements::new(dialect, &q(&t.metrics), &sessions, &runs);
        let for_update = if dialect == Dialect::Postgres { " FOR UPDATE" } else { "" };
        let json = |n: u32| if dialect == Dialect::Postgres { format!("${n}::jsonb") } else { format!("${n}") };
        // A session row's values: six plain, six JSON, two timestamps.
        let session_values =
            format!("$1, $2, $3, $4, $5, $6, {}, $13, $14", (7..=12).map(json).collect::<Vec<_>>().join(", "));
        let db_now = match dialect {
            Dialect::Sqlite => "unixepoch()",
            Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
        };
        let s = Statements {
            traces,
            usage,
            dialect,
            get_session: format!("SELECT {SESSION_COLUMNS} FROM {sessions} WHERE session_id = $1"),
            get_session_for_update: format!(
                "SELECT {SESSION_COLUMNS} FROM {sessions} WHERE session_id = $1{for_update}"
            ),
            session_owner: format!("SELECT user_id FROM {sessions} WHERE session_id = $1{for_update}"),
            upsert_session: format!(
                "INSERT INTO {sessions} ({SESSION_COLUMNS}) VALUES ({session_values}) \
                 ON CONFLICT (session_id) DO UPDATE SET session_type = excluded.session_type, agent_id = excluded.agent_id, \
                 team_id = excluded.team_id, workflow_id = excluded.workflow_id, \
                 user_id = COALESCE(excluded.user_id, {sessions}.user_id), session_data = excluded.session_data, \
                 agent_data = excluded.agent_data, team_data = excluded.team_data, workflow_data = excluded.workflow_data, \
                 metadata = excluded.metadata, summary = excluded.summary, updated_at = excluded.updated_at \
                 WHERE {sessions}.user_id IS NULL OR excluded.user_id IS NULL OR {sessions}.user_id = excluded.user_id \
                 RETURNING {SESSION_COLUMNS}"
            ),
            update_session: format!(
                "UPDATE {sessions} SET session_data = {}, metadata = {}, summary = {}, updated_at = $5, agent_data = {}, \
                 team_data = {}, workflow_data = {} WHERE session_id = $1",
                json(2),
                json(3),
                json(4),
                json(6),
                json(7),
                json(8)
            ),
            next_run_index: format!("SELECT COALESCE(MAX(run_index) + 1, 0) FROM {runs} WHERE session_id = $1"),
            insert_run: format!(
                "INSERT INTO {runs} ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {}, $12, $13) \
                 RETURNING {RUN_COLUMNS}",
                json(11)
            ),
            append_run: format!(
                "INSERT INTO {runs} ({RUN_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, \
                 COALESCE(MAX(run_index) + 1, 0), $10, $11, $12 FROM {runs} WHERE session_id = $2 RETURNING run_index"
            ),
            // Returns NULL for run_data: the caller has it, and reading it back would parse it again.
            update_run: format!(
                "UPDATE {runs} SET status = $2, run_data = {}, updated_at = $4 WHERE run_id = $1 RETURNING {}",
                json(3),
                RUN_COLUMNS.replace("run_data", if dialect == Dialect::Postgres { "NULL::jsonb" } else { "NULL" })
            ),
            get_run: format!("SELECT {RUN_COLUMNS} FROM {runs} WHERE run_id = $1"),
            list_runs: format!(
                "SELECT {RUN_COLUMNS} FROM {runs} WHERE session_id = $1 ORDER BY run_index, created_at, run_id"
            ),
            // The run_index window keeps the read bounded whatever plan the database picks (with
            // stale statistics PostgreSQL may otherwise scan every run of the session and sort).
            history_runs: format!(
                "SELECT {RUN_COLUMNS} FROM {runs} WHERE session_id = $1 \
                 AND run_index > (SELECT MAX(run_index) FROM {runs} WHERE session_id = $1) - $3 \
                 AND parent_run_id IS NULL \
                 AND (status IS NULL OR status NOT IN {HISTORY_SKIP_SQL}) \
                 ORDER BY run_index DESC LIMIT $2"
            ),
            history_runs_unbounded: format!(
                "SELECT {RUN_COLUMNS} FROM {runs} WHERE session_id = $1 AND parent_run_id IS NULL \
                 AND (status IS NULL OR status NOT IN {HISTORY_SKIP_SQL}) \
                 ORDER BY run_index DESC LIMIT $2"
            ),
            upsert_memory: format!(
                "INSERT INTO {memories} ({MEMORY_COLUMNS}) VALUES ($1, {}, $3, $4, $5, $6, {}, $8, $9, $10) \
                 ON CONFLICT (memory_id) DO UPDATE SET memory = excluded.memory, input = excluded.input, \
                 agent_id = excluded.agent_id, team_id = excluded.team_id, user_id = excluded.user_id, \
                 topics = excluded.topics, feedback = excluded.feedback, updated_at = excluded.updated_at \
                 WHERE {memories}.user_id {same} excluded.user_id \
                 RETURNING {MEMORY_COLUMNS}",
                json(2),
                json(7),
                // An upsert never moves a memory to another user: the row of another user is
                // left as it is, and no row comes back.
                same = if dialect == Dialect::Postgres { "IS NOT DISTINCT FROM" } else { "IS" },
            ),
            get_memory: format!("SELECT {MEMORY_COLUMNS} FROM {memories} WHERE memory_id = $1"),
            delete_memory: format!("DELETE FROM {memories} WHERE memory_id = $1"),
            delete_user_memory: format!("DELETE FROM {memories} WHERE memory_id = $1 AND user_id = $2"),
            clear_user_memories: format!("DELETE FROM {memories} WHERE user_id = $1"),
            insert_session: format!(
                "INSERT INTO {sessions} ({SESSION_COLUMNS}) VALUES ({session_values}) \
                 ON CONFLICT (session_id) DO NOTHING"
            ),
            delete_session: format!("DELETE FROM {sessions} WHERE session_id = $1"),
            upsert_runner: format!(
                "INSERT INTO {runners} ({RUNNER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, {db_now}, $7) \
                 ON CONFLICT (runner_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
            ),
            heartbeat_runner: format!("UPDATE {runners} SET heartbeat_at = {db_now} WHERE runner_id = $1"),
            delete_runner: format!("DELETE FROM {runners} WHERE runner_id = $1"),
            delete_stale_runner: format!("DELETE FROM {runners} WHERE runner_id = $1 AND heartbeat_at <= $2"),
            clock: format!("SELECT {db_now}"),
            expire_runner: format!("UPDATE {runners} SET heartbeat_at = 0 WHERE runner_id = $1"),
            first_run: format!(
                "SELECT {RUN_COLUMNS} FROM {runs} WHERE session_id = $1 AND parent_run_id IS NULL \
                 ORDER BY run_index, created_at, run_id LIMIT 1"
            ),
            insert_generation: format!(
                "INSERT INTO {generations} (generation_id, number, loaded, created_at, record) VALUES ($1, $2, $3, $4, $5)"
            ),
            prune_generations: format!(
                "DELETE FROM {generations} WHERE generation_id NOT IN (SELECT generation_id FROM {generations} \
                 ORDER BY created_at DESC, generation_id DESC LIMIT {})",
                super::MAX_GENERATION_RECORDS
            ),
            list_generations: format!(
                // `created_at` is in seconds and a failed attempt has no number: the time-ordered
                // (UUID v7) id orders the attempts of one second.
                "SELECT record FROM {generations} ORDER BY created_at DESC, generation_id DESC LIMIT $1"
            ),
            list_runners: format!("SELECT {RUNNER_COLUMNS} FROM {runners} ORDER BY started_at, runner_id"),
            in_flight_runs: {
                let runner = match dialect {
                    // json_extract fails on text that is not JSON: such a row names no runner.
                    Dialect::Sqlite => "CASE WHEN json_valid(run_data) THEN json_extract(run_data, '$.runner.id') END",
                    Dialect::Postgres => "run_data #>> '{runner,id}'",
                };
                format!(
                    "SELECT run_id, session_id, status, {runner}, created_at FROM {runs} \
                     WHERE status IN ('PENDING', 'RUNNING') ORDER BY created_at, run_id"
                )
            },
            in_flight_run_data: format!(
                "SELECT run_data FROM {runs} WHERE run_id = $1 AND status IN ('PENDING', 'RUNNING'){for_update}"
            ),
            reap_run: format!(
                "UPDATE {runs} SET status = 'ERROR', run_data = {}, updated_at = $3 \
                 WHERE run_id = $1 AND status IN ('PENDING', 'RUNNING')",
                json(2)
            ),
            reap_run_if_stale: format!(
                "UPDATE {runs} SET status = 'ERROR', run_data = {}, updated_at = $3 \
                 WHERE run_id = $1 AND status IN ('PENDING', 'RUNNING') \
                 AND NOT EXISTS (SELECT 1 FROM {runners} WHERE runner_id = $4 AND heartbeat_at > $5)",
                json(2)
            ),
            sessions,
            memories,
        };
        s.render()
    }

    /// Rewrites `$n` parameters to `?n` for SQLite.
    fn render(mut self) -> Self {
        if self.dialect == Dialect::Sqlite {
            for field in [
                &mut self.get_session,
                &mut self.get_session_for_update,
                &mut self.session_owner,
                &mut self.upsert_session,
                &mut self.update_session,
                &mut self.next_run_index,
                &mut self.insert_run,
                &mut self.append_run,
                &mut self.update_run,
                &mut self.get_run,
                &mut self.list_runs,
                &mut self.history_runs,
                &mut self.history_runs_unbounded,
                &mut self.upsert_memory,
                &mut self.get_memory,
                &mut self.delete_memory,
                &mut self.delete_user_memory,
                &mut self.clear_user_memories,
                &mut self.insert_session,
                &mut self.delete_session,
                &mut self.upsert_runner,
                &mut self.heartbeat_runner,
                &mut self.delete_runner,
                &mut self.delete_stale_runner,
                &mut self.clock,
                &mut self.expire_runner,
                &mut self.list_runners,
                &mut self.in_flight_runs,
                &mut self.in_flight_run_data,
                &mut self.reap_run,
                &mut self.reap_run_if_stale,
            ] {
                *field = sqlite_params(field);
            }
        }
        self
    }
}

/// How many of the latest runs the bounded history query looks at for `n` history runs; when
/// failed or member runs leave fewer than `n` in that window, the unbounded query runs.
pub(crate) fn history_window(n: u32) -> i64 {
    i64::from(n) * 4 + 32
}

/// `$1` → `?1` (only a `$` followed by a digit).
pub(crate) fn sqlite_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A WHERE clause built from optional filters, with its parameters in order.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub clauses: Vec<String>,
    pub params: Vec<Param>,
}

/// A filter parameter.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

impl Filter {
    /// Adds `clause`, where `{}` is replaced by the next parameter placeholder.
    pub(crate) fn push(&mut self, dialect: Dialect, clause: &str, param: Param) {
        self.params.push(param);
        let n = self.params.len();
        let ph = match dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        };
        self.clauses.push(clause.replace("{}", &ph));
    }

    /// ` WHERE a AND b`, or nothing.
    pub(crate) fn where_sql(&self) -> String {
        if self.clauses.is_empty() { String::new() } else { format!(" WHERE {}", self.clauses.join(" AND ")) }
    }
}

/// A paged listing: the count and the page query, with their shared parameters.
#[derive(Debug)]
pub(crate) struct Listing {
    pub count: String,
    pub select: String,
    pub params: Vec<Param>,
    pub limit: u32,
    pub page: u32,
}

fn listing(table: &str, columns: &str, f: &Filter, order: &str, limit: u32, page: u32, offset: u64) -> Listing {
    let where_sql = f.where_sql();
    Listing {
        count: format!("SELECT COUNT(*) FROM {table}{where_sql}"),
        select: format!("SELECT {columns} FROM {table}{where_sql} ORDER BY {order} LIMIT {limit} OFFSET {offset}"),
        params: f.params.clone(),
        limit,
        page,
    }
}

/// The listing of sessions matching `q` in `table` (quoted, qualified).
pub(crate) fn session_listing(d: Dialect, table: &str, q: &super::SessionQuery) -> Listing {
    let (limit, page, offset) = super::page_bounds(q.limit, q.page, 20);
    let dir = if q.ascending { "ASC" } else { "DESC" };
    let order = format!("{} {dir} NULLS LAST, session_id {dir}", q.sort_by.column());
    listing(table, SESSION_COLUMNS, &session_filter(d, q), &order, limit, page, offset)
}

/// The listing of memories matching `q` in `table`, newest first.
pub(crate) fn memory_listing(d: Dialect, table: &str, q: &super::MemoryQuery) -> Listing {
    let (limit, page, offset) = super::page_bounds(q.limit, q.page, 100);
    listing(
        table,
        MEMORY_COLUMNS,
        &memory_filter(d, q),
        "updated_at DESC NULLS LAST, memory_id DESC",
        limit,
        page,
        offset,
    )
}

/// The WHERE filter of a session listing.
fn session_filter(d: Dialect, q: &super::SessionQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(t) = q.session_type {
        f.push(d, "session_type = {}", Param::Text(t.as_str().into()));
    }
    if let Some((column, id)) = super::component_filter(q) {
        f.push(d, &format!("{column} = {{}}"), Param::Text(id.into()));
    }
    if let Some(u) = &q.user_id {
        f.push(d, "user_id = {}", Param::Text(u.clone()));
    } else if q.anonymous {
        f.clauses.push("user_id IS NULL".into());
    }
    if let Some(name) = &q.name {
        let clause = match d {
            Dialect::Sqlite => {
                &format!("lower(json_extract({}, '$.session_name')) LIKE {{}} ESCAPE '\\'", sqlite_json("session_data"))
            }
            Dialect::Postgres => "(session_data->>'session_name') ILIKE {} ESCAPE '\\'",
        };
        f.push(d, clause, Param::Text(format!("%{}%", like_escape(&name.to_lowercase()))));
    }
    if let Some(t) = q.created_after {
        f.push(d, "created_at >= {}", Param::Int(t));
    }
    if let Some(t) = q.created_before {
        f.push(d, "created_at <= {}", Param::Int(t));
    }
    f
}

/// The WHERE filter of a memory listing.
fn memory_filter(d: Dialect, q: &super::MemoryQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(u) = &q.user_id {
        f.push(d, "user_id = {}", Param::Text(u.clone()));
    }
    if let Some(topic) = &q.topic {
        let clause = match d {
            Dialect::Sqlite => format!(
                "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type({0}) = 'array' THEN {0} ELSE '[]' END) WHERE value = {{}})",
                sqlite_json("topics")
            ),
            Dialect::Postgres => "(jsonb_typeof(topics) = 'array' AND topics ? {})".to_string(),
        };
        f.push(d, &clause, Param::Text(topic.clone()));
    }
    if let Some(s) = &q.search {
        let clause = match d {
            Dialect::Sqlite => "lower(memory) LIKE {} ESCAPE '\\'",
            // `#>> ARRAY[]` is the text of the JSON value (a string without its quotes).
            Dialect::Postgres => "(memory #>> ARRAY[]::text[]) ILIKE {} ESCAPE '\\'",
        };
        f.push(d, clause, Param::Text(format!("%{}%", like_escape(&s.to_lowercase()))));
    }
    f
}

/// An SQLite expression for a JSON column's value as JSON text, or NULL: real JSON as is, Agno
/// 2.x's double-encoded JSON (a JSON string holding JSON) unwrapped, anything else NULL, so
/// that `json_extract` never fails on a malformed row.
fn sqlite_json(column: &str) -> String {
    format!(
        "(CASE WHEN NOT json_valid({column}) THEN NULL \
         WHEN json_type({column}) = 'text' THEN (CASE WHEN json_valid(json_extract({column}, '$')) THEN json_extract({column}, '$') END) \
         ELSE {column} END)"
    )
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
