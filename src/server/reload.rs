//! Hot reload: the one path that replaces the live generation.
//!
//! A change of a config file (seen by the watcher, debounced), SIGHUP and `POST /config/reload`
//! all call [`Live::reload`]: load and validate (off the async threads) → build the next
//! generation beside the current one, reusing the stores, pools and clients whose declarations
//! did not change → open (and migrate) its databases → swap. A reload that fails at any step
//! keeps the current generation serving and says why in `/health`. Runs in flight hold the
//! `Arc` of the generation they started on and finish there. Every attempt is recorded in the
//! databases (`agno_run_generations`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use notify::{EventKind, RecursiveMode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{ApiResult, ServeOptions, Shared};
use crate::config::{self, Config, ServerSettings};
use crate::runtime::{self, Generation, RuntimeError};
use crate::store::GenerationRecord;

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// What asked for a (re)load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The server started.
    Start,
    /// A config file changed.
    Watch,
    /// SIGHUP.
    Signal,
    /// `POST /config/reload`.
    Http,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Start => "start",
            Trigger::Watch => "watch",
            Trigger::Signal => "sighup",
            Trigger::Http => "http",
        }
    }
}

/// The generation that serves, and what the reloads said.
pub struct Live {
    current: RwLock<Arc<Generation>>,
    status: Mutex<Status>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    paths: Vec<PathBuf>,
    load: config::LoadOptions,
    options: runtime::Options,
    /// The settings the server started with: those that cannot change live.
    started: ServerSettings,
    /// The generation number, each time it changes (for watchers such as a console).
    changes: tokio::sync::watch::Sender<u64>,
    /// When the server started (epoch seconds).
    started_at: i64,
}

#[derive(Debug, Clone)]
struct Status {
    loaded_at: i64,
    files: Vec<String>,
    config_hash: String,
    last_reload: Option<Value>,
    last_error: Option<Value>,
    restart_required: Vec<String>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("generation", &self.current().number()).finish_non_exhaustive()
    }
}

/// FNV-1a, 64 bits: a stable hash of the effective config (secrets already removed).
pub(super) fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn config_hash(config: &Config) -> String {
    fnv(config.redacted().to_string().as_bytes())
}

fn file_names(config: &Config) -> Vec<String> {
    config.files.iter().map(|f| f.display().to_string()).collect()
}

/// ISO-8601 UTC, as AgentOS writes times.
pub(crate) fn iso(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The settings that cannot change without a restart, by name, when they differ.
fn restart_required(started: &ServerSettings, next: &ServerSettings) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            out.push(format!("server.{name}"));
        }
    };
    check("host", started.host == next.host);
    check("port", started.port == next.port);
    check(
        "security_key",
        started.security_key.as_ref().map(|k| k.expose()) == next.security_key.as_ref().map(|k| k.expose()),
    );
    check("allow_unauthenticated", started.allow_unauthenticated == next.allow_unauthenticated);
    check("log_format", started.log_format == next.log_format);
    check("cors_origins", started.cors_origins == next.cors_origins);
    check("max_body_bytes", started.max_body_bytes == next.max_body_bytes);
    check("shutdown_timeout", started.shutdown_timeout == next.shutdown_timeout);
    check("sse_keep_alive", started.sse_keep_alive == next.sse_keep_alive);
    check("reload", started.reload == next.reload);
    check("prometheus_path", started.prometheus_path == next.prometheus_path);
    out
}

impl Live {
    /// The first generation of `config`: every database opened (and migrated) before the
    /// server accepts a request, so that a broken database fails the start, not a request.
    pub async fn start(config: Config, serve: &ServeOptions) -> Result<Live, RuntimeError> {
        let progress: runtime::Progress = Arc::new(|db, e| {
            if let crate::migrate::Event::Applied(m, d) = e {
                tracing::info!(db = %db.id, migration = %m.name, ms = d.as_millis() as u64, "migrated");
            }
        });
        let options = runtime::Options { migrate: !serve.no_migrate, progress: Some(progress), ..Default::default() };
        let status = Status {
            loaded_at: crate::store::now(),
            files: file_names(&config),
            config_hash: config_hash(&config),
            last_reload: None,
            last_error: None,
            restart_required: Vec::new(),
        };
        let started = config.server.clone();
        let process = runtime::Process::with_telemetry(serve.telemetry.clone());
        let generation = Generation::build(config, None, process, options.clone());
        generation.open_all().await?;
        log_mcp(&generation.start_mcp().await);
        let (changes, _) = tokio::sync::watch::channel(generation.number());
        Ok(Live {
            current: RwLock::new(generation),
            status: Mutex::new(status),
            reloading: tokio::sync::Mutex::new(()),
            paths: serve.paths.clone(),
            load: serve.load.clone(),
            options,
            started,
            changes,
            started_at: crate::store::now(),
        })
    }

