//! The leader's tools, with Agno 3.1.10's names, descriptions and argument schemas (copied
//! from what Agno sent, in `tools.json`): `delegate_task_to_member` (coordinate, route),
//! `delegate_task_to_members` (broadcast) and the task-board tools of tasks mode.

use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::members::Crew;
use super::tasks::{self, Board, TaskStatus};
use crate::config::model::TeamMode;
use crate::model::ToolSpec;
use crate::tool::{Tool, ToolContext, ToolError, string_arg};

/// Agno's specs, by tool name.
static SPECS: LazyLock<Map<String, Value>> = LazyLock::new(|| match serde_json::from_str(include_str!("tools.json")) {
    Ok(Value::Object(m)) => m,
    _ => Map::new(),
});

fn spec(name: &str) -> ToolSpec {
    let s = SPECS.get(name).cloned().unwrap_or_default();
    ToolSpec {
        name: name.to_string(),
        description: s.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
        parameters: s.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    }
}

/// Delegation takes a member's whole run; its own bound is the member's model timeouts.
const DELEGATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// The leader's tools for `crew`'s mode, in Agno's order.
pub fn for_mode(crew: &Arc<Crew>) -> Vec<Arc<dyn Tool>> {
    let tool =
        |kind: Kind| -> Arc<dyn Tool> { Arc::new(TeamTool { spec: spec(kind.name()), kind, crew: crew.clone() }) };
    match crew.mode {
        TeamMode::Coordinate | TeamMode::Route => vec![tool(Kind::Delegate)],
        TeamMode::Broadcast => vec![tool(Kind::DelegateAll)],
        TeamMode::Tasks => vec![
            tool(Kind::AddNote),
            tool(Kind::Create),
            tool(Kind::Execute),
            tool(Kind::ExecuteParallel),
            tool(Kind::List),
            tool(Kind::Complete),
            tool(Kind::UpdateStatus),
        ],
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Delegate,
    DelegateAll,
    AddNote,
    Create,
    Execute,
    ExecuteParallel,
    List,
    Complete,
    UpdateStatus,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Delegate => "delegate_task_to_member",
            Kind::DelegateAll => "delegate_task_to_members",
            Kind::AddNote => "add_task_note",
            Kind::Create => "create_task",
            Kind::Execute => "execute_task",
            Kind::ExecuteParallel => "execute_tasks_parallel",
            Kind::List => "list_tasks",
            Kind::Complete => "mark_all_complete",
            Kind::UpdateStatus => "update_task_status",
        }
    }
}

#[derive(Debug)]
struct TeamTool {
    spec: ToolSpec,
    kind: Kind,
    crew: Arc<Crew>,
}

fn opt_str<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

