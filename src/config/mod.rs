//! The config format: loading YAML files, validating them with located diagnostics, and the
//! resolved [`Config`] everything downstream takes.
//!
//! Raw → resolved → validated: [`yaml`] builds a spanned tree, [`interpolate`] applies `${VAR}`,
//! [`schema`] checks structure against the JSON Schema generated from [`model`], [`check`]
//! checks references and rules across files, and [`load`] resolves defaults into a [`Config`].
//! This module reads the config files (and checks that migration folders exist); it does no
//! other I/O: no database, no network, no file written.

pub mod check;
pub mod diagnostic;
pub mod interpolate;
pub mod load;
pub mod model;
pub mod schema;
pub mod template;
pub mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Serialize;

pub use diagnostic::{Code, Diagnostic, Report, Severity};
pub use interpolate::EnvMode;
pub use load::{LoadOptions, Loaded, load};

use check::Declarations;
use diagnostic::FileId;
pub use model::OnError;
use model::{Database, LogFormat, McpServer, Model, RunSettings, Server, Step, TeamMode};

use crate::expr::{self, Expr};
pub use template::Template;

/// `max_input_bytes` when not set: 1 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 1024 * 1024;
/// `max_reply_bytes` when not set: 1 MiB.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 1024 * 1024;

/// Id given to the implicit SQLite database used when a config declares none.
pub const IMPLICIT_DB: &str = "default";

/// A secret (API key, password, token): never shown by `Debug`, `Display` or `Serialize`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "***" })
    }
}

/// A secret is read as the string it is written as: it is a secret from parse time on.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl schemars::JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

/// `text` with every one of `secrets` (values of 4 characters or more) replaced by `***`, longest
/// first (a secret inside another is hidden whole), and a tail that is the start of a secret (a
/// server that cut its echo short) hidden too: for text a remote server wrote, which may echo a
/// key or a header it was sent. Shorten the text only after this.
pub fn redact_secrets<'a>(text: &str, secrets: impl IntoIterator<Item = &'a Secret>) -> String {
    let mut values: Vec<&str> = secrets.into_iter().map(|s| s.0.as_str()).filter(|s| s.chars().count() >= 4).collect();
    values.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in &values {
        if out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    for s in &values {
        let longest_tail = (4..s.len()).rev().filter(|n| s.is_char_boundary(*n)).find(|n| out.ends_with(&s[..*n]));
        if let Some(n) = longest_tail {
            out.truncate(out.len() - n);
            out.push_str("***");
        }
    }
    out
}

/// Hides every password a PostgreSQL connection string can hold, in each form libpq accepts:
/// `user:password@` in a URL, `password=` (and `sslpassword=`) in its query, and `password=…`
/// in a `key=value` string.
///
/// ```
/// use agno_run::config::redact_url;
/// assert_eq!(redact_url("postgresql://ai:s3cret@db:5432/ai"), "postgresql://ai:***@db:5432/ai");
/// assert_eq!(redact_url("postgresql://db/ai?user=ai&password=s3cret"), "postgresql://db/ai?user=ai&password=***");
/// assert_eq!(redact_url("host=db password='s 3' dbname=ai"), "host=db password=*** dbname=ai");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return redact_keywords(url) };
    // A password may hold `/`, `?`, `#` and `@` (libpq reads the user part up to an `@`): when
    // anything before the last `@` has a `:`, all of it but the user name is hidden, even if that
    // hides more than the password.
    if let Some(at) = rest.rfind('@')
        && rest[..at].contains(':')
    {
        let user = rest[..at].split(':').next().unwrap_or_default();
        return format!("{scheme}://{user}:***@{}", redact_query(&rest[at + 1..]));
    }
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    format!("{scheme}://{authority}{}", redact_query(tail))
}

/// The path, query and fragment of a URL with the values of secret query keys hidden.
fn redact_query(tail: &str) -> String {
    match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query.split_at(query.find('#').unwrap_or(query.len()));
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if is_password_key(&percent_decoded(k)) => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}{fragment}", params.join("&"))
        }
        None => tail.to_string(),
    }
}

/// Query keys whose values are secrets: libpq's passwords, and the keys and tokens an
/// OpenAI-compatible `base_url` may carry (`?api-key=`).
fn is_password_key(key: &str) -> bool {
    matches!(
        key.trim().to_ascii_lowercase().as_str(),
        "password" | "sslpassword" | "api-key" | "api_key" | "apikey" | "key" | "token" | "access_token" | "secret"
    )
}

