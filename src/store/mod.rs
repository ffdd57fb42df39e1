//! Session storage in Agno 3.x's tables: sessions, runs and memories on SQLite, PostgreSQL or
//! in memory, behind one API.
//!
//! Every backend keeps the same contract (checked by one conformance suite): typed errors where
//! a backend failure is never reported as "not found"; `run_index` assigned under a per-session
//! write lock, so concurrent appends never share one; session-state updates deep-merged under
//! the same lock, so concurrent updates are merged, never lost; history read by one indexed
//! query of the last N eligible runs. Creating the tables is `migrate`'s job, not this module's.

mod json;
mod memory;
pub(crate) mod pg_connect;
pub(crate) mod postgres;
pub(crate) mod sql;
pub(crate) mod sqlite;
pub mod traces;
pub mod usage;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Backend, DatabaseConfig, TableNames};

pub use json::{decode_json, deep_merge};

/// The status of a run (Agno's `RunStatus`), stored as its upper-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// Accepted, not started.
    Pending,
    /// In progress; its runner is alive (or the reaper will say otherwise).
    Running,
    /// Finished with an answer.
    Completed,
    /// Waiting for a human (written by Python Agno).
    Paused,
    /// Stopped by a cancel, a signal or a dropped handle.
    Cancelled,
    /// Failed; `run_data.content` says why.
    Error,
    /// Replaced by a regenerated run (written by Python Agno).
    Regenerated,
}

impl RunStatus {
    /// Every status, in Agno's order.
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Pending,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Paused,
        RunStatus::Cancelled,
        RunStatus::Error,
        RunStatus::Regenerated,
    ];

    /// The stored name: `PENDING`, `RUNNING`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "PENDING",
            RunStatus::Running => "RUNNING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Paused => "PAUSED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::Error => "ERROR",
            RunStatus::Regenerated => "REGENERATED",
        }
    }

    /// True for runs that have not finished (PENDING, RUNNING).
    pub fn in_flight(self) -> bool {
        matches!(self, RunStatus::Pending | RunStatus::Running)
    }

    /// True for runs history leaves out: Agno's `HISTORY_SKIP_STATUSES` (PAUSED, CANCELLED,
    /// ERROR, REGENERATED) and the runs that have not finished.
    pub fn skipped_by_history(self) -> bool {
        self != RunStatus::Completed
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        RunStatus::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = RunStatus::ALL.iter().map(|r| r.as_str()).collect();
            format!("unknown run status `{s}`; one of {}", all.join(", "))
        })
    }
}

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist (or is not visible to this user).
    #[error("{what} `{id}` not found")]
    NotFound {
        /// Kind of thing: session, run, memory.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// Refused because it conflicts with what is stored: another user's session, a session of
    /// another type or component, a run id already taken.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The input is invalid (unknown status, bad JSON shape).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The database failed; the operation's outcome is unknown or nothing was written.
    #[error("{backend} error while trying to {action}: {message}")]
    Backend {
        /// `sqlite`, `postgres` or `memory`.
        backend: &'static str,
        /// What was being attempted.
        action: String,
        /// The driver's message (never holds a password).
        message: String,
    },
}

/// Why a write or read was refused: the session rules and unique ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The session belongs to another user (or to a user, and the caller gave none; or to
    /// nobody, and the caller gave a user).
    #[error("{}", if *.owned { format!("session `{session_id}` belongs to another user") } else { format!("session `{session_id}` belongs to no user: use it without a user") })]
    NotOwner {
        /// The session.
        session_id: String,
        /// True when the session has a user (who is not the caller); false when it has none
        /// and the caller gave one.
        owned: bool,
    },
    /// The session belongs to another kind of component or another component.
    #[error("session `{session_id}` belongs to {owner}; {wanted} cannot run in it")]
    WrongSession {
        /// The session.
        session_id: String,
        /// Whose session it is.
        owner: Component,
        /// Who wanted to use it.
        wanted: Component,
    },
    /// A run with this id exists.
    #[error("run `{run_id}` already exists")]
    RunExists {
        /// The run.
        run_id: String,
    },
}

/// An agent, team or workflow, by kind and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Component {
    /// Agent, team or workflow.
    pub kind: SessionType,
    /// Its id (None for a stored session whose id column is empty).
    pub id: Option<String>,
}

