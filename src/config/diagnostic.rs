//! Config problems: stable codes, severities, located spans and the files they point into.
//!
//! This module only describes problems; rendering them (human, JSON, GitHub annotations)
//! happens at the edge, in `cli`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub(crate) usize);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (bytes).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for a zero-width span.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Whether a problem fails validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Fails validation.
    Error,
    /// Reported; fails only with `--deny-warnings`.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($($variant:ident => $name:literal, $severity:ident, $doc:literal;)*) => {
        /// The stable code of a config problem. Codes never change meaning; new ones are added.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $doc] $variant,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable name, e.g. `agno::unknown_key`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            /// The default severity of the code.
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$severity,)* }
            }

            /// One line saying what the code means.
            pub fn describe(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }
        }
    };
}

codes! {
    Io => "agno::io", Error, "a file or folder cannot be read";
    NoConfigFiles => "agno::no_config_files", Error, "a folder holds no *.yaml or *.yml file";
    Encoding => "agno::encoding", Error, "a file is not UTF-8 text";
    FileTooLarge => "agno::file_too_large", Error, "a file is larger than a config file can be";
    EmptyFile => "agno::empty_file", Error, "a file holds no config";
    YamlSyntax => "agno::yaml_syntax", Error, "the YAML does not parse";
    YamlDepth => "agno::yaml_depth", Error, "the YAML nests deeper than allowed";
    YamlAlias => "agno::yaml_alias", Error, "YAML aliases expand to too much data";
    YamlTag => "agno::yaml_tag", Error, "a YAML tag that the format does not use";
    DuplicateKey => "agno::duplicate_key", Error, "a key appears twice in one mapping";
    Type => "agno::type", Error, "a value has the wrong type";
    UnknownKey => "agno::unknown_key", Error, "a key the format does not know";
    MissingKey => "agno::missing_key", Error, "a required key is missing";
    InvalidValue => "agno::invalid_value", Error, "a value is not one of those allowed";
    Range => "agno::range", Error, "a number or list length is out of range";
    Version => "agno::version", Error, "a format version other than 1";
    MissingVersion => "agno::missing_version", Warning, "a file does not say `version: 1`";
    DuplicateId => "agno::duplicate_id", Error, "an id is declared twice";
    DuplicateSetting => "agno::duplicate_setting", Error, "a process-wide setting is given in two files";
    InvalidId => "agno::invalid_id", Error, "an id that cannot be used in names and URLs";
    UnknownDatabase => "agno::unknown_database", Error, "a reference to a database that is not declared";
    UnknownModel => "agno::unknown_model", Error, "a reference to a model that is not declared";
    UnknownMember => "agno::unknown_member", Error, "a team member that is neither an agent nor a team";
    UnknownAgent => "agno::unknown_agent", Error, "a reference to an agent that is not declared";
    UnknownTeam => "agno::unknown_team", Error, "a reference to a team that is not declared";
    UnknownTool => "agno::unknown_tool", Error, "a tool that agno-run does not have";
    AmbiguousMember => "agno::ambiguous_member", Error, "a team member id that is both an agent and a team";
    TeamCycle => "agno::team_cycle", Error, "a team contains itself, directly or through other teams";
    StepKind => "agno::step_kind", Error, "a workflow step names nothing to run, or several things";
    StepField => "agno::step_field", Error, "a workflow step key that does not apply to its kind";
    DuplicateStep => "agno::duplicate_step", Error, "two steps of one workflow share a name";
    Template => "agno::template", Error, "a template whose `{{` is not closed";
    ExprSyntax => "agno::expression_syntax", Error, "a CEL expression that does not parse, or is too long or too deep";
    UnknownVariable => "agno::unknown_variable", Error, "a CEL expression reads a variable its context does not have";
    StepReference => "agno::step_reference", Error, "an expression or template reads a step that has not run before it";
    UnknownChoice => "agno::unknown_choice", Error, "a router that can pick a step not among its `choices`, or has none";
    LoopUnbounded => "agno::loop_unbounded", Error, "a loop without `max_iterations`";
    Identifier => "agno::identifier", Error, "a table or schema name that is not a safe SQL identifier";
    TableConflict => "agno::table_conflict", Error, "two tables of one database share a name";
    Exclusive => "agno::exclusive", Error, "options that cannot be used together";
    MissingEnv => "agno::missing_env", Error, "an environment variable that is not set";
    Interpolation => "agno::interpolation", Error, "a malformed `${...}` expression";
    MigrationsFolder => "agno::migrations_folder", Error, "a migrations folder that cannot be read";
    ToolOption => "agno::tool_option", Error, "a tool option that does not apply, or a missing one";
    UnknownFunction => "agno::unknown_function", Error, "a scripted tool call to a function the agent does not offer";
    InvalidUrl => "agno::invalid_url", Error, "a URL with the wrong scheme or form";
    AmbiguousDb => "agno::ambiguous_db", Warning, "a component without `db` in a config with several databases";
    UnknownMcpServer => "agno::unknown_mcp_server", Error, "a reference to an MCP server that is not declared";
    McpTransport => "agno::mcp_transport", Error, "an MCP transport agno-run does not support, or a server it cannot start";
    UnusedMcpServer => "agno::unused_mcp_server", Warning, "an MCP server no agent or team uses (it is never started)";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A second location that explains a problem, e.g. the first declaration of a duplicate id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Related {
    /// File of the location.
    pub file: FileId,
    /// Span in that file.
    pub span: Span,
    /// What is there.
    pub label: String,
}

/// One config problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The file it is in, when it is in one.
    pub file: Option<FileId>,
    /// Where in the file.
    pub span: Option<Span>,
    /// The label under the span.
    pub label: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
    /// Other places that explain it.
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// A problem with the code's default severity, not yet located.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            file: None,
            span: None,
            label: None,
            help: None,
            related: Vec::new(),
        }
    }

    /// Locates the problem at `span` in `file`, with a label.
    pub fn at(mut self, file: FileId, span: Span, label: impl Into<String>) -> Self {
        self.file = Some(file);
        self.span = Some(span);
        let label = label.into();
        self.label = (!label.is_empty()).then_some(label);
        self
    }

    /// Locates the problem in `file` as a whole.
    pub fn in_file(mut self, file: FileId) -> Self {
        self.file = Some(file);
        self
    }

    /// Adds help text.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds help text when there is some.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Adds a related location.
    pub fn related(mut self, file: FileId, span: Span, label: impl Into<String>) -> Self {
        self.related.push(Related { file, span, label: label.into() });
        self
    }
}

