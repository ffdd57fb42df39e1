//! The team executor, with Agno 3.1.10's semantics (`TeamMode`: coordinate, route, broadcast,
//! tasks). A team's run is its leader's run: the agent executor's model ↔ tools loop with the
//! team's identity (`team_id`/`team_name`, `team_data`, `member_responses`), the leader's
//! system message ([`prompt`]) and its delegation tools ([`tools`]). Each delegation starts the
//! member as a child run ([`members`]): its own row in the team's session, `parent_run_id` set,
//! reporting into the same event stream, cancelled with the team run. Tasks mode keeps its
//! board in `session_state["_team_tasks"]` ([`tasks`]).

pub mod members;
pub mod prompt;
pub mod tasks;
mod tools;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use crate::agent::{Agent, Identity};
use crate::config::model::TeamMode;
use crate::config::{AgentConfig, Config, Member, TeamConfig};
use crate::model::Model;
use crate::run::SessionType;
use crate::tool::Toolbox;

pub use members::Crew;
pub use prompt::MemberInfo;

/// The roster entry of `member` in `config` (sub-teams with their own members, to `depth`).
pub fn member_info(config: &Config, member: &Member) -> MemberInfo {
    member_info_at(config, member, 0)
}

fn member_info_at(config: &Config, member: &Member, depth: usize) -> MemberInfo {
    match member {
        Member::Agent(id) => {
            let a = config.agents.get(id);
            MemberInfo {
                id: id.clone(),
                name: a.map_or_else(|| id.clone(), |a| a.name.clone()),
                kind: SessionType::Agent,
                role: a.and_then(|a| a.role.clone()),
                description: a.and_then(|a| a.settings.description.clone()),
                members: Vec::new(),
            }
        }
        Member::Team(id) => {
            let t = config.teams.get(id);
            // Validation refuses cycles; the depth bound keeps a bad config from recursing.
            let members = match t {
                Some(t) if depth < 8 => t.members.iter().map(|m| member_info_at(config, m, depth + 1)).collect(),
                _ => Vec::new(),
            };
            MemberInfo {
                id: id.clone(),
                name: t.map_or_else(|| id.clone(), |t| t.name.clone()),
                kind: SessionType::Team,
                role: t.and_then(|t| t.role.clone()),
                description: t.and_then(|t| t.settings.description.clone()),
                members,
            }
        }
    }
}

/// The leader of `team` (its run is the team's run), with `model`, over `config`'s members.
pub fn leader(config: &Config, team: &TeamConfig, model: Model) -> Agent {
    let members: Vec<MemberInfo> = team.members.iter().map(|m| member_info(config, m)).collect();
    let member_history: HashMap<String, AgentConfig> = team
        .members
        .iter()
        .filter_map(|m| match m {
            Member::Agent(id) => config.agents.get(id).filter(|a| a.settings.add_history_to_context == Some(true)),
            Member::Team(_) => None,
        })
        .map(|a| (a.id.clone(), a.clone()))
        .collect();
    let system = prompt::system_message(team, &members);
    let crew = Arc::new(Crew {
        team_id: team.id.clone(),
        mode: team.mode,
        knobs: team.knobs.clone(),
        members,
        member_history,
    });
    let as_agent = AgentConfig {
        id: team.id.clone(),
        name: team.name.clone(),
        model: team.model.clone(),
        role: team.role.clone(),
        db: team.db.clone(),
        settings: team.settings.clone(),
    };
    let mut toolbox = Toolbox::default();
    for tool in tools::for_mode(&crew) {
        toolbox.push(tool);
    }
    for tool in crate::tool::builtin::for_agent(&as_agent) {
        toolbox.push(tool);
    }
    let continuation: Option<Arc<dyn crate::agent::Continuation>> = (team.mode == TeamMode::Tasks)
        .then(|| Arc::new(tasks::TaskLoop { max_iterations: team.knobs.max_iterations }) as _);
    let identity = Identity {
        fields: [("team_id", json!(team.id)), ("team_name", json!(team.name))],
        data: json!({"name": team.name, "team_id": team.id, "model": model.describe()}),
        system: Some(system),
        team: true,
        continuation,
    };
    Agent {
        config: as_agent,
        model,
        tools: toolbox,
        identity,
        memory: None,
        mcp: Vec::new(),
        shadowed: Default::default(),
    }
}