impl Component {
    /// The component `kind` `id`.
    pub fn new(kind: SessionType, id: impl Into<String>) -> Self {
        Component { kind, id: Some(id.into()) }
    }
}

impl std::fmt::Display for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "{} `{id}`", self.kind.as_str()),
            None => write!(f, "an {} session with no {}_id", self.kind.as_str(), self.kind.as_str()),
        }
    }
}

/// The session a run is written into: its id and the component it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    /// Session id.
    pub id: String,
    /// The component that owns the session (for a member or step run: the root's).
    pub owner: Component,
}

/// The session rules, the same on every backend: a session is used only by the user who created
/// it (`None` included: an owned session refuses a caller without a user, and a session without
/// a user refuses a caller with one), and only by the component it belongs to. The user is
/// checked first, so that another user learns nothing about whose session it is.
pub fn admit(session: &Session, wanted: &Component, user: Option<&str>) -> std::result::Result<(), Conflict> {
    if session.user_id.as_deref() != user {
        return Err(Conflict::NotOwner { session_id: session.session_id.clone(), owned: session.user_id.is_some() });
    }
    let owner = session.owner();
    if owner != *wanted {
        return Err(Conflict::WrongSession { session_id: session.session_id.clone(), owner, wanted: wanted.clone() });
    }
    Ok(())
}

/// Only the user rule of [`admit`], for reads, renames and deletes.
pub fn check_owner(session: &Session, user: Option<&str>) -> std::result::Result<(), Conflict> {
    if session.user_id.as_deref() != user {
        return Err(Conflict::NotOwner { session_id: session.session_id.clone(), owned: session.user_id.is_some() });
    }
    Ok(())
}

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Seconds since the Unix epoch, as Agno stores timestamps.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A session row of `agno_sessions`. JSON columns are kept as JSON values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Primary key.
    pub session_id: String,
    /// Agent, team or workflow.
    pub session_type: SessionType,
    /// Agent id for agent sessions.
    pub agent_id: Option<String>,
    /// Team id for team sessions.
    pub team_id: Option<String>,
    /// Workflow id for workflow sessions.
    pub workflow_id: Option<String>,
    /// Owner.
    pub user_id: Option<String>,
    /// `{session_state, session_name, session_metrics, ...}`.
    pub session_data: Option<Value>,
    /// `{name, agent_id, model: {name, id, provider}}`.
    pub agent_data: Option<Value>,
    /// `{name, team_id, model}`.
    pub team_data: Option<Value>,
    /// `{workflow_id, name, steps}`.
    pub workflow_data: Option<Value>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// `{summary, topics, updated_at}`.
    pub summary: Option<Value>,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub updated_at: Option<i64>,
}

impl Session {
    /// A new session of `session_type` owned by `component_id` (agent, team or workflow id).
    pub fn new(session_id: impl Into<String>, session_type: SessionType, component_id: impl Into<String>) -> Self {
        let id = Some(component_id.into());
        let now = now();
        Session {
            session_id: session_id.into(),
            session_type,
            agent_id: if session_type == SessionType::Agent { id.clone() } else { None },
            team_id: if session_type == SessionType::Team { id.clone() } else { None },
            workflow_id: if session_type == SessionType::Workflow { id } else { None },
            user_id: None,
            session_data: None,
            agent_data: None,
            team_data: None,
            workflow_data: None,
            metadata: None,
            summary: None,
            created_at: now,
            updated_at: Some(now),
        }
    }

    /// `session_data.session_state`, when set.
    pub fn session_state(&self) -> Option<&Map<String, Value>> {
        self.session_data.as_ref()?.get("session_state")?.as_object()
    }

    /// `session_data.session_name`, when set.
    pub fn session_name(&self) -> Option<&str> {
        self.session_data.as_ref()?.get("session_name")?.as_str()
    }

    /// The component the session belongs to (by its type and matching id column).
    pub fn owner(&self) -> Component {
        let id = match self.session_type {
            SessionType::Agent => &self.agent_id,
            SessionType::Team => &self.team_id,
            SessionType::Workflow => &self.workflow_id,
        };
        Component { kind: self.session_type, id: id.clone() }
    }
}

/// Kinds of session, and of run (`run_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionType {
    /// An agent's session.
    Agent,
    /// A team's session.
    Team,
    /// A workflow's session.
    Workflow,
}

