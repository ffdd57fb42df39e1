//! The leader's system message, as Agno 3.1.10 writes it (`agno/team/_messages.py`): the
//! team's own description, role and instructions, then `<team>` with the roster
//! (`<team_members>`) and the mode's `<delegation>` block, then additional information.

use crate::config::model::{Instructions, TeamMode};
use crate::config::{TeamConfig, TeamKnobs};
use crate::run::SessionType;

/// One member as the leader's roster shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its id (the delegation target).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Agent or team.
    pub kind: SessionType,
    /// Its role.
    pub role: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// A sub-team's own members (shown without ids).
    pub members: Vec<MemberInfo>,
}

/// The roster lines of `members` at `indent` (only the top level shows ids: an inner member is
/// not a delegation target of this leader).
pub fn roster(members: &[MemberInfo], indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for m in members {
        let id = if indent == 0 { format!(" id=\"{}\"", m.id) } else { String::new() };
        let kind = if m.kind == SessionType::Team { " type=\"team\"" } else { "" };
        out.push_str(&format!("{pad}<member{id} name=\"{}\"{kind}>\n", m.name));
        if let Some(role) = &m.role {
            out.push_str(&format!("{pad}  Role: {role}\n"));
        }
        if let Some(d) = &m.description {
            out.push_str(&format!("{pad}  Description: {d}\n"));
        }
        if m.kind == SessionType::Team {
            out.push_str(&roster(&m.members, indent + 2));
        }
        out.push_str(&format!("{pad}</member>\n"));
    }
    out
}

const SELECTOR: &str = "role and description";

fn delegation(mode: TeamMode, knobs: &TeamKnobs, has_sub_team: bool) -> String {
    let mut c = String::from("\n<delegation>\n");
    c.push_str(&match mode {
        TeamMode::Tasks => format!(
            "You work from a shared task list: you create tasks, assign each one to a member, execute them, and deliver the result.\n\n\
- `create_task` sets the assignee — the member whose {SELECTOR} fit the work best. `execute_tasks_parallel` runs each task against the member it was created with, so a task created without an assignee cannot go in a batch. Titles are unique: creating a task under an existing title returns that task instead of a new one.\n\
- Set `depends_on` only when a task genuinely needs another task's output.\n\
- Run one task with `execute_task`, or a batch of independent ones with `execute_tasks_parallel`. `list_tasks` re-reads the board at any point.\n\
- Read every result. On a failure, retry, reassign, or change the plan — do not repeat the same call unchanged. Record work you did yourself with `update_task_status`, and anything a later task will need with `add_task_note`.\n\
- A task result is evidence, not your answer. When a task fails or a member returns nothing, say so plainly and name what it reported — never supply a cause or a finding the member did not state.\n\
- `mark_all_complete` ends the loop; the summary you pass it is bookkeeping, not the reply. Write the answer as your own message in the same turn — that message is what reaches the user. A list whose tasks have all completed also ends the loop. For a request that needs no tasks at all — a greeting, a question you can simply answer — write the answer and call `mark_all_complete` in the same turn: that finishes at once instead of after a reminder. Call it too when the goal is out of reach: a partial outcome stated plainly beats looping.\n"
        ),
        TeamMode::Route => format!(
            "You work in route mode: you hand the request to exactly one member with `delegate_task_to_member`, and its reply is returned to the user as written and ends the run.\n\n\
- Pick the member whose {SELECTOR} are the closest match; if none is a clear fit, pick the closest and carry the shortfall into the task.\n\
- Pass the request whole. Do not reinterpret, narrow, or summarize what the user asked.\n\
- State any requirement on the reply — format, length, structure, tone — in the task itself. Your own formatting rules and expected output are not applied to what the member returns.\n\
- Write no text of your own in the turn you hand over: anything you write is prepended to the member's reply, and you get no turn to review or correct what it sends.\n"
        ),
        TeamMode::Broadcast => "You work in broadcast mode: one call puts the same task to every member, then you write the answer yourself.\n\n\
- Call `delegate_task_to_members` exactly once. One call reaches every member; do not call it once per member.\n\
- Write one whole question each member can answer from its own vantage point, not a sub-task for one of them.\n\
- A member's output is evidence, not your answer. When a member fails, refuses, or returns nothing, say so plainly and name what it reported — never supply a cause, source, or finding the member did not state.\n\
- Say each finding once: where members agree that is one finding, not three; where they conflict, reconcile it and say which view you took. Integrate the strongest contributions thematically — never list the responses in sequence.\n"
            .to_string(),
        TeamMode::Coordinate => format!(
            "You work in coordinate mode: you hand sub-tasks to members with `delegate_task_to_member` and write the answer yourself.\n\n\
- Match each sub-task to the member whose {SELECTOR} fit it best. When sub-tasks do not depend on each other, delegate them in the same turn instead of one per turn.\n\
- A member's output is evidence, not your answer. When a member fails, refuses, or returns nothing, say so plainly and name what it reported — never supply a cause, source, or finding the member did not state.\n\
- If a response is off-target, re-delegate with clearer instructions or try a better-suited member. If it still misses, answer with what you have and say what is missing — do not work through the roster.\n\
- Write one answer. Resolve contradictions, add structure, and fill gaps only where you can state the basis for it. Never concatenate member outputs.\n"
        ),
    });
    if mode != TeamMode::Tasks && !knobs.determine_input_for_members {
        c.push_str("\nMembers do not see this conversation, and each one receives the user's message verbatim rather than the text you write. Pass a short label; do not restate or rewrite the request.\n");
    } else if knobs.add_team_history_to_members || knobs.share_member_interactions {
        c.push_str("\nMembers see only what you pass them plus the shared context this team forwards — not the conversation itself. Carry over every name, number and earlier answer the task depends on, and say what a good result looks like.\n");
    } else {
        c.push_str("\nMembers do not see this conversation. Each one gets only the text you write for it, so carry over every name, number and earlier answer it needs, and say what a good result looks like.\n");
    }
    if mode != TeamMode::Broadcast {
        if has_sub_team {
            c.push_str("Member ids are the ids shown in the roster above, used exactly as written — never joined or prefixed. Delegate to a sub-team by the sub-team's own id; its leader hands work to the members inside it.\n");
        } else {
            c.push_str("Member ids are the ids shown in the roster above, used exactly as written.\n");
        }
    }
    c.push_str("</delegation>\n");
    c
}

