//! `GET /health`, `GET /config` and the agent, team and workflow descriptions, in AgentOS's
//! shapes. A database's `db_id` is its id in the config. Nothing here holds a key or password:
//! models are described by id and provider, databases by id and table names.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, Shared};
use crate::agent::Agent;
use crate::config::{Member, StepConfig, StepKind};
use crate::runtime::Generation;

/// `{status, instantiated_at}` as AgentOS answers, plus the config generation and the outcome
/// of the last reload (`last_error` holds the diagnostics of a config that failed to load).
///
/// `/health` is public (a load balancer's probe has no key): with a `security_key` set, a caller
/// without it sees the generation and whether the last reload loaded, not the file names,
/// diagnostics or database errors.
pub(super) async fn health(State(app): State<Shared>, headers: axum::http::HeaderMap) -> Json<Value> {
    let mut body = json!({ "status": "ok", "instantiated_at": super::reload::iso(app.live.started_at()) });
    let mut extra = app.live.health();
    if app.check_key(&headers).is_err() {
        let failed = !extra["last_error"].is_null();
        let loaded = extra["last_reload"]["loaded"].clone();
        extra = json!({
            "config_generation": extra["config_generation"],
            "last_reload": if extra["last_reload"].is_null() { Value::Null } else { json!({ "loaded": loaded }) },
            "last_error": if failed { json!({ "message": "the last reload failed; the details need the key" }) } else { Value::Null },
        });
    }
    if let (Some(out), Value::Object(extra)) = (body.as_object_mut(), extra) {
        out.extend(extra);
    }
    Json(body)
}

fn db_entry(db: &str, table: &str) -> Value {
    json!({ "db_id": db, "domain_config": { "display_name": db }, "tables": [table] })
}

