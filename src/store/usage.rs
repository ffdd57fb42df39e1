//! Agno's daily usage aggregates (`agno_metrics`, AgentOS's `GET /metrics`): one row per user
//! and day, computed from the sessions created that day and their runs as Agno 3.1.10's
//! `calculate_metrics` does — but by aggregate queries (counts, token sums from
//! `session_data.session_metrics`, model counts from the runs), never by reading whole rows.

use serde_json::{Value, json};

use super::sql::Dialect;

/// The nine token keys Agno sums, in its order.
pub const TOKEN_KEYS: [&str; 9] = [
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "audio_total_tokens",
    "audio_input_tokens",
    "audio_output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
];

/// One row of `agno_metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    /// Primary key (kept across recalculations).
    pub id: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// The owner; `""` for sessions without one.
    pub user_id: String,
    /// Runs by session type.
    pub agent_runs_count: i64,
    /// Runs of team sessions.
    pub team_runs_count: i64,
    /// Runs of workflow sessions.
    pub workflow_runs_count: i64,
    /// Sessions by type.
    pub agent_sessions_count: i64,
    /// Team sessions.
    pub team_sessions_count: i64,
    /// Workflow sessions.
    pub workflow_sessions_count: i64,
    /// 1 for an owned bucket, 0 for `""`.
    pub users_count: i64,
    /// The nine token sums.
    pub token_metrics: Value,
    /// `[{model_id, model_provider, count}]`, first seen first.
    pub model_metrics: Value,
    /// True for a day before today (UTC): not recalculated again.
    pub completed: bool,
    /// Epoch seconds.
    pub created_at: i64,
    /// Epoch seconds.
    pub updated_at: Option<i64>,
}

/// The statements of one store.
#[derive(Debug, Clone)]
pub(crate) struct UsageStatements {
    /// Latest completed date.
    pub latest_completed: String,
    /// Earliest incomplete date after `$1` (or any, with `$1` = '').
    pub earliest_incomplete: String,
    /// Oldest session's `created_at`.
    pub oldest_session: String,
    /// Per (day, user, type): sessions and the nine token sums, for `created_at` in [$1, $2).
    pub sessions: String,
    /// Per (day, user, type, model, provider): runs, for sessions created in [$1, $2).
    pub runs: String,
    /// Inserts a row, or updates the one of its (user, date, period), keeping id and created_at.
    pub upsert: String,
    /// Rows with `date >= $1 AND date <= $2` (`''` and `'9999-12-31'` when open).
    pub list: String,
    /// Rows of one user, same range (`$3`).
    pub list_user: String,
}

pub(crate) const USAGE_COLUMNS: &str = "id, date, user_id, agent_runs_count, team_runs_count, workflow_runs_count, agent_sessions_count, team_sessions_count, workflow_sessions_count, users_count, token_metrics, model_metrics, completed, created_at, updated_at";

