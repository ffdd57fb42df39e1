//! The typed shape of one config file (format version 1): serde + JSON Schema derives.
//!
//! These structs are the single source of truth for the format's structure: the JSON Schema
//! printed by `agno-run schema` is generated from them, and the structural checker validates
//! the parsed YAML tree against that schema before anything is deserialized. They carry no
//! spans and do no checking of their own; cross-references are checked in `check`.

use indexmap::IndexMap;

use super::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One config file. Every section is optional so that a config can be split across files;
/// entities merge by id.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "agno-run config (version 1)")]
pub struct FileConfig {
    /// Format version; must be 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The database that agents, teams and workflows without a `db` use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_db: Option<String>,
    /// Databases by id (Agno: `SqliteDb(id=...)`, `PostgresDb(id=...)`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub databases: IndexMap<String, Database>,
    /// Models by id.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub models: IndexMap<String, Model>,
    /// Agents by id.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub agents: IndexMap<String, Agent>,
    /// Teams by id.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub teams: IndexMap<String, Team>,
    /// Workflows by id.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub workflows: IndexMap<String, Workflow>,
    /// MCP servers by id, whose tools agents and teams use as `{mcp: ID}` in `tools:`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub mcp_servers: IndexMap<String, McpServer>,
    /// Process settings of `agno-run serve`; overridable by `AGNO_SERVER__<KEY>` and flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Server>,
}

/// A database backend, tagged by `type`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Database {
    /// An SQLite file (Agno: `SqliteDb`).
    Sqlite {
        /// Path of the database file; relative paths resolve against the config file's folder.
        /// Exclusive with `db_url`. Default: `agno.db`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        db_file: Option<String>,
        /// `sqlite:///path/to/file.db` URL, as Agno accepts. Exclusive with `db_file`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        db_url: Option<String>,
        #[serde(flatten)]
        tables: Tables,
    },
    /// A PostgreSQL database (Agno: `PostgresDb`).
    Postgres {
        /// `postgresql://user:password@host:port/database`; the password is never printed.
        db_url: String,
        /// Schema holding the tables; created if missing. Default: `ai`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        db_schema: Option<String>,
        /// Connection pool size. Default: 8.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1, max = 256))]
        pool_size: Option<u32>,
        /// Seconds to wait for a connection (at startup, retries included; and for a free one
        /// of the pool) before giving up. Default: 30. (libpq's 0, "forever", is not allowed:
        /// every wait is bounded.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0.1, max = 3600.0))]
        connect_timeout: Option<f64>,
        #[serde(flatten)]
        tables: Tables,
    },
    /// In-process storage for demos and tests; lost on exit.
    Memory {
        #[serde(flatten)]
        tables: Tables,
    },
}

/// Table names and user migrations, common to every backend. Names must match
/// `^[A-Za-z_][A-Za-z0-9_]{0,62}$`: they are never spliced into SQL unchecked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Tables {
    /// Sessions table. Default: `agno_sessions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_table: Option<String>,
    /// Runs table. Default: `agno_runs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_table: Option<String>,
    /// User memories table. Default: `agno_memories`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_table: Option<String>,
    /// Agno's schema-versions table. Default: `agno_schema_versions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions_table: Option<String>,
    /// agno-run's migration history table. Default: `agno_run_migrations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrations_table: Option<String>,
    /// agno-run's table of runner processes, which names the process behind each RUNNING run
    /// so that runs of a process that died are ended. Default: `agno_run_runners`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runners_table: Option<String>,
    /// agno-run's record of the config generations a server loaded (or failed to).
    /// Default: `agno_run_generations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generations_table: Option<String>,
    /// Agno's traces table (one row per trace). Default: `agno_traces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_table: Option<String>,
    /// Agno's spans table (one row per span of a trace). Default: `agno_spans`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spans_table: Option<String>,
    /// Agno's daily usage aggregates (`GET /metrics`). Default: `agno_metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_table: Option<String>,
    /// Write the traces of the runs stored here (agents, teams, members, workflows, steps,
    /// model and tool calls) into `traces_table`/`spans_table`, as Agno's `tracing=True` does,
    /// in batches off the runs' path. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<bool>,
    /// The user's own versioned migration folders (`V<n>__<name>.sql`), applied after the
    /// built-in ones; relative to the config file's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<String>,
}

