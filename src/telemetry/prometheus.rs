//! Prometheus metrics from the runs' spans: a `tracing` layer that observes the spans of
//! [`crate::run::SPAN_TARGET`] (runs by kind and status, run and model-call latency, tokens,
//! tool calls and their errors, runs in flight) and the text exposition format. Gauges that are
//! read rather than observed (reloads, database pools) are added by the server at scrape time
//! through [`Extra`]. Label values come from the config (ids, model names, tool names), never
//! from a user's input.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Latency buckets, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// Most distinct label sets per metric; past it, new ones are counted under `other`, so a config
/// with many tools (or an MCP server that renames its tools) cannot grow the registry forever.
const MAX_SERIES: usize = 1000;

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Families {
    counters: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    gauges: BTreeMap<&'static str, BTreeMap<Labels, f64>>,
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Histogram>>,
}

/// Help texts of every metric, by name.
const HELP: &[(&str, &str, &str)] = &[
    (
        "agno_run_runs_total",
        "counter",
        "Runs ended, by kind (agent, team, workflow) and status (completed, error, cancelled).",
    ),
    ("agno_run_run_duration_seconds", "histogram", "Run duration, by kind."),
    ("agno_run_runs_in_flight", "gauge", "Runs in progress, by kind."),
    ("agno_run_steps_total", "counter", "Workflow steps ended, by status."),
    ("agno_run_model_calls_total", "counter", "Model calls, by model and status."),
    ("agno_run_model_call_duration_seconds", "histogram", "Model call duration, by model."),
    ("agno_run_tokens_total", "counter", "Tokens, by model and type (input, output)."),
    ("agno_run_tool_calls_total", "counter", "Tool calls, by tool and status (ok, error, cancelled)."),
    ("agno_run_reloads_total", "counter", "Config reloads attempted, by outcome."),
    ("agno_run_db_pool_connections", "gauge", "Database pool connections, by database and state (in_use, max)."),
];

/// The registry. A std mutex: held only to update a few numbers, never across an await.
#[derive(Debug, Default)]
pub struct Metrics {
    families: Mutex<Families>,
}

impl Metrics {
    fn with(&self, f: impl FnOnce(&mut Families)) {
        if let Ok(mut g) = self.families.lock() {
            f(&mut g);
        }
    }

    /// Adds `by` to counter `name`.
    pub fn count(&self, name: &'static str, labels: Labels, by: f64) {
        self.with(|f| {
            let family = f.counters.entry(name).or_default();
            let labels = series(family, labels);
            *family.entry(labels).or_default() += by;
        });
    }

    fn gauge_add(&self, name: &'static str, labels: Labels, by: f64) {
        self.with(|f| {
            let family = f.gauges.entry(name).or_default();
            let labels = series(family, labels);
            *family.entry(labels).or_default() += by;
        });
    }

    fn observe(&self, name: &'static str, labels: Labels, seconds: f64) {
        self.with(|f| {
            let family = f.histograms.entry(name).or_default();
            let labels = series(family, labels);
            let h = family.entry(labels).or_default();
            if h.counts.is_empty() {
                h.counts = vec![0; BUCKETS.len()];
            }
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        });
    }

    /// The text exposition (format 0.0.4) of every metric, with `extra` gauges read now.
    pub fn render(&self, extra: &Extra) -> String {
        let mut out = String::new();
        let Ok(f) = self.families.lock() else { return out };
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if let Some(family) = f.counters.get(name).or_else(|| f.gauges.get(name)) {
                for (labels, v) in family {
                    let _ = writeln!(out, "{name}{} {}", labels_text(labels, None), number(*v));
                }
            }
            if let Some(family) = f.histograms.get(name) {
                for (labels, h) in family {
                    for (i, b) in BUCKETS.iter().enumerate() {
                        let le = number(*b);
                        let _ = writeln!(out, "{name}_bucket{} {}", labels_text(labels, Some(&le)), h.counts[i]);
                    }
                    let _ = writeln!(out, "{name}_bucket{} {}", labels_text(labels, Some("+Inf")), h.count);
                    let _ = writeln!(out, "{name}_sum{} {}", labels_text(labels, None), number(h.sum));
                    let _ = writeln!(out, "{name}_count{} {}", labels_text(labels, None), h.count);
                }
            }
            for (n, labels, v) in &extra.values {
                if n == name {
                    let _ = writeln!(out, "{name}{} {}", labels_text(labels, None), number(*v));
                }
            }
        }
        out
    }
}

