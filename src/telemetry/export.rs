//! Where finished spans go: the SDK's batch processor hands each batch to [`Forward`], which
//! passes it to the export worker (a thread with its own runtime); the worker writes the spans
//! routed to a tracing database as Agno's trace and span rows, and sends the batch to the OTLP
//! collector. A slow sink slows only the worker: the processor's queue is bounded and drops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indexmap::IndexMap;
use opentelemetry::trace::{SpanId, Status, TraceId};
use opentelemetry::{KeyValue, Value as OtelValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::config::model::Otlp;
use crate::store::Store;
use crate::store::traces::{SpanRow, TraceBatch, TraceRow};

/// Most traces routed at once (top-level runs in flight, and roots not exported yet); the oldest
/// route is dropped past it, so a root span lost from a full queue never leaks its route.
const MAX_ROUTES: usize = 100_000;

/// The attributes that are agno-run's own (the Prometheus layer reads them); never exported.
const OWN_PREFIX: &str = "agno_run.";

/// What the worker knows: the databases that trace, their stores, the routes of traces in
/// flight, and the OTLP exporter.
#[derive(Default)]
pub struct Sinks {
    tracing: Vec<String>,
    stores: HashMap<String, Store>,
    routes: IndexMap<TraceId, String>,
    otlp: Option<(Otlp, Arc<opentelemetry_otlp::SpanExporter>)>,
}

impl Sinks {
    pub(super) fn set_databases(&mut self, tracing: Vec<String>) {
        self.stores.retain(|id, _| tracing.contains(id));
        self.tracing = tracing;
    }

    pub(super) fn attach(&mut self, db: &str, store: Store) {
        if self.traces(db) {
            self.stores.insert(db.to_string(), store);
        }
    }

    pub(super) fn traces(&self, db: &str) -> bool {
        self.tracing.iter().any(|d| d == db)
    }

    pub(super) fn route(&mut self, trace: TraceId, db: &str) {
        self.routes.insert(trace, db.to_string());
        while self.routes.len() > MAX_ROUTES {
            self.routes.shift_remove_index(0);
        }
    }

    pub(super) fn set_otlp(&mut self, otlp: Option<Otlp>) {
        if self.otlp.as_ref().map(|(c, _)| c) == otlp.as_ref() {
            return;
        }
        self.otlp = otlp.and_then(|c| match otlp_exporter(&c) {
            Ok(e) => Some((c, Arc::new(e))),
            Err(e) => {
                tracing::error!(endpoint = %crate::config::redact_endpoint(&c.endpoint), error = %crate::config::redact_endpoint(&e), "cannot make the OTLP exporter; traces are not exported over OTLP");
                None
            }
        });
    }
}

fn otlp_exporter(c: &Otlp) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let headers: HashMap<String, String> = c.headers.iter().map(|(k, v)| (k.clone(), v.expose().to_string())).collect();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs_f64(c.timeout.unwrap_or(10.0)))
        .build()
        .map_err(|e| e.to_string())?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(c.endpoint.clone())
        .with_timeout(Duration::from_secs_f64(c.timeout.unwrap_or(10.0)))
        .with_headers(headers)
        .build()
        .map_err(|e| e.to_string())?;
    let service = c.service_name.clone().unwrap_or_else(|| "agno-run".into());
    exporter.set_resource(&opentelemetry_sdk::Resource::builder().with_service_name(service).build());
    Ok(exporter)
}

/// Counters of the export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Spans written to a database.
    pub written: u64,
    /// Spans sent over OTLP.
    pub sent: u64,
    /// Batches a database or the collector refused.
    pub failed: u64,
    /// Batches not sent to the collector because it was too far behind.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

enum Job {
    Batch(Vec<SpanData>, oneshot::Sender<()>),
    Drain(oneshot::Sender<()>),
}

/// Batches waiting for the collector; more are dropped (and counted) rather than holding up
/// the database's writes or the SDK's queue.
const OTLP_BACKLOG: usize = 64;

