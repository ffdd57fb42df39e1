//! Running a member for a leader: what the member is told (the task, or the user's message;
//! the team's earlier runs; what other members answered in this run; its own earlier runs in
//! this session), its run as a child of the leader's (its own row, `parent_run_id` set), and
//! what the leader gets back.

use std::collections::HashMap;

use serde_json::Value;

use super::prompt::MemberInfo;
use crate::config::model::TeamMode;
use crate::config::{AgentConfig, TeamKnobs};
use crate::run::{Component, RunInput, RunRequest, RunStatus, SessionType};
use crate::store::{Run, RunType};
use crate::tool::{ToolContext, ToolError};

/// What a team's tools know of it.
#[derive(Debug)]
pub struct Crew {
    /// The team's id.
    pub team_id: String,
    /// How it answers.
    pub mode: TeamMode,
    /// Its knobs.
    pub knobs: TeamKnobs,
    /// Its members, in order.
    pub members: Vec<MemberInfo>,
    /// Members that read their own earlier runs (`add_history_to_context`), by id.
    pub member_history: HashMap<String, AgentConfig>,
}

/// How a member run ended, for the leader.
#[derive(Debug)]
pub struct MemberResult {
    /// Its answer, or why it failed.
    pub content: String,
    /// True when it completed.
    pub ok: bool,
}

impl Crew {
    /// The member with this id.
    pub fn member(&self, id: &str) -> Option<&MemberInfo> {
        self.members.iter().find(|m| m.id == id)
    }

    /// The "not found" text Agno gives the leader.
    pub fn not_found(&self, id: &str) -> ToolError {
        ToolError::InvalidArguments(format!(
            "Member with ID {id} not found in the team or any subteams. Please choose the correct member from the list of members:\n\n{}",
            super::prompt::roster(&self.members, 0)
        ))
    }

    /// Runs `member` on `task` as a child of the calling run and waits for its end. A member
    /// that fails is stored ERROR (its own row) and reported as not ok; the leader goes on.
    pub async fn run_member(&self, ctx: &ToolContext, member: &MemberInfo, task: &str) -> MemberResult {
        let mut message = if self.knobs.determine_input_for_members || self.mode == TeamMode::Tasks {
            task.to_string()
        } else {
            ctx.message.to_string()
        };
        let needs_runs = self.knobs.share_member_interactions || self.member_history.contains_key(&member.id);
        let runs = if needs_runs {
            match ctx.scope.store().list_runs(ctx.scope.session_id()).await {
                Ok(runs) => runs,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the team session's runs for a member's context");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let mut prefix = String::new();
        if self.knobs.share_member_interactions {
            prefix.push_str(&interactions(&runs, ctx.scope.run_id(), &self.members));
        }
        if self.knobs.add_team_history_to_members {
            let n = self.knobs.num_team_history_runs;
            match ctx.scope.store().history_runs(ctx.scope.session_id(), n).await {
                Ok(history) => prefix.push_str(&team_history(&history)),
                Err(e) => tracing::warn!(error = %e, "cannot read the team's history for a member"),
            }
        }
        if !prefix.is_empty() {
            message = format!("{prefix}{message}");
        }
        let history = match self.member_history.get(&member.id) {
            Some(config) => own_history(config, runs, &member.id),
            None => Vec::new(),
        };
        let request = RunRequest {
            target: Component::new(member.kind, member.id.clone()),
            // Agno runs a member on the team's session state (tasks mode's board included),
            // so the member's run stores the state as it was when the member started.
            input: RunInput {
                message,
                history,
                session_state: Some(ctx.state()),
                stream: ctx.stream,
                ..RunInput::default()
            },
            parent: Some(ctx.scope.clone()),
        };
        let handle = match ctx.launcher.clone().start(request).await {
            Ok(h) => h,
            Err(e) => return MemberResult { content: e.to_string(), ok: false },
        };
        let run_id = handle.run_id().to_string();
        ctx.report.update(|f| f.child_run_ids.push(run_id));
        match handle.result().await {
            Ok(out) => {
                // A team inside a workflow step keeps its members in `member_responses` (they
                // have no rows), as Agno's Step forces.
                if self.knobs.store_member_responses || ctx.scope.is_nested() {
                    let data = out.run.run_data.clone();
                    ctx.report.update(|f| f.member_responses.push(data));
                }
                MemberResult { content: out.content, ok: true }
            }
            Err(e) => MemberResult { content: e.to_string(), ok: false },
        }
    }
}

/// Agno's `<member_interaction_context>`: what members answered earlier in this team run.
fn interactions(runs: &[Run], team_run_id: &str, members: &[MemberInfo]) -> String {
    let done: Vec<&Run> = runs
        .iter()
        .filter(|r| r.parent_run_id.as_deref() == Some(team_run_id) && r.status == Some(RunStatus::Completed))
        .collect();
    if done.is_empty() {
        return String::new();
    }
    let mut out = String::from("<member_interaction_context>\nSee below interactions with other team members.\n");
    for r in done {
        let id = r.agent_id.as_deref().or(r.team_id.as_deref()).unwrap_or_default();
        let name = members.iter().find(|m| m.id == id).map_or(id, |m| m.name.as_str());
        let task = r.run_data.pointer("/input/input_content").and_then(Value::as_str).unwrap_or_default();
        let content = r.run_data.get("content").and_then(Value::as_str).unwrap_or_default();
        out.push_str(&format!("Member: {name}\nTask: {task}\nResponse: {content}\n\n"));
    }
    out.push_str("</member_interaction_context>\n\n\n");
    out
}

/// Agno's `<team_history_context>` of the team's earlier top-level runs, oldest first.
fn team_history(runs: &[Run]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let mut parts = vec!["<team_history_context>".to_string()];
    for (i, r) in runs.iter().enumerate() {
        parts.push(format!("[run-{}]", i + 1));
        if let Some(input) = r.run_data.pointer("/input/input_content").and_then(Value::as_str) {
            parts.push(format!("input: {input}"));
        }
        if let Some(content) = r.run_data.get("content").and_then(Value::as_str).filter(|c| !c.is_empty()) {
            parts.push(format!("response: {content}"));
        }
        parts.push(String::new());
    }
    parts.push("</team_history_context>".into());
    parts.push(String::new());
    format!("{}\n\n", parts.join("\n"))
}

/// A member's own earlier runs in this team session (same member, run under a team, completed),
/// as history messages.
fn own_history(config: &AgentConfig, runs: Vec<Run>, member_id: &str) -> Vec<Value> {
    let n = crate::agent::prompt::history_runs(config) as usize;
    let mut mine: Vec<Run> = runs
        .into_iter()
        .filter(|r| {
            r.run_type == RunType::Agent
                && r.agent_id.as_deref() == Some(member_id)
                && r.parent_run_id.is_some()
                && r.status == Some(RunStatus::Completed)
        })
        .collect();
    if mine.len() > n {
        mine.drain(..mine.len() - n);
    }
    crate::agent::prompt::history(config, mine)
}

/// The member's kind as a run type.
pub fn is_team(m: &MemberInfo) -> bool {
    m.kind == SessionType::Team
}
