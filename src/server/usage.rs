//! AgentOS's usage routes over Agno's `agno_metrics`: `GET /metrics` (daily aggregates,
//! recalculated first when the last calculation is a minute old, as AgentOS does) and
//! `POST /metrics/refresh` (recalculate now; answers the days it recalculated), plus
//! `GET /metrics/refresh/status`. The calculation is the store's (aggregate queries).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::reload::iso;
use super::{Shared, sessions};
use crate::store::usage::{UsageRow, by_date, by_owner};

/// How long a calculation is fresh for `GET /metrics` (AgentOS's minute).
const FRESH: Duration = Duration::from_secs(60);

/// Per database: when `GET /metrics` last recalculated, and the last refresh's state. A std
/// mutex: held to read or set a few fields, never across an await.
#[derive(Debug, Default)]
pub struct UsageState {
    inner: Mutex<HashMap<String, DbState>>,
}

#[derive(Debug, Default, Clone)]
struct DbState {
    calculated: Option<Instant>,
    status: Option<&'static str>,
    started_at: Option<String>,
    finished_at: Option<String>,
    error: Option<String>,
}

impl UsageState {
    fn with<T>(&self, db: &str, f: impl FnOnce(&mut DbState) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(g.entry(db.to_string()).or_default())
    }
}

fn now_iso() -> String {
    format!("{}Z", crate::pyrepr::isoformat(time::OffsetDateTime::now_utc()))
}

fn date_param(name: &str, v: &Option<String>) -> ApiResult<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    match crate::store::usage::epoch_of(v) {
        Some(_) => Ok(Some(v.clone())),
        None => Err(ApiError::field(
            &["query", name],
            "date_from_datetime_parsing",
            "Input should be a valid date",
            json!(v),
        )),
    }
}

/// Query of `GET /metrics`.
#[derive(Debug, Deserialize)]
pub(super) struct MetricsQuery {
    starting_date: Option<String>,
    ending_date: Option<String>,
    user_id: Option<String>,
    db_id: Option<String>,
    table: Option<String>,
}

fn db_of(app: &Shared, db_id: Option<&str>) -> String {
    db_id.map(str::to_string).or_else(|| app.generation().config().databases.keys().next().cloned()).unwrap_or_default()
}

/// AgentOS's `DayAggregatedMetrics` (field order as AgentOS writes it; times in whole seconds).
fn api(r: &UsageRow) -> Value {
    json!({
        "id": r.id,
        "agent_runs_count": r.agent_runs_count,
        "agent_sessions_count": r.agent_sessions_count,
        "team_runs_count": r.team_runs_count,
        "team_sessions_count": r.team_sessions_count,
        "workflow_runs_count": r.workflow_runs_count,
        "workflow_sessions_count": r.workflow_sessions_count,
        "users_count": r.users_count,
        "token_metrics": r.token_metrics,
        "model_metrics": r.model_metrics,
        "date": format!("{}T00:00:00Z", r.date),
        "created_at": iso(r.created_at),
        "updated_at": r.updated_at.map(iso),
    })
}

/// Without a user, the days merged (Agno's `aggregate_metrics_by_date`); with one, that owner's
/// rows (`identify_metrics_by_owner`).
fn items(rows: &[UsageRow], user: Option<&str>) -> Vec<Value> {
    let rows = match user {
        None => by_date(rows),
        Some(u) => by_owner(rows, u),
    };
    rows.iter().map(api).collect()
}