/// `%xx` escapes of a URL part decoded (a key written as `pass%77ord`, a path in a parameter).
pub(crate) fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).and_then(|c| hex(*c)), b.get(i + 2).and_then(|c| hex(*c)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A libpq `key=value` connection string with its passwords hidden; a string that cannot be
/// read as one is hidden whole when it mentions a password.
fn redact_keywords(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        let ws = i;
        skip_ws(&mut i);
        out.push_str(&text[ws..i]);
        if i >= b.len() {
            return out;
        }
        let key_start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let key = &text[key_start..i];
        skip_ws(&mut i);
        if key.is_empty() || b.get(i) != Some(&b'=') {
            return if text.to_ascii_lowercase().contains("password") { "***".into() } else { text.to_string() };
        }
        i += 1;
        skip_ws(&mut i);
        let value_start = i;
        if b.get(i) == Some(&b'\'') {
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        let value = if is_password_key(key) { "***" } else { &text[value_start..i] };
        out.push_str(&format!("{key}={value}"));
    }
}

/// Command-line overrides of the `server:` settings.
#[derive(Debug, Clone, Default)]
pub struct ServerFlags {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
}

/// The table names of one database, defaults applied.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableNames {
    /// Sessions table.
    pub sessions: String,
    /// Runs table.
    pub runs: String,
    /// Memories table.
    pub memories: String,
    /// Agno's schema-versions table.
    pub versions: String,
    /// agno-run's migration history table.
    pub migrations: String,
    /// agno-run's table of runner processes (who runs each RUNNING run, and their heartbeats).
    pub runners: String,
    /// agno-run's record of the config generations a server loaded (or failed to).
    pub generations: String,
    /// Agno's traces table.
    pub traces: String,
    /// Agno's spans table.
    pub spans: String,
    /// Agno's daily metrics table.
    pub metrics: String,
}

impl Default for TableNames {
    /// Agno's default names, and agno-run's history table.
    fn default() -> Self {
        TableNames {
            sessions: "agno_sessions".into(),
            runs: "agno_runs".into(),
            memories: "agno_memories".into(),
            versions: "agno_schema_versions".into(),
            migrations: "agno_run_migrations".into(),
            runners: "agno_run_runners".into(),
            generations: "agno_run_generations".into(),
            traces: "agno_traces".into(),
            spans: "agno_spans".into(),
            metrics: "agno_metrics".into(),
        }
    }
}

/// Where a database lives.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Backend {
    /// An SQLite file.
    Sqlite {
        /// The file, resolved against the config file's folder.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// Connection URL (secret: it may hold a password).
        #[serde(serialize_with = "serialize_redacted_url")]
        url: Secret,
        /// Schema of the tables.
        schema: String,
        /// Pool size.
        pool_size: u32,
        /// Seconds to keep trying to connect at startup.
        connect_timeout: f64,
    },
    /// In-process storage.
    Memory,
}

fn serialize_redacted_url<S: serde::Serializer>(url: &Secret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url.expose()))
}

/// A declared (or the implicit) database, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseConfig {
    /// Its id.
    pub id: String,
    /// Where it lives.
    pub backend: Backend,
    /// Its table names.
    pub tables: TableNames,
    /// The user's migration folders, resolved.
    pub migrations: Vec<PathBuf>,
    /// True for the SQLite file used when the config declares no database.
    pub implicit: bool,
    /// Its runs' traces are written into its traces and spans tables.
    pub tracing: bool,
}

/// How agno-run reaches a resolved MCP server.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "transport", rename_all = "kebab-case")]
pub enum McpTransport {
    /// A child process over stdin/stdout.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Environment variables set for it.
        env: IndexMap<String, Secret>,
        /// Its working folder (resolved against the config file's folder).
        cwd: PathBuf,
    },
    /// Streamable HTTP.
    StreamableHttp {
        /// The endpoint.
        url: String,
        /// Headers sent with every request.
        headers: IndexMap<String, Secret>,
        /// Seconds to wait for a connection.
        connect_timeout: f64,
    },
}

