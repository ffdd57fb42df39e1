//! A YAML document as a tree of spanned nodes, built from granit-parser's event stream.
//!
//! Why a tree of our own rather than serde straight into structs: validation must report every
//! problem at once with exact byte spans (serde stops at the first), duplicate keys must name
//! both places, and `${VAR}` interpolation must happen after parsing on spanned values.
//! The builder is iterative, caps nesting depth and alias expansion, and never panics on input.

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle};

use super::diagnostic::{Code, Diagnostic, FileId, Span};

/// Deepest nesting accepted (mappings and sequences).
pub const MAX_DEPTH: usize = 64;
/// Most values aliases may expand to in one document ("billion laughs" guard). Values written
/// out are bounded by the file's size (`load::MAX_FILE_BYTES`), not by this.
pub const MAX_NODES: usize = 200_000;
/// Most values one document may hold in all: a backstop far above what a config file within
/// the size limit holds (a 2.5 MB config of 30,000 agents holds about 250,000).
pub const MAX_TOTAL_NODES: usize = 4_000_000;

/// A YAML value with the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value is written.
    pub span: Span,
    /// The value.
    pub kind: Kind,
    /// True when the value is a string that `${...}` interpolation rewrote; such values are
    /// never echoed in diagnostics (they may hold secrets) and may be read as numbers.
    pub interpolated: bool,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key is written.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

impl Node {
    /// A node of `kind` at `span`.
    pub fn new(span: Span, kind: Kind) -> Self {
        Node { span, kind, interpolated: false }
    }

    /// The JSON Schema type name of the value (`object`, `array`, `string`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "boolean",
            Kind::Int(_) => "integer",
            Kind::Float(_) => "number",
            Kind::Str(_) => "string",
            Kind::Seq(_) => "array",
            Kind::Map(_) => "object",
        }
    }

    /// The entries when this is a mapping.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(e) => Some(e),
            _ => None,
        }
    }

    /// The text when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items when this is a sequence.
    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entry for `key` when this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The value for `key` when this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Converts to JSON (floats that JSON cannot hold become null).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
        }
    }
}

/// A parsed file: its root node (None for a file with no document) and the problems found.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The document, when the file has one and it parsed.
    pub root: Option<Node>,
    /// Problems found while parsing; when one is a syntax error, `root` is None.
    pub diagnostics: Vec<Diagnostic>,
}

enum Frame {
    Seq {
        start: usize,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        anchor: usize,
        entries: Vec<Entry>,
        /// Position of each key in `entries`: a duplicate is found without a scan (a mapping of
        /// 30,000 agents was quadratic).
        index: HashMap<String, usize>,
        key: Option<(String, Span, bool)>,
        merges: Vec<Node>,
    },
}

struct Builder {
    file: FileId,
    /// Added to every offset: the parser sees the text after a byte-order mark.
    base: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// Values in all, written out or expanded from aliases.
    nodes: usize,
    /// Values expanded from aliases.
    aliased: usize,
    root: Option<Node>,
    diagnostics: Vec<Diagnostic>,
}

/// Why building stopped early.
struct Abort(Box<Diagnostic>);

fn abort(d: Diagnostic) -> Abort {
    Abort(Box::new(d))
}

/// Parses `text` (a whole file; a leading byte-order mark is skipped) into a node tree.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let base = if text.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let mut b = Builder {
        file,
        base,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        aliased: 0,
        root: None,
        diagnostics: Vec::new(),
    };
    match b.run(&text[base..]) {
        Ok(()) => Parsed { root: b.root, diagnostics: b.diagnostics },
        Err(Abort(d)) => {
            b.diagnostics.push(*d);
            Parsed { root: None, diagnostics: b.diagnostics }
        }
    }
}

impl Builder {
    fn span(&self, s: &granit_parser::Span) -> Span {
        let start = s.start.byte_offset().unwrap_or(s.start.index()) + self.base;
        let end = s.end.byte_offset().unwrap_or(s.end.index()) + self.base;
        Span::new(start, end)
    }

