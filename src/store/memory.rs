//! The in-memory backend: the same behaviour as the SQL backends, nothing persisted.
//!
//! One std mutex guards all data: it is never held across an await, and every operation is a
//! short in-memory update, so it is also the per-session write lock of the contract.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;

use super::{
    BeginRun, Begun, Conflict, GenerationRecord, InFlightRun, Memory, MemoryQuery, Page, Result, Run, RunStatus,
    RunnerRow, RunnerSeen, Session, SessionChange, SessionQuery, SortBy, StoreError, admit, check_owner,
    component_filter, now, page_bounds, reaped_run_data,
};
use crate::config::TableNames;

#[derive(Debug, Default)]
struct Data {
    sessions: HashMap<String, Session>,
    /// Each session's runs in `run_index` order (appends only ever add the next index), so that
    /// history reads only the runs it returns.
    runs: HashMap<String, Vec<Run>>,
    /// Run id → its session and its position in that session's runs, to find a run without
    /// scanning (positions never move: runs are only appended, and removed with their session).
    run_session: HashMap<String, (String, usize)>,
    memories: HashMap<String, Memory>,
    runners: HashMap<String, RunnerRow>,
    generations: Vec<GenerationRecord>,
    /// Agno traces by id, in first-write order, and their spans by id.
    traces: IndexMap<String, super::traces::TraceRow>,
    spans: IndexMap<String, super::traces::SpanRow>,
    /// Agno's daily usage rows by (user, date).
    usage: std::collections::BTreeMap<(String, String), super::usage::UsageRow>,
}

/// In-memory store; clones share the data.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    data: Arc<Mutex<Data>>,
    /// Shared like the data (clones are cheap).
    tables: Arc<TableNames>,
}

fn backend(action: &str) -> StoreError {
    StoreError::Backend { backend: "memory", action: action.into(), message: "lock poisoned by a panic".into() }
}

impl MemoryStore {
    pub(super) fn new(tables: &TableNames) -> Self {
        MemoryStore { data: Arc::default(), tables: Arc::new(tables.clone()) }
    }