/// A resolved MCP server: two generations whose declarations are equal share its process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McpServerConfig {
    /// Its id.
    pub id: String,
    /// How it is reached.
    #[serde(flatten)]
    pub transport: McpTransport,
    /// Offer only these tools (empty: all).
    pub include_tools: Vec<String>,
    /// Offer none of these.
    pub exclude_tools: Vec<String>,
    /// Put before each tool's name as the model sees it.
    pub tool_name_prefix: Option<String>,
    /// Seconds one call may take.
    pub timeout_seconds: f64,
    /// Seconds to start, initialize and list tools.
    pub startup_timeout_seconds: f64,
    /// Largest result given to the model, in bytes.
    pub max_result_bytes: u64,
    /// What is hidden from everything its server sends back (see [`McpServerConfig::secrets`]).
    #[serde(skip)]
    pub hidden: Vec<Secret>,
}

/// `max_result_bytes` of an MCP server when not set: 1 MiB.
pub const DEFAULT_MCP_RESULT_BYTES: u64 = 1 << 20;

impl McpServerConfig {
    /// The declaration `m` of server `id`, with paths against `dir` and defaults applied; None
    /// for a transport agno-run does not support (validation has reported it).
    fn resolve(
        id: String,
        m: McpServer,
        dir: &Path,
        interpolated: &dyn Fn(&str, &str) -> bool,
    ) -> Option<McpServerConfig> {
        let secs = |v: Option<f64>, default: f64, max: f64| {
            v.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(default).min(max)
        };
        let (transport, common) = match m {
            McpServer::Stdio { command, args, env, cwd, common } => {
                let cwd = cwd.map_or_else(|| dir.to_path_buf(), |c| resolve_path(dir, &c));
                (McpTransport::Stdio { command, args, env, cwd }, common)
            }
            McpServer::StreamableHttp { url, headers, timeout, common } => {
                (McpTransport::StreamableHttp { url, headers, connect_timeout: secs(timeout, 30.0, 600.0) }, common)
            }
            McpServer::Sse { .. } => return None,
        };
        let hidden = hidden_values(&transport, interpolated);
        Some(McpServerConfig {
            id,
            hidden,
            transport,
            include_tools: common.include_tools,
            exclude_tools: common.exclude_tools,
            tool_name_prefix: common.tool_name_prefix.filter(|p| !p.is_empty()),
            timeout_seconds: secs(common.timeout_seconds, 60.0, 3600.0),
            startup_timeout_seconds: secs(common.startup_timeout_seconds, 30.0, 600.0),
            max_result_bytes: common.max_result_bytes.unwrap_or(DEFAULT_MCP_RESULT_BYTES).clamp(1, 16 << 20),
        })
    }

    /// What is hidden from the text its server writes: each `env` and `headers` value that
    /// came from `${VAR}` or whose name says it is one (key, token, secret, password, auth,
    /// credential, cookie, session), the password of its URL and, when the URL came from
    /// `${VAR}`, its longer parts; each with its words of 6 characters or more (the token of
    /// `Bearer ${TOKEN}`). A literal `READ_ONLY: "false"` is not one: hiding it would
    /// corrupt every result that says `false`.
    pub fn secrets(&self) -> &[Secret] {
        &self.hidden
    }
}

/// True for an environment variable or header name that names a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["key", "token", "secret", "pass", "auth", "credential", "cookie", "session", "private"]
        .iter()
        .any(|w| n.contains(w))
}