    fn run(&mut self, text: &str) -> Result<(), Abort> {
        let mut documents = 0;
        for item in Parser::new_from_str(text) {
            let (event, raw_span) = match item {
                Ok(x) => x,
                Err(e) => {
                    let m = e.marker();
                    let at = m.byte_offset().unwrap_or(m.index()) + self.base;
                    let at = at.min(self.base + text.len());
                    let end = next_char_end(text, at - self.base) + self.base;
                    let info = e.info();
                    let d = Diagnostic::new(Code::YamlSyntax, format!("invalid YAML: {info}"))
                        .at(self.file, Span::new(at, end), "here")
                        .maybe_help(syntax_help(&info, text, at - self.base));
                    return Err(abort(d));
                }
            };
            let span = self.span(&raw_span);
            match event {
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
                // Comments, anchor metadata and any event kind added later carry no data.
                Event::Comment(..) | Event::Anchor(..) => {}
                Event::DocumentStart(..) => {
                    documents += 1;
                    if documents > 1 {
                        return Err(abort(
                            Diagnostic::new(
                                Code::YamlSyntax,
                                "a config file holds one YAML document, this is a second one",
                            )
                            .at(self.file, span, "second document starts here")
                            .help("split the documents into separate files, or remove the `---` line"),
                        ));
                    }
                }
                Event::Alias(id) => {
                    let node = match self.anchors.get(&id) {
                        Some(n) => n.clone(),
                        None => {
                            return Err(abort(
                                Diagnostic::new(Code::YamlSyntax, "alias to an anchor that is not defined yet").at(
                                    self.file,
                                    span,
                                    "unknown alias",
                                ),
                            ));
                        }
                    };
                    self.aliased += count(&node);
                    self.nodes += count(&node);
                    if self.aliased > MAX_NODES {
                        return Err(abort(
                            Diagnostic::new(Code::YamlAlias, format!("aliases expand this file to more than {MAX_NODES} values"))
                                .at(self.file, span, "this alias goes past the limit")
                                .help("a config file does not need this much repetition; write the values out or split the file"),
                        ));
                    }
                    self.finish(node)?;
                }
                Event::UnresolvedAlias(_) => {
                    return Err(abort(Diagnostic::new(Code::YamlSyntax, "alias to an anchor that is not defined").at(
                        self.file,
                        span,
                        "unknown alias",
                    )));
                }
                Event::Scalar(value, style, anchor, tag) => {
                    self.count_one(span)?;
                    let tag = tag.map(|t| (t.handle().to_string(), t.suffix().to_string()));
                    let kind = self.scalar(&value, style, tag, span);
                    let node = Node::new(span, kind);
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    if let Some(Frame::Map { key: key @ None, .. }) = self.stack.last_mut()
                        && let Kind::Str(_) | Kind::Int(_) | Kind::Bool(_) | Kind::Float(_) | Kind::Null = node.kind
                    {
                        let merge = style == ScalarStyle::Plain && value == "<<";
                        *key = Some((value.into_owned(), span, merge));
                        continue;
                    }
                    self.finish(node)?;
                }
                Event::SequenceStart(_, anchor, tag) => {
                    self.open(span, tag.as_deref().map(|t| (t.handle(), t.suffix())), "seq")?;
                    self.stack.push(Frame::Seq { start: span.start, anchor, items: Vec::new() });
                }
                Event::MappingStart(_, anchor, tag) => {
                    self.open(span, tag.as_deref().map(|t| (t.handle(), t.suffix())), "map")?;
                    self.stack.push(Frame::Map {
                        start: span.start,
                        anchor,
                        entries: Vec::new(),
                        index: HashMap::new(),
                        key: None,
                        merges: Vec::new(),
                    });
                }
                Event::SequenceEnd => {
                    let Some(Frame::Seq { start, anchor, items }) = self.stack.pop() else {
                        return Err(abort(
                            Diagnostic::new(Code::YamlSyntax, "unbalanced sequence end").at(self.file, span, ""),
                        ));
                    };
                    let end = items.last().map_or(span.end, |n| n.span.end.max(span.end));
                    let node = Node::new(Span::new(start, end), Kind::Seq(items));
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.finish(node)?;
                }
                Event::MappingEnd => {
                    let Some(Frame::Map { start, anchor, mut entries, merges, .. }) = self.stack.pop() else {
                        return Err(abort(
                            Diagnostic::new(Code::YamlSyntax, "unbalanced mapping end").at(self.file, span, ""),
                        ));
                    };
                    for merge in merges {
                        self.merge(&mut entries, merge);
                    }
                    let end = entries.iter().map(|e| e.value.span.end).max().unwrap_or(span.end).max(span.end);
                    let node = Node::new(Span::new(start, end), Kind::Map(entries));
                    if anchor != 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    self.finish(node)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn count_one(&mut self, span: Span) -> Result<(), Abort> {
        self.nodes += 1;
        if self.nodes > MAX_TOTAL_NODES {
            return Err(abort(
                Diagnostic::new(Code::FileTooLarge, format!("the file holds more than {MAX_TOTAL_NODES} values")).at(
                    self.file,
                    span,
                    "the limit is reached here",
                ),
            ));
        }
        Ok(())
    }

    fn open(&mut self, span: Span, tag: Option<(&str, &str)>, what: &str) -> Result<(), Abort> {
        self.count_one(span)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(abort(
                Diagnostic::new(Code::YamlDepth, format!("the YAML nests deeper than {MAX_DEPTH} levels"))
                    .at(self.file, Span::new(span.start, span.start + 1), "this level is too deep")
                    .help("a config never needs this much nesting; flatten the structure"),
            ));
        }
        if let Some((handle, suffix)) = tag
            && !(handle == "tag:yaml.org,2002:" && suffix == what)
        {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::YamlTag,
                    format!("the tag `{}` is not used by the config format", show_tag(handle, suffix)),
                )
                .at(self.file, Span::new(span.start, span.start + 1), "tagged value")
                .help("remove the tag"),
            );
        }
        if let Some(Frame::Map { key: None, .. }) = self.stack.last() {
            return Err(abort(
                Diagnostic::new(Code::Type, "a mapping key must be text, not a mapping or a sequence")
                    .at(self.file, Span::new(span.start, span.start + 1), "complex key")
                    .help("write keys as plain text"),
            ));
        }
        Ok(())
    }

    /// Attaches a finished node to its parent, or makes it the root.
    fn finish(&mut self, node: Node) -> Result<(), Abort> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, index, key, merges, .. }) => match key.take() {
                None => {
                    return Err(abort(
                        Diagnostic::new(Code::Type, "a mapping key must be text, not a mapping or a sequence").at(
                            self.file,
                            node.span,
                            "complex key",
                        ),
                    ));
                }
                Some((_, _, true)) => merges.push(node),
                Some((k, key_span, false)) => {
                    if let Some(first) = index.get(&k).map(|&i| &entries[i]) {
                        let d =
                            Diagnostic::new(Code::DuplicateKey, format!("the key `{k}` appears twice in this mapping"))
                                .at(self.file, key_span, "second occurrence")
                                .related(self.file, first.key_span, "first occurrence")
                                .help("YAML keeps only one of them; remove or rename one");
                        self.diagnostics.push(d);
                    } else {
                        index.insert(k.clone(), entries.len());
                        entries.push(Entry { key: k, key_span, value: node });
                    }
                }
            },
        }
        Ok(())
    }

    /// Applies a `<<` merge key: entries the mapping lacks are copied from the merged mapping(s).
    fn merge(&mut self, entries: &mut Vec<Entry>, source: Node) {
        match source.kind {
            Kind::Map(from) => {
                let mut present: std::collections::HashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
                for e in from {
                    if present.insert(e.key.clone()) {
                        entries.push(e);
                    }
                }
            }
            Kind::Seq(items) => {
                for item in items {
                    self.merge(entries, item);
                }
            }
            _ => self.diagnostics.push(
                Diagnostic::new(Code::Type, "the merge key `<<` takes a mapping or a list of mappings").at(
                    self.file,
                    source.span,
                    "not a mapping",
                ),
            ),
        }
    }

    fn scalar(&mut self, value: &str, style: ScalarStyle, tag: Option<(String, String)>, span: Span) -> Kind {
        if let Some((handle, suffix)) = tag {
            let core = handle == "tag:yaml.org,2002:";
            let kind = match (core, suffix.as_str()) {
                (true, "str") => Some(Kind::Str(value.to_string())),
                (true, "int") => resolve_plain(value).filter(|k| matches!(k, Kind::Int(_))),
                (true, "float") => match resolve_plain(value) {
                    Some(Kind::Int(i)) => Some(Kind::Float(i as f64)),
                    k @ Some(Kind::Float(_)) => k,
                    _ => None,
                },
                (true, "bool") => resolve_plain(value).filter(|k| matches!(k, Kind::Bool(_))),
                (true, "null") => resolve_plain(value).filter(|k| matches!(k, Kind::Null)),
                _ => {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::YamlTag,
                            format!("the tag `{}` is not used by the config format", show_tag(&handle, &suffix)),
                        )
                        .at(self.file, span, "tagged value")
                        .help("remove the tag; write `${VAR}` to read an environment variable"),
                    );
                    return if style == ScalarStyle::Plain {
                        resolve_plain(value).unwrap_or_else(|| Kind::Str(value.to_string()))
                    } else {
                        Kind::Str(value.to_string())
                    };
                }
            };
            return kind.unwrap_or_else(|| {
                self.diagnostics.push(Diagnostic::new(Code::Type, format!("`{value}` is not a valid !!{suffix}")).at(
                    self.file,
                    span,
                    "tagged value",
                ));
                Kind::Null
            });
        }
        if style != ScalarStyle::Plain {
            return Kind::Str(value.to_string());
        }
        resolve_plain(value).unwrap_or_else(|| Kind::Str(value.to_string()))
    }
}

