//! Semantic checks over the merged declarations: references, cycles, identifiers, exclusive
//! options, URLs, tools, workflow steps and templates. Every problem is collected.
//!
//! Runs after the structural check, on entities that passed it. Reads the file system only to
//! see that migration folders exist; opens no database and no connection.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;

use super::diagnostic::{Code, Diagnostic, FileId, Span, suggest};
use super::model::{Agent, Database, McpServer, Model, RunSettings, ScriptedReply, Step, Team, Tool, Workflow};
use super::yaml::Node;
use crate::expr;

/// One declaration of an entity, with where it came from.
#[derive(Debug, Clone)]
pub struct Declared<T> {
    /// File it is declared in.
    pub file: FileId,
    /// The id's span (the mapping key).
    pub key_span: Span,
    /// The entity's YAML, for spans of its values.
    pub node: Node,
    /// The typed entity; None when it failed the structural check (its id still counts as
    /// declared, so that references to it are not reported twice).
    pub value: Option<T>,
}

impl<T> Declared<T> {
    /// The span of `key`'s value in this entity, else the id's span.
    pub fn span_of(&self, key: &str) -> Span {
        self.node.get(key).map_or(self.key_span, |n| n.span)
    }

    /// The span of `key` itself in this entity, else the id's span.
    pub fn key_span_of(&self, key: &str) -> Span {
        self.node.entry(key).map_or(self.key_span, |e| e.key_span)
    }
}

/// Everything declared across the config's files, merged by id.
#[derive(Debug, Default)]
pub struct Declarations {
    /// Databases by id.
    pub databases: IndexMap<String, Declared<Database>>,
    /// Models by id.
    pub models: IndexMap<String, Declared<Model>>,
    /// Agents by id.
    pub agents: IndexMap<String, Declared<Agent>>,
    /// Teams by id.
    pub teams: IndexMap<String, Declared<Team>>,
    /// Workflows by id.
    pub workflows: IndexMap<String, Declared<Workflow>>,
    /// MCP servers by id.
    pub mcp_servers: IndexMap<String, Declared<McpServer>>,
    /// `default_db`: the value, its file and span.
    pub default_db: Option<(String, FileId, Span)>,
}

/// The built-in tools, by the name used in `tools:`.
pub const TOOLS: &[&str] =
    &["datetime", "calculator", "http_request", "session_state", "read_chat_history", "search_past_sessions"];

/// The functions each built-in tool offers the model, by the name used in `tools:` (a test in
/// `tool::builtin` keeps this equal to what the registry really offers).
pub const FUNCTIONS: &[(&str, &[&str])] = &[
    ("datetime", &["current_datetime"]),
    ("calculator", &["calculator"]),
    ("http_request", &["http_request"]),
    ("session_state", &["get_session_state", "update_session_state"]),
    ("read_chat_history", &["get_chat_history"]),
    ("search_past_sessions", &["search_past_sessions", "read_past_session"]),
];

/// The function names a component with `settings` offers its model: those of its `tools:`,
/// plus `update_session_state` with `enable_agentic_state` and the history tool with
/// `read_chat_history`.
pub fn functions_of(settings: &RunSettings) -> Vec<&'static str> {
    let of = |tool: &str| FUNCTIONS.iter().find(|(t, _)| *t == tool).map_or(&[][..], |(_, f)| *f);
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |names: &[&'static str]| {
        for n in names {
            if !out.contains(n) {
                out.push(n);
            }
        }
    };
    for t in &settings.tools {
        add(of(match t {
            Tool::Name(n) => n.as_str(),
            Tool::Spec(s) => s.name.as_str(),
            // Known only once the server runs.
            Tool::Mcp(_) => continue,
        }));
    }
    if settings.enable_agentic_state == Some(true) {
        // Agno's `enable_agentic_state` offers the writer alone.
        add(&["update_session_state"]);
    }
    if settings.read_chat_history == Some(true) {
        add(of("read_chat_history"));
    }
    out
}

/// The indexes the built-in migrations create, as `idx_<table>_<suffix>`, by the key naming
/// the table (a test in `migrate` keeps this equal to the SQL files).
pub const INDEXES: &[(&str, &[&str])] = &[
    ("versions_table", &["created_at"]),
    ("session_table", &["created_at", "session_type"]),
    (
        "runs_table",
        &[
            "agent_id",
            "created_at",
            "run_type",
            "session_id",
            "session_id_run_index",
            "status",
            "team_id",
            "user_id",
            "workflow_id",
        ],
    ),
    ("memory_table", &["created_at", "updated_at", "user_id"]),
    ("generations_table", &["created_at"]),
    (
        "traces_table",
        &[
            "agent_id",
            "created_at",
            "run_id",
            "session_id",
            "start_time",
            "status",
            "team_id",
            "user_id",
            "workflow_id",
        ],
    ),
    ("spans_table", &["created_at", "parent_span_id", "start_time", "trace_id"]),
    ("metrics_table", &["aggregation_period", "date", "user_id"]),
];

/// PostgreSQL's longest identifier, in bytes; longer names are cut to it.
const PG_NAME_BYTES: usize = 63;

/// True for a name that may be spliced (quoted) into SQL as a table or schema name.
///
/// ```
/// use agno_run::config::check::is_sql_identifier;
/// assert!(is_sql_identifier("agno_sessions"));
/// assert!(!is_sql_identifier("sessions; DROP TABLE x"));
/// assert!(!is_sql_identifier("1st"));
/// ```
pub fn is_sql_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// True for an entity id usable in file names, URLs and logs.
pub fn is_entity_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// What the checks need to know of a file: its folder (for relative paths) and its text.
#[derive(Debug, Clone, Copy)]
pub struct FileInfo<'a> {
    /// The folder relative paths in the file resolve against.
    pub dir: &'a Path,
    /// The file's text.
    pub text: &'a str,
}