/// A chat model, tagged by `provider`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum Model {
    /// Any OpenAI-compatible chat-completions API (OpenAI, Ollama, vLLM, llama.cpp, ...).
    Openai {
        /// Model name sent to the API, e.g. `gpt-4o-mini`.
        id: String,
        /// API base URL. Default: `https://api.openai.com/v1`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
        /// API key; write `${OPENAI_API_KEY}` rather than the key itself. Never printed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_key: Option<Secret>,
        /// Sampling temperature.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0.0, max = 2.0))]
        temperature: Option<f64>,
        /// Maximum tokens in a reply.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 1))]
        max_tokens: Option<u32>,
        /// Seconds to wait for the server to answer, and then between two pieces of a streamed
        /// answer (an idle timeout: a long, healthy stream is never cut). Default: 60.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0.001, max = 3600.0))]
        timeout: Option<f64>,
        /// Seconds one model call may take in all, retries and streaming included. Default: none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0.001, max = 86400.0))]
        deadline: Option<f64>,
        /// Retries on 429 and 5xx, with backoff. Default: 2.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(max = 20))]
        max_retries: Option<u32>,
        /// Extra HTTP headers sent with every request. Their values are secrets: never printed.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        headers: IndexMap<String, Secret>,
    },
    /// Deterministic replies for tests, demos and machines without a model.
    Scripted {
        /// Model name recorded in runs. Default: `scripted`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Replies given in turn (the last repeats). Without replies, the model echoes the input.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        replies: Vec<ScriptedReply>,
    },
}

/// One scripted model turn: text, tool calls, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ScriptedReply {
    /// A plain text answer.
    Text(String),
    /// A structured turn.
    Turn(ScriptedTurn),
}

/// A structured scripted turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTurn {
    /// Text of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool calls the model makes in this turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ScriptedToolCall>,
}

/// A tool call emitted by the scripted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// Tool name.
    pub name: String,
    /// Arguments object passed to the tool.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// `instructions`: one string or a list of strings (Agno accepts both).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Instructions {
    /// A single instruction.
    One(String),
    /// Several instructions, one per line of the system message.
    Many(Vec<String>),
}

/// A tool: its name, or its name with options.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Tool {
    /// A built-in tool by name: `datetime`, `calculator`, `http_request`, `session_state`,
    /// `read_chat_history`, `search_past_sessions`.
    Name(String),
    /// A built-in tool with options.
    Spec(ToolSpec),
    /// The tools of an MCP server declared under `mcp_servers:`.
    Mcp(McpToolRef),
}

/// An agent's or team's use of an MCP server: `{mcp: git, include_tools: [git_status]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpToolRef {
    /// The server's id under `mcp_servers:`.
    pub mcp: String,
    /// Offer only these of the server's tools (their names as the server gives them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_tools: Vec<String>,
    /// Offer none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tools: Vec<String>,
}

/// What every MCP server declaration may set, whatever its transport.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct McpCommon {
    /// Offer only these of the server's tools, to every agent that uses it (Agno's
    /// `include_tools`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_tools: Vec<String>,
    /// Offer none of these (Agno's `exclude_tools`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_tools: Vec<String>,
    /// Put before each tool's name as the model sees it, e.g. `git_` (Agno's
    /// `tool_name_prefix`); the server is called with its own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]{1,32}$"))]
    pub tool_name_prefix: Option<String>,
    /// Seconds one tool call may take before the model is told it timed out (Agno's
    /// `timeout_seconds`). Default: 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 3600.0))]
    pub timeout_seconds: Option<f64>,
    /// Seconds to start (or connect to) the server, initialize it and read its tool list.
    /// Default: 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.1, max = 600.0))]
    pub startup_timeout_seconds: Option<f64>,
    /// Largest tool result given to the model, in bytes (at most 16 MiB: it is held in memory
    /// and stored with the run); a larger one is cut there and the model told. A message from
    /// the server over four times this (plus 64 KiB) is refused before it is read whole.
    /// Default: 1048576 (1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16777216))]
    pub max_result_bytes: Option<u64>,
}