    /// The generation that serves now.
    pub fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// When the server started (epoch seconds).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// Hears each new generation number.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// What `/health` says about the config: generation, reload outcome, last error.
    pub fn health(&self) -> Value {
        let g = self.current();
        let s = self.status.lock().map(|s| s.clone()).ok();
        let Some(s) = s else { return json!({ "config_generation": g.number() }) };
        json!({
            "config_generation": g.number(),
            "config_loaded_at": iso(s.loaded_at),
            "config_files": s.files,
            "config_hash": s.config_hash,
            "last_reload": s.last_reload,
            "last_error": s.last_error,
            "restart_required": s.restart_required,
            "mcp_servers": mcp_health(&g),
        })
    }

    /// Loads the config again and, when it is valid and its databases open, serves it.
    /// Returns what happened (also kept for `/health`).
    pub async fn reload(&self, trigger: Trigger) -> Value {
        let _one = self.reloading.lock().await;
        let started = Instant::now();
        let paths = self.paths.clone();
        let load = self.load.clone();
        let loaded = tokio::task::spawn_blocking(move || config::load(&paths, &load)).await;
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                return self.failed(trigger, started, json!({ "message": format!("the load panicked: {e}") })).await;
            }
        };
        let Some(config) = loaded.config else {
            let diagnostics: Vec<Value> = loaded
                .report
                .diagnostics
                .iter()
                .map(|d| serde_json::to_value(crate::cli::report::JsonDiagnostic::new(d, &loaded.report.sources)))
                .filter_map(Result::ok)
                .collect();
            for d in &diagnostics {
                tracing::warn!(
                    file = d["file"].as_str().unwrap_or_default(),
                    line = d["line"].as_u64().unwrap_or_default(),
                    code = d["code"].as_str().unwrap_or_default(),
                    message = d["message"].as_str().unwrap_or_default(),
                    "config reload refused; the current generation keeps serving"
                );
            }
            let error = json!({
                "message": format!("the config is invalid ({} error(s)); generation {} keeps serving", loaded.report.errors(), self.current().number()),
                "diagnostics": diagnostics,
            });
            return self.failed(trigger, started, error).await;
        };
        let current = self.current();
        let restart = restart_required(&self.started, &config.server);
        let hash = config_hash(&config);
        let files = file_names(&config);
        let next = Generation::build(config, Some(&current), current.process().clone(), self.options.clone());
        if let Err(e) = next.open_all().await {
            let error = json!({ "message": e.to_string(), "help": e.help() });
            tracing::warn!(error = %e, "config reload failed to open a database; the current generation keeps serving");
            return self.failed(trigger, started, error).await;
        }
        // New or changed MCP servers start beside the old ones before the swap; one that
        // fails does not refuse the reload (it is retried, and its tools answer with an error).
        let mcp = next.start_mcp().await;
        log_mcp(&mcp);
        if let Ok(mut slot) = self.current.write() {
            *slot = next.clone();
        }
        let outcome = json!({
            "trigger": trigger.as_str(),
            "at": iso(crate::store::now()),
            "loaded": true,
            "generation": next.number(),
            "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
            "restart_required": restart,
            "mcp_errors": mcp.iter().filter_map(|(id, r)| r.as_ref().err().map(|e| json!({"server": id, "error": e}))).collect::<Vec<_>>(),
        });
        if let Ok(mut s) = self.status.lock() {
            s.loaded_at = crate::store::now();
            s.files = files;
            s.config_hash = hash;
            s.last_reload = Some(outcome.clone());
            s.last_error = None;
            s.restart_required = restart.clone();
        }
        if !restart.is_empty() {
            tracing::warn!(settings = ?restart, "these settings changed but need a restart to apply");
        }
        tracing::info!(
            generation = next.number(),
            trigger = trigger.as_str(),
            ms = started.elapsed().as_millis() as u64,
            "config reloaded"
        );
        self.changes.send_replace(next.number());
        self.record(&next, trigger, None).await;
        outcome
    }

    async fn failed(&self, trigger: Trigger, started: Instant, error: Value) -> Value {
        let current = self.current();
        let outcome = json!({
            "trigger": trigger.as_str(),
            "at": iso(crate::store::now()),
            "loaded": false,
            "generation": current.number(),
            "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
            "error": error,
        });
        if let Ok(mut s) = self.status.lock() {
            s.last_reload = Some(outcome.clone());
            s.last_error = Some(error.clone());
        }
        self.changes.send_replace(current.number());
        self.record(&current, trigger, Some(&error)).await;
        outcome
    }

    /// Records an attempt in every database of `generation` (the new one, or the one that
    /// keeps serving after a failure). A database that cannot take the record is logged.
    pub async fn record(&self, generation: &Generation, trigger: Trigger, error: Option<&Value>) {
        let (hash, files) = match error {
            None => (config_hash(generation.config()), file_names(generation.config())),
            Some(_) => (String::new(), self.paths.iter().map(|p| p.display().to_string()).collect()),
        };
        let now = crate::store::now();
        let id = uuid::Uuid::now_v7().to_string();
        let number = error.is_none().then(|| generation.number() as i64);
        let record = json!({
            "generation_id": id,
            "number": number,
            "loaded": error.is_none(),
            "created_at": iso(now),
            "trigger": trigger.as_str(),
            "config_hash": if hash.is_empty() { Value::Null } else { json!(hash) },
            "files": files,
            "error": error,
            "runner_id": generation.process().runner().id,
        });
        if let Some(t) = generation.process().telemetry() {
            let outcome = if error.is_none() { "loaded" } else { "failed" };
            t.metrics().count(
                "agno_run_reloads_total",
                vec![("trigger", trigger.as_str().to_string()), ("outcome", outcome.to_string())],
                1.0,
            );
        }
        let row = GenerationRecord { generation_id: id, number, loaded: error.is_none(), created_at: now, record };
        for db in generation.config().databases.keys() {
            match generation.store(db).await {
                Ok(store) => {
                    if let Err(e) = store.record_generation(&row).await {
                        tracing::warn!(db = %db, error = %e, "cannot record the config generation");
                    }
                }
                Err(e) => tracing::warn!(db = %db, error = %e, "cannot record the config generation"),
            }
        }
    }
}