impl SessionType {
    /// `agent`, `team` or `workflow`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionType::Agent => "agent",
            SessionType::Team => "team",
            SessionType::Workflow => "workflow",
        }
    }
}

impl std::fmt::Display for SessionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SessionType {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "agent" => Ok(SessionType::Agent),
            "team" => Ok(SessionType::Team),
            "workflow" => Ok(SessionType::Workflow),
            other => Err(format!("unknown session type `{other}`; one of agent, team, workflow")),
        }
    }
}

/// A run's kind is a session's kind: `agent`, `team` or `workflow`.
pub type RunType = SessionType;

/// A run row of `agno_runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Primary key.
    pub run_id: String,
    /// Its session.
    pub session_id: String,
    /// Agent, team or workflow.
    pub run_type: RunType,
    /// Agent id.
    pub agent_id: Option<String>,
    /// Team id.
    pub team_id: Option<String>,
    /// Workflow id.
    pub workflow_id: Option<String>,
    /// Owner.
    pub user_id: Option<String>,
    /// Set on team-member runs.
    pub parent_run_id: Option<String>,
    /// Its status (None only in rows written without one).
    pub status: Option<RunStatus>,
    /// 0-based position in the session.
    pub run_index: Option<i64>,
    /// Agno's `RunOutput` dict.
    pub run_data: Value,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub updated_at: Option<i64>,
}

impl Run {
    /// A new run of `session_id`; `run_index` is assigned by [`Store::append_run`].
    pub fn new(run_id: impl Into<String>, session_id: impl Into<String>, run_type: RunType, status: RunStatus) -> Self {
        let now = now();
        Run {
            run_id: run_id.into(),
            session_id: session_id.into(),
            run_type,
            agent_id: None,
            team_id: None,
            workflow_id: None,
            user_id: None,
            parent_run_id: None,
            status: Some(status),
            run_index: None,
            run_data: Value::Object(Map::new()),
            created_at: now,
            updated_at: Some(now),
        }
    }
}

/// How many generation records a database keeps (the newest).
pub const MAX_GENERATION_RECORDS: usize = 1000;

/// One load or reload a server attempted, as agno-run records it (`agno_run_generations`).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRecord {
    /// Unique id of the attempt.
    pub generation_id: String,
    /// The generation number it produced (None when it failed).
    pub number: Option<i64>,
    /// True when it loaded and served.
    pub loaded: bool,
    /// Epoch seconds.
    pub created_at: i64,
    /// The whole record (number, time, hash, files, trigger, outcome, diagnostics), as JSON.
    pub record: Value,
}

/// A user memory row of `agno_memories`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Primary key.
    pub memory_id: String,
    /// The memory (Agno stores a string; any JSON is kept).
    pub memory: Value,
    /// The input it was made from.
    pub input: Option<String>,
    /// Agent that made it.
    pub agent_id: Option<String>,
    /// Team that made it.
    pub team_id: Option<String>,
    /// Owner.
    pub user_id: Option<String>,
    /// Topics, a JSON list of strings.
    pub topics: Option<Value>,
    /// Feedback text.
    pub feedback: Option<String>,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub updated_at: Option<i64>,
}

/// Column to sort sessions by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// `created_at` (default).
    #[default]
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
    /// `session_id`.
    SessionId,
}

impl SortBy {
    fn column(self) -> &'static str {
        match self {
            SortBy::CreatedAt => "created_at",
            SortBy::UpdatedAt => "updated_at",
            SortBy::SessionId => "session_id",
        }
    }
}

/// Filters, order and page of a session listing. Runs are never loaded by a listing.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    /// Only this type.
    pub session_type: Option<SessionType>,
    /// Only this agent, team or workflow id.
    pub component_id: Option<String>,
    /// Only this owner.
    pub user_id: Option<String>,
    /// Only sessions without an owner (ignored when `user_id` is set): what a caller without a
    /// user may see.
    pub anonymous: bool,
    /// Session name contains this text (case-insensitive).
    pub name: Option<String>,
    /// Created at or after (epoch seconds).
    pub created_after: Option<i64>,
    /// Created at or before (epoch seconds).
    pub created_before: Option<i64>,
    /// Sort column.
    pub sort_by: SortBy,
    /// Ascending instead of descending.
    pub ascending: bool,
    /// Page size (default 20, at most 1000).
    pub limit: Option<u32>,
    /// 1-based page.
    pub page: Option<u32>,
}