/// `GET /metrics`: `{metrics: [...], updated_at}`.
pub(super) async fn get(State(app): State<Shared>, Query(q): Query<MetricsQuery>) -> ApiResult<Json<Value>> {
    let (from, until) = (date_param("starting_date", &q.starting_date)?, date_param("ending_date", &q.ending_date)?);
    let g = app.generation();
    let store = sessions::store_for(&g, q.db_id.as_deref(), q.table.as_deref(), |t| &t.metrics).await?;
    let db = db_of(&app, q.db_id.as_deref());
    let stale = app.usage.with(&db, |s| s.calculated.is_none_or(|t| t.elapsed() >= FRESH));
    if stale {
        app.usage.with(&db, |s| s.calculated = Some(Instant::now()));
        if let Err(e) = store.calculate_usage().await {
            tracing::warn!(db = %db, error = %e, "cannot recalculate the usage metrics; serving the stored ones");
        }
    }
    let all = store.list_usage(None, None, q.user_id.as_deref()).await?;
    // AgentOS's `updated_at` is the latest over the whole table, whatever the date range.
    let updated = all.iter().filter_map(|r| r.updated_at).max().map(iso);
    let in_range = |r: &&UsageRow| {
        from.as_deref().is_none_or(|f| r.date.as_str() >= f) && until.as_deref().is_none_or(|u| r.date.as_str() <= u)
    };
    let rows: Vec<UsageRow> = all.iter().filter(in_range).cloned().collect();
    Ok(Json(json!({"metrics": items(&rows, q.user_id.as_deref()), "updated_at": updated})))
}

/// Query of `POST /metrics/refresh`.
#[derive(Debug, Deserialize)]
pub(super) struct RefreshQuery {
    user_id: Option<String>,
    db_id: Option<String>,
    table: Option<String>,
    #[serde(default)]
    background: bool,
}

/// `POST /metrics/refresh`: recalculates now; the recalculated days (a bare array), or 202 with
/// `background=true`.
pub(super) async fn refresh(State(app): State<Shared>, Query(q): Query<RefreshQuery>) -> ApiResult<Response> {
    let g = app.generation();
    let store = sessions::store_for(&g, q.db_id.as_deref(), q.table.as_deref(), |t| &t.metrics).await?;
    let db = db_of(&app, q.db_id.as_deref());
    let running = app.usage.with(&db, |s| {
        if s.status == Some("running") {
            return true;
        }
        *s = DbState {
            calculated: Some(Instant::now()),
            status: Some("running"),
            started_at: Some(now_iso()),
            ..s.clone()
        };
        s.finished_at = None;
        s.error = None;
        false
    });
    if running {
        let body = json!({"status": "already_running", "message": "A metrics refresh is already in progress for this database"});
        let code = if q.background { StatusCode::ACCEPTED } else { StatusCode::OK };
        return Ok((code, Json(body)).into_response());
    }
    let finish = {
        let app = app.clone();
        let db = db.clone();
        move |result: &Result<Vec<UsageRow>, crate::store::StoreError>| {
            app.usage.with(&db, |s| {
                s.finished_at = Some(now_iso());
                match result {
                    Ok(_) => s.status = Some("completed"),
                    Err(e) => {
                        s.status = Some("failed");
                        s.error = Some(e.to_string());
                    }
                }
            })
        }
    };
    if q.background {
        tokio::spawn(async move {
            let result = store.calculate_usage().await;
            finish(&result);
        });
        let body = json!({"status": "started", "message": "Metrics refresh started in background"});
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let result = store.calculate_usage().await;
    finish(&result);
    let rows = result?;
    let rows: Vec<UsageRow> = match q.user_id.as_deref() {
        Some(u) => rows.into_iter().filter(|r| r.user_id == u).collect(),
        None => rows,
    };
    Ok(Json(Value::Array(items(&rows, q.user_id.as_deref()))).into_response())
}

/// Query of `GET /metrics/refresh/status`.
#[derive(Debug, Deserialize)]
pub(super) struct StatusQuery {
    db_id: Option<String>,
    table: Option<String>,
}

/// `GET /metrics/refresh/status`.
pub(super) async fn status(State(app): State<Shared>, Query(q): Query<StatusQuery>) -> ApiResult<Json<Value>> {
    let g = app.generation();
    sessions::store_for(&g, q.db_id.as_deref(), q.table.as_deref(), |t| &t.metrics).await?;
    let db = db_of(&app, q.db_id.as_deref());
    let s = app.usage.with(&db, |s| s.clone());
    Ok(Json(json!({
        "status": s.status.unwrap_or("idle"),
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "error": s.error,
    })))
}