/// The values of `transport` to hide (see [`McpServerConfig::secrets`]).
fn hidden_values(transport: &McpTransport, interpolated: &dyn Fn(&str, &str) -> bool) -> Vec<Secret> {
    let mut out: Vec<Secret> = Vec::new();
    let (section, values) = match transport {
        McpTransport::Stdio { env, .. } => ("env", env),
        McpTransport::StreamableHttp { headers, url, .. } => {
            // `scheme://user:password@host/…`
            let authority =
                url.split_once("://").map_or("", |(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
            if let Some((userinfo, _)) = authority.rsplit_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
                && !password.is_empty()
            {
                out.push(Secret::new(password));
            }
            if interpolated("url", "") {
                for part in url.split(['/', '?', '&', '=', ':', '@', '#']).filter(|p| p.chars().count() >= 8) {
                    out.push(Secret::new(part));
                }
            }
            ("headers", headers)
        }
    };
    for (name, v) in values {
        if secret_name(name) || interpolated(section, name) {
            out.extend(secret_words(v));
        }
    }
    out
}

/// A secret and its words of 6 characters or more (split at spaces, `=`, `,`, `;` and `:`;
/// an auth scheme's name is not one).
fn secret_words(v: &Secret) -> Vec<Secret> {
    let mut out = vec![v.clone()];
    let words = v.expose().split(|c: char| c.is_whitespace() || matches!(c, '=' | ',' | ';' | ':'));
    let scheme = |w: &str| ["bearer", "basic", "digest", "token"].contains(&w.to_ascii_lowercase().as_str());
    for w in words.filter(|w| w.chars().count() >= 6 && *w != v.expose() && !scheme(w)) {
        out.push(Secret::new(w));
    }
    out
}

/// A resolved agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentConfig {
    /// Its id.
    pub id: String,
    /// Display name (the id when not set).
    pub name: String,
    /// Model id.
    pub model: String,
    /// Its role (Agno's `role`), when it has one.
    pub role: Option<String>,
    /// Database id its sessions go to.
    pub db: String,
    /// History, state, tools and prompt settings as written.
    pub settings: RunSettings,
}

/// A resolved team.
#[derive(Debug, Clone, Serialize)]
pub struct TeamConfig {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// How it answers.
    pub mode: TeamMode,
    /// The leader's model id.
    pub model: String,
    /// Its members, agents or teams.
    pub members: Vec<Member>,
    /// Its role as a member of another team.
    pub role: Option<String>,
    /// Agno's team knobs, resolved to their defaults.
    pub knobs: TeamKnobs,
    /// Database id its sessions go to.
    pub db: String,
    /// Settings as written.
    pub settings: RunSettings,
}

/// A team's delegation settings, with Agno's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamKnobs {
    /// The member's answer is the team's (route mode).
    pub respond_directly: bool,
    /// Every member gets the task (broadcast mode).
    pub delegate_to_all_members: bool,
    /// Members get the leader's task text (else the user's message).
    pub determine_input_for_members: bool,
    /// Members get the team's earlier runs.
    pub add_team_history_to_members: bool,
    /// How many earlier team runs they get.
    pub num_team_history_runs: u32,
    /// Members get what other members answered in this run.
    pub share_member_interactions: bool,
    /// Member runs are also kept in the team run's `member_responses`.
    pub store_member_responses: bool,
    /// Tasks mode: most rounds of the leader's loop.
    pub max_iterations: u32,
}

/// A resolved workflow.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowConfig {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Database id its sessions go to.
    pub db: String,
    /// Initial session state.
    pub session_state: Option<serde_json::Map<String, serde_json::Value>>,
    /// Give steps the workflow's earlier runs of the session.
    pub add_workflow_history_to_steps: bool,
    /// How many earlier runs that history holds.
    pub num_history_runs: u32,
    /// The steps, resolved into their kinds.
    pub steps: Vec<StepConfig>,
}

/// A team member, resolved to what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Member {
    /// The agent with this id.
    Agent(String),
    /// The team with this id.
    Team(String),
}

impl Member {
    /// The member's id.
    pub fn id(&self) -> &str {
        match self {
            Member::Agent(id) | Member::Team(id) => id,
        }
    }
}

/// A workflow step, resolved: its name, its failure rules and what it runs.
#[derive(Debug, Clone, Serialize)]
pub struct StepConfig {
    /// Unique in its workflow.
    pub name: String,
    /// What it does, as written.
    pub description: Option<String>,
    /// What its failure does.
    pub on_error: OnError,
    /// Retries of a failure before `on_error` applies.
    pub max_retries: u32,
    /// What it runs.
    #[serde(flatten)]
    pub kind: StepKind,
}

/// What a step runs. Expressions and templates are compiled: executors evaluate, never parse.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// An agent, given the rendered `input` (default: the previous output).
    Agent {
        /// Agent id.
        id: String,
        /// The input template.
        input: Option<Template>,
    },
    /// A team, given the rendered `input` (default: the previous output).
    Team {
        /// Team id.
        id: String,
        /// The input template.
        input: Option<Template>,
    },
    /// Steps run at the same time.
    Parallel(Vec<StepConfig>),
    /// `steps` when the condition holds, else `else_steps`.
    Condition {
        /// CEL, [`expr::Context::Condition`]; a bool.
        condition: Expr,
        /// Run when it holds.
        steps: Vec<StepConfig>,
        /// Run when it does not.
        else_steps: Vec<StepConfig>,
    },
    /// `steps` repeated until `end_condition` holds or `max_iterations` ran.
    Loop {
        /// CEL, [`expr::Context::Loop`]; a bool checked after each iteration.
        end_condition: Option<Expr>,
        /// Most iterations.
        max_iterations: u32,
        /// The repeated steps.
        steps: Vec<StepConfig>,
    },
    /// The steps of `choices` that `router` names.
    Router {
        /// CEL, [`expr::Context::Router`]; a step name or a list of them.
        router: Expr,
        /// The steps it chooses from.
        choices: Vec<StepConfig>,
    },
}