/// Filters and page of a memory listing.
#[derive(Debug, Clone, Default)]
pub struct MemoryQuery {
    /// Only this owner.
    pub user_id: Option<String>,
    /// Only memories with this topic.
    pub topic: Option<String>,
    /// Memory text contains this (case-insensitive).
    pub search: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
    /// 1-based page.
    pub page: Option<u32>,
}

/// One page of results with the total count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Count of all matching items.
    pub total: u64,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub limit: u32,
}

pub(crate) fn page_bounds(limit: Option<u32>, page: Option<u32>, default: u32) -> (u32, u32, u64) {
    let limit = limit.unwrap_or(default).clamp(1, 1000);
    let page = page.unwrap_or(1).max(1);
    (limit, page, u64::from(page - 1) * u64::from(limit))
}

/// A session store over one configured database.
#[derive(Debug, Clone)]
pub enum Store {
    /// SQLite file.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL.
    Postgres(postgres::PostgresStore),
    /// In memory.
    Memory(memory::MemoryStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
            Store::Postgres($s) => $e,
            Store::Memory($s) => $e,
        }
    };
}

impl Store {
    /// Opens the store for `db` (connects; PostgreSQL retries until its `connect_timeout`).
    /// The tables must exist: run the migrations first.
    pub async fn open(db: &DatabaseConfig) -> Result<Store> {
        Ok(match &db.backend {
            Backend::Sqlite { path } => Store::Sqlite(sqlite::SqliteStore::open(path, &db.tables).await?),
            Backend::Postgres { url, schema, pool_size, connect_timeout } => Store::Postgres(
                postgres::PostgresStore::open(url.expose(), schema, &db.tables, *pool_size, *connect_timeout).await?,
            ),
            Backend::Memory => Store::Memory(memory::MemoryStore::new(&db.tables)),
        })
    }

    /// The table names in use.
    pub fn tables(&self) -> &TableNames {
        dispatch!(self, s => s.tables())
    }

    /// Creates a session, or updates it. Refused with [`Conflict::NotOwner`] when it exists and
    /// belongs to another user. `created_at` of an existing session is kept. This is the raw
    /// write of an import or an operator; runs create their sessions through [`Store::begin_run`].
    pub async fn upsert_session(&self, session: &Session) -> Result<Session> {
        validate_session(session)?;
        dispatch!(self, s => s.upsert_session(session).await)
    }

    /// One session, without its runs, read by `user` (None: a caller without a user). Another
    /// user's session is refused with [`Conflict::NotOwner`] (see [`admit`]).
    pub async fn get_session(&self, session_id: &str, user: Option<&str>) -> Result<Session> {
        let session = dispatch!(self, s => s.get_session(session_id).await)?;
        check_owner(&session, user)?;
        Ok(session)
    }

    /// The first top-level run of a session (None when it has none), without reading the rest.
    pub async fn first_run(&self, session_id: &str) -> Result<Option<Run>> {
        dispatch!(self, s => s.first_run(session_id).await)
    }

    /// One session whoever owns it (an operator's read: the AgentOS API without a `user_id`).
    pub async fn get_session_any(&self, session_id: &str) -> Result<Session> {
        dispatch!(self, s => s.get_session(session_id).await)
    }

    /// One session and all its runs in `run_index` order, read by `user`.
    pub async fn get_session_with_runs(&self, session_id: &str, user: Option<&str>) -> Result<(Session, Vec<Run>)> {
        let session = self.get_session(session_id, user).await?;
        let runs = self.list_runs(session_id).await?;
        Ok((session, runs))
    }

    /// Sessions matching `query`, one page, with the total count; runs are not loaded.
    pub async fn list_sessions(&self, query: &SessionQuery) -> Result<Page<Session>> {
        dispatch!(self, s => s.list_sessions(query).await)
    }

    /// Sets `session_data.session_name`, by `user` (another user's session is refused).
    pub async fn rename_session(&self, session_id: &str, name: &str, user: Option<&str>) -> Result<Session> {
        let patch = serde_json::json!({ "session_name": name });
        let user = user.map(str::to_string);
        self.modify_session(
            session_id,
            Box::new(move |s| {
                check_owner(s, user.as_deref())?;
                merge_session_data(s, patch)
            }),
        )
        .await
    }