impl Tool for TeamTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn timeout(&self) -> std::time::Duration {
        match self.kind {
            Kind::Delegate | Kind::DelegateAll | Kind::Execute | Kind::ExecuteParallel => DELEGATION_TIMEOUT,
            _ => crate::tool::DEFAULT_TIMEOUT,
        }
    }

    fn call(&self, args: Value, ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let crew = &self.crew;
            match self.kind {
                Kind::Delegate => {
                    let id = string_arg(&args, "member_id")?;
                    let task = string_arg(&args, "task")?;
                    let member = crew.member(id).ok_or_else(|| crew.not_found(id))?;
                    let out = crew.run_member(&ctx, member, task).await;
                    if crew.mode == TeamMode::Route && out.ok {
                        ctx.report.update(|f| f.stop = true);
                    }
                    if out.ok {
                        Ok(out.content)
                    } else {
                        Err(ToolError::Failed(format!("member `{id}` failed: {}", out.content)))
                    }
                }
                Kind::DelegateAll => {
                    let task = string_arg(&args, "task")?;
                    let runs = crew.members.iter().map(|m| crew.run_member(&ctx, m, task));
                    let outs = futures_util::future::join_all(runs).await;
                    let mut text = String::new();
                    for (m, out) in crew.members.iter().zip(outs) {
                        let label = if super::members::is_team(m) { "Team" } else { "Agent" };
                        if out.ok {
                            text.push_str(&format!("{label} {}: {}", m.name, out.content));
                        } else {
                            text.push_str(&format!("{label} {}: Error - {}", m.name, out.content));
                        }
                    }
                    Ok(text)
                }
                Kind::List => Ok(tasks::with_board(&ctx, |b| b.summary())),
                Kind::AddNote => {
                    let id = string_arg(&args, "task_id")?.to_string();
                    let note = string_arg(&args, "note")?.to_string();
                    Ok(tasks::with_board(&ctx, |b| match b.get_mut(&id) {
                        Some(t) => {
                            t.notes.push(note);
                            format!("Note added to task [{id}].")
                        }
                        None => format!("Task with ID '{id}' not found."),
                    }))
                }
                Kind::Complete => {
                    let summary = string_arg(&args, "summary")?.to_string();
                    Ok(tasks::with_board(&ctx, |b| {
                        b.goal_complete = true;
                        b.completion_summary = Some(summary.clone());
                        format!("Goal marked as complete. Summary: {summary}")
                    }))
                }
                Kind::Create => {
                    let title = string_arg(&args, "title")?.to_string();
                    let description = opt_str(&args, "description").unwrap_or_default().to_string();
                    let assignee = opt_str(&args, "assignee").filter(|a| !a.is_empty()).map(str::to_string);
                    let depends_on: Vec<String> = args
                        .get("depends_on")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect();
                    Ok(tasks::with_board(&ctx, |b| b.create(title, description, assignee, depends_on)))
                }
                Kind::UpdateStatus => {
                    let id = string_arg(&args, "task_id")?.to_string();
                    let status = string_arg(&args, "status")?.to_string();
                    let result = opt_str(&args, "result").map(str::to_string);
                    Ok(tasks::with_board(&ctx, |b| b.update_status(&id, &status, result)))
                }
                Kind::Execute => {
                    let id = string_arg(&args, "task_id")?.to_string();
                    let member_id = string_arg(&args, "member_id")?.to_string();
                    let member = crew.member(&member_id).cloned();
                    let start = tasks::with_board(&ctx, |b| {
                        let Some(t) = b.get_mut(&id) else { return Err(format!("Task with ID '{id}' not found.")) };
                        if !matches!(t.status, TaskStatus::Pending | TaskStatus::InProgress) {
                            return Err(format!("Task [{id}] is {} and cannot be executed.", t.status.as_str()));
                        }
                        if member.is_none() {
                            return Err(format!(
                                "Member with ID {member_id} not found. Available members:\n{}",
                                super::prompt::roster(&crew.members, 0)
                            ));
                        }
                        t.status = TaskStatus::InProgress;
                        t.assignee = Some(member_id.clone());
                        Ok(t.member_task())
                    });
                    let (task, member) = match (start, member) {
                        (Ok(task), Some(member)) => (task, member),
                        (Err(text), _) => return Ok(text),
                        (Ok(_), None) => return Ok(format!("Member with ID {member_id} not found.")),
                    };
                    let out = crew.run_member(&ctx, &member, &task).await;
                    Ok(tasks::with_board(&ctx, |b| b.finish(&id, out.ok, out.content)))
                }
                Kind::ExecuteParallel => {
                    let ids: Vec<String> = args
                        .get("task_ids")
                        .and_then(Value::as_array)
                        .ok_or_else(|| ToolError::InvalidArguments("`task_ids` must be a list of task ids".into()))?
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .take(tasks::MAX_TASKS)
                        .collect();
                    let mut lines = Vec::new();
                    let mut jobs = Vec::new();
                    tasks::with_board(&ctx, |b: &mut Board| {
                        for id in &ids {
                            let Some(t) = b.get_mut(id) else {
                                lines.push(format!("Task '{id}' not found."));
                                continue;
                            };
                            if t.status != TaskStatus::Pending {
                                lines.push(format!("Task [{id}] is {}, cannot execute.", t.status.as_str()));
                                continue;
                            }
                            let Some(assignee) = t.assignee.clone() else {
                                lines.push(format!("Task [{id}] has no assignee. Assign a member_id first."));
                                continue;
                            };
                            let Some(member) = crew.member(&assignee).cloned() else {
                                lines.push(format!("Member '{assignee}' not found for task [{id}]."));
                                continue;
                            };
                            t.status = TaskStatus::InProgress;
                            jobs.push((id.clone(), member, t.member_task()));
                        }
                    });
                    let runs = jobs.iter().map(|(_, member, task)| crew.run_member(&ctx, member, task));
                    let outs = futures_util::future::join_all(runs).await;
                    for ((id, _, _), out) in jobs.iter().zip(outs) {
                        lines.push(tasks::with_board(&ctx, |b| b.finish(id, out.ok, out.content)));
                    }
                    Ok(lines.join("\n"))
                }
            }
        })
    }
}
