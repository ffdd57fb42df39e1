//! `agno-run graph`: the structure of a config at a glance — agents, teams (members, nested teams,
//! mode), workflows (steps, parallel groups, condition and router branches, loops) and the
//! databases, models, tools and MCP servers they use — as Mermaid (renders in GitHub) or DOT
//! (Graphviz). Stable: every list is sorted, so a diff of the graph is a change of structure.
//! It reads the validated config only: no database, no network, no MCP server started.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{load_or_report, write_out};
use crate::config::model::{RunSettings, TeamMode, Tool};
use crate::config::{Config, Member, StepConfig, StepKind};

/// Options of `graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Config files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
}

/// Output format of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
}

/// The shape of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    Database,
    Model,
    Agent,
    Team,
    Workflow,
    Step,
    Branch,
    Tool,
    Mcp,
}

/// A graph: nodes (id, label, shape) and edges (from, to, label), both sorted.
#[derive(Debug, Default)]
struct Graph {
    nodes: BTreeSet<(String, String, Shape)>,
    edges: BTreeSet<(String, String, String)>,
}

impl Graph {
    fn node(&mut self, id: &str, label: &str, shape: Shape) -> String {
        self.nodes.insert((id.to_string(), label.to_string(), shape));
        id.to_string()
    }

    fn edge(&mut self, from: &str, to: &str, label: &str) {
        self.edges.insert((from.to_string(), to.to_string(), label.to_string()));
    }
}

fn mode(m: TeamMode) -> &'static str {
    match m {
        TeamMode::Route => "route",
        TeamMode::Coordinate => "coordinate",
        TeamMode::Broadcast => "broadcast",
        TeamMode::Tasks => "tasks",
    }
}

/// The tools a component uses: built-in ones as tool nodes, MCP servers as server nodes.
fn tools(g: &mut Graph, from: &str, settings: &RunSettings) {
    for t in &settings.tools {
        match t {
            Tool::Name(name) => {
                let id = g.node(&format!("tool:{name}"), name.as_str(), Shape::Tool);
                g.edge(from, &id, "tool");
            }
            Tool::Spec(spec) => {
                let id = g.node(&format!("tool:{}", spec.name), &spec.name, Shape::Tool);
                g.edge(from, &id, "tool");
            }
            Tool::Mcp(r) => {
                let id = format!("mcp:{}", r.mcp);
                let label = if r.include_tools.is_empty() {
                    "mcp".to_string()
                } else {
                    format!("mcp: {}", r.include_tools.join(", "))
                };
                g.edge(from, &id, &label);
            }
        }
    }
}

/// Adds the steps of workflow `wf` under `parent` (a workflow or a branching step), in order:
/// `parent → first`, then each step to the next.
fn steps(g: &mut Graph, wf: &str, path: &str, parent: &str, label: &str, list: &[StepConfig]) {
    let mut prev: Option<String> = None;
    for (i, s) in list.iter().enumerate() {
        let id = format!("step:{wf}/{path}{i:02}-{}", s.name);
        let (kind, shape) = match &s.kind {
            StepKind::Agent { .. } => ("agent step", Shape::Step),
            StepKind::Team { .. } => ("team step", Shape::Step),
            StepKind::Parallel(_) => ("parallel", Shape::Branch),
            StepKind::Condition { .. } => ("condition", Shape::Branch),
            StepKind::Loop { .. } => ("loop", Shape::Branch),
            StepKind::Router { .. } => ("router", Shape::Branch),
        };
        g.node(&id, &format!("{} ({kind})", s.name), shape);
        match &prev {
            None => g.edge(parent, &id, label),
            Some(p) => g.edge(p, &id, "then"),
        }
        let inner = format!("{path}{i:02}/");
        match &s.kind {
            StepKind::Agent { id: agent, .. } => g.edge(&id, &format!("agent:{agent}"), "runs"),
            StepKind::Team { id: team, .. } => g.edge(&id, &format!("team:{team}"), "runs"),
            StepKind::Parallel(children) => {
                for (j, c) in children.iter().enumerate() {
                    steps(g, wf, &format!("{inner}p{j:02}/"), &id, "parallel", std::slice::from_ref(c));
                }
            }
            StepKind::Condition { condition, steps: then, else_steps } => {
                steps(g, wf, &format!("{inner}if/"), &id, &format!("if {}", condition.source()), then);
                steps(g, wf, &format!("{inner}else/"), &id, "else", else_steps);
            }
            StepKind::Loop { end_condition, max_iterations, steps: body } => {
                let until = end_condition.as_ref().map_or(String::new(), |e| format!(" until {}", e.source()));
                steps(g, wf, &inner, &id, &format!("repeat ≤{max_iterations}{until}"), body);
            }
            StepKind::Router { router, choices } => {
                for (j, c) in choices.iter().enumerate() {
                    let label = format!("route {}", router.source());
                    steps(g, wf, &format!("{inner}r{j:02}/"), &id, &label, std::slice::from_ref(c));
                }
            }
        }
        prev = Some(id);
    }
}

