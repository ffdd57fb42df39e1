//! The loader: finds the config files, reads them, and runs parse → interpolate → structural
//! check → merge by id → environment and flag overrides → semantic checks → resolve.
//!
//! It is the only constructor of [`Config`]. It reads files and folders and nothing else: no
//! database is opened, no file is written, no connection is made.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::check::{self, Declarations, Declared, FileInfo};
use super::diagnostic::{Code, Diagnostic, FileId, Report, Severity, SourceMap, Span};
use super::interpolate::{self, EnvMode};
use super::model::Server;
use super::schema;
use super::yaml::{self, Entry, Kind, Node};
use super::{Config, ServerFlags};

/// Largest config file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Prefix of the environment variables that override `server:` settings.
pub const ENV_PREFIX: &str = "AGNO_SERVER__";

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The environment `${VAR}` and `AGNO_SERVER__*` read (a snapshot, so tests can pass their own).
    pub env: HashMap<String, String>,
    /// Whether missing variables are errors; `Skip` also ignores `AGNO_SERVER__*` overrides.
    pub env_mode: EnvMode,
    /// Command-line overrides of `server:` settings, applied last.
    pub flags: ServerFlags,
    /// Function names that tools the embedding program adds (beyond the built-in ones) offer:
    /// scripted tool calls may name them. Empty for the CLI.
    pub extra_functions: Vec<String>,
}

impl LoadOptions {
    /// Options reading this process's environment.
    pub fn from_process_env() -> Self {
        LoadOptions {
            env: std::env::vars().collect(),
            env_mode: EnvMode::Check,
            flags: ServerFlags::default(),
            extra_functions: Vec::new(),
        }
    }

    /// Options with an empty environment (tests).
    pub fn with_env(env: HashMap<String, String>) -> Self {
        LoadOptions { env, env_mode: EnvMode::Check, flags: ServerFlags::default(), extra_functions: Vec::new() }
    }
}

/// The result of a load: the config when it has no error, and the report either way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated config; None when the report has errors.
    pub config: Option<Config>,
    /// Every file read and every problem found.
    pub report: Report,
}

/// Loads and validates the config made of `paths` (files or folders).
pub fn load(paths: &[PathBuf], options: &LoadOptions) -> Loaded {
    let mut l = Loader { sources: SourceMap::default(), diags: Vec::new(), files: Vec::new() };
    l.discover(paths);
    let schema = schema::cached();
    let mut decl = Declarations::default();
    let mut server: Option<(FileId, Span, Node)> = None;
    let file_ids: Vec<FileId> = l.files.clone();
    for id in &file_ids {
        let Some(root) = l.parse(*id, schema, options) else { continue };
        l.merge(*id, root, &mut decl, &mut server);
    }
    let mut server_node =
        server.map(|(_, _, n)| n).unwrap_or_else(|| Node::new(Span::default(), Kind::Map(Vec::new())));
    if options.env_mode == EnvMode::Check {
        l.env_overrides(schema, &options.env, &mut server_node);
    }
    let dirs: Vec<(FileId, PathBuf)> = file_ids.iter().map(|id| (*id, dir_of(&l.sources.get(*id).path))).collect();
    let infos: HashMap<FileId, FileInfo<'_>> =
        dirs.iter().map(|(id, dir)| (*id, FileInfo { dir: dir.as_path(), text: &l.sources.get(*id).text })).collect();
    let mut semantic = Vec::new();
    check::check(&decl, &infos, &options.extra_functions, &mut semantic);
    drop(infos);
    l.diags.extend(semantic);

    let mut report = Report { sources: l.sources, diagnostics: l.diags };
    report.sort();
    let config = if report.errors() == 0 {
        let server: Server = serde_json::from_value(server_node.to_json()).unwrap_or_default();
        let files: Vec<PathBuf> = file_ids.iter().map(|id| report.sources.get(*id).path.clone()).collect();
        let dirs: HashMap<FileId, PathBuf> = dirs.into_iter().collect();
        let hints = key_hints(&decl, &report.sources);
        let mut config = Config::resolve(files, decl, &dirs, server, &options.flags);
        config.key_hints = hints;
        Some(config)
    } else {
        None
    };
    Loaded { config, report }
}

