//! Renders a config [`Report`] as human text (miette, with source excerpts), as JSON, or as
//! GitHub workflow-command annotations.

use std::fmt;

use clap::ValueEnum;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde::Serialize;

use crate::config::diagnostic::{Diagnostic, Report, Severity, SourceFile, SourceMap};
use crate::config::{Config, diagnostic::FileId};

/// Output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Source excerpts with labels (miette).
    Human,
    /// One JSON array of `{file, line, column, code, severity, message, help, ...}`.
    Json,
    /// `::error file=…,line=…,col=…::message` workflow commands for GitHub Actions.
    Github,
}

/// Human rendering options.
#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    /// ANSI colours.
    pub color: bool,
    /// Wrap width.
    pub width: usize,
}

/// Renders every diagnostic of the reports in `format` (one JSON array for all of them).
pub fn render(reports: &[&Report], format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Human => reports.iter().map(|r| human(r, opts)).collect(),
        Format::Json => {
            let items: Vec<JsonDiagnostic> =
                reports.iter().flat_map(|r| r.diagnostics.iter().map(|d| JsonDiagnostic::new(d, &r.sources))).collect();
            format!("{}\n", serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into()))
        }
        Format::Github => {
            reports.iter().flat_map(|r| r.diagnostics.iter().map(|d| github(d, &r.sources) + "\n")).collect()
        }
    }
}

/// The closing line of human output.
pub fn summary(report: &Report, config: Option<&Config>, deny_warnings: bool) -> String {
    let files = report.sources.iter().filter(|(_, f)| f.name != "<environment>").count();
    let plural = |n: usize, w: &str| if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") };
    if report.fails(deny_warnings) {
        let mut parts = vec![plural(report.errors(), "error")];
        if report.warnings() > 0 {
            parts.push(plural(report.warnings(), "warning"));
        }
        return format!("invalid: {} in {}\n", parts.join(", "), plural(files, "file"));
    }
    let mut line = format!("valid: {}", plural(files, "file"));
    if let Some(c) = config {
        let databases = c.databases.values().filter(|d| !d.implicit).count();
        line.push_str(&format!(
            " ({}, {}, {}, {}, {})",
            plural(databases, "database"),
            plural(c.models.len(), "model"),
            plural(c.agents.len(), "agent"),
            plural(c.teams.len(), "team"),
            plural(c.workflows.len(), "workflow")
        ));
    }
    if report.warnings() > 0 {
        line.push_str(&format!(", {}", plural(report.warnings(), "warning")));
    }
    line + "\n"
}

struct Rendered {
    message: String,
    code: Option<String>,
    severity: miette::Severity,
    help: Option<String>,
    source: Option<NamedSource<Excerpt>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Rendered>,
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rendered {}

impl miette::Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.code.as_ref().map(|c| Box::new(c) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
    }
}

fn span(s: crate::config::diagnostic::Span) -> SourceSpan {
    SourceSpan::new(s.start.into(), s.len())
}

/// A file's text for miette, reporting the excerpt's start line and column the way the JSON and
/// GitHub formats do (columns in characters, a byte-order mark not counted); miette alone
/// counts columns in bytes.
struct Excerpt(SourceFile);

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let contents = self.0.text.as_bytes().read_span(span, before, after)?;
        if before > 0 {
            return Ok(contents);
        }
        let at = self.0.line_col(span.offset());
        Ok(Box::new(miette::MietteSpanContents::new(
            contents.data(),
            *contents.span(),
            at.line - 1,
            at.column - 1,
            contents.line_count(),
        )))
    }
}

fn named(sources: &SourceMap, file: FileId) -> NamedSource<Excerpt> {
    let f = sources.get(file);
    NamedSource::new(f.name.clone(), Excerpt(f.clone()))
}