impl StepConfig {
    /// The typed form of a validated step (None for a step validation refuses).
    fn resolve(step: &Step) -> Option<StepConfig> {
        let list = |steps: &Option<Vec<Step>>| -> Vec<StepConfig> {
            steps.iter().flatten().filter_map(StepConfig::resolve).collect()
        };
        let compile = |source: &str, ctx| expr::compile(source, ctx).ok();
        let input = step.input.as_deref().map(|t| template::parse(t).0);
        let kind = if let Some(id) = &step.agent {
            StepKind::Agent { id: id.clone(), input }
        } else if let Some(id) = &step.team {
            StepKind::Team { id: id.clone(), input }
        } else if step.parallel.is_some() {
            StepKind::Parallel(list(&step.parallel))
        } else if let Some(c) = &step.condition {
            StepKind::Condition {
                condition: compile(c, expr::Context::Condition)?,
                steps: list(&step.steps),
                else_steps: list(&step.else_steps),
            }
        } else if let Some(l) = &step.loop_ {
            StepKind::Loop {
                end_condition: match &l.end_condition {
                    Some(c) => Some(compile(c, expr::Context::Loop)?),
                    None => None,
                },
                max_iterations: l.max_iterations?,
                steps: list(&step.steps),
            }
        } else if let Some(r) = &step.router {
            StepKind::Router { router: compile(r, expr::Context::Router)?, choices: list(&step.choices) }
        } else {
            return None;
        };
        Some(StepConfig {
            name: step.name.clone(),
            description: step.description.clone(),
            on_error: step.on_error.unwrap_or_default(),
            max_retries: step.max_retries.unwrap_or(0),
            kind,
        })
    }
}

/// The resolved process settings.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// Listen address.
    pub host: String,
    /// Listen port.
    pub port: u16,
    /// Bearer token, when set.
    pub security_key: Option<Secret>,
    /// Allow a non-loopback bind without a key.
    pub allow_unauthenticated: bool,
    /// Watch and reload.
    pub reload: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// CORS origins allowed (`*`: any).
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Seconds a shutdown lets runs in flight finish.
    pub shutdown_timeout: f64,
    /// Seconds of silence before an SSE keep-alive comment.
    pub sse_keep_alive: f64,
    /// The OTLP trace exporter, when declared.
    pub otlp: Option<crate::config::model::Otlp>,
    /// Path of the Prometheus text metrics; None when turned off.
    pub prometheus_path: Option<String>,
}

/// Default `server.max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 20;

/// A validated config. Only [`load`] constructs one; code downstream never re-checks it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// The files it was read from, in load order.
    pub files: Vec<PathBuf>,
    /// Databases by id (the implicit one when none is declared).
    pub databases: IndexMap<String, DatabaseConfig>,
    /// Models by id (`api_key` is kept as written; print through [`Config::redacted`]).
    #[serde(skip)]
    pub models: IndexMap<String, Model>,
    /// Agents by id.
    pub agents: IndexMap<String, AgentConfig>,
    /// Teams by id.
    pub teams: IndexMap<String, TeamConfig>,
    /// Workflows by id.
    pub workflows: IndexMap<String, WorkflowConfig>,
    /// MCP servers by id.
    pub mcp_servers: IndexMap<String, McpServerConfig>,
    /// Process settings.
    pub server: ServerSettings,
    /// Where each model's API key comes from, when the config says (`the environment variable
    /// OPENAI_API_KEY`), for error messages.
    #[serde(skip)]
    pub key_hints: HashMap<String, String>,
}

fn value<T>(d: check::Declared<T>) -> Option<T> {
    d.value
}

fn resolve_path(dir: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() { path.to_path_buf() } else { dir.join(path) }
}

