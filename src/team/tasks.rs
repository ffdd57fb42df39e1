//! Tasks mode's board (Agno's `TaskList`, `agno/team/task.py`), kept in
//! `session_state["_team_tasks"]` in Agno's shape, and the loop that goes on until the goal is
//! marked complete, every task completed, or `max_iterations` rounds ran.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::agent::Continuation;
use crate::tool::ToolContext;

/// The session-state key of the board.
pub const KEY: &str = "_team_tasks";
/// Most tasks one board holds (a model that creates tasks without end is told no).
pub const MAX_TASKS: usize = 100;
/// Most characters of a result shown in the board's summary (Agno's 200).
const PREVIEW: usize = 200;

/// A task's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Not started.
    #[default]
    Pending,
    /// A member works on it.
    InProgress,
    /// Done.
    Completed,
    /// Failed.
    Failed,
    /// Waits on a dependency.
    Blocked,
}

impl TaskStatus {
    /// Agno's word.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Blocked => "blocked",
        }
    }

    fn parse(s: &str) -> Option<TaskStatus> {
        Some(match s {
            "pending" => TaskStatus::Pending,
            "in_progress" => TaskStatus::InProgress,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            "blocked" => TaskStatus::Blocked,
            _ => return None,
        })
    }

    fn terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed)
    }
}

/// One task (Agno's `Task.to_dict()`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Task {
    /// 8 hex characters.
    pub id: String,
    /// Unique on the board (case-insensitive).
    pub title: String,
    /// What the member is told.
    #[serde(default)]
    pub description: String,
    /// Its status.
    #[serde(default)]
    pub status: TaskStatus,
    /// The member it is for.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Agno's parent task (unused by its tools).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Task ids it waits on.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// The member's answer, or why it failed.
    #[serde(default)]
    pub result: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Epoch seconds (a float, as Agno writes it).
    #[serde(default)]
    pub created_at: f64,
}

impl Task {
    /// What the member executing it is told: its description (Agno does not send the title),
    /// or the title when it has none.
    pub fn member_task(&self) -> String {
        if self.description.trim().is_empty() { self.title.clone() } else { self.description.clone() }
    }
}

/// The board (Agno's `TaskList.to_dict()`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Board {
    /// The tasks, in creation order.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// `mark_all_complete` was called.
    #[serde(default)]
    pub goal_complete: bool,
    /// Its summary.
    #[serde(default)]
    pub completion_summary: Option<String>,
}

impl Board {
    /// The board in `state` (an empty one when absent or unreadable).
    pub fn load(state: &Map<String, Value>) -> Board {
        let mut b: Board = state.get(KEY).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
        b.update_blocked();
        b
    }

    fn save(&self, state: &mut Map<String, Value>) {
        if let Ok(v) = serde_json::to_value(self) {
            state.insert(KEY.into(), v);
        }
    }