    /// Deep-merges `patch` into `session_data.session_state` under the session's write lock:
    /// concurrent updates of different keys all survive, and of one key the last one wins.
    pub async fn update_session_state(&self, session_id: &str, patch: Map<String, Value>) -> Result<Session> {
        self.modify_session(
            session_id,
            Box::new(move |s| {
                let data = s.session_data.get_or_insert_with(|| Value::Object(Map::new()));
                let data =
                    data.as_object_mut().ok_or_else(|| StoreError::Invalid("session_data is not an object".into()))?;
                let state = data.entry("session_state").or_insert_with(|| Value::Object(Map::new()));
                deep_merge(state, &Value::Object(patch));
                Ok(())
            }),
        )
        .await
    }

    /// Replaces `metadata`.
    pub async fn update_session_metadata(&self, session_id: &str, metadata: Value) -> Result<Session> {
        self.modify_session(
            session_id,
            Box::new(move |s| {
                s.metadata = Some(metadata);
                Ok(())
            }),
        )
        .await
    }

    /// Replaces `summary` (`{summary, topics, updated_at}`).
    pub async fn update_session_summary(&self, session_id: &str, summary: Value) -> Result<Session> {
        self.modify_session(
            session_id,
            Box::new(move |s| {
                s.summary = Some(summary);
                Ok(())
            }),
        )
        .await
    }

    /// Read-modify-write of one session under its write lock. When `change` fails, nothing is
    /// written.
    pub async fn modify_session(&self, session_id: &str, change: SessionChange) -> Result<Session> {
        dispatch!(self, s => s.modify_session(session_id, change).await)
    }

    /// Deletes a session and its runs, by `user` (another user's session is refused).
    pub async fn delete_session(&self, session_id: &str, user: Option<&str>) -> Result<()> {
        dispatch!(self, s => s.delete_session(session_id, user).await)
    }

    /// Deletes sessions and their runs whatever their owner (an operator's bulk delete); returns
    /// how many sessions were deleted.
    pub async fn delete_sessions(&self, session_ids: &[String]) -> Result<u64> {
        dispatch!(self, s => s.delete_sessions(session_ids).await)
    }

    /// Starts a run in one transaction under the session's write lock: reads the session (or,
    /// for a top-level run, creates it from `new_session` when it does not exist: two first
    /// runs of one new session never reset each other), applies the session rules ([`admit`]),
    /// reads the history (before the run's own row exists), then inserts the run with the next
    /// `run_index`. A member or step run (no `new_session`) needs its parent's session.
    pub async fn begin_run(&self, begin: BeginRun) -> Result<Begun> {
        if let Some(s) = &begin.new_session {
            validate_session(s)?;
            if s.session_id != begin.session.id {
                return Err(StoreError::Invalid("the new session's id is not the run's session id".into()));
            }
        }
        if begin.run.session_id != begin.session.id {
            return Err(StoreError::Invalid("the run's session id is not the session's id".into()));
        }
        dispatch!(self, s => s.begin_run(begin).await)
    }

    /// Appends a run to its (existing) session with the next `run_index`, assigned under the
    /// session's write lock. Returns the stored run.
    pub async fn append_run(&self, run: &Run) -> Result<Run> {
        dispatch!(self, s => s.append_run(run).await)
    }

    /// Sets a run's status and `run_data` (and `updated_at`).
    pub async fn update_run(&self, run_id: &str, status: RunStatus, run_data: &Value) -> Result<Run> {
        // Backends do not read run_data back (it was just written): it is set from the input.
        let mut run = dispatch!(self, s => s.update_run(run_id, status, run_data).await)?;
        run.run_data = run_data.clone();
        Ok(run)
    }