/// An MCP server, tagged by `transport` (Agno's `MCPTools(transport=...)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "transport", rename_all = "kebab-case", deny_unknown_fields)]
pub enum McpServer {
    /// A program agno-run starts and talks to over its stdin and stdout.
    Stdio {
        /// The program, found on `PATH` unless a path is given, e.g. `mcp-server-git` or `uvx`.
        command: String,
        /// Its arguments.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
        /// Environment variables set for it (besides agno-run's own, which it inherits);
        /// values are secrets, never printed.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        env: IndexMap<String, Secret>,
        /// Its working folder; relative to the config file's folder. Default: that folder.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(flatten)]
        common: McpCommon,
    },
    /// A server agno-run connects to over MCP's streamable HTTP transport.
    StreamableHttp {
        /// Its endpoint, e.g. `https://mcp.example.com/mcp`.
        url: String,
        /// Headers sent with every request, e.g. `Authorization: "Bearer ${TOKEN}"`; values are
        /// secrets, never printed.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        headers: IndexMap<String, Secret>,
        /// Seconds to wait for a connection to the server (Agno's
        /// `StreamableHTTPClientParams.timeout`). Default: 30.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(range(min = 0.1, max = 600.0))]
        timeout: Option<f64>,
        #[serde(flatten)]
        common: McpCommon,
    },
    /// MCP's legacy HTTP+SSE transport. Not supported (the MCP SDK agno-run is built on has
    /// dropped it): use `streamable-http`, which servers that speak SSE usually also serve.
    Sse {
        /// The server's SSE endpoint.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Headers.
        #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
        headers: IndexMap<String, Secret>,
        /// Seconds to wait for a connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<f64>,
        #[serde(flatten)]
        common: McpCommon,
    },
}

/// A built-in tool with options.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// `http_request`: hosts the tool may call (exact host names, or `*.example.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// `http_request`: seconds before a request is abandoned. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 600.0))]
    pub timeout: Option<f64>,
    /// `http_request`: largest response body returned to the model, in bytes (at most 16 MiB:
    /// it is held in memory and stored with the run). Default: 65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16777216))]
    pub max_response_bytes: Option<u64>,
    /// `search_past_sessions` / `read_chat_history`: most items returned. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Settings shared by agents and teams: persistence, history, state and tools.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RunSettings {
    /// Database id for this component's sessions. Default: `default_db`, else the only database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// Description placed at the top of the system message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Instructions in the system message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Instructions>,
    /// Add the current date and time to the system message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_datetime_to_context: Option<bool>,
    /// Send earlier runs of the session to the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_history_to_context: Option<bool>,
    /// How many earlier runs to send (default 3). Exclusive with `num_history_messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub num_history_runs: Option<u32>,
    /// How many earlier messages to send. Exclusive with `num_history_runs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub num_history_messages: Option<u32>,
    /// Initial session state, deep-merged into each session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_state: Option<serde_json::Map<String, serde_json::Value>>,
    /// Put the session state in the system message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_session_state_to_context: Option<bool>,
    /// Let the model read and set session-state keys through a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_agentic_state: Option<bool>,
    /// Give the model a tool that reads this session's earlier messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_chat_history: Option<bool>,
    /// Built-in tools, and MCP servers' tools (`{mcp: ID}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Most tool calls in one run. Default: unlimited up to 32 model turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub tool_call_limit: Option<u32>,
    /// Largest input message accepted, in bytes; a larger one is refused before anything is
    /// stored. Default: 1048576 (1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 67108864))]
    pub max_input_bytes: Option<u64>,
    /// Largest model reply (its text and tool-call arguments) accepted in one turn, in bytes; a
    /// larger one fails the run (stored as ERROR, without the reply). Default: 1048576 (1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 33554432))]
    pub max_reply_bytes: Option<u64>,
    /// Ask for Markdown output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<bool>,
    /// After each run, a memory model reads the user's message and adds, updates or deletes
    /// that user's memories (Agno's `update_memory_on_run`). Off the answer's path: it runs
    /// after the run is stored COMPLETED. Not done when `enable_agentic_memory` is on (as Agno).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_memory_on_run: Option<bool>,
    /// Give the model Agno's `update_user_memory` tool, which hands a task to the memory model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_agentic_memory: Option<bool>,
    /// Put the user's memories in the system message. Default: on when
    /// `update_memory_on_run` or `enable_agentic_memory` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_memories_to_context: Option<bool>,
    /// Most memories put in the system message (the newest by update). Default: 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_memories_in_context: Option<u32>,
    /// Model id (from `models:`) of the memory model. Default: this component's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_model: Option<String>,
    /// After each run, a summary model writes `{summary, topics, updated_at}` to the session
    /// row (Agno's `enable_session_summaries`), after the run is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_session_summaries: Option<bool>,
    /// Put the session's summary in the system message. Default: on when
    /// `enable_session_summaries` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_session_summary_to_context: Option<bool>,
    /// Model id of the summary model. Default: this component's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_summary_model: Option<String>,
    /// How many of the session's last runs the summary reads (Agno's `last_n_runs`).
    /// Default: all of them, up to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub session_summary_last_n_runs: Option<u32>,
}