    fn lock(&self, action: &str) -> Result<std::sync::MutexGuard<'_, Data>> {
        self.data.lock().map_err(|_| backend(action))
    }

    pub(super) fn tables(&self) -> &TableNames {
        &self.tables
    }

    pub(super) async fn upsert_session(&self, s: &Session) -> Result<Session> {
        let mut d = self.lock("upsert a session")?;
        let mut new = s.clone();
        if let Some(existing) = d.sessions.get(&s.session_id) {
            if let (Some(a), Some(b)) = (&existing.user_id, &s.user_id)
                && a != b
            {
                return Err(StoreError::Conflict(Conflict::NotOwner { session_id: s.session_id.clone(), owned: true }));
            }
            new.created_at = existing.created_at;
            if new.user_id.is_none() {
                new.user_id = existing.user_id.clone();
            }
        }
        new.updated_at = Some(now());
        d.sessions.insert(new.session_id.clone(), new.clone());
        Ok(new)
    }

    pub(super) async fn get_session(&self, id: &str) -> Result<Session> {
        let d = self.lock("read a session")?;
        d.sessions.get(id).cloned().ok_or_else(|| StoreError::NotFound { what: "session", id: id.into() })
    }

    pub(super) async fn list_sessions(&self, q: &SessionQuery) -> Result<Page<Session>> {
        let d = self.lock("list sessions")?;
        let component = component_filter(q);
        let name = q.name.as_ref().map(|n| n.to_lowercase());
        let mut all: Vec<&Session> = d
            .sessions
            .values()
            .filter(|s| q.session_type.is_none_or(|t| s.session_type == t))
            .filter(|s| match component {
                Some(("team_id", id)) => s.team_id.as_deref() == Some(id),
                Some(("workflow_id", id)) => s.workflow_id.as_deref() == Some(id),
                Some((_, id)) => s.agent_id.as_deref() == Some(id),
                None => true,
            })
            .filter(|s| q.user_id.is_none() || s.user_id == q.user_id)
            .filter(|s| !q.anonymous || q.user_id.is_some() || s.user_id.is_none())
            .filter(|s| name.as_ref().is_none_or(|n| s.session_name().is_some_and(|x| x.to_lowercase().contains(n))))
            .filter(|s| q.created_after.is_none_or(|t| s.created_at >= t))
            .filter(|s| q.created_before.is_none_or(|t| s.created_at <= t))
            .collect();
        all.sort_by(|a, b| {
            let ord = match q.sort_by {
                SortBy::CreatedAt => a.created_at.cmp(&b.created_at),
                SortBy::UpdatedAt => a.updated_at.cmp(&b.updated_at),
                SortBy::SessionId => a.session_id.cmp(&b.session_id),
            }
            .then_with(|| a.session_id.cmp(&b.session_id));
            if q.ascending { ord } else { ord.reverse() }
        });
        let (limit, page, offset) = page_bounds(q.limit, q.page, 20);
        let total = all.len() as u64;
        let items = all.into_iter().skip(offset as usize).take(limit as usize).cloned().collect();
        Ok(Page { items, total, page, limit })
    }

    pub(super) async fn modify_session(&self, id: &str, change: SessionChange) -> Result<Session> {
        let mut d = self.lock("update a session")?;
        let s = d.sessions.get_mut(id).ok_or_else(|| StoreError::NotFound { what: "session", id: id.into() })?;
        let mut copy = s.clone();
        change(&mut copy)?;
        copy.updated_at = Some(now());
        *s = copy.clone();
        Ok(copy)
    }

    pub(super) async fn finish_run(
        &self,
        run_id: &str,
        status: RunStatus,
        data: &serde_json::Value,
        session_id: &str,
        change: SessionChange,
    ) -> Result<(Run, Session)> {
        let mut d = self.lock("finish a run")?;
        if !d.run_session.contains_key(run_id) {
            return Err(StoreError::NotFound { what: "run", id: run_id.into() });
        }
        let mut session = d
            .sessions
            .get(session_id)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { what: "session", id: session_id.into() })?;
        change(&mut session)?;
        session.updated_at = Some(now());
        d.sessions.insert(session_id.to_string(), session.clone());
        let r = run_mut(&mut d, run_id).ok_or_else(|| backend("finish a run"))?;
        r.status = Some(status);
        r.run_data = data.clone();
        r.updated_at = Some(now());
        // Like the SQL backends, the row comes back without its run_data: the caller has it.
        Ok((header(r), session))
    }

    pub(super) async fn delete_session(&self, id: &str, user: Option<&str>) -> Result<()> {
        let mut d = self.lock("delete a session")?;
        let s = d.sessions.get(id).ok_or_else(|| StoreError::NotFound { what: "session", id: id.into() })?;
        check_owner(s, user)?;
        d.sessions.remove(id);
        remove_runs(&mut d, id);
        Ok(())
    }

    pub(super) async fn delete_sessions(&self, ids: &[String]) -> Result<u64> {
        let mut d = self.lock("delete sessions")?;
        let mut n = 0;
        for id in ids {
            if d.sessions.remove(id).is_some() {
                n += 1;
            }
            remove_runs(&mut d, id);
        }
        Ok(n)
    }

    pub(super) async fn begin_run(&self, b: BeginRun) -> Result<Begun> {
        let mut d = self.lock("start a run")?;
        // Refused before anything changes, like the SQL backends' rolled-back transaction.
        if d.run_session.contains_key(&b.run.run_id) {
            return Err(StoreError::Conflict(Conflict::RunExists { run_id: b.run.run_id.clone() }));
        }
        let session = match (d.sessions.get(&b.session.id), b.new_session) {
            (Some(s), _) => {
                admit(s, &b.session.owner, b.user_id.as_deref())?;
                s.clone()
            }
            (None, Some(new)) => {
                d.sessions.insert(new.session_id.clone(), new.clone());
                new
            }
            (None, None) => return Err(StoreError::NotFound { what: "session", id: b.session.id.clone() }),
        };
        let history = history_of(&d, &b.session.id, b.history_runs);
        let run = append_in(&mut d, &b.run)?;
        Ok(Begun { session, history, run })
    }

    pub(super) async fn append_run(&self, run: &Run) -> Result<Run> {
        let mut d = self.lock("append a run")?;
        append_in(&mut d, run)
    }

    pub(super) async fn update_run(&self, run_id: &str, status: RunStatus, data: &serde_json::Value) -> Result<Run> {
        let mut d = self.lock("update a run")?;
        let r = run_mut(&mut d, run_id).ok_or_else(|| StoreError::NotFound { what: "run", id: run_id.into() })?;
        r.status = Some(status);
        r.run_data = data.clone();
        r.updated_at = Some(now());
        Ok(r.clone())
    }

    pub(super) async fn get_run(&self, run_id: &str) -> Result<Run> {
        let d = self.lock("read a run")?;
        let at = d.run_session.get(run_id);
        at.and_then(|(s, i)| d.runs.get(s)?.get(*i))
            .cloned()
            .ok_or_else(|| StoreError::NotFound { what: "run", id: run_id.into() })
    }

    pub(super) async fn first_run(&self, session_id: &str) -> Result<Option<Run>> {
        let d = self.lock("read a session's first run")?;
        Ok(d.runs.get(session_id).and_then(|runs| runs.iter().find(|r| r.parent_run_id.is_none())).cloned())
    }

    pub(super) async fn list_runs(&self, session_id: &str) -> Result<Vec<Run>> {
        let d = self.lock("list runs")?;
        Ok(runs_of(&d, session_id))
    }

    pub(super) async fn history_runs(&self, session_id: &str, n: u32) -> Result<Vec<Run>> {
        let d = self.lock("read history runs")?;
        Ok(history_of(&d, session_id, n))
    }

    pub(super) async fn register_runner(&self, r: &RunnerRow) -> Result<()> {
        let mut d = self.lock("record a runner")?;
        let at = now();
        match d.runners.get_mut(&r.runner_id) {
            Some(existing) => existing.heartbeat_at = at,
            None => {
                d.runners.insert(r.runner_id.clone(), RunnerRow { heartbeat_at: at, ..r.clone() });
            }
        }
        Ok(())
    }

    pub(super) async fn heartbeat_runner(&self, runner_id: &str) -> Result<bool> {
        let mut d = self.lock("heartbeat")?;
        Ok(d.runners.get_mut(runner_id).map(|r| r.heartbeat_at = now()).is_some())
    }

    pub(super) async fn clock(&self) -> Result<i64> {
        Ok(now())
    }

    pub(super) async fn remove_runner(&self, runner_id: &str) -> Result<()> {
        self.lock("remove a runner")?.runners.remove(runner_id);
        Ok(())
    }

    pub(super) async fn expire_runner(&self, runner_id: &str) -> Result<bool> {
        let mut d = self.lock("expire a runner")?;
        Ok(d.runners.get_mut(runner_id).map(|r| r.heartbeat_at = 0).is_some())
    }

    pub(super) async fn remove_stale_runner(&self, runner_id: &str, seen: i64) -> Result<bool> {
        let mut d = self.lock("remove a runner")?;
        if d.runners.get(runner_id).is_some_and(|r| r.heartbeat_at <= seen) {
            d.runners.remove(runner_id);
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) async fn write_traces(&self, batch: &super::traces::TraceBatch) -> Result<()> {
        let mut d = self.lock("write traces")?;
        for t in &batch.traces {
            match d.traces.get_mut(&t.trace_id) {
                Some(old) => super::traces::merge(old, t),
                None => {
                    d.traces.insert(t.trace_id.clone(), t.clone());
                }
            }
        }
        for s in &batch.spans {
            d.spans.entry(s.span_id.clone()).or_insert_with(|| s.clone());
        }
        // Bounded like a table would not be: a long-lived in-memory server keeps the newest
        // 10,000 traces and 100,000 spans.
        while d.traces.len() > 10_000 {
            d.traces.shift_remove_index(0);
        }
        while d.spans.len() > 100_000 {
            d.spans.shift_remove_index(0);
        }
        Ok(())
    }

    pub(super) async fn usage_bounds(&self) -> Result<(Option<String>, Option<String>, Option<i64>)> {
        let d = self.lock("read the usage dates")?;
        let latest = d.usage.values().filter(|r| r.completed).map(|r| r.date.clone()).max();
        let after = latest.clone().unwrap_or_default();
        let earliest = d.usage.values().filter(|r| !r.completed && r.date > after).map(|r| r.date.clone()).min();
        let oldest = d.sessions.values().map(|s| s.created_at).min();
        Ok((latest, earliest, oldest))
    }

    pub(super) async fn usage_groups(
        &self,
        from: i64,
        until: i64,
    ) -> Result<(Vec<super::usage::SessionGroup>, Vec<super::usage::RunGroup>)> {
        use super::usage::{RunGroup, SessionGroup, TOKEN_KEYS, day_of};
        let d = self.lock("aggregate the usage")?;
        let mut sessions: std::collections::BTreeMap<(String, String, String), SessionGroup> = Default::default();
        let mut runs: Vec<RunGroup> = Vec::new();
        let mut chosen: Vec<&Session> =
            d.sessions.values().filter(|s| s.created_at >= from && s.created_at < until).collect();
        chosen.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.session_id.cmp(&b.session_id)));
        for s in chosen {
            let (day, user, kind) =
                (day_of(s.created_at), s.user_id.clone().unwrap_or_default(), s.session_type.as_str().to_string());
            let g = sessions.entry((day.clone(), user.clone(), kind.clone())).or_insert_with(|| SessionGroup {
                day: day.clone(),
                user: user.clone(),
                kind: kind.clone(),
                sessions: 0,
                tokens: [0; 9],
            });
            g.sessions += 1;
            let m = s.session_data.as_ref().and_then(|d| d.get("session_metrics"));
            for (i, k) in TOKEN_KEYS.iter().enumerate() {
                g.tokens[i] += m.and_then(|m| m.get(*k)).and_then(serde_json::Value::as_i64).unwrap_or(0);
            }
            for r in d.runs.get(&s.session_id).into_iter().flatten() {
                let text = |k: &str| r.run_data.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
                let (model, provider) = (text("model"), text("model_provider"));
                match runs.iter_mut().find(|g| {
                    g.day == day && g.user == user && g.kind == kind && g.model == model && g.provider == provider
                }) {
                    Some(g) => g.runs += 1,
                    None => runs.push(RunGroup {
                        day: day.clone(),
                        user: user.clone(),
                        kind: kind.clone(),
                        model,
                        provider,
                        runs: 1,
                    }),
                }
            }
        }
        Ok((sessions.into_values().collect(), runs))
    }

    pub(super) async fn upsert_usage(&self, rows: &[super::usage::UsageRow]) -> Result<()> {
        let mut d = self.lock("write the usage")?;
        for r in rows {
            let key = (r.user_id.clone(), r.date.clone());
            match d.usage.get_mut(&key) {
                Some(old) => {
                    let (id, created) = (old.id.clone(), old.created_at);
                    *old = r.clone();
                    old.id = id;
                    old.created_at = created;
                }
                None => {
                    d.usage.insert(key, r.clone());
                }
            }
        }
        Ok(())
    }

    pub(super) async fn list_usage(
        &self,
        from: &str,
        until: &str,
        user: Option<&str>,
    ) -> Result<Vec<super::usage::UsageRow>> {
        let d = self.lock("read the usage")?;
        let mut rows: Vec<super::usage::UsageRow> = d
            .usage
            .values()
            .filter(|r| r.date.as_str() >= from && r.date.as_str() <= until && user.is_none_or(|u| r.user_id == u))
            .cloned()
            .collect();
        rows.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.user_id.cmp(&b.user_id)));
        Ok(rows)
    }

    pub(super) async fn list_traces(&self, q: &super::traces::TraceQuery) -> Result<Page<super::traces::TraceSummary>> {
        let d = self.lock("list traces")?;
        let mut all: Vec<&super::traces::TraceRow> =
            d.traces.values().filter(|t| memory_trace_matches(q, t, false)).collect();
        all.sort_by(|a, b| b.start_time.cmp(&a.start_time));
        let (limit, page, offset) = page_bounds(Some(q.limit), Some(q.page.max(1)), 20);
        let items = all
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|t| {
                let spans: Vec<&super::traces::SpanRow> =
                    d.spans.values().filter(|s| s.trace_id == t.trace_id).collect();
                super::traces::TraceSummary {
                    trace: (*t).clone(),
                    total_spans: spans.len() as i64,
                    error_count: spans.iter().filter(|s| s.status_code == "ERROR").count() as i64,
                    input: spans
                        .iter()
                        .find(|s| s.parent_span_id.is_none())
                        .and_then(|s| s.attributes.get("input.value"))
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string),
                }
            })
            .collect();
        Ok(Page { items, total: all.len() as u64, page, limit })
    }

    pub(super) async fn trace_spans(&self, trace_id: &str) -> Result<Vec<super::traces::SpanRow>> {
        let d = self.lock("read spans")?;
        let mut spans: Vec<super::traces::SpanRow> =
            d.spans.values().filter(|s| s.trace_id == trace_id).cloned().collect();
        spans.sort_by(|a, b| a.start_time.cmp(&b.start_time).then_with(|| a.span_id.cmp(&b.span_id)));
        spans.truncate(super::traces::MAX_TRACE_SPANS as usize);
        Ok(spans)
    }

    pub(super) async fn trace_session_stats(
        &self,
        q: &super::traces::TraceQuery,
    ) -> Result<Page<super::traces::SessionTraceStats>> {
        let d = self.lock("read trace statistics")?;
        let mut groups: IndexMap<String, super::traces::SessionTraceStats> = IndexMap::new();
        for t in d.traces.values().filter(|t| memory_trace_matches(q, t, true)) {
            let Some(session) = &t.session_id else { continue };
            let g = groups.entry(session.clone()).or_insert_with(|| super::traces::SessionTraceStats {
                session_id: session.clone(),
                user_id: None,
                agent_id: None,
                team_id: None,
                workflow_id: None,
                total_traces: 0,
                first_trace_at: t.created_at.clone(),
                last_trace_at: t.created_at.clone(),
            });
            for (g, t) in [
                (&mut g.user_id, &t.user_id),
                (&mut g.agent_id, &t.agent_id),
                (&mut g.team_id, &t.team_id),
                (&mut g.workflow_id, &t.workflow_id),
            ] {
                if t.is_some() && (g.is_none() || t > g) {
                    g.clone_from(t);
                }
            }
            g.total_traces += 1;
            if t.created_at < g.first_trace_at {
                g.first_trace_at = t.created_at.clone();
            }
            if t.created_at > g.last_trace_at {
                g.last_trace_at = t.created_at.clone();
            }
        }
        let mut all: Vec<super::traces::SessionTraceStats> = groups.into_values().collect();
        all.sort_by(|a, b| b.last_trace_at.cmp(&a.last_trace_at));
        let (limit, page, offset) = page_bounds(Some(q.limit), Some(q.page.max(1)), 20);
        let total = all.len() as u64;
        let items = all.into_iter().skip(offset as usize).take(limit as usize).collect();
        Ok(Page { items, total, page, limit })
    }

    pub(super) async fn record_generation(&self, g: &GenerationRecord) -> Result<()> {
        let mut d = self.lock("record a config generation")?;
        d.generations.push(g.clone());
        // Bounded like a table would not be: a long-lived in-memory server keeps the last 1000.
        if d.generations.len() > super::MAX_GENERATION_RECORDS {
            d.generations.remove(0);
        }
        Ok(())
    }

    pub(super) async fn list_generations(&self, limit: u32) -> Result<Vec<serde_json::Value>> {
        let d = self.lock("list config generations")?;
        Ok(d.generations.iter().rev().take(limit as usize).map(|g| g.record.clone()).collect())
    }

    pub(super) async fn runners(&self) -> Result<Vec<RunnerRow>> {
        let d = self.lock("list runners")?;
        let mut all: Vec<RunnerRow> = d.runners.values().cloned().collect();
        all.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.runner_id.cmp(&b.runner_id)));
        Ok(all)
    }

    pub(super) async fn in_flight_runs(&self) -> Result<Vec<InFlightRun>> {
        let d = self.lock("list runs in flight")?;
        let mut all: Vec<InFlightRun> = d
            .runs
            .values()
            .flatten()
            .filter_map(|r| {
                let status = r.status.filter(|s| s.in_flight())?;
                Some(InFlightRun {
                    run_id: r.run_id.clone(),
                    session_id: r.session_id.clone(),
                    status,
                    runner_id: r.run_data.pointer("/runner/id").and_then(|v| v.as_str()).map(str::to_string),
                    created_at: r.created_at,
                })
            })
            .collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.run_id.cmp(&b.run_id)));
        Ok(all)
    }

    pub(super) async fn reap_run(&self, run_id: &str, reason: &str, seen: Option<&RunnerSeen>) -> Result<bool> {
        let mut d = self.lock("end a run of a dead runner")?;
        if let Some(s) = seen {
            let back = d.runners.get(&s.runner_id).is_some_and(|r| r.heartbeat_at > s.heartbeat_at.unwrap_or(i64::MIN));
            if back {
                return Ok(false);
            }
        }
        let Some(r) = run_mut(&mut d, run_id).filter(|r| r.status.is_some_and(RunStatus::in_flight)) else {
            return Ok(false);
        };
        r.status = Some(RunStatus::Error);
        r.run_data = reaped_run_data(std::mem::take(&mut r.run_data), reason);
        r.updated_at = Some(now());
        Ok(true)
    }

    pub(super) async fn upsert_memory(&self, m: &Memory) -> Result<Memory> {
        let mut d = self.lock("upsert a memory")?;
        let mut new = m.clone();
        if let Some(existing) = d.memories.get(&m.memory_id) {
            // An upsert never moves a memory to another user.
            if existing.user_id != m.user_id {
                return Err(StoreError::NotFound { what: "memory", id: m.memory_id.clone() });
            }
            new.created_at = existing.created_at;
        }
        new.updated_at = Some(now());
        d.memories.insert(new.memory_id.clone(), new.clone());
        Ok(new)
    }

    pub(super) async fn get_memory(&self, id: &str, user: Option<&str>) -> Result<Memory> {
        let d = self.lock("read a memory")?;
        d.memories
            .get(id)
            .filter(|m| user.is_none() || m.user_id.as_deref() == user)
            .cloned()
            .ok_or_else(|| StoreError::NotFound { what: "memory", id: id.into() })
    }

    pub(super) async fn list_memories(&self, q: &MemoryQuery) -> Result<Page<Memory>> {
        let d = self.lock("list memories")?;
        let search = q.search.as_ref().map(|s| s.to_lowercase());
        let mut all: Vec<&Memory> = d
            .memories
            .values()
            .filter(|m| q.user_id.is_none() || m.user_id == q.user_id)
            .filter(|m| {
                q.topic.as_ref().is_none_or(|t| {
                    m.topics
                        .as_ref()
                        .and_then(|v| v.as_array())
                        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(t)))
                })
            })
            .filter(|m| search.as_ref().is_none_or(|s| memory_text(&m.memory).to_lowercase().contains(s)))
            .collect();
        all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| b.memory_id.cmp(&a.memory_id)));
        let (limit, page, offset) = page_bounds(q.limit, q.page, 100);
        let total = all.len() as u64;
        let items = all.into_iter().skip(offset as usize).take(limit as usize).cloned().collect();
        Ok(Page { items, total, page, limit })
    }

    pub(super) async fn delete_memory(&self, id: &str, user: Option<&str>) -> Result<()> {
        let mut d = self.lock("delete a memory")?;
        let mine = d.memories.get(id).is_some_and(|m| user.is_none() || m.user_id.as_deref() == user);
        if !mine {
            return Err(StoreError::NotFound { what: "memory", id: id.into() });
        }
        d.memories.remove(id);
        Ok(())
    }

    pub(super) async fn clear_memories(&self, user: &str) -> Result<u64> {
        let mut d = self.lock("clear a user's memories")?;
        let before = d.memories.len();
        d.memories.retain(|_, m| m.user_id.as_deref() != Some(user));
        Ok((before - d.memories.len()) as u64)
    }
}