    /// The task with this id.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    fn status_of(&self, id: &str) -> Option<TaskStatus> {
        self.tasks.iter().find(|t| t.id == id).map(|t| t.status)
    }

    /// Agno's `_update_blocked_statuses`: pending tasks with unfinished dependencies are
    /// blocked, blocked ones whose dependencies completed are pending again, and a failed
    /// dependency fails its dependents.
    fn update_blocked(&mut self) {
        let statuses: Vec<(String, TaskStatus)> = self.tasks.iter().map(|t| (t.id.clone(), t.status)).collect();
        let of = |id: &str| statuses.iter().find(|(i, _)| i == id).map(|(_, s)| *s);
        for t in &mut self.tasks {
            let blocked = t.dependencies.iter().any(|d| of(d) != Some(TaskStatus::Completed));
            let failed_dep = t.dependencies.iter().any(|d| of(d) == Some(TaskStatus::Failed));
            match t.status {
                TaskStatus::Blocked if failed_dep => {
                    t.status = TaskStatus::Failed;
                    t.result = Some("Automatically failed: a dependency failed.".into());
                }
                TaskStatus::Blocked if !blocked => t.status = TaskStatus::Pending,
                TaskStatus::Pending if blocked => t.status = TaskStatus::Blocked,
                _ => {}
            }
        }
    }

    /// `create_task`.
    pub fn create(
        &mut self,
        title: String,
        description: String,
        assignee: Option<String>,
        deps: Vec<String>,
    ) -> String {
        let wanted = title.trim().to_lowercase();
        if let Some(t) = self.tasks.iter().find(|t| t.title.trim().to_lowercase() == wanted) {
            return format!(
                "Task already exists: [{}] {} (status: {}). Use this task instead of creating a duplicate.",
                t.id,
                t.title,
                t.status.as_str()
            );
        }
        if self.tasks.len() >= MAX_TASKS {
            return format!(
                "The task list already holds {MAX_TASKS} tasks, the most it may; execute or complete them."
            );
        }
        let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let created_at = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as f64 / 1e9;
        self.tasks.push(Task {
            id: id.clone(),
            title: title.clone(),
            description,
            assignee,
            dependencies: deps,
            created_at,
            ..Task::default()
        });
        self.update_blocked();
        let status = self.status_of(&id).unwrap_or_default();
        format!("Task created: [{id}] {title} (status: {})", status.as_str())
    }

    /// `update_task_status`.
    pub fn update_status(&mut self, id: &str, status: &str, result: Option<String>) -> String {
        let Some(new) = TaskStatus::parse(status) else {
            return format!("Invalid status '{status}'. Must be one of: pending, in_progress, completed, failed.");
        };
        if new == TaskStatus::Blocked {
            return "Cannot manually set status to 'blocked'. Blocked status is managed automatically based on task dependencies.".into();
        }
        let Some(t) = self.get_mut(id) else { return format!("Task with ID '{id}' not found.") };
        t.status = new;
        if result.is_some() {
            t.result = result;
        }
        let title = t.title.clone();
        self.update_blocked();
        let now = self.status_of(id).unwrap_or(new);
        format!("Task [{id}] '{title}' updated to {}.", now.as_str())
    }

    /// Records a member's end of task `id`; the text for the leader.
    pub fn finish(&mut self, id: &str, ok: bool, content: String) -> String {
        let Some(t) = self.get_mut(id) else { return format!("Task with ID '{id}' not found.") };
        let text = if !ok {
            t.status = TaskStatus::Failed;
            t.result = Some(content.clone());
            format!("Task [{id}] failed: {content}")
        } else if content.is_empty() {
            t.status = TaskStatus::Completed;
            format!("Task [{id}] completed with no content.")
        } else {
            t.status = TaskStatus::Completed;
            t.result = Some(content.clone());
            format!("Task [{id}] completed. Result: {content}")
        };
        self.update_blocked();
        text
    }

    /// True when every task completed or failed (and there is one).
    fn all_terminal(&self) -> bool {
        !self.tasks.is_empty() && self.tasks.iter().all(|t| t.status.terminal())
    }

    /// Agno's `get_summary_string`.
    pub fn summary(&self) -> String {
        if self.tasks.is_empty() {
            return "No tasks created yet.".into();
        }
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for t in &self.tasks {
            match counts.iter_mut().find(|(k, _)| *k == t.status.as_str()) {
                Some((_, n)) => *n += 1,
                None => counts.push((t.status.as_str(), 1)),
            }
        }
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let mut lines = vec![format!("Tasks ({} total: {}):", self.tasks.len(), parts.join(", "))];
        for t in &self.tasks {
            let who = t.assignee.as_ref().map_or(" (unassigned)".to_string(), |a| format!(" (assigned: {a})"));
            lines.push(format!("  [{}] {} - {}{who}", t.id, t.title, t.status.as_str().to_uppercase()));
            if !t.dependencies.is_empty() {
                lines.push(format!("      Depends on: {:?}", t.dependencies));
            }
            if let Some(r) = t.result.as_ref().filter(|r| !r.is_empty()) {
                let preview: String = r.chars().take(PREVIEW).collect();
                let more = if r.chars().count() > PREVIEW { "..." } else { "" };
                lines.push(format!("      Result: {preview}{more}"));
            }
            for note in t.notes.iter().rev().take(3).rev() {
                lines.push(format!("      Note: {note}"));
            }
        }
        if self.goal_complete
            && let Some(s) = &self.completion_summary
        {
            lines.push(format!("\nGoal marked complete: {s}"));
        }
        lines.join("\n")
    }
}