/// An agent (Agno: `Agent`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Display name. Default: the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Model id from `models:`.
    pub model: String,
    /// What this agent does, as a team leader or workflow sees it (Agno's `role`): shown in the
    /// leader's roster and as `<your_role>` in the agent's own system message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(flatten)]
    pub settings: RunSettings,
}

/// How a team answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeamMode {
    /// The leader picks one member, and that member's answer is the team's.
    Route,
    /// The leader delegates sub-tasks through `delegate_task_to_member` and writes the answer.
    #[default]
    Coordinate,
    /// One call (`delegate_task_to_members`) puts the task to every member, concurrently.
    Broadcast,
    /// The leader plans a task board (`create_task`, `execute_task`, ...) and executes it.
    Tasks,
}

/// A team of agents and teams (Agno: `Team`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// Display name. Default: the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// coordinate | route | broadcast | tasks (Agno's `TeamMode`). Default: coordinate, or route
    /// with `respond_directly`, or broadcast with `delegate_to_all_members`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TeamMode>,
    /// The leader's model id from `models:`.
    pub model: String,
    /// Member agent or team ids.
    #[schemars(length(min = 1, max = 64))]
    pub members: Vec<String>,
    /// What this team does when it is a member of another team (Agno's `role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The member's answer is the team's answer (Agno: sets route mode). Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_directly: Option<bool>,
    /// Every member gets the task (Agno: sets broadcast mode). Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate_to_all_members: Option<bool>,
    /// Members get the leader's task text; false sends them the user's message verbatim.
    /// Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determine_input_for_members: Option<bool>,
    /// Members get the team's earlier runs (input and answer) before their task. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_team_history_to_members: Option<bool>,
    /// How many earlier team runs members get with `add_team_history_to_members`. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub num_team_history_runs: Option<u32>,
    /// Members get what other members answered earlier in this run. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_member_interactions: Option<bool>,
    /// Keep each member's run inside the team run's `member_responses` too. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_member_responses: Option<bool>,
    /// Tasks mode: most rounds of the leader's loop before it must answer. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub max_iterations: Option<u32>,
    #[serde(flatten)]
    pub settings: RunSettings,
}

/// A workflow: steps of agents and teams (Agno: `Workflow`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Display name. Default: the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description shown by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Database id for this workflow's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    /// Initial session state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_state: Option<serde_json::Map<String, serde_json::Value>>,
    /// Give steps the workflow's earlier runs of the session (Agno). Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_workflow_history_to_steps: Option<bool>,
    /// How many earlier runs that history holds (Agno). Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub num_history_runs: Option<u32>,
    /// The steps, run in order.
    #[schemars(length(min = 1))]
    pub steps: Vec<Step>,
}