    /// Sets a run's final status and data and changes its session, in one transaction: a run
    /// never ends without its session's state and metrics. When `change` fails, neither is
    /// written. The returned run's `run_data` is `Null`: the caller holds it (a large value is
    /// not copied back).
    pub async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        run_data: &Value,
        session_id: &str,
        change: SessionChange,
    ) -> Result<(Run, Session)> {
        dispatch!(self, s => s.finish_run(run_id, status, run_data, session_id, change).await)
    }

    /// One run.
    pub async fn get_run(&self, run_id: &str) -> Result<Run> {
        dispatch!(self, s => s.get_run(run_id).await)
    }

    /// All runs of a session in `run_index` order.
    pub async fn list_runs(&self, session_id: &str) -> Result<Vec<Run>> {
        dispatch!(self, s => s.list_runs(session_id).await)
    }

    /// The last `n` history runs of a session, oldest first: top-level runs (no
    /// `parent_run_id`) that completed (not PENDING, RUNNING, PAUSED, CANCELLED, ERROR or
    /// REGENERATED). One indexed query of those `n` rows: the cost does not grow with the
    /// session.
    pub async fn history_runs(&self, session_id: &str, n: u32) -> Result<Vec<Run>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.history_runs(session_id, n).await)
    }

    /// Records (or refreshes) a runner process: every RUNNING row it writes names it. Its
    /// `heartbeat_at` is set from the database's clock (the row's own value is not used), so
    /// that runners on hosts whose clocks disagree are judged by one clock.
    pub async fn register_runner(&self, runner: &RunnerRow) -> Result<()> {
        dispatch!(self, s => s.register_runner(runner).await)
    }

    /// Sets a runner's `heartbeat_at` to the database's clock; false when its row is gone (a
    /// reaper took it for dead).
    pub async fn heartbeat_runner(&self, runner_id: &str) -> Result<bool> {
        dispatch!(self, s => s.heartbeat_runner(runner_id).await)
    }

    /// The database's clock, in epoch seconds: what heartbeats are written and judged by.
    pub async fn clock(&self) -> Result<i64> {
        dispatch!(self, s => s.clock().await)
    }

    /// Removes a runner's row (at a clean exit).
    pub async fn remove_runner(&self, runner_id: &str) -> Result<()> {
        dispatch!(self, s => s.remove_runner(runner_id).await)
    }

    /// Removes a runner's row only if it has not heartbeated since `seen_heartbeat` (a reaper
    /// that found it gone); false when it came back meanwhile.
    pub async fn remove_stale_runner(&self, runner_id: &str, seen_heartbeat: i64) -> Result<bool> {
        dispatch!(self, s => s.remove_stale_runner(runner_id, seen_heartbeat).await)
    }

    /// Declares a runner gone, as if its lease had lapsed (an operator who knows its host died);
    /// the next reaper pass ends its runs. False when there is no such runner.
    pub async fn expire_runner(&self, runner_id: &str) -> Result<bool> {
        dispatch!(self, s => s.expire_runner(runner_id).await)
    }

    /// Writes one export batch of Agno traces and spans in one transaction: each trace upserted
    /// by Agno's rules, then its spans (an id already stored is kept).
    pub async fn write_traces(&self, batch: &traces::TraceBatch) -> Result<()> {
        dispatch!(self, s => s.write_traces(batch).await)
    }

    /// Connections in use and the most the pool holds (None for the memory store).
    pub fn pool_status(&self) -> Option<(usize, usize)> {
        match self {
            Store::Sqlite(s) => Some(s.pool_status()),
            Store::Postgres(s) => Some(s.pool_status()),
            Store::Memory(_) => None,
        }
    }

    /// The page of traces matching `q`, newest first (`GET /traces`).
    pub async fn list_traces(&self, q: &traces::TraceQuery) -> Result<Page<traces::TraceSummary>> {
        dispatch!(self, s => s.list_traces(q).await)
    }

    /// One trace with its counts, or None.
    pub async fn get_trace(&self, trace_id: &str) -> Result<Option<traces::TraceSummary>> {
        let q = traces::TraceQuery { eq: vec![("trace_id", trace_id.to_string())], limit: 1, ..Default::default() };
        Ok(self.list_traces(&q).await?.items.into_iter().next())
    }

    /// The spans of one trace, in start order (at most [`traces::MAX_TRACE_SPANS`]).
    pub async fn trace_spans(&self, trace_id: &str) -> Result<Vec<traces::SpanRow>> {
        dispatch!(self, s => s.trace_spans(trace_id).await)
    }

    /// Per-session trace statistics matching `q` (`GET /trace_session_stats`).
    pub async fn trace_session_stats(&self, q: &traces::TraceQuery) -> Result<Page<traces::SessionTraceStats>> {
        dispatch!(self, s => s.trace_session_stats(q).await)
    }

    /// Recalculates Agno's daily usage rows (`agno_metrics`) from the first day not completed to
    /// today (UTC), as Agno's `calculate_metrics`; returns the rows it wrote (none without sessions).
    pub async fn calculate_usage(&self) -> Result<Vec<usage::UsageRow>> {
        let now = now();
        let today = usage::day_of(now);
        let (latest, earliest, oldest) = dispatch!(self, s => s.usage_bounds().await)?;
        let Some(start) = usage::start_day(latest.as_deref(), earliest.as_deref(), oldest, &today) else {
            return Ok(Vec::new());
        };
        let from = usage::epoch_of(&start).unwrap_or(0);
        let until = usage::epoch_of(&today).unwrap_or(now) + 86_400;
        let (sessions, runs) = dispatch!(self, s => s.usage_groups(from, until).await)?;
        let rows = usage::rows(&sessions, &runs, &today, now);
        dispatch!(self, s => s.upsert_usage(&rows).await)?;
        Ok(rows)
    }

    /// The usage rows of days in `[from, until]` (`YYYY-MM-DD`, inclusive), of one owner when
    /// `user` is given (`""`: sessions without one), by date.
    pub async fn list_usage(
        &self,
        from: Option<&str>,
        until: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<usage::UsageRow>> {
        let (from, until) = (from.unwrap_or("0000-01-01").to_string(), until.unwrap_or("9999-12-31").to_string());
        dispatch!(self, s => s.list_usage(&from, &until, user).await)
    }

    /// Records one config generation a server loaded, or failed to load.
    pub async fn record_generation(&self, record: &GenerationRecord) -> Result<()> {
        dispatch!(self, s => s.record_generation(record).await)
    }

    /// The newest `limit` generation records, newest first.
    pub async fn list_generations(&self, limit: u32) -> Result<Vec<Value>> {
        dispatch!(self, s => s.list_generations(limit).await)
    }

    /// Every recorded runner.
    pub async fn runners(&self) -> Result<Vec<RunnerRow>> {
        dispatch!(self, s => s.runners().await)
    }

    /// The runs that have not finished (PENDING or RUNNING), with the runner each names.
    pub async fn in_flight_runs(&self) -> Result<Vec<InFlightRun>> {
        dispatch!(self, s => s.in_flight_runs().await)
    }

    /// Ends a run whose runner is gone: ERROR, with `reason` as its content. Only a run still
    /// PENDING or RUNNING is changed, and, with `seen`, only while its runner has not
    /// heartbeated since it was seen (a runner that came back keeps its runs). Returns whether
    /// the run was ended.
    pub async fn reap_run(&self, run_id: &str, reason: &str, seen: Option<&RunnerSeen>) -> Result<bool> {
        dispatch!(self, s => s.reap_run(run_id, reason, seen).await)
    }

    /// Creates (or replaces) a memory. A memory is never moved to another user: when
    /// `memory_id` is another user's memory, nothing is written and the answer is NotFound.
    pub async fn upsert_memory(&self, memory: &Memory) -> Result<Memory> {
        dispatch!(self, s => s.upsert_memory(memory).await)
    }

    /// One memory. With `user_id`, another user's memory is not found.
    pub async fn get_memory(&self, memory_id: &str, user_id: Option<&str>) -> Result<Memory> {
        dispatch!(self, s => s.get_memory(memory_id, user_id).await)
    }

    /// Memories matching `query`, newest first, one page with the total count.
    pub async fn list_memories(&self, query: &MemoryQuery) -> Result<Page<Memory>> {
        dispatch!(self, s => s.list_memories(query).await)
    }

    /// Deletes one memory. With `user_id`, only that user's (another user's memory is not
    /// found); without, whoever's it is (an operator).
    pub async fn delete_memory(&self, memory_id: &str, user_id: Option<&str>) -> Result<()> {
        dispatch!(self, s => s.delete_memory(memory_id, user_id).await)
    }

    /// Deletes every memory of `user_id` (only theirs); returns how many.
    pub async fn clear_memories(&self, user_id: &str) -> Result<u64> {
        dispatch!(self, s => s.clear_memories(user_id).await)
    }

    /// Merges `patch` into a stored run's `run_data.metadata` (what happened after the run
    /// ended: its memory update). A nested run (no row) is not found.
    pub async fn merge_run_metadata(&self, run_id: &str, patch: Map<String, Value>) -> Result<()> {
        let run = self.get_run(run_id).await?;
        let status = run.status.unwrap_or(RunStatus::Completed);
        let mut data = run.run_data;
        if !data["metadata"].is_object() {
            data["metadata"] = Value::Object(Map::new());
        }
        if let Some(m) = data["metadata"].as_object_mut() {
            m.extend(patch);
        }
        self.update_run(run_id, status, &data).await.map(|_| ())
    }
}