/// Decodes a file for parsing and excerpts. Byte offsets are kept: an invalid UTF-8 byte
/// becomes one `?`, and a lone CR (a YAML line break) stays a one-byte break. Returns the
/// first problem: a NUL byte (a binary file) or invalid UTF-8.
fn decode(bytes: &[u8]) -> (String, Option<(usize, &'static str)>) {
    let mut text = String::with_capacity(bytes.len());
    let mut invalid = None;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            invalid.get_or_insert(text.len());
            text.extend(std::iter::repeat_n('?', chunk.invalid().len()));
        }
    }
    let nul = text.find('\0');
    let problem = match (nul, invalid) {
        (Some(n), Some(i)) if n < i => Some((n, "the file holds a NUL byte: it looks binary, not YAML text")),
        (_, Some(i)) => Some((i, "the file is not UTF-8 text")),
        (Some(n), None) => Some((n, "the file holds a NUL byte: it looks binary, not YAML text")),
        (None, None) => None,
    };
    (text, problem)
}

/// For each model whose `api_key` is written as `${VAR...}`, where the user sets it: "the
/// environment variable VAR". The text is the config's own, never the key.
fn key_hints(decl: &Declarations, sources: &SourceMap) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (id, d) in &decl.models {
        let Some(node) = d.node.get("api_key").filter(|n| n.interpolated) else { continue };
        let raw = sources.get(d.file).text.get(node.span.start..node.span.end).unwrap_or_default();
        let Some(start) = raw.find("${") else { continue };
        let name: String = raw[start + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(id.clone(), format!("the environment variable {name}"));
        }
    }
    out
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

struct Loader {
    sources: SourceMap,
    diags: Vec<Diagnostic>,
    /// Files to parse, in order.
    files: Vec<FileId>,
}