/// A file that was read (or tried), with its text for excerpts.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the user gave it or as found in a folder.
    pub path: PathBuf,
    /// The path as shown in diagnostics.
    pub name: String,
    /// The file's text (lossily decoded when it is not UTF-8; empty when unreadable).
    pub text: Arc<str>,
    line_starts: Vec<usize>,
}

/// A 1-based line and column (the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub column: usize,
}

impl SourceFile {
    fn new(path: PathBuf, name: String, text: Arc<str>) -> Self {
        // Line breaks as YAML (and miette) count them: LF, CRLF, and a lone CR.
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        for (i, b) in bytes.iter().enumerate() {
            let lone_cr = *b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
            if *b == b'\n' || lone_cr {
                line_starts.push(i + 1);
            }
        }
        SourceFile { path, name, text, line_starts }
    }

    /// Line and column of a byte offset (clamped to the text, and to a char boundary).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        // A byte-order mark is not a column.
        let from =
            if start == 0 && self.text.starts_with('\u{feff}') { '\u{feff}'.len_utf8().min(offset) } else { start };
        let column = self.text[from..offset].chars().count() + 1;
        LineCol { line: line + 1, column }
    }
}

/// Every file involved in a load, by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, path: PathBuf, name: String, text: Arc<str>) -> FileId {
        self.files.push(SourceFile::new(path, name, text));
        FileId(self.files.len() - 1)
    }

    /// The file with this id.
    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    /// All files with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was read.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The outcome of checking a config: its files and every problem found, in file order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The files read.
    pub sources: SourceMap,
    /// Every problem, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning).count()
    }

    /// True when the config fails: any error, or any warning when warnings are denied.
    pub fn fails(&self, deny_warnings: bool) -> bool {
        self.errors() > 0 || (deny_warnings && self.warnings() > 0)
    }

    pub(crate) fn sort(&mut self) {
        self.diagnostics.sort_by_key(|d| (d.file, d.span.map(|s| s.start), d.code));
        self.diagnostics.dedup();
    }
}

/// The span of `needle` where it is written inside `span` of `text`; `span` itself when the
/// value is not written verbatim (escapes, folded lines).
pub fn sub_span(text: &str, span: Span, needle: &str) -> Span {
    text.get(span.start..span.end)
        .and_then(|raw| raw.find(needle))
        .map_or(span, |i| Span::new(span.start + i, span.start + i + needle.len()))
}

/// The closest candidate to `name` by edit distance, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, c)| *score >= 0.8 || (strsim::levenshtein(&lower, &c.to_lowercase()) <= 2 && c.len() > 2))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Help text for an unknown name: "did you mean" when one is close, then the list of known
/// names under `label` (e.g. "declared models: a, b", or "declared models: none").
pub fn suggest<'a>(name: &str, label: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
    let list: Vec<&str> = known.clone().into_iter().collect();
    let listed = if list.is_empty() { format!("{label}: none") } else { format!("{label}: {}", list.join(", ")) };
    match did_you_mean(name, known) {
        Some(best) => format!("did you mean `{best}`? {listed}"),
        None => listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_not_bytes() {
        let mut map = SourceMap::default();
        let id = map.add("a.yaml".into(), "a.yaml".into(), "a: ü🔍\nb: x\n".into());
        let f = map.get(id);
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        let x = f.text.find('x').unwrap();
        assert_eq!(f.line_col(x), LineCol { line: 2, column: 4 });
        let after = f.text.find('\n').unwrap();
        assert_eq!(f.line_col(after), LineCol { line: 1, column: 6 });
    }

    #[test]
    fn line_col_skips_a_byte_order_mark_and_counts_lone_carriage_returns() {
        let mut map = SourceMap::default();
        let id = map.add("a".into(), "a".into(), "\u{feff}ab: 1\rc: 2\r\nd: 3\n".into());
        let f = map.get(id);
        assert_eq!(f.line_col(3), LineCol { line: 1, column: 1 });
        let c = f.text.find('c').unwrap();
        assert_eq!(f.line_col(c), LineCol { line: 2, column: 1 });
        let d = f.text.find('d').unwrap();
        assert_eq!(f.line_col(d), LineCol { line: 3, column: 1 });
    }

    #[test]
    fn did_you_mean_finds_typos_and_ignores_strangers() {
        let keys = ["instructions", "model", "db", "tools"];
        assert_eq!(did_you_mean("instrucions", keys), Some("instructions"));
        assert_eq!(did_you_mean("modle", keys), Some("model"));
        assert_eq!(did_you_mean("zzzzzz", keys), None);
    }

    #[test]
    fn every_code_name_is_unique_and_namespaced() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("agno::")));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }
}