/// The start of a run, for [`Store::begin_run`].
#[derive(Debug, Clone)]
pub struct BeginRun {
    /// The session the run is written into, and whose it must be.
    pub session: SessionRef,
    /// The caller; the session's owner must be this user.
    pub user_id: Option<String>,
    /// For a top-level run: the session to create when it does not exist. None for a member or
    /// step run, which is written into its parent's (existing) session.
    pub new_session: Option<Session>,
    /// History runs to read before the run's row exists (0: none).
    pub history_runs: u32,
    /// The run's first row (RUNNING); its `run_index` is assigned.
    pub run: Run,
}

/// What [`Store::begin_run`] read and wrote.
#[derive(Debug, Clone)]
pub struct Begun {
    /// The session, as stored (created or existing).
    pub session: Session,
    /// Its last history runs, oldest first.
    pub history: Vec<Run>,
    /// The run row, with its `run_index`.
    pub run: Run,
}

/// A runner process, as recorded in the runners table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerRow {
    /// A fresh id per process.
    pub runner_id: String,
    /// Host name, for people.
    pub host: String,
    /// Boot and pid-namespace id of the host: equal keys share a process table, so a reaper
    /// with the same key may check the pid itself. None where it cannot be read.
    pub host_key: Option<String>,
    /// Process id.
    pub pid: i64,
    /// The process's start time in the kernel's clock ticks since boot (tells a reused pid
    /// apart), when known.
    pub process_start: Option<i64>,
    /// When the process started running runs (epoch seconds).
    pub started_at: i64,
    /// Its last heartbeat (epoch seconds, by the database's clock).
    pub heartbeat_at: i64,
    /// agno-run version.
    pub version: String,
}