/// Agno's `render_instructions`: one instruction as is; several as a bullet list (multi-line
/// ones as blocks).
fn render_instructions(list: &[String]) -> String {
    if list.len() == 1 {
        return list[0].clone();
    }
    let block = |i: &str| i.trim().contains('\n');
    if !list.iter().any(|i| block(i)) {
        return list.iter().map(|i| format!("- {}", i.trim())).collect::<Vec<_>>().join("\n");
    }
    list.iter().map(|i| if block(i) { i.clone() } else { format!("- {}", i.trim()) }).collect::<Vec<_>>().join("\n\n")
}

/// The leader's system message for `team` with `members`.
pub fn system_message(team: &TeamConfig, members: &[MemberInfo]) -> String {
    let s = &team.settings;
    let mut c = String::new();
    if let Some(d) = &s.description {
        c.push_str(&format!("<description>\n{d}\n</description>\n\n"));
    }
    if let Some(role) = &team.role {
        c.push_str(&format!("<your_role>\n{role}\n</your_role>\n\n"));
    }
    let instructions: Vec<String> = match &s.instructions {
        Some(Instructions::One(i)) => vec![i.clone()],
        Some(Instructions::Many(list)) => list.clone(),
        None => Vec::new(),
    };
    if !instructions.is_empty() {
        c.push_str(&render_instructions(&instructions));
        c.push_str("\n\n");
    }
    if !members.is_empty() {
        c.push_str("<team>\n");
        c.push_str("You coordinate this team to fulfill the user's request. You have a team of specialists, listed below. Delegate to members when their expertise or tools are needed; answer directly — including with your own tools — when they are not.\n");
        c.push_str("\n<team_members>\n");
        c.push_str(&roster(members, 0));
        c.push_str("</team_members>\n");
        let has_sub_team = members.iter().any(|m| m.kind == SessionType::Team);
        c.push_str(&delegation(team.mode, &team.knobs, has_sub_team));
        c.push_str("</team>\n\n");
    }
    let mut extra = Vec::new();
    if s.markdown == Some(true) {
        extra.push("Use markdown to format your answers.".to_string());
    }
    if s.add_datetime_to_context == Some(true) {
        let now = time::OffsetDateTime::now_utc();
        let fmt = time::format_description::well_known::Rfc3339;
        extra.push(format!("The current time is {} (UTC).", now.format(&fmt).unwrap_or_default()));
    }
    if !extra.is_empty() {
        c.push_str("<additional_information>");
        for e in extra {
            c.push_str(&format!("\n- {e}"));
        }
        c.push_str("\n</additional_information>\n\n");
    }
    c.trim().to_string()
}