/// The export worker: a thread with a current-thread runtime running two tasks, fed by
/// [`Forward`]: the database writer (which the SDK's batch processor waits for, so its flush
/// means "written") and the OTLP sender (fed without waiting: a slow or dead collector delays
/// only itself).
pub(super) struct Worker {
    tx: mpsc::Sender<Job>,
    otlp_tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl Worker {
    pub(super) fn start(sinks: Arc<Mutex<Sinks>>) -> Worker {
        let (tx, mut rx) = mpsc::channel::<Job>(16);
        let (otlp_tx, mut otlp_rx) = mpsc::channel::<Job>(OTLP_BACKLOG);
        let counters = Arc::new(Counters::default());
        let (c, c2) = (counters.clone(), counters.clone());
        let otlp_feed = otlp_tx.clone();
        let sinks2 = sinks.clone();
        let spawned = std::thread::Builder::new().name("agno-run-telemetry".into()).spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                tracing::error!("cannot start the telemetry runtime; no trace is exported");
                return;
            };
            rt.block_on(async move {
                let sender = tokio::spawn(async move {
                    while let Some(job) = otlp_rx.recv().await {
                        match job {
                            Job::Batch(batch, done) => {
                                send_otlp(&sinks2, batch, &c2).await;
                                let _ = done.send(());
                            }
                            Job::Drain(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                });
                while let Some(job) = rx.recv().await {
                    match job {
                        Job::Batch(batch, done) => {
                            let for_otlp = write_databases(&sinks, batch, &c).await;
                            if let Some(batch) = for_otlp {
                                let (ack, _) = oneshot::channel();
                                if otlp_feed.try_send(Job::Batch(batch, ack)).is_err() {
                                    c.dropped.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            let _ = done.send(());
                        }
                        Job::Drain(done) => {
                            let _ = done.send(());
                        }
                    }
                }
                drop(otlp_feed);
                let _ = sender.await;
            });
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the telemetry thread; no trace is exported");
        }
        Worker { tx, otlp_tx, counters }
    }

    pub(super) fn forward(&self) -> Forward {
        Forward { tx: self.tx.clone() }
    }

    /// Waits (at most `within`) until every batch handed over before is written and sent.
    pub(super) fn drain(&self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        // The database writer first: what it passes on to the sender is queued before the
        // sender's own drain marker.
        for tx in [&self.tx, &self.otlp_tx] {
            let (done, mut wait) = oneshot::channel();
            if tx.try_send(Job::Drain(done)).is_err() {
                continue;
            }
            while std::time::Instant::now() < deadline {
                match wait.try_recv() {
                    Err(oneshot::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(2)),
                    _ => break,
                }
            }
        }
    }

    pub(super) fn stats(&self) -> Stats {
        Stats {
            written: self.counters.written.load(Ordering::Relaxed),
            sent: self.counters.sent.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The SDK-side exporter: hands a batch to the worker and waits for it, so that the SDK's
/// flush means "written".
#[derive(Debug)]
pub(super) struct Forward {
    tx: mpsc::Sender<Job>,
}

impl SpanExporter for Forward {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let tx = self.tx.clone();
        async move {
            let (done, wait) = oneshot::channel();
            tx.send(Job::Batch(batch, done)).await.map_err(|_| OTelSdkError::AlreadyShutdown)?;
            wait.await.map_err(|_| OTelSdkError::InternalFailure("the telemetry worker stopped".into()))
        }
    }
}

/// Writes the spans routed to tracing databases; returns the batch when a collector wants it.
async fn write_databases(sinks: &Mutex<Sinks>, mut batch: Vec<SpanData>, c: &Counters) -> Option<Vec<SpanData>> {
    for span in &mut batch {
        span.attributes.retain(|kv| !kv.key.as_str().starts_with(OWN_PREFIX));
    }
    // What to do, decided under the lock; done after it.
    let (otlp, per_db) = {
        let Ok(mut s) = sinks.lock() else { return None };
        let mut per_db: HashMap<String, Vec<&SpanData>> = HashMap::new();
        for span in &batch {
            let trace = span.span_context.trace_id();
            let Some(db) = s.routes.get(&trace).cloned() else { continue };
            if span.parent_span_id == SpanId::INVALID {
                s.routes.shift_remove(&trace);
            }
            per_db.entry(db).or_default().push(span);
        }
        let per_db: Vec<(Store, TraceBatch, usize)> = per_db
            .into_iter()
            .filter_map(|(db, spans)| {
                let store = s.stores.get(&db)?.clone();
                let n = spans.len();
                Some((store, rows(&spans), n))
            })
            .collect();
        (s.otlp.is_some(), per_db)
    };
    for (store, rows, n) in per_db {
        match store.write_traces(&rows).await {
            Ok(()) => {
                c.written.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, spans = n, "cannot write traces; this batch is lost");
            }
        }
    }
    otlp.then_some(batch)
}

/// Sends one batch to the collector (the exporter of the moment).
async fn send_otlp(sinks: &Mutex<Sinks>, batch: Vec<SpanData>, c: &Counters) {
    let Some(exporter) = sinks.lock().ok().and_then(|s| s.otlp.as_ref().map(|(_, e)| e.clone())) else { return };
    let n = batch.len();
    match exporter.export(batch).await {
        Ok(()) => {
            c.sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        Err(e) => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, spans = n, "cannot export traces over OTLP; this batch is lost");
        }
    }
}

/// Agno's rows of the spans of one batch: one trace row per trace (`create_trace_from_spans`)
/// and one span row per span.
pub fn rows(spans: &[&SpanData]) -> TraceBatch {
    let now = iso(SystemTime::now());
    let span_rows: Vec<SpanRow> = spans.iter().map(|s| span_row(s, &now)).collect();
    let mut by_trace: IndexMap<&str, Vec<(&SpanRow, &SpanData)>> = IndexMap::new();
    for (row, data) in span_rows.iter().zip(spans) {
        by_trace.entry(row.trace_id.as_str()).or_default().push((row, data));
    }
    let traces = by_trace.into_values().map(|spans| trace_row(&spans, &now)).collect();
    TraceBatch { traces, spans: span_rows }
}

fn trace_row(spans: &[(&SpanRow, &SpanData)], now: &str) -> TraceRow {
    let start = spans.iter().map(|(_, d)| d.start_time).min().unwrap_or(SystemTime::UNIX_EPOCH);
    let end = spans.iter().map(|(_, d)| d.end_time).max().unwrap_or(start);
    let errors = spans.iter().filter(|(r, _)| r.status_code == "ERROR").count();
    let root = spans.iter().find(|(r, _)| r.parent_span_id.is_none());
    let attr = |keys: &[&str]| -> Option<String> {
        let (row, _) = root?;
        keys.iter().find_map(|k| row.attributes.get(*k).and_then(Value::as_str).map(str::to_string))
    };
    TraceRow {
        trace_id: spans[0].0.trace_id.clone(),
        name: root.map(|(r, _)| r.name.clone()).unwrap_or_else(|| spans[0].0.name.clone()),
        status: if errors > 0 { "ERROR" } else { "OK" }.into(),
        start_time: iso(start),
        end_time: iso(end),
        duration_ms: millis(start, end),
        run_id: attr(&["run_id", "agno.run.id"]),
        session_id: attr(&["session_id", "agno.session.id", "session.id"]),
        user_id: attr(&["user_id", "agno.user.id", "user.id"]),
        agent_id: attr(&["agent_id", "agno.agent.id"]),
        team_id: attr(&["team_id", "agno.team.id"]),
        workflow_id: attr(&["workflow_id", "agno.workflow.id"]),
        created_at: now.to_string(),
    }
}

fn span_row(s: &SpanData, now: &str) -> SpanRow {
    let (status_code, status_message) = match &s.status {
        Status::Unset => ("UNSET", None),
        Status::Ok => ("OK", None),
        Status::Error { description } => ("ERROR", Some(description.to_string())),
    };
    let mut attributes = Map::new();
    for KeyValue { key, value, .. } in &s.attributes {
        attributes.insert(key.as_str().to_string(), json_value(value));
    }
    // Agno's instrumentation writes the span kind last.
    if let Some(kind) = attributes.remove("openinference.span.kind") {
        attributes.insert("openinference.span.kind".into(), kind);
    }
    let kind = match s.span_kind {
        opentelemetry::trace::SpanKind::Client => "CLIENT",
        opentelemetry::trace::SpanKind::Server => "SERVER",
        opentelemetry::trace::SpanKind::Producer => "PRODUCER",
        opentelemetry::trace::SpanKind::Consumer => "CONSUMER",
        opentelemetry::trace::SpanKind::Internal => "INTERNAL",
    };
    SpanRow {
        span_id: s.span_context.span_id().to_string(),
        trace_id: s.span_context.trace_id().to_string(),
        parent_span_id: (s.parent_span_id != SpanId::INVALID).then(|| s.parent_span_id.to_string()),
        name: s.name.to_string(),
        span_kind: kind.into(),
        status_code: status_code.into(),
        status_message,
        start_time: iso(s.start_time),
        end_time: iso(s.end_time),
        duration_ms: millis(s.start_time, s.end_time),
        attributes: Value::Object(attributes),
        created_at: now.to_string(),
    }
}

fn json_value(v: &OtelValue) -> Value {
    use opentelemetry::Array;
    match v {
        OtelValue::Bool(b) => Value::Bool(*b),
        OtelValue::I64(i) => Value::from(*i),
        OtelValue::F64(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        OtelValue::String(s) => Value::String(s.to_string()),
        OtelValue::Array(Array::Bool(a)) => a.iter().map(|b| Value::Bool(*b)).collect(),
        OtelValue::Array(Array::I64(a)) => a.iter().map(|i| Value::from(*i)).collect(),
        OtelValue::Array(Array::F64(a)) => a.iter().map(|f| Value::from(*f)).collect(),
        OtelValue::Array(Array::String(a)) => a.iter().map(|s| Value::String(s.to_string())).collect(),
        other => Value::String(other.to_string()),
    }
}

fn millis(start: SystemTime, end: SystemTime) -> i64 {
    end.duration_since(start).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Python's `datetime.isoformat()` of a UTC time, always with microseconds:
/// `2026-12-04T19:02:51.687428+00:00`.
pub fn iso(t: SystemTime) -> String {
    format!("{}+00:00", crate::pyrepr::isoformat(time::OffsetDateTime::from(t)))
}