/// The folders to watch, and the files in them that are the config: every given folder, and
/// the folder of every config file (editors save by rename, so a watch on the file itself
/// follows the old inode).
fn watch_set(paths: &[PathBuf], files: &[PathBuf]) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut dirs = BTreeSet::new();
    let mut config_dirs = BTreeSet::new();
    let mut config_files = BTreeSet::new();
    for p in paths {
        let p = abs(p);
        if p.is_dir() {
            dirs.insert(p.clone());
            config_dirs.insert(p);
        } else {
            if let Some(parent) = p.parent() {
                dirs.insert(parent.to_path_buf());
            }
            config_files.insert(p);
        }
    }
    for f in files {
        let f = abs(f);
        if let Some(parent) = f.parent() {
            dirs.insert(parent.to_path_buf());
        }
        config_files.insert(f);
    }
    (dirs, config_dirs, config_files)
}

/// True when a change of `path` is a change of the config: a config file, a YAML file in a
/// config folder, or a Kubernetes config-map swap (`..data`). The runner's own database, WAL
/// and lock files, and editors' temporary files, are not.
fn is_config_change(path: &Path, config_dirs: &BTreeSet<PathBuf>, config_files: &BTreeSet<PathBuf>) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if name.starts_with("..data") {
        return true;
    }
    if config_files.contains(path) {
        return true;
    }
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml") && !name.starts_with('.');
    yaml && path.parent().is_some_and(|p| config_dirs.contains(p))
}