/// Runs `f` on the board of the run's state and saves it back (one lock, never across an await).
pub fn with_board<T>(ctx: &ToolContext, f: impl FnOnce(&mut Board) -> T) -> T {
    let mut guard = match ctx.state.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut board = Board::load(&guard);
    let out = f(&mut board);
    board.save(&mut guard);
    out
}

/// Tasks mode's loop: after each answer, go on with the board's state unless the goal is
/// complete, every task completed, or `max_iterations` rounds ran.
#[derive(Debug)]
pub struct TaskLoop {
    /// Most rounds.
    pub max_iterations: u32,
}

impl Continuation for TaskLoop {
    fn max_turns(&self) -> u32 {
        self.max_iterations.saturating_mul(16)
    }

    fn next(&self, answers: u32, state: &Map<String, Value>, tools_ran: bool) -> Option<String> {
        if answers >= self.max_iterations {
            tracing::warn!(
                max_iterations = self.max_iterations,
                "tasks mode reached max_iterations without completing"
            );
            return None;
        }
        let board = Board::load(state);
        if board.goal_complete {
            return None;
        }
        if board.all_terminal() && !board.tasks.iter().any(|t| t.status == TaskStatus::Failed) {
            return None;
        }
        // A request that needs no tasks ends once a second answer comes without tools.
        if board.tasks.is_empty() && !tools_ran && answers >= 2 {
            return None;
        }
        Some(format!(
            "<current_task_state>\n{}\n</current_task_state>\n\nContinue working on the tasks. Create, execute, or update tasks as needed. When the goal is met, write your answer and call `mark_all_complete`.",
            board.summary()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_blocks_on_dependencies_and_fails_dependents_of_a_failure() {
        let mut b = Board::default();
        let first = b.create("A".into(), "do a".into(), Some("m".into()), vec![]);
        let id_a = first[first.find('[').unwrap() + 1..first.find(']').unwrap()].to_string();
        let second = b.create("B".into(), String::new(), None, vec![id_a.clone()]);
        assert!(second.ends_with("(status: blocked)"), "{second}");
        assert!(b.create("a ".into(), String::new(), None, vec![]).starts_with("Task already exists"));
        assert_eq!(b.finish(&id_a, false, "boom".into()), format!("Task [{id_a}] failed: boom"));
        assert_eq!(b.tasks[1].status, TaskStatus::Failed);
        assert!(b.all_terminal());
        assert!(b.summary().starts_with("Tasks (2 total: 2 failed):"), "{}", b.summary());
        assert!(b.update_status(&id_a, "blocked", None).starts_with("Cannot manually"));
        assert!(b.update_status(&id_a, "nope", None).starts_with("Invalid status"));
    }

    #[test]
    fn the_loop_ends_on_completion_and_at_max_iterations() {
        let l = TaskLoop { max_iterations: 3 };
        let mut state = Map::new();
        assert!(l.next(1, &state, false).is_some_and(|m| m.contains("No tasks created yet.")));
        assert!(l.next(2, &state, false).is_none());
        let mut b = Board::default();
        b.create("A".into(), String::new(), None, vec![]);
        b.save(&mut state);
        assert!(l.next(1, &state, true).is_some());
        assert!(l.next(3, &state, true).is_none());
        b.goal_complete = true;
        b.save(&mut state);
        assert!(l.next(1, &state, true).is_none());
    }

    #[test]
    fn a_board_is_bounded() {
        let mut b = Board::default();
        for i in 0..MAX_TASKS + 5 {
            b.create(format!("t{i}"), String::new(), None, vec![]);
        }
        assert_eq!(b.tasks.len(), MAX_TASKS);
    }
}