/// One workflow step. It names exactly one of `agent`, `team`, `parallel`, `condition`,
/// `loop`, `router`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Step name, unique in its workflow; later steps read its output as
    /// `{{ steps.<name>.content }}`.
    pub name: String,
    /// What the step does, for people and the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Agent id that runs this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Team id that runs this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Steps run at the same time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<Vec<Step>>,
    /// CEL (bool): run `steps` when it holds, else `else_steps` (Agno's `Condition`), e.g.
    /// `input.contains("urgent")`. Reads `input`, `previous_step_content`,
    /// `previous_step_outputs`, `additional_data`, `session_state`, `steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Repeat `steps` until `end_condition` holds or `max_iterations` ran (Agno's `Loop`).
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub loop_: Option<Loop>,
    /// CEL: the name of the step of `choices` to run, or a list of names (Agno's `Router`
    /// selector), e.g. `size(input) < 40 ? "short" : "long"`. Reads what a condition reads,
    /// and `step_choices`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// The steps a `router` chooses from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Step>>,
    /// Inner steps of a `condition` or `loop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
    /// Steps of a `condition` run when it does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub else_steps: Option<Vec<Step>>,
    /// Input template: text with CEL inside `{{ }}`: `{{ input }}`, `{{ previous.content }}`,
    /// `{{ steps.<name>.content }}`, `{{ session_state.<key> }}`.
    /// Default: the previous step's output (the workflow input for the first step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// What a failure of this step does to the workflow. Default: `continue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<OnError>,
    /// Retries of a failed step before `on_error` applies. Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 10))]
    pub max_retries: Option<u32>,
}

/// What a step's failure does (Agno's `on_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Record the error and go on with the next step.
    #[default]
    Continue,
    /// End the workflow as failed.
    Fail,
    /// Skip the step: the next step sees the output before it.
    Skip,
}

/// Loop control (Agno's `Loop`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Loop {
    /// Most iterations. Required: agno-run has no implicit bound (Agno's default is 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_iterations: Option<u32>,
    /// CEL (bool), checked after each iteration: the loop ends when it holds, e.g.
    /// `last_step_content.contains("DONE")`. Reads `current_iteration`, `max_iterations`,
    /// `all_success`, `last_step_content`, `step_outputs`, `input`, `session_state`, `steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_condition: Option<String>,
}

/// Log output format of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Process settings of the server.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Listen address. Default: 127.0.0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Listen port (0 picks a free one). Default: 7777.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 65535))]
    pub port: Option<u32>,
    /// Bearer token required on every request (also from `OS_SECURITY_KEY`). Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_key: Option<Secret>,
    /// Allow binding a non-loopback address without a `security_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_unauthenticated: Option<bool>,
    /// Watch the config files and reload on change. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload: Option<bool>,
    /// Log format. Default: text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Browser origins allowed to call the API (CORS), e.g. `http://localhost:3000`; `*` allows
    /// any. Default: none (same-origin only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes (form fields included); larger ones get 413.
    /// Default: 1048576 (1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 1073741824))]
    pub max_body_bytes: Option<u64>,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) lets runs in flight finish before cancelling them
    /// (stored CANCELLED). Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub shutdown_timeout: Option<f64>,
    /// Seconds a streamed run may be silent before the server writes an SSE keep-alive comment
    /// (`:`), so that proxies and clients (Agno's times out after 60 s) keep the stream.
    /// Default: 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 55))]
    pub sse_keep_alive: Option<f64>,
    /// Export the runs' traces over OTLP (HTTP/protobuf) to a collector (Jaeger, Langfuse,
    /// Phoenix, an OpenTelemetry Collector), beside or instead of a database's `tracing`.
    /// Also used by `run` and `chat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<Otlp>,
    /// Path of the Prometheus text metrics (AgentOS already uses `/metrics` for JSON usage);
    /// behind the `security_key` like every route. `""` turns them off. Default: `/prometheus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_path: Option<String>,
}

/// An OTLP/HTTP trace exporter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Otlp {
    /// The traces endpoint, e.g. `http://localhost:4318/v1/traces` (the full URL: nothing is
    /// appended).
    pub endpoint: String,
    /// HTTP headers sent with every export (e.g. `Authorization`); their values are secrets:
    /// write `${VAR}`, never printed.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, Secret>,
    /// Seconds one export may take. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.1, max = 300.0))]
    pub timeout: Option<f64>,
    /// `service.name` of the exported resource. Default: `agno-run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}