fn runs_of(d: &Data, session_id: &str) -> Vec<Run> {
    d.runs.get(session_id).cloned().unwrap_or_default()
}

/// The run `run_id`, to change it.
fn run_mut<'d>(d: &'d mut Data, run_id: &str) -> Option<&'d mut Run> {
    let (session, i) = d.run_session.get(run_id)?;
    d.runs.get_mut(session)?.get_mut(*i)
}

/// A run's row without its `run_data` (which is the costly part to copy).
fn header(r: &Run) -> Run {
    Run {
        run_id: r.run_id.clone(),
        session_id: r.session_id.clone(),
        run_type: r.run_type,
        agent_id: r.agent_id.clone(),
        team_id: r.team_id.clone(),
        workflow_id: r.workflow_id.clone(),
        user_id: r.user_id.clone(),
        parent_run_id: r.parent_run_id.clone(),
        status: r.status,
        run_index: r.run_index,
        run_data: serde_json::Value::Null,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn remove_runs(d: &mut Data, session_id: &str) {
    for r in d.runs.remove(session_id).unwrap_or_default() {
        d.run_session.remove(&r.run_id);
    }
}

/// The last `n` history runs, oldest first, reading back from the newest (only what it keeps is
/// cloned).
fn history_of(d: &Data, session_id: &str, n: u32) -> Vec<Run> {
    let mut runs: Vec<Run> = d
        .runs
        .get(session_id)
        .into_iter()
        .flat_map(|runs| runs.iter().rev())
        .filter(|r| r.parent_run_id.is_none())
        .filter(|r| r.status.is_none_or(|s| !s.skipped_by_history()))
        .take(n as usize)
        .cloned()
        .collect();
    runs.reverse();
    runs
}

fn append_in(d: &mut Data, run: &Run) -> Result<Run> {
    if !d.sessions.contains_key(&run.session_id) {
        return Err(StoreError::NotFound { what: "session", id: run.session_id.clone() });
    }
    if d.run_session.contains_key(&run.run_id) {
        return Err(StoreError::Conflict(Conflict::RunExists { run_id: run.run_id.clone() }));
    }
    let runs = d.runs.entry(run.session_id.clone()).or_default();
    let next = runs.last().and_then(|r| r.run_index).map_or(0, |m| m + 1);
    let mut stored = run.clone();
    stored.run_index = Some(next);
    runs.push(stored.clone());
    let at = runs.len() - 1;
    d.run_session.insert(run.run_id.clone(), (run.session_id.clone(), at));
    Ok(stored)
}

/// The searchable text of a memory value.
pub(crate) fn memory_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The memory store's trace filter: what the SQL of `traces::trace_listing`/`stats_listing` does.
fn memory_trace_matches(q: &super::traces::TraceQuery, t: &super::traces::TraceRow, stats: bool) -> bool {
    use super::traces::{Cond, Op, matches};
    let (from_col, until_col) = if stats { ("created_at", "created_at") } else { ("start_time", "end_time") };
    let mut all: Vec<Cond> =
        q.eq.iter().map(|(c, v)| Cond::Cmp(c, Op::Eq, serde_json::Value::String(v.clone()))).collect();
    if let Some(f) = &q.from {
        all.push(Cond::Cmp(from_col, Op::Gte, serde_json::Value::String(f.clone())));
    }
    if let Some(u) = &q.until {
        all.push(Cond::Cmp(until_col, Op::Lte, serde_json::Value::String(u.clone())));
    }
    if let Some(e) = &q.expr {
        all.push(e.clone());
    }
    matches(&Cond::And(all), t)
}