impl UsageStatements {
    pub(crate) fn new(d: Dialect, metrics: &str, sessions: &str, runs: &str) -> Self {
        let pg = d == Dialect::Postgres;
        let date_param = |n: u32| if pg { format!("${n}::text::date") } else { format!("${n}") };
        let json = |n: u32| if pg { format!("${n}::jsonb") } else { format!("${n}") };
        let (day, tokens, model, provider, date_col, text) = match d {
            Dialect::Sqlite => (
                "date(s.created_at, 'unixepoch')".to_string(),
                TOKEN_KEYS
                    .iter()
                    .map(|k| format!("SUM(COALESCE(CAST(json_extract(s.session_data, '$.session_metrics.{k}') AS INTEGER), 0))"))
                    .collect::<Vec<_>>(),
                "json_extract(r.run_data, '$.model')",
                "json_extract(r.run_data, '$.model_provider')",
                "date",
                "",
            ),
            Dialect::Postgres => (
                "to_char(to_timestamp(s.created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')".to_string(),
                TOKEN_KEYS
                    .iter()
                    .map(|k| {
                        format!(
                            "CAST(SUM(CASE WHEN jsonb_typeof(s.session_data->'session_metrics'->'{k}') = 'number' THEN (s.session_data->'session_metrics'->>'{k}')::numeric ELSE 0 END) AS BIGINT)"
                        )
                    })
                    .collect::<Vec<_>>(),
                "r.run_data->>'model'",
                "r.run_data->>'model_provider'",
                "date::text",
                "::text",
            ),
        };
        let cols_out = USAGE_COLUMNS
            .replace("date,", &format!("{date_col},"))
            .replace("token_metrics", &format!("token_metrics{text}"))
            .replace("model_metrics", &format!("model_metrics{text}"));
        let sql = UsageStatements {
            latest_completed: format!("SELECT MAX({date_col}) FROM {metrics} WHERE completed"),
            earliest_incomplete: format!(
                "SELECT MIN({date_col}) FROM {metrics} WHERE NOT completed AND ({date_col}) > $1"
            ),
            oldest_session: format!("SELECT MIN(created_at) FROM {sessions}"),
            sessions: format!(
                "SELECT {day}, COALESCE(s.user_id, ''), s.session_type, COUNT(*), {} FROM {sessions} s \
                 WHERE s.created_at >= $1 AND s.created_at < $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                tokens.join(", ")
            ),
            runs: format!(
                "SELECT {day}, COALESCE(s.user_id, ''), s.session_type, {model}, {provider}, COUNT(*), MIN(r.created_at) \
                 FROM {runs} r JOIN {sessions} s ON r.session_id = s.session_id \
                 WHERE s.created_at >= $1 AND s.created_at < $2 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 7"
            ),
            upsert: format!(
                "INSERT INTO {metrics} (id, date, user_id, agent_runs_count, team_runs_count, workflow_runs_count, \
                 agent_sessions_count, team_sessions_count, workflow_sessions_count, users_count, token_metrics, \
                 model_metrics, completed, created_at, updated_at, aggregation_period) \
                 VALUES ($1, {}, $3, $4, $5, $6, $7, $8, $9, $10, {}, {}, $13, $14, $15, 'daily') \
                 ON CONFLICT (user_id, date, aggregation_period) DO UPDATE SET \
                 agent_runs_count = excluded.agent_runs_count, team_runs_count = excluded.team_runs_count, \
                 workflow_runs_count = excluded.workflow_runs_count, agent_sessions_count = excluded.agent_sessions_count, \
                 team_sessions_count = excluded.team_sessions_count, workflow_sessions_count = excluded.workflow_sessions_count, \
                 users_count = excluded.users_count, token_metrics = excluded.token_metrics, \
                 model_metrics = excluded.model_metrics, completed = excluded.completed, updated_at = excluded.updated_at",
                date_param(2),
                json(11),
                json(12)
            ),
            list: format!(
                "SELECT {cols_out} FROM {metrics} WHERE aggregation_period = 'daily' AND {date_col} >= $1 AND {date_col} <= $2 ORDER BY {date_col}, user_id LIMIT 100000"
            ),
            list_user: format!(
                "SELECT {cols_out} FROM {metrics} WHERE aggregation_period = 'daily' AND {date_col} >= $1 AND {date_col} <= $2 AND user_id = $3 ORDER BY {date_col} LIMIT 100000"
            ),
        };
        match d {
            Dialect::Sqlite => {
                let f = super::sql::sqlite_params;
                UsageStatements {
                    latest_completed: sql.latest_completed,
                    earliest_incomplete: f(&sql.earliest_incomplete),
                    oldest_session: sql.oldest_session,
                    sessions: f(&sql.sessions),
                    runs: f(&sql.runs),
                    upsert: f(&sql.upsert),
                    list: f(&sql.list),
                    list_user: f(&sql.list_user),
                }
            }
            Dialect::Postgres => sql,
        }
    }
}

/// Per (day, user, type): sessions and token sums.
#[derive(Debug, Clone)]
pub(crate) struct SessionGroup {
    pub day: String,
    pub user: String,
    pub kind: String,
    pub sessions: i64,
    pub tokens: [i64; 9],
}

/// Per (day, user, type, model, provider): runs.
#[derive(Debug, Clone)]
pub(crate) struct RunGroup {
    pub day: String,
    pub user: String,
    pub kind: String,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub runs: i64,
}

fn slot<'a>(
    out: &'a mut indexmap::IndexMap<(String, String), UsageRow>,
    day: &str,
    user: &str,
    today: &str,
    now: i64,
) -> &'a mut UsageRow {
    out.entry((day.to_string(), user.to_string())).or_insert_with(|| UsageRow {
        id: uuid::Uuid::new_v4().to_string(),
        date: day.to_string(),
        user_id: user.to_string(),
        agent_runs_count: 0,
        team_runs_count: 0,
        workflow_runs_count: 0,
        agent_sessions_count: 0,
        team_sessions_count: 0,
        workflow_sessions_count: 0,
        users_count: i64::from(!user.is_empty()),
        token_metrics: Value::Object(TOKEN_KEYS.iter().map(|k| (k.to_string(), json!(0))).collect()),
        model_metrics: json!([]),
        completed: day < today,
        created_at: now,
        updated_at: Some(now),
    })
}