/// Runs every semantic check over the merged declarations.
/// `extra_functions`: functions that tools added by the embedding program offer (scripted tool
/// calls may name them besides the built-in tools' functions).
pub fn check(
    decl: &Declarations,
    files: &HashMap<FileId, FileInfo<'_>>,
    extra_functions: &[String],
    out: &mut Vec<Diagnostic>,
) {
    let mut c = Checker { decl, files, extra_functions, out };
    c.ids();
    c.databases();
    c.models();
    c.mcp_servers();
    if let Some((name, file, span)) = &decl.default_db
        && !decl.databases.contains_key(name)
    {
        c.unknown(Code::UnknownDatabase, "database", name, *file, *span, decl.databases.keys());
    }
    for (id, a) in &decl.agents {
        if let Some(agent) = &a.value {
            c.model_ref(a, &agent.model);
            c.settings("agent", id, a, &agent.settings);
        }
    }
    c.scripted_calls();
    for (id, t) in &decl.teams {
        if let Some(team) = &t.value {
            c.model_ref(t, &team.model);
            c.settings("team", id, t, &team.settings);
            c.members(t, team);
        }
    }
    c.team_cycles();
    for (id, w) in &decl.workflows {
        if let Some(wf) = &w.value {
            c.db_ref("workflow", id, w, wf.db.as_deref());
            c.workflow(w, wf);
        }
    }
}

/// A team on the depth-first stack: its id, its team members (index in `members`, id), and
/// how many of them were visited.
type Visit<'a> = (&'a str, Vec<(usize, &'a String)>, usize);

struct Checker<'a, 'f, 'o> {
    decl: &'a Declarations,
    files: &'f HashMap<FileId, FileInfo<'f>>,
    extra_functions: &'a [String],
    out: &'o mut Vec<Diagnostic>,
}