impl Config {
    fn resolve(
        files: Vec<PathBuf>,
        decl: Declarations,
        dirs: &HashMap<FileId, PathBuf>,
        server: Server,
        flags: &ServerFlags,
    ) -> Config {
        let base = files
            .first()
            .map_or_else(|| PathBuf::from("."), |f| f.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf));
        let base = if base.as_os_str().is_empty() { PathBuf::from(".") } else { base };
        let mut databases = IndexMap::new();
        for (id, d) in decl.databases {
            let dir = dirs.get(&d.file).cloned().unwrap_or_else(|| base.clone());
            let Some(db) = value(d) else { continue };
            let (backend, tables) = match db {
                Database::Sqlite { db_file, db_url, tables } => {
                    let path = match (db_file, db_url) {
                        (Some(f), _) => resolve_path(&dir, &f),
                        (None, Some(url)) => resolve_path(&dir, url.strip_prefix("sqlite:///").unwrap_or("agno.db")),
                        (None, None) => dir.join("agno.db"),
                    };
                    (Backend::Sqlite { path }, tables)
                }
                Database::Postgres { db_url, db_schema, pool_size, connect_timeout, tables } => (
                    Backend::Postgres {
                        url: Secret::new(db_url),
                        schema: db_schema.unwrap_or_else(|| "ai".into()),
                        pool_size: pool_size.unwrap_or(8),
                        connect_timeout: connect_timeout.unwrap_or(30.0),
                    },
                    tables,
                ),
                Database::Memory { tables } => (Backend::Memory, tables),
            };
            let d = TableNames::default();
            let names = TableNames {
                sessions: tables.session_table.unwrap_or(d.sessions),
                runs: tables.runs_table.unwrap_or(d.runs),
                memories: tables.memory_table.unwrap_or(d.memories),
                versions: tables.versions_table.unwrap_or(d.versions),
                migrations: tables.migrations_table.unwrap_or(d.migrations),
                runners: tables.runners_table.unwrap_or(d.runners),
                generations: tables.generations_table.unwrap_or(d.generations),
                traces: tables.traces_table.unwrap_or(d.traces),
                spans: tables.spans_table.unwrap_or(d.spans),
                metrics: tables.metrics_table.unwrap_or(d.metrics),
            };
            let tracing = tables.tracing.unwrap_or(false);
            let migrations = tables.migrations.iter().map(|m| resolve_path(&dir, m)).collect();
            databases.insert(
                id.clone(),
                DatabaseConfig { id, backend, tables: names, migrations, implicit: false, tracing },
            );
        }
        if databases.is_empty() {
            databases.insert(
                IMPLICIT_DB.to_string(),
                DatabaseConfig {
                    id: IMPLICIT_DB.to_string(),
                    backend: Backend::Sqlite { path: base.join("agno.db") },
                    tables: TableNames::default(),
                    migrations: Vec::new(),
                    implicit: true,
                    tracing: false,
                },
            );
        }
        let default_db =
            decl.default_db.map(|(name, _, _)| name).or_else(|| databases.keys().next().cloned()).unwrap_or_default();
        let db_for = |db: Option<String>| db.unwrap_or_else(|| default_db.clone());
        let models = decl.models.into_iter().filter_map(|(k, d)| value(d).map(|v| (k, v))).collect();
        let member = |id: String| {
            if decl.teams.contains_key(&id) && !decl.agents.contains_key(&id) {
                Member::Team(id)
            } else {
                Member::Agent(id)
            }
        };
        let team_members: HashMap<String, Vec<Member>> = decl
            .teams
            .iter()
            .filter_map(|(id, d)| {
                d.value.as_ref().map(|t| (id.clone(), t.members.iter().cloned().map(member).collect()))
            })
            .collect();
        let agents = decl
            .agents
            .into_iter()
            .filter_map(|(id, d)| value(d).map(|a| (id, a)))
            .map(|(id, a)| {
                let cfg = AgentConfig {
                    name: a.name.unwrap_or_else(|| id.clone()),
                    model: a.model,
                    role: a.role,
                    db: db_for(a.settings.db.clone()),
                    settings: a.settings,
                    id: id.clone(),
                };
                (id, cfg)
            })
            .collect();
        let teams = decl
            .teams
            .into_iter()
            .filter_map(|(id, d)| value(d).map(|t| (id, t)))
            .map(|(id, t)| {
                // Agno: `mode` wins; else respond_directly means route and
                // delegate_to_all_members broadcast; a mode sets the knob it implies.
                let mode = t.mode.unwrap_or(if t.respond_directly == Some(true) {
                    TeamMode::Route
                } else if t.delegate_to_all_members == Some(true) {
                    TeamMode::Broadcast
                } else {
                    TeamMode::Coordinate
                });
                let knobs = TeamKnobs {
                    respond_directly: mode == TeamMode::Route,
                    delegate_to_all_members: mode == TeamMode::Broadcast,
                    determine_input_for_members: t.determine_input_for_members.unwrap_or(true),
                    add_team_history_to_members: t.add_team_history_to_members.unwrap_or(false),
                    num_team_history_runs: t.num_team_history_runs.unwrap_or(3),
                    share_member_interactions: t.share_member_interactions.unwrap_or(false),
                    store_member_responses: t.store_member_responses.unwrap_or(false),
                    max_iterations: t.max_iterations.unwrap_or(10),
                };
                let cfg = TeamConfig {
                    name: t.name.unwrap_or_else(|| id.clone()),
                    mode,
                    model: t.model,
                    members: team_members.get(&id).cloned().unwrap_or_default(),
                    role: t.role,
                    knobs,
                    db: db_for(t.settings.db.clone()),
                    settings: t.settings,
                    id: id.clone(),
                };
                (id, cfg)
            })
            .collect();
        let workflows = decl
            .workflows
            .into_iter()
            .filter_map(|(id, d)| value(d).map(|w| (id, w)))
            .map(|(id, w)| {
                let cfg = WorkflowConfig {
                    name: w.name.unwrap_or_else(|| id.clone()),
                    description: w.description,
                    db: db_for(w.db),
                    session_state: w.session_state,
                    add_workflow_history_to_steps: w.add_workflow_history_to_steps.unwrap_or(false),
                    num_history_runs: w.num_history_runs.unwrap_or(3),
                    steps: w.steps.iter().filter_map(StepConfig::resolve).collect(),
                    id: id.clone(),
                };
                (id, cfg)
            })
            .collect();
        let server = ServerSettings {
            host: flags.host.clone().or(server.host).unwrap_or_else(|| "127.0.0.1".into()),
            port: flags.port.or_else(|| server.port.and_then(|p| u16::try_from(p).ok())).unwrap_or(7777),
            security_key: server.security_key.filter(|k| !k.is_empty()),
            allow_unauthenticated: server.allow_unauthenticated.unwrap_or(false),
            reload: server.reload.unwrap_or(true),
            log_format: server.log_format.unwrap_or_default(),
            cors_origins: server.cors_origins,
            max_body_bytes: server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES).clamp(1024, 1 << 30),
            shutdown_timeout: server.shutdown_timeout.filter(|t| t.is_finite()).unwrap_or(10.0).clamp(0.0, 3600.0),
            sse_keep_alive: server.sse_keep_alive.filter(|t| t.is_finite()).unwrap_or(15.0).clamp(1.0, 55.0),
            otlp: server.otlp,
            prometheus_path: match server.prometheus_path {
                None => Some("/prometheus".into()),
                Some(p) if p.is_empty() => None,
                Some(p) => Some(p),
            },
        };
        let mcp_servers = decl
            .mcp_servers
            .into_iter()
            .filter_map(|(id, d)| {
                let dir = dirs.get(&d.file).cloned().unwrap_or_else(|| base.clone());
                // Which values came from `${VAR}` (secrets, whatever their names).
                let node = d.node.clone();
                let interpolated = move |section: &str, key: &str| {
                    let n = node.get(section);
                    if key.is_empty() {
                        n.is_some_and(|n| n.interpolated)
                    } else {
                        n.and_then(|n| n.get(key)).is_some_and(|n| n.interpolated)
                    }
                };
                value(d).and_then(|m| McpServerConfig::resolve(id.clone(), m, &dir, &interpolated)).map(|m| (id, m))
            })
            .collect();
        Config { files, databases, models, agents, teams, workflows, mcp_servers, server, key_hints: HashMap::new() }
    }

    /// The config as JSON with every secret hidden, for printing.
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        let models: serde_json::Map<String, serde_json::Value> = self
            .models
            .iter()
            .map(|(id, m)| {
                let mut j = serde_json::to_value(m).unwrap_or_default();
                if let Some(url) = j.get_mut("base_url")
                    && let Some(u) = url.as_str()
                {
                    *url = redact_url(u).into();
                }
                (id.clone(), j)
            })
            .collect();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("models".into(), models.into());
        }
        for (id, m) in &self.mcp_servers {
            if let McpTransport::StreamableHttp { url, .. } = &m.transport
                && let Some(slot) = v.pointer_mut(&format!("/mcp_servers/{id}/url"))
            {
                *slot = redact_secrets(&redact_url(url), m.secrets()).into();
            }
        }
        if let Some(otlp) = &self.server.otlp
            && let Some(slot) = v.pointer_mut("/server/otlp/endpoint")
        {
            *slot = redact_endpoint(&otlp.endpoint).into();
        }
        v
    }
}