/// The rows of the days the groups cover, one per (day, user): Agno's `calculate_metrics` records.
pub(crate) fn rows(sessions: &[SessionGroup], runs: &[RunGroup], today: &str, now: i64) -> Vec<UsageRow> {
    let mut out: indexmap::IndexMap<(String, String), UsageRow> = indexmap::IndexMap::new();
    for g in sessions {
        let r = slot(&mut out, &g.day, &g.user, today, now);
        match g.kind.as_str() {
            "agent" => r.agent_sessions_count += g.sessions,
            "team" => r.team_sessions_count += g.sessions,
            "workflow" => r.workflow_sessions_count += g.sessions,
            _ => {}
        }
        if let Some(t) = r.token_metrics.as_object_mut() {
            for (k, v) in TOKEN_KEYS.iter().zip(g.tokens) {
                let sum = t.get(*k).and_then(Value::as_i64).unwrap_or(0).saturating_add(v);
                t.insert(k.to_string(), json!(sum));
            }
        }
    }
    for g in runs {
        let r = slot(&mut out, &g.day, &g.user, today, now);
        match g.kind.as_str() {
            "agent" => r.agent_runs_count += g.runs,
            "team" => r.team_runs_count += g.runs,
            "workflow" => r.workflow_runs_count += g.runs,
            _ => {}
        }
        if let Some(model) = g.model.as_ref().filter(|m| !m.is_empty())
            && let Some(list) = r.model_metrics.as_array_mut()
        {
            let provider = g.provider.clone().unwrap_or_default();
            match list.iter_mut().find(|m| m["model_id"] == *model && m["model_provider"] == provider) {
                Some(m) => m["count"] = json!(m["count"].as_i64().unwrap_or(0) + g.runs),
                None => list.push(json!({"model_id": model, "model_provider": provider, "count": g.runs})),
            }
        }
    }
    out.into_values().collect()
}

/// Agno's `aggregate_metrics_by_date`: the rows of each day merged (counts and tokens summed,
/// models merged by id and provider, `users_count` the owners that day), id `YYYY-MM-DD_daily`.
pub fn by_date(rows: &[UsageRow]) -> Vec<UsageRow> {
    let mut days: indexmap::IndexMap<String, UsageRow> = indexmap::IndexMap::new();
    for r in rows {
        match days.get_mut(&r.date) {
            None => {
                let mut first = r.clone();
                first.id = format!("{}_daily", r.date);
                days.insert(r.date.clone(), first);
            }
            Some(d) => {
                d.agent_runs_count += r.agent_runs_count;
                d.team_runs_count += r.team_runs_count;
                d.workflow_runs_count += r.workflow_runs_count;
                d.agent_sessions_count += r.agent_sessions_count;
                d.team_sessions_count += r.team_sessions_count;
                d.workflow_sessions_count += r.workflow_sessions_count;
                d.users_count += r.users_count;
                if let (Some(t), Some(add)) = (d.token_metrics.as_object_mut(), r.token_metrics.as_object()) {
                    for (k, v) in add {
                        let sum = t.get(k).and_then(Value::as_i64).unwrap_or(0) + v.as_i64().unwrap_or(0);
                        t.insert(k.clone(), json!(sum));
                    }
                }
                let Some(list) = d.model_metrics.as_array_mut() else { continue };
                for m in r.model_metrics.as_array().into_iter().flatten() {
                    match list
                        .iter_mut()
                        .find(|x| x["model_id"] == m["model_id"] && x["model_provider"] == m["model_provider"])
                    {
                        Some(x) => {
                            x["count"] = json!(x["count"].as_i64().unwrap_or(0) + m["count"].as_i64().unwrap_or(0))
                        }
                        None => list.push(m.clone()),
                    }
                }
                d.created_at = d.created_at.min(r.created_at);
                d.updated_at = d.updated_at.max(r.updated_at);
            }
        }
    }
    days.into_values().collect()
}

/// Agno's `identify_metrics_by_owner`: the rows of one owner as they are, id
/// `YYYY-MM-DD_<user>_daily`.
pub fn by_owner(rows: &[UsageRow], user: &str) -> Vec<UsageRow> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.id = format!("{}_{user}_daily", r.date);
            r
        })
        .collect()
}

/// `YYYY-MM-DD` of an epoch time (UTC).
pub fn day_of(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| "1970-01-01".into())
}

/// Epoch seconds of `YYYY-MM-DD` 00:00 UTC.
pub fn epoch_of(day: &str) -> Option<i64> {
    let f = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(day, f).ok().map(|d| d.midnight().assume_utc().unix_timestamp())
}

/// Where the recalculation starts (Agno's rule): the earliest incomplete day after the latest
/// completed one, else the day after the latest completed one (at most today), else the oldest
/// session's day; None when there is no session at all.
pub(crate) fn start_day(
    latest_completed: Option<&str>,
    earliest_incomplete: Option<&str>,
    oldest_session: Option<i64>,
    today: &str,
) -> Option<String> {
    if let Some(d) = earliest_incomplete {
        return Some(d.to_string());
    }
    if let Some(done) = latest_completed {
        let next = epoch_of(done).map(|e| day_of(e + 86_400)).unwrap_or_else(|| today.to_string());
        return Some(if next.as_str() > today { today.to_string() } else { next });
    }
    oldest_session.map(day_of)
}