impl<'a> Checker<'a, '_, '_> {
    fn unknown<'k>(
        &mut self,
        code: Code,
        what: &str,
        name: &str,
        file: FileId,
        span: Span,
        known: impl Iterator<Item = &'k String> + Clone,
    ) {
        let plural = match what {
            "database" => "databases",
            "model" => "models",
            "agent" => "agents",
            "team" => "teams",
            "MCP server" => "MCP servers",
            _ => "known names",
        };
        let shown = self.shown(file, span, name);
        let help = if self.is_from_env(file, span) {
            format!("declared {plural}: {}", known.map(String::as_str).collect::<Vec<_>>().join(", "))
        } else {
            suggest(name, &format!("declared {plural}"), known.map(String::as_str))
        };
        let d = Diagnostic::new(code, format!("unknown {what} {shown}"))
            .at(file, span, format!("no {what} has this id"))
            .help(help);
        self.out.push(d);
    }

    /// Whether the value at `span` came from `${VAR}` (its source text holds one).
    fn is_from_env(&self, file: FileId, span: Span) -> bool {
        self.files.get(&file).and_then(|f| f.text.get(span.start..span.end)).is_some_and(|t| t.contains("${"))
    }

    /// A value for a message: `` `value` `` as written, or, when it came from the environment,
    /// the expression as written in the file (`${MODEL}`), never the value itself, which may be
    /// a secret.
    fn shown(&self, file: FileId, span: Span, value: &str) -> String {
        if self.is_from_env(file, span) {
            let source = self.files.get(&file).and_then(|f| f.text.get(span.start..span.end)).unwrap_or_default();
            format!("`{}` (its value from the environment is not shown)", source.trim())
        } else {
            format!("`{value}`")
        }
    }

    fn ids(&mut self) {
        let d = self.decl;
        let all = d
            .databases
            .iter()
            .map(|(k, v)| ("database", k, v.file, v.key_span))
            .chain(d.models.iter().map(|(k, v)| ("model", k, v.file, v.key_span)))
            .chain(d.agents.iter().map(|(k, v)| ("agent", k, v.file, v.key_span)))
            .chain(d.teams.iter().map(|(k, v)| ("team", k, v.file, v.key_span)))
            .chain(d.workflows.iter().map(|(k, v)| ("workflow", k, v.file, v.key_span)))
            .chain(d.mcp_servers.iter().map(|(k, v)| ("MCP server", k, v.file, v.key_span)));
        for (what, id, file, span) in all {
            if !is_entity_id(id) {
                self.out.push(
                    Diagnostic::new(Code::InvalidId, format!("the {what} id `{id}` cannot be used"))
                        .at(file, span, "invalid id")
                        .help("ids are 1 to 128 letters, digits, `_`, `-` or `.`, starting with a letter, digit or `_`; they appear in URLs and logs"),
                );
            }
        }
    }

    fn identifier(&mut self, file: FileId, node: &Node, key: &str, what: &str) -> Option<String> {
        let entry = node.entry(key)?;
        let value = entry.value.as_str()?;
        if !is_sql_identifier(value) {
            let shown = if entry.value.interpolated {
                "the value from the environment".to_string()
            } else {
                format!("`{value}`")
            };
            self.out.push(
                Diagnostic::new(Code::Identifier, format!("{shown} is not a valid {what} name"))
                    .at(file, entry.value.span, "not a safe SQL identifier")
                    .help("names match ^[A-Za-z_][A-Za-z0-9_]{0,62}$: a letter or `_`, then letters, digits or `_`, at most 63 characters"),
            );
        }
        Some(value.to_string())
    }

    fn databases(&mut self) {
        for (id, d) in &self.decl.databases {
            let Some(db) = &d.value else { continue };
            let mut names: Vec<(String, &str, Span)> = Vec::new();
            let defaults = super::TableNames::default();
            for (key, default) in [
                ("session_table", defaults.sessions),
                ("runs_table", defaults.runs),
                ("memory_table", defaults.memories),
                ("versions_table", defaults.versions),
                ("migrations_table", defaults.migrations),
                ("runners_table", defaults.runners),
                ("generations_table", defaults.generations),
                ("traces_table", defaults.traces),
                ("spans_table", defaults.spans),
                ("metrics_table", defaults.metrics),
            ] {
                let name = self.identifier(d.file, &d.node, key, "table").unwrap_or(default);
                if key == "migrations_table" && name.len() > 58 && is_sql_identifier(&name) {
                    self.out.push(
                        Diagnostic::new(Code::Identifier, format!("`{name}` is too long for a migrations table name"))
                            .at(d.file, d.span_of(key), "more than 58 characters")
                            .help("agno-run also creates `<migrations_table>_user` for your own migrations, so this name is at most 58 characters"),
                    );
                }
                names.push((name, key, d.span_of(key)));
            }
            if let Some((migrations, _, span)) = names.iter().find(|n| n.1 == "migrations_table").cloned() {
                names.push((format!("{migrations}_user"), "the history table of your migrations", span));
            }
            let sqlite = matches!(db, Database::Sqlite { .. });
            for (name, key, span) in &names {
                if sqlite && name.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("sqlite_")) {
                    self.out.push(
                        Diagnostic::new(Code::Identifier, format!("`{name}` ({key}) is a name SQLite reserves"))
                            .at(d.file, *span, "begins with `sqlite_`")
                            .help("SQLite refuses tables whose names begin with `sqlite_`; choose another name"),
                    );
                }
            }
            if matches!(db, Database::Postgres { .. }) {
                self.index_names(id, d, &names);
            }
            for i in 0..names.len() {
                for j in 0..i {
                    if names[i].0 == names[j].0 {
                        let mut diag = Diagnostic::new(
                            Code::TableConflict,
                            format!(
                                "`{}` and `{}` of database `{id}` are both {}",
                                names[j].1,
                                names[i].1,
                                self.shown(d.file, names[i].2, &names[i].0)
                            ),
                        )
                        .at(d.file, names[i].2, "same table name")
                        .help("give each table its own name");
                        if names[j].2 != d.key_span {
                            diag = diag.related(d.file, names[j].2, "also used here");
                        }
                        self.out.push(diag);
                    }
                }
            }
            let tables = match db {
                Database::Sqlite { db_file, db_url, tables } => {
                    if db_file.is_some() && db_url.is_some() {
                        self.out.push(
                            Diagnostic::new(
                                Code::Exclusive,
                                format!("database `{id}` sets both `db_file` and `db_url`"),
                            )
                            .at(d.file, d.key_span_of("db_url"), "second way to name the file")
                            .related(d.file, d.key_span_of("db_file"), "first way")
                            .help("keep one of them"),
                        );
                    }
                    if let Some(url) = db_url
                        && !(url.is_empty() && d.node.get("db_url").is_some_and(|n| n.interpolated))
                        && !url.starts_with("sqlite:///")
                        && url != "sqlite://"
                    {
                        self.bad_url(
                            d,
                            "db_url",
                            "an SQLite URL starts with `sqlite:///` (e.g. `sqlite:///data/agno.db`)",
                        );
                    }
                    tables
                }
                Database::Postgres { db_url, tables, .. } => {
                    self.identifier(d.file, &d.node, "db_schema", "schema");
                    let empty_from_env = db_url.is_empty() && d.node.get("db_url").is_some_and(|n| n.interpolated);
                    if !empty_from_env && !postgres_url_ok(db_url) {
                        self.bad_url(
                            d,
                            "db_url",
                            "a PostgreSQL URL looks like `postgresql://user:password@host:5432/database`",
                        );
                    }
                    tables
                }
                Database::Memory { tables } => tables,
            };
            if let Some(items) = d.node.get("migrations").and_then(Node::items) {
                let dir = self.files.get(&d.file).map_or(Path::new("."), |f| f.dir);
                for (folder, item) in tables.migrations.iter().zip(items) {
                    let path = dir.join(folder);
                    let problem = match std::fs::read_dir(&path) {
                        Ok(_) => None,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".to_string()),
                        Err(e) if path.is_file() => Some(format!("is a file, not a folder ({e})")),
                        Err(e) => Some(format!("cannot be read: {e}")),
                    };
                    if let Some(problem) = problem {
                        let from_env = self.is_from_env(d.file, item.span);
                        let help = if from_env {
                            "paths are relative to the config file's folder; the path comes from the environment and is not shown".to_string()
                        } else {
                            format!(
                                "paths are relative to the config file's folder; this one resolves to {}",
                                path.display()
                            )
                        };
                        // An I/O error's own text never holds the path.
                        let folder = self.shown(d.file, item.span, folder);
                        self.out.push(
                            Diagnostic::new(
                                Code::MigrationsFolder,
                                format!("the migrations folder {folder} of database `{id}` {problem}"),
                            )
                            .at(d.file, item.span, "unreadable folder")
                            .help(help),
                        );
                    }
                }
            }
        }
    }

    /// PostgreSQL cuts identifiers to 63 bytes: table names so long that two of the indexes
    /// the migrations create would be cut to one name (and one silently never created) are
    /// refused.
    fn index_names(&mut self, id: &str, d: &Declared<Database>, names: &[(String, &str, Span)]) {
        let mut seen: Vec<(String, String, Span)> = Vec::new();
        for (key, suffixes) in INDEXES {
            let Some((table, _, span)) = names.iter().find(|n| n.1 == *key) else { continue };
            for suffix in *suffixes {
                let full = format!("idx_{table}_{suffix}");
                let cut = full[..full.len().min(PG_NAME_BYTES)].to_string();
                if let Some((_, other, other_span)) = seen.iter().find(|s| s.0 == cut) {
                    let mut diag = Diagnostic::new(
                        Code::Identifier,
                        format!(
                            "table names of database `{id}` are too long for PostgreSQL: the indexes `{other}` and `{full}` would both be cut to `{cut}`"
                        ),
                    )
                    .at(d.file, *span, "too long")
                    .help("PostgreSQL keeps 63 bytes of a name, so one index would never be created; shorten the table name (the longest index is `idx_<table>_session_id_run_index`)");
                    if *other_span != *span {
                        diag = diag.related(d.file, *other_span, "the other table");
                    }
                    self.out.push(diag);
                    return;
                }
                seen.push((cut, full, *span));
            }
        }
    }

    fn bad_url<T>(&mut self, d: &Declared<T>, key: &str, help: &str) {
        let node = d.node.get(key);
        let span = node.map_or(d.key_span, |n| n.span);
        self.out.push(
            Diagnostic::new(Code::InvalidUrl, format!("`{key}` is not a URL of the right kind"))
                .at(d.file, span, "wrong scheme or form")
                .help(help.to_string()),
        );
    }

    /// MCP servers: a transport agno-run supports, with what it needs; a warning for one that
    /// nothing uses (it would never start).
    fn mcp_servers(&mut self) {
        let used: Vec<&str> = self
            .decl
            .agents
            .values()
            .filter_map(|a| a.value.as_ref().map(|a| &a.settings))
            .chain(self.decl.teams.values().filter_map(|t| t.value.as_ref().map(|t| &t.settings)))
            .flat_map(|s| s.tools.iter())
            .filter_map(|t| match t {
                Tool::Mcp(r) => Some(r.mcp.as_str()),
                _ => None,
            })
            .collect();
        // A reference to an undeclared server is most likely a typo of a declared one: the
        // error (with its did-you-mean) says so, and no warning calls that one unused.
        let typo = used.iter().any(|u| !self.decl.mcp_servers.contains_key(*u));
        for (id, d) in &self.decl.mcp_servers {
            match &d.value {
                Some(McpServer::Sse { .. }) => {
                    self.out.push(
                        Diagnostic::new(Code::McpTransport, format!("MCP server `{id}`: the `sse` transport is not supported"))
                            .at(d.file, d.span_of("transport"), "legacy HTTP+SSE transport")
                            .help("write `transport: streamable-http` with the server's streamable HTTP endpoint (often the same host, path `/mcp`); MCP replaced HTTP+SSE with it in 2025 and the MCP SDK agno-run uses has dropped SSE"),
                    );
                }
                Some(McpServer::Stdio { command, .. }) if command.trim().is_empty() => {
                    self.out.push(
                        Diagnostic::new(Code::McpTransport, format!("MCP server `{id}` has an empty `command`"))
                            .at(d.file, d.span_of("command"), "no program to start")
                            .help("name the program, e.g. `command: uvx` with `args: [mcp-server-time]`"),
                    );
                }
                Some(McpServer::StreamableHttp { url, .. }) => {
                    let ok = url
                        .strip_prefix("https://")
                        .or_else(|| url.strip_prefix("http://"))
                        .is_some_and(|rest| !rest.is_empty());
                    if !ok {
                        self.bad_url(d, "url", "an MCP server's streamable HTTP endpoint starts with http:// or https://, e.g. `http://127.0.0.1:3001/mcp`");
                    }
                }
                _ => {}
            }
            let (common, headers) = match &d.value {
                Some(McpServer::Stdio { common, .. }) => (Some(common), None),
                Some(McpServer::StreamableHttp { common, headers, .. }) => (Some(common), Some(headers)),
                _ => (None, None),
            };
            if let Some(prefix) = common.and_then(|c| c.tool_name_prefix.as_deref()) {
                let ok =
                    prefix.len() <= 32 && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !ok {
                    let shown = self.shown(d.file, d.span_of("tool_name_prefix"), prefix);
                    self.out.push(
                        Diagnostic::new(Code::InvalidValue, format!("MCP server `{id}`: tool_name_prefix {shown} is not allowed"))
                            .at(d.file, d.span_of("tool_name_prefix"), "not 0 to 32 of A-Z a-z 0-9 _ -")
                            .help("model APIs accept tool names of A-Z a-z 0-9 _ - only (64 at most, prefix included), e.g. `git_`"),
                    );
                }
            }
            for (name, value) in headers.into_iter().flatten() {
                let name_ok = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                let value_ok = !value.expose().bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
                if !name_ok || !value_ok {
                    let span = d.node.get("headers").and_then(|h| h.get(name)).map_or(d.span_of("headers"), |n| n.span);
                    let what = if name_ok { "its value has a line break or NUL" } else { "not an HTTP header name" };
                    self.out.push(
                        Diagnostic::new(
                            Code::InvalidValue,
                            format!("MCP server `{id}`: header `{name}` cannot be sent"),
                        )
                        .at(d.file, span, what)
                        .help("a header name is letters, digits and !#$%&'*+-.^_`|~; a value is one line"),
                    );
                }
            }
            if d.value.is_some() && !typo && !used.contains(&id.as_str()) {
                self.out.push(
                    Diagnostic::new(
                        Code::UnusedMcpServer,
                        format!("MCP server `{id}` is not used by any agent or team"),
                    )
                    .at(d.file, d.key_span, "declared, never started")
                    .help(format!("add `{{mcp: {id}}}` to an agent's `tools:`, or remove the declaration")),
                );
            }
        }
    }

    fn models(&mut self) {
        for d in self.decl.models.values() {
            if let Some(Model::Openai { base_url: Some(url), .. }) = &d.value {
                let from_env_empty = url.is_empty() && d.node.get("base_url").is_some_and(|n| n.interpolated);
                let scheme_ok = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .is_some_and(|rest| !rest.is_empty());
                if !from_env_empty && !scheme_ok {
                    self.bad_url(d, "base_url", "the base URL of an OpenAI-compatible API starts with http:// or https://, e.g. `http://localhost:11434/v1`");
                }
            }
        }
    }

    fn model_ref<T>(&mut self, d: &Declared<T>, model: &str) {
        self.model_ref_at(d, model, "model");
    }

    fn model_ref_at<T>(&mut self, d: &Declared<T>, model: &str, key: &str) {
        if !self.decl.models.contains_key(model) {
            self.unknown(Code::UnknownModel, "model", model, d.file, d.span_of(key), self.decl.models.keys());
        }
    }

    fn db_ref<T>(&mut self, what: &str, id: &str, d: &Declared<T>, db: Option<&str>) {
        match db {
            Some(name) if !self.decl.databases.contains_key(name) => {
                self.unknown(
                    Code::UnknownDatabase,
                    "database",
                    name,
                    d.file,
                    d.span_of("db"),
                    self.decl.databases.keys(),
                );
            }
            None if self.decl.default_db.is_none() && self.decl.databases.len() > 1 => {
                let first = self.decl.databases.keys().next().cloned().unwrap_or_default();
                self.out.push(
                    Diagnostic::new(
                        Code::AmbiguousDb,
                        format!(
                            "{what} `{id}` has no `db` and {} databases are declared; it will use `{first}`",
                            self.decl.databases.len()
                        ),
                    )
                    .at(d.file, d.key_span, "no `db`")
                    .help("set `db:` on it, or `default_db:` at the top level"),
                );
            }
            _ => {}
        }
    }

    fn settings<T>(&mut self, what: &str, id: &str, d: &Declared<T>, s: &RunSettings) {
        self.db_ref(what, id, d, s.db.as_deref());
        for (key, model) in [("memory_model", &s.memory_model), ("session_summary_model", &s.session_summary_model)] {
            if let Some(m) = model {
                self.model_ref_at(d, m, key);
            }
        }
        if s.num_history_runs.is_some() && s.num_history_messages.is_some() {
            self.out.push(
                Diagnostic::new(
                    Code::Exclusive,
                    format!("{what} `{id}` sets both `num_history_runs` and `num_history_messages`"),
                )
                .at(d.file, d.key_span_of("num_history_messages"), "second limit")
                .related(d.file, d.key_span_of("num_history_runs"), "first limit")
                .help("history is limited by runs or by messages, not both (as in Agno); keep one"),
            );
        }
        let Some(items) = d.node.get("tools").and_then(Node::items) else { return };
        let mut servers_used: Vec<&str> = Vec::new();
        for (tool, item) in s.tools.iter().zip(items) {
            let name = match tool {
                Tool::Name(n) => n.as_str(),
                Tool::Spec(spec) => spec.name.as_str(),
                Tool::Mcp(r) => {
                    if servers_used.contains(&r.mcp.as_str()) {
                        let span = item.get("mcp").map_or(item.span, |n| n.span);
                        self.out.push(
                            Diagnostic::new(Code::InvalidValue, format!("{what} `{id}` uses MCP server `{}` twice", r.mcp))
                                .at(d.file, span, "second use")
                                .help("use a server once per agent; put every tool it should offer in that use's include_tools"),
                        );
                        continue;
                    }
                    servers_used.push(&r.mcp);
                    if !self.decl.mcp_servers.contains_key(&r.mcp) {
                        let span = item.get("mcp").map_or(item.span, |n| n.span);
                        self.unknown(
                            Code::UnknownMcpServer,
                            "MCP server",
                            &r.mcp,
                            d.file,
                            span,
                            self.decl.mcp_servers.keys(),
                        );
                    }
                    continue;
                }
            };
            let name_span = item.get("name").map_or(item.span, |n| n.span);
            if !TOOLS.contains(&name) {
                let shown = self.shown(d.file, name_span, name);
                self.out.push(
                    Diagnostic::new(Code::UnknownTool, format!("unknown tool {shown}"))
                        .at(d.file, name_span, "not a built-in tool")
                        .help(suggest(name, "built-in tools", TOOLS.iter().copied())),
                );
                continue;
            }
            let options: &[(&str, bool)] = match tool {
                Tool::Name(_) | Tool::Mcp(_) => &[],
                Tool::Spec(spec) => &[
                    ("allowed_hosts", !spec.allowed_hosts.is_empty()),
                    ("timeout", spec.timeout.is_some()),
                    ("max_response_bytes", spec.max_response_bytes.is_some()),
                    ("limit", spec.limit.is_some()),
                ],
            };
            let applies: &[&str] = match name {
                "http_request" => &["allowed_hosts", "timeout", "max_response_bytes"],
                "read_chat_history" | "search_past_sessions" => &["limit"],
                _ => &[],
            };
            for (option, set) in options {
                if *set && !applies.contains(option) {
                    let span = item.entry(option).map_or(item.span, |e| e.key_span);
                    let takes = if applies.is_empty() {
                        "takes no options".to_string()
                    } else {
                        format!("takes: {}", applies.join(", "))
                    };
                    self.out.push(
                        Diagnostic::new(Code::ToolOption, format!("`{option}` does not apply to the tool `{name}`"))
                            .at(d.file, span, "not an option of this tool")
                            .help(format!("`{name}` {takes}")),
                    );
                }
            }
            let has_hosts = matches!(tool, Tool::Spec(spec) if !spec.allowed_hosts.is_empty());
            if name == "http_request" && !has_hosts {
                self.out.push(
                    Diagnostic::new(Code::ToolOption, "the tool `http_request` needs `allowed_hosts`")
                        .at(d.file, item.span, "no hosts allowed")
                        .help("write `{name: http_request, allowed_hosts: [api.example.com]}`: the model may only call the hosts listed"),
                );
            }
        }
    }

    /// A scripted model's tool calls name functions its agents offer: a call to `datetime`
    /// (a tool's name, not its function's) would only ever get an "unknown function" back.
    /// Models a team leader uses are skipped (its delegation functions are its own).
    fn scripted_calls(&mut self) {
        for (model_id, m) in &self.decl.models {
            let Some(Model::Scripted { replies, .. }) = &m.value else { continue };
            if self.decl.teams.values().any(|t| t.value.as_ref().is_some_and(|t| t.model == *model_id)) {
                continue;
            }
            let users: Vec<(&String, &Agent)> = self
                .decl
                .agents
                .iter()
                .filter_map(|(id, a)| a.value.as_ref().filter(|a| a.model == *model_id).map(|a| (id, a)))
                .collect();
            // An MCP server's function names are known only once it runs.
            let mcp = |a: &Agent| a.settings.tools.iter().any(|t| matches!(t, Tool::Mcp(_)));
            if users.is_empty() || users.iter().any(|(_, a)| mcp(a)) {
                continue;
            }
            let mut offered: Vec<&str> = self.extra_functions.iter().map(String::as_str).collect();
            for (_, a) in &users {
                for f in functions_of(&a.settings) {
                    if !offered.contains(&f) {
                        offered.push(f);
                    }
                }
            }
            let agents: Vec<String> = users.iter().map(|(id, _)| format!("`{id}`")).collect();
            let Some(items) = m.node.get("replies").and_then(Node::items) else { continue };
            for (reply, item) in replies.iter().zip(items) {
                let ScriptedReply::Turn(turn) = reply else { continue };
                let Some(calls) = item.get("tool_calls").and_then(Node::items) else { continue };
                for (call, node) in turn.tool_calls.iter().zip(calls) {
                    if offered.contains(&call.name.as_str()) {
                        continue;
                    }
                    let span = node.get("name").map_or(node.span, |n| n.span);
                    let shown = self.shown(m.file, span, &call.name);
                    let toolkit = FUNCTIONS.iter().find(|(t, _)| *t == call.name);
                    let help = match toolkit {
                        Some((t, f)) if offered.iter().any(|o| f.contains(o)) => format!(
                            "`{t}` is the tool's name in `tools:`; its function(s): {}",
                            f.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                        ),
                        _ => suggest(&call.name, "functions offered", offered.iter().copied()),
                    };
                    self.out.push(
                        Diagnostic::new(
                            Code::UnknownFunction,
                            format!("scripted tool call {shown}: no such function on agent {}", agents.join(", ")),
                        )
                        .at(m.file, span, "not a function the agent offers")
                        .help(help),
                    );
                }
            }
        }
    }

    fn members(&mut self, d: &Declared<Team>, team: &Team) {
        let Some(items) = d.node.get("members").and_then(Node::items) else { return };
        for (member, item) in team.members.iter().zip(items) {
            let agent = self.decl.agents.contains_key(member);
            let is_team = self.decl.teams.contains_key(member);
            if agent && is_team {
                self.out.push(
                    Diagnostic::new(Code::AmbiguousMember, format!("`{member}` is both an agent and a team"))
                        .at(d.file, item.span, "ambiguous member")
                        .related(self.decl.agents[member].file, self.decl.agents[member].key_span, "the agent")
                        .related(self.decl.teams[member].file, self.decl.teams[member].key_span, "the team")
                        .help("rename one of them"),
                );
            } else if !agent && !is_team {
                let known = self.decl.agents.keys().chain(self.decl.teams.keys());
                let shown = self.shown(d.file, item.span, member);
                self.out.push(
                    Diagnostic::new(Code::UnknownMember, format!("unknown team member {shown}"))
                        .at(d.file, item.span, "neither an agent nor a team")
                        .help(suggest(member, "declared agents and teams", known.map(String::as_str))),
                );
            }
        }
    }

    /// Reports each cycle of team membership once, at the member entry that closes it.
    fn team_cycles(&mut self) {
        let teams = &self.decl.teams;
        let edges = |id: &str| -> Vec<(usize, &'a String)> {
            teams
                .get(id)
                .and_then(|t| t.value.as_ref())
                .map_or(Vec::new(), |t| t.members.iter().enumerate().filter(|(_, m)| teams.contains_key(*m)).collect())
        };
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state: HashMap<&str, u8> = HashMap::new();
        for start in teams.keys() {
            if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
                continue;
            }
            let mut stack: Vec<Visit<'_>> = vec![(start, edges(start), 0)];
            state.insert(start, 1);
            while let Some((node, next, pos)) = stack.last_mut() {
                let node: &str = node;
                if *pos >= next.len() {
                    state.insert(node, 2);
                    stack.pop();
                    continue;
                }
                let (index, member) = next[*pos];
                *pos += 1;
                match state.get(member.as_str()).copied().unwrap_or(0) {
                    0 => {
                        state.insert(member, 1);
                        stack.push((member, edges(member), 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _, _)| *n == member).unwrap_or(0);
                        let mut path: Vec<&str> = stack[from..].iter().map(|(n, _, _)| *n).collect();
                        path.push(member);
                        let t = &teams[node];
                        let span = t
                            .node
                            .get("members")
                            .and_then(Node::items)
                            .and_then(|i| i.get(index))
                            .map_or(t.key_span, |n| n.span);
                        let message = if path.len() == 2 {
                            format!("team `{node}` lists itself as a member")
                        } else {
                            format!("team `{member}` contains itself: {}", path.join(" → "))
                        };
                        self.out.push(
                            Diagnostic::new(Code::TeamCycle, message).at(t.file, span, "closes the cycle").help(
                                "a team cannot contain itself, directly or through other teams; remove this member",
                            ),
                        );
                    }
                    _ => {}
                }
            }
        }
    }

    fn workflow(&mut self, d: &Declared<Workflow>, wf: &Workflow) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        let mut scope: Vec<String> = Vec::new();
        if let Some(items) = d.node.get("steps").and_then(Node::items) {
            self.steps(d, &wf.steps, items, &mut scope, &mut seen);
        }
    }

    /// Checks a sequence of steps; `scope` holds the names of steps that ran before.
    fn steps(
        &mut self,
        d: &Declared<Workflow>,
        steps: &[Step],
        nodes: &[Node],
        scope: &mut Vec<String>,
        seen: &mut HashMap<String, Span>,
    ) {
        for (step, node) in steps.iter().zip(nodes) {
            self.step(d, step, node, scope, seen);
            collect_names(step, scope);
        }
    }

    fn step(
        &mut self,
        d: &Declared<Workflow>,
        step: &Step,
        node: &Node,
        scope: &mut Vec<String>,
        seen: &mut HashMap<String, Span>,
    ) {
        let name_span = node.get("name").map_or(node.span, |n| n.span);
        if let Some(first) = seen.get(&step.name) {
            self.out.push(
                Diagnostic::new(
                    Code::DuplicateStep,
                    format!("two steps are named {}", self.shown(d.file, name_span, &step.name)),
                )
                .at(d.file, name_span, "second step with this name")
                .related(d.file, *first, "first step with this name")
                .help("step names are unique in a workflow: later steps read outputs by name"),
            );
        } else {
            seen.insert(step.name.clone(), name_span);
        }
        let kinds: Vec<&str> = [
            ("agent", step.agent.is_some()),
            ("team", step.team.is_some()),
            ("parallel", step.parallel.is_some()),
            ("condition", step.condition.is_some()),
            ("loop", step.loop_.is_some()),
            ("router", step.router.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let kind = match kinds.as_slice() {
            [one] => Some(*one),
            [] => {
                self.out.push(
                    Diagnostic::new(Code::StepKind, format!("step `{}` names nothing to run", step.name))
                        .at(d.file, name_span, "this step does nothing")
                        .help("give it one of `agent:`, `team:`, `parallel:`, `condition:`, `loop:` or `router:`"),
                );
                None
            }
            [first, second, ..] => {
                let span = node.entry(second).map_or(name_span, |e| e.key_span);
                self.out.push(
                    Diagnostic::new(
                        Code::StepKind,
                        format!("step `{}` names both `{first}` and `{second}`", step.name),
                    )
                    .at(d.file, span, "second thing to run")
                    .help("a step runs one thing; split it into two steps"),
                );
                None
            }
        };
        let allowed: &[&str] = match kind {
            Some("agent" | "team") => &["input"],
            Some("parallel") => &[],
            Some("condition") => &["steps", "else_steps"],
            Some("loop") => &["steps"],
            Some("router") => &["choices"],
            _ => &["input", "steps", "else_steps", "choices"],
        };
        for (key, set) in [
            ("input", step.input.is_some()),
            ("steps", step.steps.is_some()),
            ("else_steps", step.else_steps.is_some()),
            ("choices", step.choices.is_some()),
        ] {
            if set && !allowed.contains(&key) {
                let span = node.entry(key).map_or(name_span, |e| e.key_span);
                let help = match key {
                    "input" => "`input` applies to agent and team steps",
                    "steps" => "`steps` holds the inner steps of a `condition` or `loop` step",
                    "choices" => "`choices` holds the steps a `router` chooses from",
                    _ => "`else_steps` holds the steps run when a `condition` does not hold",
                };
                self.out.push(
                    Diagnostic::new(
                        Code::StepField,
                        format!("`{key}` does not apply to the {} step `{}`", kind.unwrap_or("?"), step.name),
                    )
                    .at(d.file, span, "does not apply here")
                    .help(help),
                );
            }
        }
        if matches!(kind, Some("condition" | "loop")) && step.steps.as_ref().is_none_or(Vec::is_empty) {
            self.out.push(
                Diagnostic::new(
                    Code::StepKind,
                    format!("the {} step `{}` has no inner `steps`", kind.unwrap_or_default(), step.name),
                )
                .at(d.file, name_span, "nothing inside")
                .help("add `steps:` with the steps to run"),
            );
        }
        if kind == Some("router") && step.choices.as_ref().is_none_or(Vec::is_empty) {
            let span = node.entry("choices").map_or(name_span, |e| e.key_span);
            self.out.push(
                Diagnostic::new(Code::UnknownChoice, format!("the router step `{}` has no `choices`", step.name))
                    .at(d.file, span, "nothing to choose from")
                    .help("add `choices:` with the steps the router picks from by name"),
            );
        }
        if let (Some(lp), Some(lentry)) = (&step.loop_, node.entry("loop"))
            && lp.max_iterations.is_none()
        {
            self.out.push(
                Diagnostic::new(Code::LoopUnbounded, format!("the loop step `{}` has no `max_iterations`", step.name))
                    .at(d.file, lentry.key_span, "no bound on its iterations")
                    .help(
                        "write `max_iterations:` (1 to 1000); Agno's default is 3, agno-run makes every loop \
                         say its bound",
                    ),
            );
        }
        if let Some(agent) = &step.agent
            && !self.decl.agents.contains_key(agent)
        {
            self.unknown(
                Code::UnknownAgent,
                "agent",
                agent,
                d.file,
                node.get("agent").map_or(name_span, |n| n.span),
                self.decl.agents.keys(),
            );
        }
        if let Some(team) = &step.team
            && !self.decl.teams.contains_key(team)
        {
            self.unknown(
                Code::UnknownTeam,
                "team",
                team,
                d.file,
                node.get("team").map_or(name_span, |n| n.span),
                self.decl.teams.keys(),
            );
        }
        if let Some(input) = node.get("input") {
            self.template(d, input, scope);
        }
        if let Some(cnode) = node.get("condition") {
            self.expression(d, cnode, expr::Context::Condition, scope);
        }
        if let Some(rnode) = node.get("router") {
            let compiled = self.expression(d, rnode, expr::Context::Router, scope);
            if let (Some(e), Some(choices)) = (compiled, &step.choices)
                && !choices.is_empty()
                && !rnode.interpolated
            {
                let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
                let text = rnode.as_str().unwrap_or_default();
                for (name, range) in e.string_results() {
                    if names.contains(&name.as_str()) {
                        continue;
                    }
                    let at = self.value_span(d.file, rnode, text, range);
                    self.out.push(
                        Diagnostic::new(
                            Code::UnknownChoice,
                            format!("the router of `{}` can pick `{name}`, which is not one of its choices", step.name),
                        )
                        .at(d.file, at, "no choice has this name")
                        .help(suggest(&name, "choices", names.iter().copied())),
                    );
                }
            }
        }
        let before = scope.len();
        for (list, key) in [(&step.parallel, "parallel"), (&step.choices, "choices")] {
            if let (Some(list), Some(items)) = (list, node.get(key).and_then(Node::items)) {
                // Parallel branches and router choices cannot read each other: check each
                // against the outer scope.
                for (inner, inner_node) in list.iter().zip(items) {
                    self.step(d, inner, inner_node, scope, seen);
                    scope.truncate(before);
                }
            }
        }
        if let (Some(inner), Some(items)) = (&step.steps, node.get("steps").and_then(Node::items)) {
            self.steps(d, inner, items, scope, seen);
            // The end condition is checked after an iteration: it reads the inner steps.
            if let Some(enode) = node.get("loop").and_then(|l| l.get("end_condition")) {
                self.expression(d, enode, expr::Context::Loop, scope);
            }
            scope.truncate(before);
        } else if let Some(enode) = node.get("loop").and_then(|l| l.get("end_condition")) {
            self.expression(d, enode, expr::Context::Loop, scope);
        }
        if let (Some(other), Some(items)) = (&step.else_steps, node.get("else_steps").and_then(Node::items)) {
            self.steps(d, other, items, scope, seen);
            scope.truncate(before);
        }
    }

    /// The file span of `range`, a byte range of `value`, the text of the scalar `node`.
    fn value_span(&self, file: FileId, node: &Node, value: &str, range: std::ops::Range<usize>) -> Span {
        let text = self.files.get(&file).map_or("", |f| f.text);
        super::yaml::value_span(text, node.span, value, range)
    }

    /// Compiles the CEL expression of `node` for `ctx` and checks the steps it reads against
    /// `scope`; the compiled expression when it compiles.
    fn expression(
        &mut self,
        d: &Declared<Workflow>,
        node: &Node,
        ctx: expr::Context,
        scope: &[String],
    ) -> Option<expr::Expr> {
        let text = node.as_str()?;
        match expr::compile(text, ctx) {
            Ok(e) => {
                for (name, range) in e.step_reads() {
                    self.step_read(d, node, text, &name, range, scope);
                }
                Some(e)
            }
            Err(err) => {
                let code = match err.kind {
                    expr::CompileErrorKind::Syntax => Code::ExprSyntax,
                    expr::CompileErrorKind::UnknownVariable => Code::UnknownVariable,
                };
                self.expr_problem(d, node, text, code, err.message, err.help, err.span);
                None
            }
        }
    }

    /// One problem inside the expression or template of `node`: located inside the scalar, or,
    /// for text from the environment, at the scalar without echoing it.
    #[allow(clippy::too_many_arguments)]
    fn expr_problem(
        &mut self,
        d: &Declared<Workflow>,
        node: &Node,
        text: &str,
        code: Code,
        message: String,
        help: String,
        range: std::ops::Range<usize>,
    ) {
        if node.interpolated {
            self.out.push(
                Diagnostic::new(code, "an expression from the environment does not compile")
                    .at(d.file, node.span, "here")
                    .help("the variable's value is not shown; check the expression it holds"),
            );
            return;
        }
        let at = self.value_span(d.file, node, text, range);
        self.out.push(Diagnostic::new(code, message).at(d.file, at, "here").help(help));
    }

    /// `steps.<name>` read at `range` of `text`: an error unless `name` ran before.
    fn step_read(
        &mut self,
        d: &Declared<Workflow>,
        node: &Node,
        text: &str,
        name: &str,
        range: std::ops::Range<usize>,
        scope: &[String],
    ) {
        if scope.iter().any(|s| s == name) {
            return;
        }
        let known = self.all_steps(d);
        let message = if known.iter().any(|s| s == name) {
            format!("`steps.{name}` reads a step that has not run at this point")
        } else {
            format!("`steps.{name}` reads a step that the workflow does not have")
        };
        let help = suggest(name, "steps that run before this one", scope.iter().map(String::as_str));
        self.expr_problem(d, node, text, Code::StepReference, message, help, range);
    }

    /// Every step name of the workflow.
    fn all_steps(&self, d: &Declared<Workflow>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(wf) = &d.value {
            for s in &wf.steps {
                collect_names(s, &mut out);
            }
        }
        out
    }

    fn template(&mut self, d: &Declared<Workflow>, node: &Node, scope: &[String]) {
        let Some(text) = node.as_str() else { return };
        let (template, problems) = super::template::parse(text);
        for p in problems {
            let code = match p.kind {
                super::template::ProblemKind::Unclosed => Code::Template,
                super::template::ProblemKind::Syntax => Code::ExprSyntax,
                super::template::ProblemKind::UnknownVariable => Code::UnknownVariable,
            };
            self.expr_problem(d, node, text, code, p.message, p.help, p.span);
        }
        // Step reads, each located at its own `steps.<name>` inside its `{{ }}`.
        let mut offset = 0;
        for part in &template.parts {
            match part {
                super::template::Part::Text(t) => offset += t.len(),
                super::template::Part::Expr(e) => {
                    let open = text[offset..].find("{{").map_or(offset, |i| offset + i) + 2;
                    for (name, range) in e.step_reads() {
                        self.step_read(d, node, text, &name, open + range.start..open + range.end, scope);
                    }
                    offset = text[open..].find("}}").map_or(text.len(), |i| open + i + 2);
                }
            }
        }
    }
}

fn postgres_url_ok(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    matches!(scheme, "postgres" | "postgresql" | "postgresql+psycopg" | "postgresql+psycopg2" | "postgresql+asyncpg")
        && !rest.is_empty()
}

fn collect_names(step: &Step, out: &mut Vec<String>) {
    out.push(step.name.clone());
    for list in [&step.parallel, &step.steps, &step.else_steps, &step.choices].into_iter().flatten() {
        for s in list {
            collect_names(s, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_identifiers_are_strict() {
        assert!(is_sql_identifier("agno_sessions"));
        assert!(is_sql_identifier("_x1"));
        assert!(!is_sql_identifier("sessions; DROP TABLE x"));
        assert!(!is_sql_identifier("1bad"));
        assert!(!is_sql_identifier(""));
        assert!(!is_sql_identifier(&"a".repeat(64)));
        assert!(is_sql_identifier(&"a".repeat(63)));
        assert!(!is_sql_identifier("tëst"));
    }
}