fn is_yaml(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

impl Loader {
    fn add_source(&mut self, path: &Path, text: Arc<str>) -> FileId {
        self.sources.add(path.to_path_buf(), path.display().to_string(), text)
    }

    fn io_problem(&mut self, path: &Path, what: &str, e: &std::io::Error) {
        let id = self.add_source(path, Arc::from(""));
        let help = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path; CONFIG is one or more YAML files or folders",
            std::io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ if e.raw_os_error() == Some(40) => "a symbolic link points, through others, back at itself",
            _ => "check that the path is a readable file or folder",
        };
        self.diags
            .push(Diagnostic::new(Code::Io, format!("cannot {what} {}: {e}", path.display())).in_file(id).help(help));
    }

    /// Expands the paths into the list of YAML files, sorted within each folder.
    fn discover(&mut self, paths: &[PathBuf]) {
        let mut seen_files: HashSet<PathBuf> = HashSet::new();
        for path in paths {
            let meta = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) => {
                    self.io_problem(path, "read", &e);
                    continue;
                }
            };
            if meta.is_dir() {
                let mut found = Vec::new();
                let mut visited = HashSet::new();
                let root = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                self.walk(path, &root, &mut found, &mut visited);
                if found.is_empty() {
                    let id = self.add_source(path, Arc::from(""));
                    self.diags.push(
                        Diagnostic::new(
                            Code::NoConfigFiles,
                            format!("the folder {} holds no *.yaml or *.yml file", path.display()),
                        )
                        .in_file(id)
                        .help("point at the folder that holds the config files, or at the files themselves"),
                    );
                }
                for f in found {
                    self.read(&f, &mut seen_files);
                }
            } else {
                self.read(path, &mut seen_files);
            }
        }
    }

    /// Collects the YAML files under `dir`, a folder inside `root` (the folder the user named,
    /// canonical). A symlink that resolves outside `root` is refused and never read: a config
    /// folder cannot be made to print another file's lines as diagnostics. Symlinks inside it
    /// (a Kubernetes config map's `..data` links) are followed.
    fn walk(&mut self, dir: &Path, root: &Path, found: &mut Vec<PathBuf>, visited: &mut HashSet<PathBuf>) {
        let canonical = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        if !visited.insert(canonical) {
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                self.io_problem(dir, "read the folder", &e);
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')))
            .collect();
        paths.sort();
        for p in paths {
            if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                let target = std::fs::canonicalize(&p);
                let inside = target.as_ref().is_ok_and(|target| target.starts_with(root));
                let followed = std::fs::metadata(&p).is_ok_and(|m| m.is_dir()) || is_yaml(&p);
                if !inside && followed {
                    let id = self.add_source(&p, Arc::from(""));
                    let what = if target.is_err() {
                        "a symlink whose target does not exist (or a loop)".to_string()
                    } else {
                        format!("a symlink to a place outside the folder {}", root.display())
                    };
                    self.diags.push(
                        Diagnostic::new(Code::Io, format!("{} is {what}; it is not read", p.display()))
                        .in_file(id)
                        .help("a config folder's symlinks must stay inside it; name the target as its own path if it is meant to be loaded"),
                    );
                    continue;
                }
            }
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => self.walk(&p, root, found, visited),
                Ok(_) if is_yaml(&p) => found.push(p),
                Ok(_) => {}
                Err(e) if is_yaml(&p) => self.io_problem(&p, "read", &e),
                Err(_) => {}
            }
        }
    }

    fn read(&mut self, path: &Path, seen: &mut HashSet<PathBuf>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !seen.insert(canonical) {
            return;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return,
            Ok(m) if !m.is_file() => {
                // A FIFO or device would block or never end: never open it.
                let id = self.add_source(path, Arc::from(""));
                self.diags.push(
                    Diagnostic::new(Code::Io, format!("{} is not a regular file", path.display()))
                        .in_file(id)
                        .help("config folders hold regular YAML files; remove or rename this one"),
                );
                return;
            }
            Ok(_) => {}
            Err(e) => return self.io_problem(path, "read", &e),
        }
        let mut bytes = Vec::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes));
        if let Err(e) = read {
            return self.io_problem(path, "read", &e);
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            let id = self.add_source(path, Arc::from(""));
            self.diags.push(
                Diagnostic::new(
                    Code::FileTooLarge,
                    format!("{} is larger than {MAX_FILE_BYTES} bytes, the most a config file may be", path.display()),
                )
                .in_file(id)
                .help("is this the right file? split a large config into several files"),
            );
            return;
        }
        let (text, problem) = decode(&bytes);
        let id = self.add_source(path, Arc::from(text));
        if let Some((at, message)) = problem {
            self.diags.push(
                Diagnostic::new(Code::Encoding, message)
                    .at(id, Span::new(at, at + 1), "first byte that is not text")
                    .help("config files are YAML in UTF-8; is this the right file?"),
            );
            return;
        }
        self.files.push(id);
    }

    /// Parses, interpolates and structurally checks one file; returns its root mapping.
    fn parse(&mut self, id: FileId, schema: &serde_json::Value, options: &LoadOptions) -> Option<Node> {
        let text = self.sources.get(id).text.clone();
        let parsed = yaml::parse(id, &text);
        let had_errors = !parsed.diagnostics.is_empty();
        self.diags.extend(parsed.diagnostics);
        let mut root = match parsed.root {
            Some(r) if !matches!(r.kind, Kind::Null) => r,
            Some(_) | None if had_errors => return None,
            _ => {
                self.diags.push(
                    Diagnostic::new(Code::EmptyFile, format!("{} holds no config", self.sources.get(id).name))
                        .in_file(id)
                        .help("add `version: 1` and some sections, or remove the file"),
                );
                return None;
            }
        };
        if !matches!(root.kind, Kind::Map(_)) {
            self.diags.push(
                Diagnostic::new(Code::Type, format!("a config file is a mapping of sections, this one is {}", root.type_name()))
                    .at(id, Span::new(root.span.start, root.span.start), "expected `key: value` lines here")
                    .help("the top-level keys are version, default_db, databases, models, mcp_servers, agents, teams, workflows and server"),
            );
            return None;
        }
        interpolate::interpolate(&mut root, id, &text, &options.env, options.env_mode, &mut self.diags);
        schema::check(schema, id, &mut root, &mut self.diags);
        match root.get("version") {
            None => self.diags.push(
                Diagnostic::new(
                    Code::MissingVersion,
                    format!("{} does not say which format version it uses", self.sources.get(id).name),
                )
                .at(id, Span::new(0, 0), "no `version:`")
                .help("add `version: 1` at the top"),
            ),
            Some(Node { kind: Kind::Int(1), .. }) => {}
            Some(v @ Node { kind: Kind::Int(n), .. }) => self.diags.push(
                Diagnostic::new(Code::Version, format!("format version {n} is not supported"))
                    .at(id, v.span, "unsupported version")
                    .help("this agno-run reads format version 1: write `version: 1`"),
            ),
            Some(_) => {}
        }
        Some(root)
    }

    fn has_error_within(&self, id: FileId, span: Span) -> bool {
        self.diags.iter().any(|d| {
            d.severity == Severity::Error
                && d.file == Some(id)
                && d.span.is_some_and(|s| s.start >= span.start && s.end <= span.end)
        })
    }

    fn section<T: DeserializeOwned>(
        &mut self,
        id: FileId,
        root: &Node,
        key: &str,
        into: &mut IndexMap<String, Declared<T>>,
        what: &str,
    ) {
        let Some(entries) = root.get(key).and_then(Node::entries) else { return };
        for Entry { key: name, key_span, value } in entries {
            let typed = if self.has_error_within(id, value.span) || self.has_error_within(id, *key_span) {
                None
            } else {
                match serde_json::from_value::<T>(value.to_json()) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        self.diags.push(
                            Diagnostic::new(Code::Type, format!("{what} `{name}` cannot be read: {e}"))
                                .at(id, value.span, "here"),
                        );
                        None
                    }
                }
            };
            if let Some(first) = into.get(name) {
                self.diags.push(
                    Diagnostic::new(Code::DuplicateId, format!("the {what} id `{name}` is declared twice"))
                        .at(id, *key_span, "second declaration")
                        .related(first.file, first.key_span, "first declaration")
                        .help(format!("ids are unique across all config files; rename or remove one `{name}`")),
                );
                continue;
            }
            into.insert(name.clone(), Declared { file: id, key_span: *key_span, node: value.clone(), value: typed });
        }
    }

    fn merge(&mut self, id: FileId, root: Node, decl: &mut Declarations, server: &mut Option<(FileId, Span, Node)>) {
        self.section(id, &root, "databases", &mut decl.databases, "database");
        self.section(id, &root, "models", &mut decl.models, "model");
        self.section(id, &root, "agents", &mut decl.agents, "agent");
        self.section(id, &root, "teams", &mut decl.teams, "team");
        self.section(id, &root, "workflows", &mut decl.workflows, "workflow");
        self.section(id, &root, "mcp_servers", &mut decl.mcp_servers, "MCP server");
        for key in ["default_db", "server"] {
            let Some(entry) = root.entry(key) else { continue };
            let first = match key {
                "server" => server.as_ref().map(|(f, s, _)| (*f, *s)),
                _ => decl.default_db.as_ref().map(|(_, f, s)| (*f, *s)),
            };
            if let Some((file, span)) = first {
                self.diags.push(
                    Diagnostic::new(Code::DuplicateSetting, format!("`{key}` is set in two files"))
                        .at(id, entry.key_span, "second setting")
                        .related(file, span, "first setting")
                        .help(format!("set `{key}` in one file only")),
                );
                continue;
            }
            match (key, &entry.value.kind) {
                ("server", Kind::Map(_)) if !self.has_error_within(id, entry.value.span) => {
                    *server = Some((id, entry.key_span, entry.value.clone()));
                }
                ("default_db", Kind::Str(s)) => decl.default_db = Some((s.clone(), id, entry.value.span)),
                _ => {}
            }
        }
    }

    /// Applies `AGNO_SERVER__<KEY>` variables over the `server:` settings, checking them like
    /// file values. They are shown in diagnostics as a pseudo-file named `<environment>`.
    fn env_overrides(&mut self, schema: &serde_json::Value, env: &HashMap<String, String>, server: &mut Node) {
        let mut vars: Vec<(&String, &String)> = env.iter().filter(|(k, _)| k.starts_with(ENV_PREFIX)).collect();
        if vars.is_empty() {
            return;
        }
        vars.sort();
        let mut text = String::new();
        let mut entries = Vec::new();
        for (name, value) in &vars {
            let key = name[ENV_PREFIX.len()..].to_lowercase();
            let key_span = Span::new(text.len(), text.len() + name.len());
            text.push_str(name);
            text.push('=');
            // Values from the environment are never shown in excerpts (a misspelt key may hold
            // anything); the diagnostics say what is wrong with them.
            let shown = "***";
            let value_span = Span::new(text.len(), text.len() + shown.len());
            text.push_str(shown);
            text.push('\n');
            let mut node = Node::new(value_span, Kind::Str((*value).clone()));
            node.interpolated = true;
            entries.push(Entry { key, key_span, value: node });
        }
        let id = self.sources.add(PathBuf::from("<environment>"), "<environment>".into(), Arc::from(text));
        let mut overrides = Node::new(Span::new(0, 0), Kind::Map(entries));
        let server_schema =
            serde_json::json!({ "$ref": "#/definitions/Server", "definitions": schema.get("definitions") });
        let before = self.diags.len();
        schema::check(&server_schema, id, &mut overrides, &mut self.diags);
        for d in &mut self.diags[before..] {
            if d.code == Code::UnknownKey {
                d.message = d.message.replace("unknown key", "unknown server setting");
            }
        }
        if self.diags[before..].iter().any(|d| d.severity == Severity::Error) {
            return;
        }
        let Kind::Map(over) = overrides.kind else { return };
        let Kind::Map(current) = &mut server.kind else { return };
        for e in over {
            match current.iter_mut().find(|c| c.key == e.key) {
                Some(c) => c.value = e.value,
                None => current.push(e),
            }
        }
    }
}