/// An HTTP endpoint as it may be shown: the password of its user part hidden (`redact_url`) and
/// its query, which collectors' URLs use for keys (`?api_key=`), replaced by `***`.
pub fn redact_endpoint(url: &str) -> String {
    let shown = redact_url(url);
    match shown.split_once('?') {
        Some((base, _)) => format!("{base}?***"),
        None => shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_hidden_whole_and_by_its_longer_words() {
        let words: Vec<String> =
            secret_words(&Secret::new("Bearer abc123")).iter().map(|s| s.expose().to_string()).collect();
        assert_eq!(words, ["Bearer abc123", "abc123"]);
        let words: Vec<String> =
            secret_words(&Secret::new("user:pa55word;x=12345")).iter().map(|s| s.expose().to_string()).collect();
        assert_eq!(words, ["user:pa55word;x=12345", "pa55word"]);
        assert_eq!(
            redact_secrets("got abc123, Bearer x", &secret_words(&Secret::new("Bearer abc123"))),
            "got ***, Bearer x"
        );
    }

    #[test]
    fn api_keys_and_header_values_are_secrets_from_parse_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.yaml");
        std::fs::write(
            &path,
            "version: 1\nmodels:\n  m: {provider: openai, id: x, api_key: sk-debug-secret, headers: {X-Token: tok-debug-secret}}\nagents:\n  a: {model: m}\n",
        )
        .unwrap();
        let loaded = load(&[path], &LoadOptions::with_env(HashMap::new()));
        let config = loaded.config.unwrap();
        let shown = [format!("{config:?}"), format!("{:#?}", config.models), config.redacted().to_string()];
        let generation = crate::runtime::Generation::build(
            config,
            None,
            crate::runtime::Process::new(),
            crate::runtime::Options::default(),
        );
        for text in shown.iter().chain([&format!("{generation:?}")]) {
            assert!(!text.contains("sk-debug-secret") && !text.contains("tok-debug-secret"), "{text}");
        }
        assert_eq!(shown[2].matches("\"***\"").count(), 2, "{}", shown[2]);
    }

    #[test]
    fn urls_lose_their_password_and_secrets_their_value() {
        assert_eq!(redact_url("postgresql://u:pw@h:5432/db"), "postgresql://u:***@h:5432/db");
        assert_eq!(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
        assert_eq!(redact_url("postgresql://h/db?x=@"), "postgresql://h/db?x=@");
        assert_eq!(redact_url("postgresql://h?password=a@b"), "postgresql://h?password=***");
        assert_eq!(
            redact_url("postgres://u:p@h/d?sslmode=require&Password=x&pass%77ord=y#f"),
            "postgres://u:***@h/d?sslmode=require&Password=***&pass%77ord=***#f"
        );
        assert_eq!(redact_url("host=h user=u password = 'it''s x' dbname=d"), "***");
        assert_eq!(redact_url("host=h password='a b\\' c' dbname=d"), "host=h password=*** dbname=d");
        assert_eq!(redact_url("not a url"), "not a url");
        // libpq reads the user part up to an `@`: a password may hold `#`, `?`, `/` and `@`.
        for url in [
            "postgres://u:Se#cr3t@h:5432/d",
            "postgres://u:Se?cr3t@h/d",
            "postgres://u:Se/cr3t@h/d",
            "postgres://u:S@e#cr3t/H@h/d",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("cr3t") && shown.starts_with("postgres://u:***@"), "{url} → {shown}");
        }
        assert_eq!(redact_url("http://user:pw@h/v1?api-key=k1&x=1"), "http://user:***@h/v1?api-key=***&x=1");
    }

    #[test]
    fn secrets_in_server_text_are_hidden_whole_longest_first_and_when_cut_off() {
        let key = Secret::new("Sekr3t");
        let header = Secret::new("EnvHdrSekr3t");
        assert_eq!(redact_secrets("h: EnvHdrSekr3t k: Sekr3t", [&key, &header]), "h: *** k: ***");
        assert_eq!(redact_secrets("echo: xxEnvHdrSek", [&key, &header]), "echo: xx***");
        assert_eq!(redact_secrets("short key abc", [&Secret::new("abc")]), "short key abc", "under 4 characters: kept");
        assert_eq!(format!("{:?}", Secret::new("sk-123")), "\"***\"");
        assert_eq!(serde_json::to_string(&Secret::new("sk-123")).unwrap(), "\"***\"");
    }
}