fn show_tag(handle: &str, suffix: &str) -> String {
    match handle {
        "tag:yaml.org,2002:" => format!("!!{suffix}"),
        "!" => format!("!{suffix}"),
        _ => format!("{handle}{suffix}"),
    }
}

fn count(node: &Node) -> usize {
    1 + match &node.kind {
        Kind::Seq(items) => items.iter().map(count).sum(),
        Kind::Map(entries) => entries.iter().map(|e| 1 + count(&e.value)).sum(),
        _ => 0,
    }
}

fn next_char_end(text: &str, at: usize) -> usize {
    text[at.min(text.len())..].chars().next().map_or(at, |c| at + c.len_utf8())
}

fn syntax_help(info: &str, text: &str, at: usize) -> Option<String> {
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    if line.starts_with('\t') || info.contains("tab") {
        return Some("YAML does not allow tabs for indentation; indent with spaces".into());
    }
    if info.contains("did not find expected") || info.contains("unclosed") {
        return Some("check the brackets, quotes and indentation just before this point".into());
    }
    None
}

/// Resolves a plain scalar by YAML 1.2's core schema; None means it is a string.
pub fn resolve_plain(v: &str) -> Option<Kind> {
    match v {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Kind::Null),
        "true" | "True" | "TRUE" => return Some(Kind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Kind::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(Kind::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(Kind::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Kind::Float(f64::NAN)),
        _ => {}
    }
    let bytes = v.as_bytes();
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(hex) = v.strip_prefix("0x") {
        return digits(hex, 16).then(|| i64::from_str_radix(hex, 16).ok().map(Kind::Int)).flatten();
    }
    if let Some(oct) = v.strip_prefix("0o") {
        return digits(oct, 8).then(|| i64::from_str_radix(oct, 8).ok().map(Kind::Int)).flatten();
    }
    let unsigned = v.strip_prefix(['-', '+']).unwrap_or(v);
    if digits(unsigned, 10) {
        // Too large for i64: keep it as a float so that range checks report it.
        return Some(
            v.parse::<i64>().map(Kind::Int).unwrap_or_else(|_| Kind::Float(v.parse().unwrap_or(f64::INFINITY))),
        );
    }
    let float_like = !unsigned.is_empty()
        && (unsigned.as_bytes()[0].is_ascii_digit() || (unsigned.starts_with('.') && unsigned.len() > 1))
        && unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && bytes.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if float_like {
        return v.parse::<f64>().ok().map(Kind::Float);
    }
    None
}

/// The span in the file of `range`, a byte range of `value`, the decoded text of the scalar
/// written at `span` of `text`. Exact for plain one-line and block scalars; for quoted ones and
/// folded lines (escapes, `''`, line folding) it aligns the decoded text with the source as well
/// as it can. Never panics, and never points outside `span`.
pub fn value_span(text: &str, span: Span, value: &str, range: std::ops::Range<usize>) -> Span {
    let Some(raw) = text.get(span.start..span.end) else { return span };
    let (mut ri, double) = match raw.as_bytes().first() {
        Some(b'"') => (1, true),
        Some(b'\'') => (1, false),
        // Block scalars: the content starts on the line after the `|`/`>` header.
        Some(b'|' | b'>') => (raw.find('\n').map_or(raw.len(), |n| n + 1), false),
        _ => (0, false),
    };
    // For each char of `value` that starts at or after `range.start`: where it is in `raw`.
    let mut start = None;
    let mut end = None;
    for (vi, c) in value.char_indices() {
        if vi >= range.end {
            break;
        }
        let (at, len) = loop {
            let Some(rc) = raw[ri..].chars().next() else { break (raw.len(), 0) };
            if double && rc == '\\' {
                let len = match raw[ri + 1..].chars().next() {
                    Some('x') => 4,
                    Some('u') => 6,
                    Some('U') => 10,
                    Some(n) => 1 + n.len_utf8(),
                    None => 1,
                };
                break (ri, len.min(raw.len() - ri));
            }
            if rc == c {
                break (ri, rc.len_utf8());
            }
            ri += rc.len_utf8();
        };
        let len = if raw.is_char_boundary(at + len) { len } else { 0 };
        ri = at + len;
        if vi >= range.start {
            start.get_or_insert(at);
            end = Some(at + len);
        }
    }
    let start = start.unwrap_or(ri.min(raw.len()));
    let end = end.unwrap_or(start).max(start);
    Span::new(span.start + start, span.start + end.min(raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let p = parse(FileId(0), text);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p.root.unwrap()
    }

    #[test]
    fn spans_are_byte_offsets_after_non_ascii_text() {
        let text = "a: \"ü🔍\"\nb: mian\n";
        let r = root(text);
        let b = r.get("b").unwrap();
        assert_eq!(&text[b.span.start..b.span.end], "mian");
        assert_eq!(&text[r.entry("b").unwrap().key_span.start..r.entry("b").unwrap().key_span.end], "b");
    }

    #[test]
    fn a_byte_order_mark_is_skipped_and_spans_stay_true() {
        let text = "\u{feff}k: v\n";
        let r = root(text);
        let v = r.get("k").unwrap();
        assert_eq!(&text[v.span.start..v.span.end], "v");
    }

    #[test]
    fn plain_scalars_follow_the_core_schema_and_quoted_ones_stay_text() {
        let r = root("a: 1\nb: '1'\nc: 1.5\nd: true\ne: ~\nf: yes\ng: 0x1f\n");
        assert_eq!(r.get("a").unwrap().kind, Kind::Int(1));
        assert_eq!(r.get("b").unwrap().kind, Kind::Str("1".into()));
        assert_eq!(r.get("c").unwrap().kind, Kind::Float(1.5));
        assert_eq!(r.get("d").unwrap().kind, Kind::Bool(true));
        assert_eq!(r.get("e").unwrap().kind, Kind::Null);
        assert_eq!(r.get("f").unwrap().kind, Kind::Str("yes".into()));
        assert_eq!(r.get("g").unwrap().kind, Kind::Int(31));
    }

    #[test]
    fn duplicate_keys_name_both_places() {
        let p = parse(FileId(0), "a: 1\nb: 2\na: 3\n");
        assert_eq!(p.diagnostics.len(), 1);
        let d = &p.diagnostics[0];
        assert_eq!(d.code, Code::DuplicateKey);
        assert_eq!(d.span, Some(Span::new(10, 11)));
        assert_eq!(d.related[0].span, Span::new(0, 1));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_expand() {
        let r = root("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n");
        let u = r.get("use").unwrap();
        assert_eq!(u.get("x").unwrap().kind, Kind::Int(1));
        assert_eq!(u.get("y").unwrap().kind, Kind::Int(3));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "a: ".to_string() + &"[".repeat(10_000) + &"]".repeat(10_000);
        let p = parse(FileId(0), &text);
        assert!(p.root.is_none());
        assert!(matches!(p.diagnostics[0].code, Code::YamlDepth | Code::YamlSyntax));
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            );
        }
        let p = parse(FileId(0), &text);
        assert!(p.root.is_none());
        assert_eq!(p.diagnostics[0].code, Code::YamlAlias);
    }

    #[test]
    fn syntax_errors_are_located() {
        let text = "a: [1, 2\nb: 3\n";
        let p = parse(FileId(0), text);
        assert_eq!(p.diagnostics[0].code, Code::YamlSyntax);
        assert!(p.diagnostics[0].span.is_some());
    }

    #[test]
    fn unknown_tags_are_reported() {
        let p = parse(FileId(0), "a: !custom 1\nb: !!str 2\n");
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].code, Code::YamlTag);
        assert_eq!(p.root.unwrap().get("b").unwrap().kind, Kind::Str("2".into()));
    }

    #[test]
    fn value_spans_map_decoded_offsets_into_every_scalar_style() {
        let value = "a \"b\" c";
        for (text, want) in [
            ("k: a \"b\" c\n", "\"b\""),
            ("k: 'a \"b\" c'\n", "\"b\""),
            ("k: \"a \\\"b\\\" c\"\n", "\\\"b\\\""),
            ("k: |\n  a \"b\" c\n", "\"b\""),
            ("k: >-\n  a \"b\"\n  c\n", "\"b\""),
        ] {
            let start = text.find(['a', '\'', '|', '>']).unwrap();
            let start =
                if text[start..].starts_with('a') && text.as_bytes()[start - 1] == b'"' { start - 1 } else { start };
            let span = Span::new(start, text.trim_end().len());
            let got = value_span(text, span, value, 2..5);
            assert_eq!(&text[got.start..got.end], want, "{text:?}");
        }
        // Out of range or mismatched values never panic and stay inside the span.
        let text = "k: 'x''y'";
        let span = Span::new(3, text.len());
        let got = value_span(text, span, "x'y", 0..3);
        assert_eq!(&text[got.start..got.end], "x''y");
        let got = value_span(text, span, "zzz", 1..99);
        assert!(got.start >= 3 && got.end <= text.len());
        assert_eq!(value_span(text, Span::new(50, 60), "x", 0..1), Span::new(50, 60));
    }
}
