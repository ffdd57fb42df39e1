//! `agno-run tools`: every tool each agent and team would be offered, with its source
//! (built-in, or the MCP server it comes from), after starting the MCP servers they use.
//! It runs nothing and opens no database.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::{EXIT_FAILURE, EXIT_USAGE, load_or_report, tokio_runtime, write_out};

/// Options of `tools`.
#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Config files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Only this agent (or team).
    #[arg(long)]
    pub agent: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ToolsFormat::Human)]
    pub format: ToolsFormat,
    /// Do not check environment variables.
    #[arg(long)]
    pub no_env: bool,
}

/// Output format of `tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolsFormat {
    /// A list per agent: name, source, first line of the description.
    Human,
    /// `{agents: {id: [{name, source, description, parameters}]}, teams: {...}, mcp_servers: {id: {status, error}}}`.
    Json,
}

/// Runs `tools`: exit 0 when every MCP server used started, 1 when one did not (its tools are
/// missing from the list), 2 for an unknown agent, 78 for an invalid config.
pub fn run(args: ToolsArgs) -> u8 {
    let config = match load_or_report(&args.paths, args.no_env) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(id) = &args.agent
        && !config.agents.contains_key(id)
        && !config.teams.contains_key(id)
    {
        let known: Vec<&String> = config.agents.keys().chain(config.teams.keys()).collect();
        say!(
            "error: no agent or team `{id}`; declared: {}",
            known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        );
        return EXIT_USAGE;
    }
    let rt = match tokio_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let generation = super::generation(config, true, None);
        // Ctrl-C, SIGTERM or SIGHUP while the servers start: stop them (their process groups)
        // and exit 1, rather than wait for their startup timeouts or leave them behind.
        let mut signals = super::run_cmd::Signals::install();
        let started = tokio::select! {
            biased;
            _ = signals.next() => {
                say!("interrupted: stopping the MCP servers");
                generation.process().close().await;
                return EXIT_FAILURE;
            }
            started = generation.start_mcp() => started,
        };
        let mut failed = false;
        let mut servers = serde_json::Map::new();
        for (id, r) in &started {
            if let Err(why) = r {
                failed = true;
                say!("error: MCP server `{id}` did not start: {why}");
            }
            servers
                .insert(id.clone(), json!({"status": if r.is_ok() {"ready"} else {"down"}, "error": r.as_ref().err()}));
        }
        let c = generation.config();
        let wanted = |id: &String| args.agent.as_ref().is_none_or(|a| a == id);
        let mut agents = serde_json::Map::new();
        for id in c.agents.keys().filter(|id| wanted(id)) {
            if let Some(a) = generation.agent(id) {
                agents.insert(id.clone(), listing(&*a.toolbox_for_run().await));
            }
        }
        let mut teams = serde_json::Map::new();
        for id in c.teams.keys().filter(|id| wanted(id)) {
            if let Some(t) = generation.team(id) {
                teams.insert(id.clone(), listing(&*t.toolbox_for_run().await));
            }
        }
        let out = json!({"agents": agents, "teams": teams, "mcp_servers": servers});
        let text = match args.format {
            ToolsFormat::Json => format!("{}\n", serde_json::to_string_pretty(&out).unwrap_or_default()),
            ToolsFormat::Human => human(&out),
        };
        let code = write_out(&text);
        generation.process().close().await;
        if failed { EXIT_FAILURE } else { code }
    })
}

fn listing(toolbox: &crate::tool::Toolbox) -> Value {
    Value::Array(
        toolbox
            .tools()
            .iter()
            .map(|t| {
                let s = t.spec();
                json!({"name": s.name, "source": t.source(), "description": s.description, "parameters": s.parameters})
            })
            .collect(),
    )
}

fn human(out: &Value) -> String {
    let mut text = String::new();
    for (kind, key) in [("agent", "agents"), ("team", "teams")] {
        for (id, tools) in out[key].as_object().into_iter().flatten() {
            let tools = tools.as_array().cloned().unwrap_or_default();
            text.push_str(&format!("{kind} {id}: {} tool(s)\n", tools.len()));
            let width = tools.iter().filter_map(|t| t["name"].as_str()).map(str::len).max().unwrap_or(0);
            let swidth = tools.iter().filter_map(|t| t["source"].as_str()).map(str::len).max().unwrap_or(0);
            for t in &tools {
                let first = t["description"].as_str().unwrap_or("").lines().next().unwrap_or("");
                let first: String = first.chars().take(100).collect();
                text.push_str(&format!(
                    "  {:width$}  {:swidth$}  {first}\n",
                    t["name"].as_str().unwrap_or(""),
                    t["source"].as_str().unwrap_or("")
                ));
            }
        }
    }
    if text.is_empty() {
        text.push_str("no agents or teams\n");
    }
    text
}