/// `GET /config`: the `ConfigResponse` `RemoteAgent` and `RemoteDb` read.
pub(super) async fn config(State(app): State<Shared>) -> Json<Value> {
    let g = app.generation();
    let c = g.config();
    let dbs: Vec<&String> = c.databases.keys().collect();
    let domain = |table: fn(&crate::config::TableNames) -> String| -> Value {
        json!({ "dbs": c.databases.iter().map(|(id, d)| db_entry(id, &table(&d.tables))).collect::<Vec<_>>() })
    };
    let mut models: Vec<Value> = Vec::new();
    for id in c.models.keys() {
        if let Some(m) = g.model(id) {
            let entry = json!({ "id": m.name(), "provider": m.describe()["provider"] });
            if !models.contains(&entry) {
                models.push(entry);
            }
        }
    }
    let agents: Vec<Value> = c.agents.keys().filter_map(|id| g.agent(id)).map(|a| summary(a, &g, false)).collect();
    let teams: Vec<Value> = c.teams.keys().filter_map(|id| g.team(id)).map(|a| summary(a, &g, true)).collect();
    let workflows: Vec<Value> = c
        .workflows
        .values()
        .map(|w| {
            json!({
                "id": w.id, "name": w.name, "description": w.description, "db_id": w.db,
                "is_factory": false, "is_component": false, "sandboxed": false,
            })
        })
        .map(drop_nulls)
        .collect();
    Json(json!({
        "os_id": app.os_id,
        "name": "agno-run",
        "description": format!("agno-run {} serving {}", env!("CARGO_PKG_VERSION"), c.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")),
        "available_models": models,
        "databases": dbs,
        "session": domain(|t| t.sessions.clone()),
        "memory": domain(|t| t.memories.clone()),
        "filesystem": { "namespaces": [] },
        "knowledge": { "dbs": [], "knowledge_instances": [] },
        "queue": { "durable": false, "queue_per_session": false },
        "agents": agents,
        "teams": teams,
        "workflows": workflows,
        "interfaces": [],
        "company": null,
        "config_generation": g.number(),
    }))
}

/// Leaves out the top-level keys whose value is null, as AgentOS does.
fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

fn model_of(a: &Agent) -> Value {
    let d = a.model.describe();
    json!({ "name": d["name"], "model": d["id"], "provider": d["provider"] })
}

/// The `/config` line of an agent or a team.
fn summary(a: &Agent, g: &Generation, team: bool) -> Value {
    let c = &a.config;
    let mut v = json!({ "id": c.id, "name": c.name, "db_id": c.db });
    if team && let Some(t) = g.config().teams.get(&c.id) {
        v["mode"] = json!(t.mode);
    }
    v["model"] = json!({ "id": a.model.name(), "provider": a.model.describe()["provider"] });
    v["sandboxed"] = json!(false);
    v
}

fn instructions(a: &Agent) -> Option<Value> {
    serde_json::to_value(a.config.settings.instructions.as_ref()?).ok().map(|v| match v {
        Value::String(s) => json!([s]),
        other => other,
    })
}

/// `AgentResponse`: what `GET /agents/{id}` answers.
fn agent_body(a: &Agent, g: &Generation) -> Value {
    let c = &a.config;
    let s = &c.settings;
    let table = g.config().databases.get(&c.db).map(|d| d.tables.sessions.clone());
    let mut sessions = Map::new();
    sessions.insert("session_table".into(), json!(table));
    if s.add_history_to_context == Some(true) {
        sessions.insert("add_history_to_context".into(), json!(true));
        sessions.insert("num_history_runs".into(), json!(s.num_history_runs.unwrap_or(3)));
    }
    let mut v = json!({
        "id": c.id, "name": c.name, "db_id": c.db, "filesystem": false,
        "role": c.role, "description": s.description, "is_factory": false,
        "model": model_of(a),
    });
    let tools = tool_list(a);
    if !tools.is_empty() {
        v["tools"] = json!({ "tools": tools });
    }
    v["sessions"] = Value::Object(sessions);
    v["reasoning"] = json!({ "reasoning": false });
    if let Some(i) = instructions(a) {
        v["system_message"] = json!({ "instructions": i });
    }
    v["is_component"] = json!(false);
    v["sandboxed"] = json!(false);
    drop_nulls(v)
}

fn tool_list(a: &Agent) -> Vec<Value> {
    a.tool_specs_now()
        .iter()
        .map(|t| json!({ "name": t.name, "description": t.description, "parameters": t.parameters }))
        .collect()
}

/// `TeamResponse`, members (agents and nested teams) included.
fn team_body(leader: &Agent, g: &Generation, depth: usize) -> Value {
    let c = &leader.config;
    let Some(t) = g.config().teams.get(&c.id) else { return json!({ "id": c.id }) };
    let table = g.config().databases.get(&c.db).map(|d| d.tables.sessions.clone());
    let members: Vec<Value> = t
        .members
        .iter()
        .filter_map(|m| match m {
            Member::Agent(id) => g.agent(id).map(|a| agent_body(a, g)),
            // Teams cannot nest forever (validate refuses cycles); the depth is a second guard.
            Member::Team(id) if depth < 16 => g.team(id).map(|l| team_body(l, g, depth + 1)),
            Member::Team(id) => Some(json!({ "id": id })),
        })
        .collect();
    let mut v = json!({
        "id": c.id, "name": c.name, "db_id": c.db, "mode": t.mode, "role": t.role,
        "description": c.settings.description, "model": model_of(leader),
        "tools": { "tools": tool_list(leader) },
        "sessions": { "session_table": table },
        "reasoning": { "reasoning": false },
    });
    if let Some(i) = instructions(leader) {
        v["system_message"] = json!({ "instructions": i });
    }
    v["streaming"] = json!({ "stream_member_events": true });
    v["members"] = json!(members);
    v["is_component"] = json!(false);
    v["sandboxed"] = json!(false);
    drop_nulls(v)
}

fn step_body(s: &StepConfig, g: &Generation) -> Value {
    let mut v = json!({ "name": s.name, "description": s.description });
    match &s.kind {
        StepKind::Agent { id, .. } => {
            v["type"] = json!("Step");
            if let Some(a) = g.agent(id) {
                v["agent"] = agent_body(a, g);
            }
        }
        StepKind::Team { id, .. } => {
            v["type"] = json!("Step");
            if let Some(t) = g.team(id) {
                v["team"] = team_body(t, g, 0);
            }
        }
        StepKind::Parallel(steps) => {
            v["type"] = json!("Parallel");
            v["steps"] = json!(steps.iter().map(|s| step_body(s, g)).collect::<Vec<_>>());
        }
        StepKind::Condition { steps, else_steps, .. } => {
            v["type"] = json!("Condition");
            v["steps"] = json!(steps.iter().map(|s| step_body(s, g)).collect::<Vec<_>>());
            if !else_steps.is_empty() {
                v["else_steps"] = json!(else_steps.iter().map(|s| step_body(s, g)).collect::<Vec<_>>());
            }
        }
        StepKind::Loop { steps, .. } => {
            v["type"] = json!("Loop");
            v["steps"] = json!(steps.iter().map(|s| step_body(s, g)).collect::<Vec<_>>());
        }
        StepKind::Router { choices, .. } => {
            v["type"] = json!("Router");
            v["steps"] = json!(choices.iter().map(|s| step_body(s, g)).collect::<Vec<_>>());
        }
    }
    drop_nulls(v)
}

/// `WorkflowResponse`.
fn workflow_body(id: &str, g: &Generation) -> Option<Value> {
    let w = g.config().workflows.get(id)?;
    Some(drop_nulls(json!({
        "id": w.id, "name": w.name, "db_id": w.db, "description": w.description,
        "steps": w.steps.iter().map(|s| step_body(s, g)).collect::<Vec<_>>(),
        "workflow_agent": false, "is_factory": false, "is_component": false, "sandboxed": false,
    })))
}

pub(super) async fn agents(State(app): State<Shared>) -> Json<Value> {
    let g = app.generation();
    Json(json!(g.config().agents.keys().filter_map(|id| g.agent(id)).map(|a| agent_body(a, &g)).collect::<Vec<_>>()))
}

pub(super) async fn agent(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let g = app.generation();
    g.agent(&id).map(|a| Json(agent_body(a, &g))).ok_or_else(|| ApiError::not_found("Agent not found"))
}

pub(super) async fn teams(State(app): State<Shared>) -> Json<Value> {
    let g = app.generation();
    Json(json!(g.config().teams.keys().filter_map(|id| g.team(id)).map(|t| team_body(t, &g, 0)).collect::<Vec<_>>()))
}

pub(super) async fn team(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let g = app.generation();
    g.team(&id).map(|t| Json(team_body(t, &g, 0))).ok_or_else(|| ApiError::not_found("Team not found"))
}

pub(super) async fn workflows(State(app): State<Shared>) -> Json<Value> {
    let g = app.generation();
    Json(json!(g.config().workflows.keys().filter_map(|id| workflow_body(id, &g)).collect::<Vec<_>>()))
}

pub(super) async fn workflow(State(app): State<Shared>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let g = app.generation();
    workflow_body(&id, &g).map(Json).ok_or_else(|| ApiError::not_found("Workflow not found"))
}