/// Values read at scrape time.
#[derive(Debug, Default)]
pub struct Extra {
    values: Vec<(&'static str, Labels, f64)>,
}

impl Extra {
    /// Adds one sample of a metric named in the help table.
    pub fn push(&mut self, name: &'static str, labels: Labels, value: f64) {
        self.values.push((name, labels, value));
    }
}

/// Longest label value kept (characters); cut before the series is keyed, so two long values
/// that share their start are one series, never two that print alike.
const MAX_LABEL_CHARS: usize = 200;

/// The key of `labels` in `family`: values cut to [`MAX_LABEL_CHARS`], then, past
/// [`MAX_SERIES`] label sets, a new set counted as `other`.
fn series<V>(family: &BTreeMap<Labels, V>, labels: Labels) -> Labels {
    let labels: Labels =
        labels
            .into_iter()
            .map(|(k, v)| {
                if v.chars().count() > MAX_LABEL_CHARS {
                    (k, v.chars().take(MAX_LABEL_CHARS).collect())
                } else {
                    (k, v)
                }
            })
            .collect();
    if family.contains_key(&labels) || family.len() < MAX_SERIES {
        labels
    } else {
        labels.into_iter().map(|(k, _)| (k, "other".to_string())).collect()
    }
}

fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

fn labels_text(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// What the layer keeps on each observed span.
#[derive(Debug, Default)]
struct Observed {
    kind: String,
    model: String,
    tool: String,
    error: bool,
    ok: bool,
    /// A run's own status (`completed`, `error`, `cancelled`, ...), when it says.
    status: Option<String>,
    input_tokens: u64,
    output_tokens: u64,
    started: Option<Instant>,
}

impl Visit for Observed {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "agno_run.kind" => self.kind = value.to_string(),
            "llm.model_name" => self.model = value.to_string(),
            "tool.name" => self.tool = value.to_string(),
            "otel.status_code" => {
                self.error = value.eq_ignore_ascii_case("error");
                self.ok = value.eq_ignore_ascii_case("ok");
            }
            "agno_run.status" => self.status = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "llm.token_count.prompt" => self.input_tokens = value,
            "llm.token_count.completion" => self.output_tokens = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(
            field.name(),
            "agno_run.kind" | "agno_run.status" | "llm.model_name" | "tool.name" | "otel.status_code"
        ) {
            let text = format!("{value:?}");
            self.record_str(field, text.trim_matches('"'));
        }
    }
}

/// The layer that fills [`Metrics`] from the spans.
#[derive(Debug)]
pub struct Layer {
    metrics: std::sync::Arc<Metrics>,
}

impl Layer {
    /// A layer filling `metrics`.
    pub fn new(metrics: std::sync::Arc<Metrics>) -> Self {
        Layer { metrics }
    }
}

fn is_run(kind: &str) -> bool {
    matches!(kind, "agent" | "team" | "workflow")
}

impl<S> tracing_subscriber::Layer<S> for Layer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut o = Observed { started: Some(Instant::now()), ..Observed::default() };
        attrs.record(&mut o);
        if is_run(&o.kind) {
            self.metrics.gauge_add("agno_run_runs_in_flight", vec![("kind", o.kind.clone())], 1.0);
        }
        span.extensions_mut().insert(o);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(o) = span.extensions_mut().get_mut::<Observed>() {
            values.record(o);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(o) = span.extensions_mut().remove::<Observed>() else { return };
        let seconds = o.started.map(|s| s.elapsed().as_secs_f64()).unwrap_or(0.0);
        // A span that ended without an outcome was dropped mid-way: its run was cancelled.
        let status = match &o.status {
            Some(s) => s.clone(),
            None if o.error => "error".into(),
            None if o.ok => "ok".into(),
            None => "cancelled".into(),
        };
        let m = &self.metrics;
        match o.kind.as_str() {
            k if is_run(k) => {
                m.gauge_add("agno_run_runs_in_flight", vec![("kind", o.kind.clone())], -1.0);
                m.count("agno_run_runs_total", vec![("kind", o.kind.clone()), ("status", status)], 1.0);
                m.observe("agno_run_run_duration_seconds", vec![("kind", o.kind.clone())], seconds);
            }
            "step" => m.count("agno_run_steps_total", vec![("status", status)], 1.0),
            "model" => {
                m.count("agno_run_model_calls_total", vec![("model", o.model.clone()), ("status", status)], 1.0);
                m.observe("agno_run_model_call_duration_seconds", vec![("model", o.model.clone())], seconds);
                m.count(
                    "agno_run_tokens_total",
                    vec![("model", o.model.clone()), ("type", "input".into())],
                    o.input_tokens as f64,
                );
                m.count(
                    "agno_run_tokens_total",
                    vec![("model", o.model), ("type", "output".into())],
                    o.output_tokens as f64,
                );
            }
            "tool" => m.count("agno_run_tool_calls_total", vec![("tool", o.tool), ("status", status)], 1.0),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_past_the_bound_are_counted_as_other() {
        let m = Metrics::default();
        for i in 0..(MAX_SERIES + 5) {
            m.count("agno_run_tool_calls_total", vec![("tool", format!("t{i}")), ("status", "ok".into())], 1.0);
        }
        let text = m.render(&Extra::default());
        assert!(text.contains("agno_run_tool_calls_total{tool=\"other\",status=\"other\"} 5"), "{text}");
        assert_eq!(text.matches("agno_run_tool_calls_total{").count(), MAX_SERIES + 1);
    }

    #[test]
    fn long_label_values_are_cut_before_keying_so_no_two_series_print_alike() {
        let m = Metrics::default();
        for end in ["1", "2"] {
            m.count("agno_run_model_calls_total", vec![("model", format!("{}{end}", "x".repeat(210)))], 1.0);
        }
        let text = m.render(&Extra::default());
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("agno_run_model_calls_total{")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].ends_with(" 2"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        m.count("agno_run_tool_calls_total", vec![("tool", "a\"b\\c\nd".into())], 1.0);
        let text = m.render(&Extra::default());
        assert!(text.contains(r#"tool="a\"b\\c\nd""#), "{text}");
    }
}