/// Starts the reloader: the file watcher (when `watch`) and SIGHUP, each calling
/// [`Live::reload`]. The returned task ends with the server.
pub fn spawn(app: Shared, options: ServeOptions, watch: bool) -> tokio::task::JoinHandle<()> {
    let (tx, mut rx) = mpsc::channel::<Trigger>(1);
    let mut watcher = None;
    if watch {
        let (dirs, config_dirs, config_files) = watch_set(&options.paths, &app.generation().config().files);
        let events = tx.clone();
        // The raw watcher, filtered here on notify's thread: a SQLite database beside its config
        // (the default layout) writes on every run, and each write is an event of the watched
        // folder. The filter is a few comparisons per event; the debounce is the reload task's.
        let made = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
            let Ok(event) = result else { return };
            if matches!(event.kind, EventKind::Access(_)) {
                return;
            }
            if event.paths.iter().any(|p| is_config_change(p, &config_dirs, &config_files)) {
                // A full channel means a reload is already queued: this change is part of it.
                let _ = events.try_send(Trigger::Watch);
            }
        });
        match made {
            Ok(mut w) => {
                for dir in &dirs {
                    if let Err(e) = notify::Watcher::watch(&mut w, dir, RecursiveMode::NonRecursive) {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a config folder; use SIGHUP or POST /config/reload");
                    }
                }
                watcher = Some(w);
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch the config files; use SIGHUP or POST /config/reload"),
        }
    }
    #[cfg(unix)]
    {
        let tx = tx.clone();
        let shutdown = app.shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP");
                return;
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    got = hup.recv() => {
                        if got.is_none() { return; }
                        tracing::info!("SIGHUP: reloading the config");
                        let _ = tx.send(Trigger::Signal).await;
                    }
                }
            }
        });
    }
    drop(tx);
    tokio::spawn(async move {
        let _watching = watcher;
        while let Some(trigger) = rx.recv().await {
            if trigger == Trigger::Watch {
                // Debounce: an editor's save is several events (rename, create, write); the
                // ones that come while this waits are the same save.
                tokio::time::sleep(DEBOUNCE).await;
                while let Ok(Trigger::Watch) = rx.try_recv() {}
            }
            if app.shutdown.is_cancelled() {
                return;
            }
            app.live.reload(trigger).await;
        }
    })
}

/// `POST /config/reload`: reloads now and answers what happened (200 either way; `loaded`
/// says whether the new config serves).
pub(super) async fn reload_route(State(app): State<Shared>) -> Json<Value> {
    Json(app.live.reload(Trigger::Http).await)
}

#[derive(Debug, Deserialize)]
pub(super) struct GenerationsQuery {
    limit: Option<u32>,
    db_id: Option<String>,
}

/// `GET /config/generations`: the recorded loads and reloads, newest first, from one database
/// (`db_id`, default the first).
pub(super) async fn generations_route(
    State(app): State<Shared>,
    Query(q): Query<GenerationsQuery>,
) -> ApiResult<Json<Value>> {
    let g = app.generation();
    let db = match q.db_id {
        Some(db) => db,
        None => g.config().databases.keys().next().cloned().unwrap_or_default(),
    };
    let store = g.store(&db).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let data = store.list_generations(limit).await?;
    Ok(Json(json!({ "db_id": db, "data": data })))
}

/// Logs each MCP server that failed to start (it is retried in the background).
fn log_mcp(outcomes: &[(String, Result<(), String>)]) {
    for (id, r) in outcomes {
        match r {
            Ok(()) => {}
            Err(why) => {
                tracing::warn!(mcp_server = %id, reason = %why, "MCP server not ready; its tools answer with an error until it runs")
            }
        }
    }
}

/// Each MCP server of `g`: its status, pid (stdio) and number of tools.
fn mcp_health(g: &Generation) -> Value {
    let servers: serde_json::Map<String, Value> = g
        .mcp_servers()
        .iter()
        .map(|(id, s)| {
            let (status, error) = match s.status() {
                crate::tool::mcp::Status::Idle => ("idle", None),
                crate::tool::mcp::Status::Starting => ("starting", None),
                crate::tool::mcp::Status::Ready => ("ready", None),
                crate::tool::mcp::Status::Down(why) => ("down", Some(why)),
                crate::tool::mcp::Status::Stopped => ("stopped", None),
            };
            (id.clone(), json!({"status": status, "error": error, "pid": s.pid(), "tools": s.tools(&[], &[]).len()}))
        })
        .collect();
    Value::Object(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_config_files_trigger() {
        let dirs: BTreeSet<PathBuf> = [PathBuf::from("/c/agents")].into();
        let files: BTreeSet<PathBuf> = [PathBuf::from("/c/app.yaml")].into();
        assert!(is_config_change(Path::new("/c/app.yaml"), &dirs, &files));
        assert!(is_config_change(Path::new("/c/agents/new.yml"), &dirs, &files));
        assert!(is_config_change(Path::new("/c/..data"), &dirs, &files));
        for ignored in ["/c/agno.db", "/c/agno.db-wal", "/c/agno.db-shm", "/c/other.yaml", "/c/4913", "/c/app.yaml~"] {
            assert!(!is_config_change(Path::new(ignored), &dirs, &files), "{ignored}");
        }
        assert!(!is_config_change(Path::new("/c/agents/.new.yaml.swp"), &dirs, &files));
        assert!(!is_config_change(Path::new("/c/agents/.hidden.yaml"), &dirs, &files));
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(fnv(b""), "cbf29ce484222325");
        assert_eq!(fnv(b"a"), "af63dc4c8601ec8c");
    }
}