/// The graph of `config`.
fn graph(config: &Config) -> Graph {
    let mut g = Graph::default();
    for (id, db) in &config.databases {
        let kind = match &db.backend {
            crate::config::Backend::Sqlite { .. } => "sqlite",
            crate::config::Backend::Postgres { .. } => "postgres",
            crate::config::Backend::Memory => "memory",
        };
        g.node(&format!("db:{id}"), &format!("{id} ({kind})"), Shape::Database);
    }
    for id in config.models.keys() {
        g.node(&format!("model:{id}"), id, Shape::Model);
    }
    for id in config.mcp_servers.keys() {
        g.node(&format!("mcp:{id}"), &format!("{id} (MCP)"), Shape::Mcp);
    }
    for (id, a) in &config.agents {
        let node = g.node(&format!("agent:{id}"), &format!("{} (agent)", a.name), Shape::Agent);
        g.edge(&node, &format!("model:{}", a.model), "model");
        g.edge(&node, &format!("db:{}", a.db), "db");
        tools(&mut g, &node, &a.settings);
    }
    for (id, t) in &config.teams {
        let node = g.node(&format!("team:{id}"), &format!("{} (team, {})", t.name, mode(t.mode)), Shape::Team);
        g.edge(&node, &format!("model:{}", t.model), "model");
        g.edge(&node, &format!("db:{}", t.db), "db");
        for m in &t.members {
            let to = match m {
                Member::Agent(a) => format!("agent:{a}"),
                Member::Team(t) => format!("team:{t}"),
            };
            g.edge(&node, &to, "member");
        }
        tools(&mut g, &node, &t.settings);
    }
    for (id, w) in &config.workflows {
        let node = g.node(&format!("workflow:{id}"), &format!("{} (workflow)", w.name), Shape::Workflow);
        g.edge(&node, &format!("db:{}", w.db), "db");
        steps(&mut g, id, "", &node, "first", &w.steps);
    }
    g
}

/// A Mermaid node id: letters, digits and `_` only, unique per graph id.
fn mermaid_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    for c in id.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => out.push(c),
            '_' => out.push_str("__"),
            c => {
                let _ = write!(out, "_{:x}_", c as u32);
            }
        }
    }
    out
}

/// Mermaid label text: quotes and markup characters as entity codes.
fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn mermaid(g: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for (id, label, shape) in &g.nodes {
        let (open, close) = match shape {
            Shape::Database => ("[(", ")]"),
            Shape::Model => ("{{", "}}"),
            Shape::Agent => ("[", "]"),
            Shape::Team => ("[[", "]]"),
            Shape::Workflow => ("([", "])"),
            Shape::Step => ("[/", "/]"),
            Shape::Branch => ("{", "}"),
            Shape::Tool => ("(", ")"),
            Shape::Mcp => (">", "]"),
        };
        let _ = writeln!(out, "  {}{open}\"{}\"{close}", mermaid_id(id), mermaid_text(label));
    }
    for (from, to, label) in &g.edges {
        let _ = writeln!(out, "  {} -->|\"{}\"| {}", mermaid_id(from), mermaid_text(label), mermaid_id(to));
    }
    out
}

fn dot_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot(g: &Graph) -> String {
    let mut out = String::from("digraph agno_run {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n");
    for (id, label, shape) in &g.nodes {
        let shape = match shape {
            Shape::Database => "cylinder",
            Shape::Model => "hexagon",
            Shape::Agent => "box",
            Shape::Team => "box3d",
            Shape::Workflow => "oval",
            Shape::Step => "parallelogram",
            Shape::Branch => "diamond",
            Shape::Tool => "ellipse",
            Shape::Mcp => "component",
        };
        let _ = writeln!(out, "  \"{}\" [label=\"{}\", shape={shape}];", dot_text(id), dot_text(label));
    }
    for (from, to, label) in &g.edges {
        let _ = writeln!(out, "  \"{}\" -> \"{}\" [label=\"{}\"];", dot_text(from), dot_text(to), dot_text(label));
    }
    out.push_str("}\n");
    out
}

/// Runs the command: the graph on stdout; exit 78 for an invalid config.
pub(super) fn run(args: GraphArgs) -> u8 {
    let config = match load_or_report(&args.paths, false) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let g = graph(&config);
    write_out(&match args.format {
        GraphFormat::Mermaid => mermaid(&g),
        GraphFormat::Dot => dot(&g),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_labels_cannot_break_out_of_their_syntax() {
        assert_eq!(mermaid_id("agent:a_b-c"), "agent_3a_a__b_2d_c");
        assert_eq!(mermaid_text("a \"b\" <c> | #d"), "a #quot;b#quot; #lt;c#gt; #124; #35;d");
        assert_eq!(dot_text("a \"b\" \\ c\nd"), "a \\\"b\\\" \\\\ c d");
    }
}