/// A runner as a reaper saw it: its id and the heartbeat it had then (None: it had no row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerSeen {
    /// The runner.
    pub runner_id: String,
    /// Its `heartbeat_at` when seen.
    pub heartbeat_at: Option<i64>,
}

/// A run that has not finished, as the reaper sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightRun {
    /// Run id.
    pub run_id: String,
    /// Its session.
    pub session_id: String,
    /// PENDING or RUNNING.
    pub status: RunStatus,
    /// `run_data.runner.id`, when the row names its runner (rows written by Python Agno do not).
    pub runner_id: Option<String>,
    /// Epoch seconds.
    pub created_at: i64,
}

/// `run_data` of a run ended by the reaper: ERROR, the reason as content, the runner kept.
pub(crate) fn reaped_run_data(mut data: Value, reason: &str) -> Value {
    if !data.is_object() {
        data = Value::Object(Map::new());
    }
    data["status"] = Value::String(RunStatus::Error.as_str().into());
    data["content"] = Value::String(reason.into());
    data["content_type"] = Value::String("str".into());
    data
}

/// A change applied to a session under its write lock.
pub type SessionChange = Box<dyn FnOnce(&mut Session) -> Result<()> + Send>;

fn merge_session_data(s: &mut Session, patch: Value) -> Result<()> {
    let data = s.session_data.get_or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        return Err(StoreError::Invalid("session_data is not an object".into()));
    }
    deep_merge(data, &patch);
    Ok(())
}

fn validate_session(s: &Session) -> Result<()> {
    if s.session_id.is_empty() {
        return Err(StoreError::Invalid("empty session id".into()));
    }
    Ok(())
}

/// The id column of a session's component for a query by component id.
pub(crate) fn component_filter(q: &SessionQuery) -> Option<(&'static str, &str)> {
    let id = q.component_id.as_deref()?;
    Some(match q.session_type {
        Some(SessionType::Team) => ("team_id", id),
        Some(SessionType::Workflow) => ("workflow_id", id),
        _ => ("agent_id", id),
    })
}