fn to_rendered(d: &Diagnostic, sources: &SourceMap) -> Rendered {
    let mut labels = Vec::new();
    let mut related = Vec::new();
    let source = match (d.file, d.span) {
        (Some(file), Some(s)) => {
            labels.push(LabeledSpan::new_primary_with_span(d.label.clone(), span(s)));
            Some(named(sources, file))
        }
        _ => None,
    };
    let message = match (d.file, d.span) {
        (Some(file), None) if !d.message.contains(&sources.get(file).name) => {
            format!("{}: {}", sources.get(file).name, d.message)
        }
        _ => d.message.clone(),
    };
    for r in &d.related {
        if Some(r.file) == d.file && source.is_some() {
            labels.push(LabeledSpan::new_with_span(Some(r.label.clone()), span(r.span)));
        } else {
            related.push(Rendered {
                message: r.label.clone(),
                code: None,
                severity: miette::Severity::Advice,
                help: None,
                source: Some(named(sources, r.file)),
                labels: vec![LabeledSpan::new_primary_with_span(Some(r.label.clone()), span(r.span))],
                related: Vec::new(),
            });
        }
    }
    Rendered {
        message,
        code: Some(d.code.as_str().to_string()),
        severity: match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        },
        help: d.help.clone(),
        source,
        labels,
        related,
    }
}

fn human(report: &Report, opts: &RenderOptions) -> String {
    let theme = if opts.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(opts.width).with_links(false);
    let mut out = String::new();
    for d in &report.diagnostics {
        let r = to_rendered(d, &report.sources);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("{}: {}\n", d.code, d.message));
        }
        out.push('\n');
    }
    out
}

/// One diagnostic in `--format json`. Lines and columns are 1-based; columns count characters.
/// `line`/`column` are null for problems with a whole file (an unreadable path, say).
#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    /// The file as named on the command line or found in a folder.
    pub file: Option<String>,
    /// Start line.
    pub line: Option<usize>,
    /// Start column.
    pub column: Option<usize>,
    /// End line.
    pub end_line: Option<usize>,
    /// End column (exclusive).
    pub end_column: Option<usize>,
    /// Byte offset of the start.
    pub offset: Option<usize>,
    /// Length in bytes.
    pub length: Option<usize>,
    /// Stable code.
    pub code: &'static str,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub message: String,
    /// Label under the span.
    pub label: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// Other places involved.
    pub related: Vec<JsonRelated>,
}

/// A related location in JSON output.
#[derive(Debug, Serialize)]
pub struct JsonRelated {
    /// File.
    pub file: String,
    /// Line.
    pub line: usize,
    /// Column.
    pub column: usize,
    /// What is there.
    pub label: String,
}

impl JsonDiagnostic {
    /// The JSON form of `d`, with its file, line and column from `sources`.
    pub fn new(d: &Diagnostic, sources: &SourceMap) -> Self {
        let file = d.file.map(|f| sources.get(f));
        let start = file.zip(d.span).map(|(f, s)| f.line_col(s.start));
        let end = file.zip(d.span).map(|(f, s)| f.line_col(s.end));
        JsonDiagnostic {
            file: file.map(|f| f.name.clone()),
            line: start.map(|p| p.line),
            column: start.map(|p| p.column),
            end_line: end.map(|p| p.line),
            end_column: end.map(|p| p.column),
            offset: d.span.map(|s| s.start),
            length: d.span.map(|s| s.len()),
            code: d.code.as_str(),
            severity: d.severity.as_str(),
            message: d.message.clone(),
            label: d.label.clone(),
            help: d.help.clone(),
            related: d
                .related
                .iter()
                .map(|r| {
                    let f = sources.get(r.file);
                    let p = f.line_col(r.span.start);
                    JsonRelated { file: f.name.clone(), line: p.line, column: p.column, label: r.label.clone() }
                })
                .collect(),
        }
    }
}

/// Escapes the data part of a workflow command.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a property value of a workflow command.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn github(d: &Diagnostic, sources: &SourceMap) -> String {
    let kind = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = Vec::new();
    if let Some(file) = d.file.map(|f| sources.get(f)) {
        props.push(format!("file={}", escape_property(&file.name)));
        if let Some(s) = d.span {
            let a = file.line_col(s.start);
            let b = file.line_col(s.end);
            props.push(format!("line={}", a.line));
            props.push(format!("col={}", a.column));
            props.push(format!("endLine={}", b.line));
            props.push(format!("endColumn={}", b.column));
        }
    }
    props.push(format!("title={}", escape_property(d.code.as_str())));
    let mut message = d.message.clone();
    if let Some(h) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(h);
    }
    format!("::{kind} {}::{}", props.join(","), escape_data(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
