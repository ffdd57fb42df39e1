//! Telemetry: the runs' `tracing` spans (target [`crate::run::SPAN_TARGET`]) become
//! OpenTelemetry spans (tracing-opentelemetry), batched by the SDK off the runs' path, and go
//! to Agno's trace tables of the databases that declare `tracing: true` and/or to an OTLP
//! collector; the same spans feed the Prometheus metrics. It adds no call to run logic: runs,
//! steps, model and tool calls only open spans. It does not decide what a span holds (the
//! executors do) and holds no SQL (the store writes the rows).
//!
//! One [`Telemetry`] per process, made by the CLI before the config is read: its layers go into
//! the process's subscriber, and each generation tells it the sinks its config declares.

pub mod export;
pub mod prometheus;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, Filter};

use crate::config::Config;
use crate::run::SPAN_TARGET;
use crate::store::Store;

/// A layer of the process's subscriber.
pub type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

/// Most spans waiting to be exported; more are dropped (by the SDK's batch processor, which
/// logs it) rather than slowing runs.
const QUEUE: usize = 8192;

/// The process's telemetry: cheap to clone.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    provider: SdkTracerProvider,
    /// True when a sink wants spans: read by the OpenTelemetry layer's filter for each span, so
    /// that without a sink no OpenTelemetry span is made.
    export_on: Arc<AtomicBool>,
    /// True when Prometheus metrics are served.
    metrics_on: Arc<AtomicBool>,
    sinks: Arc<Mutex<export::Sinks>>,
    worker: export::Worker,
    metrics: Arc<prometheus::Metrics>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("export_on", &self.inner.export_on.load(Ordering::Relaxed))
            .field("metrics_on", &self.inner.metrics_on.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// The pipeline, idle until [`Telemetry::configure`] names a sink: the SDK's batch processor
    /// (its own thread) and the export worker (its own thread and runtime, so that a command's
    /// runtime ending never loses a batch in flight).
    pub fn new() -> Telemetry {
        let sinks = Arc::new(Mutex::new(export::Sinks::default()));
        let worker = export::Worker::start(sinks.clone());
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(QUEUE)
            .with_max_export_batch_size(1024)
            .with_scheduled_delay(Duration::from_millis(1000))
            .build();
        let processor = BatchSpanProcessor::builder(worker.forward()).with_batch_config(config).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("agno-run").build())
            .build();
        Telemetry {
            inner: Arc::new(Inner {
                provider,
                export_on: Arc::new(AtomicBool::new(false)),
                metrics_on: Arc::new(AtomicBool::new(false)),
                sinks,
                worker,
                metrics: Arc::new(prometheus::Metrics::default()),
            }),
        }
    }

    /// The layers to add to the process's subscriber: OpenTelemetry (spans of
    /// [`SPAN_TARGET`] while a sink wants them) and the Prometheus metrics (while served).
    pub fn layers(&self) -> Vec<BoxedLayer> {
        let tracer = self.inner.provider.tracer("agno-run");
        let on = self.inner.export_on.clone();
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_level(false)
            .with_target(false)
            // Parents come from tracing's own span tree; entering the OpenTelemetry context on
            // every poll of a run's future would cost each await for nothing.
            .with_context_activation(false)
            .with_filter(Switch(on));
        let metrics =
            prometheus::Layer::new(self.inner.metrics.clone()).with_filter(Switch(self.inner.metrics_on.clone()));
        vec![Box::new(otel), Box::new(metrics)]
    }

    /// Takes the sinks `config` declares: the databases with `tracing: true` (their stores are
    /// attached as they open) and the OTLP exporter (rebuilt only when its declaration changes).
    pub fn configure(&self, config: &Config) {
        let tracing_dbs: Vec<String> = config.databases.values().filter(|d| d.tracing).map(|d| d.id.clone()).collect();
        let otlp = config.server.otlp.clone();
        let on = !tracing_dbs.is_empty() || otlp.is_some();
        if let Ok(mut s) = self.inner.sinks.lock() {
            s.set_databases(tracing_dbs);
            s.set_otlp(otlp);
        }
        self.inner.export_on.store(on, Ordering::Relaxed);
    }

    /// True while a sink (a tracing database, OTLP) takes spans.
    pub fn exporting(&self) -> bool {
        self.inner.export_on.load(Ordering::Relaxed)
    }

    /// Serves (or stops serving) Prometheus metrics: their spans are observed only meanwhile.
    pub fn set_metrics(&self, on: bool) {
        self.inner.metrics_on.store(on, Ordering::Relaxed);
    }

    /// The open store of database `db`, where the traces routed to it are written (when the
    /// config says `tracing: true` for it).
    pub fn attach(&self, db: &str, store: &Store) {
        if let Ok(mut s) = self.inner.sinks.lock() {
            s.attach(db, store.clone());
        }
    }

    /// Routes the trace that `root` (a top-level run's span) starts to database `db`, when that
    /// database traces. Every span of the trace (members, steps, model and tool calls) follows.
    pub fn route(&self, root: &tracing::Span, db: &str) {
        if root.is_disabled() || !self.inner.export_on.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut s) = self.inner.sinks.lock() else { return };
        if !s.traces(db) {
            return;
        }
        let trace_id = root.context().span().span_context().trace_id();
        s.route(trace_id, db);
    }

    /// The Prometheus registry the layer fills.
    pub fn metrics(&self) -> &Arc<prometheus::Metrics> {
        &self.inner.metrics
    }

    /// Exports every finished span and waits (at most `within`) until the sinks have them: at a
    /// command's end, and in tests. Blocking: call it off the async threads.
    pub fn flush(&self, within: Duration) {
        let provider = self.inner.provider.clone();
        let done = std::thread::spawn(move || {
            let _ = provider.force_flush();
        });
        let deadline = std::time::Instant::now() + within;
        while !done.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.inner.worker.drain(deadline.saturating_duration_since(std::time::Instant::now()));
    }

    /// [`Telemetry::flush`] from async code, for a command's end: the last spans exported, at
    /// most `within` (a collector that does not answer costs no more).
    pub async fn finish(&self, within: Duration) {
        let t = self.clone();
        let _ = tokio::task::spawn_blocking(move || t.flush(within)).await;
    }

    /// What the export did so far (spans written, dropped, failed batches).
    pub fn stats(&self) -> export::Stats {
        self.inner.worker.stats()
    }
}

/// A layer's filter: the spans of [`SPAN_TARGET`] while the switch is on. Their callsites are
/// "sometimes" interesting, never cached as always or never: a switch turned on later (a reload
/// that adds a sink) takes effect at the next span.
struct Switch(Arc<AtomicBool>);

impl<S> Filter<S> for Switch {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        meta.target() == SPAN_TARGET && self.0.load(Ordering::Relaxed)
    }

    fn callsite_enabled(&self, meta: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        if meta.target() == SPAN_TARGET {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}
