//! The JSON Schema of the format, and the structural checker that validates a parsed YAML tree
//! against it, collecting every problem with its span.
//!
//! The schema is generated from `model` (schemars), so the editor schema printed by
//! `agno-run schema` and the checks run by `validate` cannot drift apart. The checker
//! understands the subset of JSON Schema that schemars emits for our types: `$ref`, `type`,
//! `properties` / `additionalProperties` / `required`, `items`, `const` / `enum`, numeric and
//! length bounds, and `oneOf` / `anyOf` (with `const` discriminators such as `type:` and
//! `provider:`). It does no I/O and knows nothing of cross-references (see `check`).

use serde_json::Value;

use super::diagnostic::{Code, Diagnostic, FileId, Span, did_you_mean};
use super::model::FileConfig;
use super::yaml::{Kind, Node};

/// The JSON Schema (draft-07, which yaml-language-server reads) of one config file.
pub fn json_schema() -> Value {
    cached().clone()
}

/// The schema, generated once per process: it is immutable and depends only on the types,
/// and generating it costs more than checking a small file.
pub(crate) fn cached() -> &'static Value {
    static SCHEMA: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(generate)
}

fn generate() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let mut schema = serde_json::to_value(generator.into_root_schema_for::<FileConfig>()).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), Value::from("https://agno-run.dev/schema/v1/config.json"));
    }
    schema
}

/// Checks `node` against the root of `schema`, pushing problems to `out`. Interpolated strings
/// are converted in place where the schema wants a number or a boolean.
pub fn check(schema: &Value, file: FileId, node: &mut Node, out: &mut Vec<Diagnostic>) {
    let mut c = Checker { root: schema, file, path: Vec::new(), out };
    let owner = Span::new(node.span.start, node.span.start);
    c.check(schema, node, owner);
}

struct Checker<'a, 'o> {
    root: &'a Value,
    file: FileId,
    path: Vec<String>,
    out: &'o mut Vec<Diagnostic>,
}

fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn type_matches(ty: &str, node: &Node) -> bool {
    matches!(
        (ty, &node.kind),
        ("null", Kind::Null)
            | ("boolean", Kind::Bool(_))
            | ("string", Kind::Str(_))
            | ("integer", Kind::Int(_))
            | ("number", Kind::Int(_) | Kind::Float(_))
            | ("array", Kind::Seq(_))
            | ("object", Kind::Map(_))
    )
}

fn article(ty: &str) -> String {
    match ty {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        "number" => "a number".into(),
        "boolean" => "true or false".into(),
        "string" => "text".into(),
        "null" => "nothing".into(),
        other => other.into(),
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn show(node: &Node) -> String {
    if node.interpolated {
        return "a value from the environment".into();
    }
    match &node.kind {
        Kind::Str(s) if s.chars().count() <= 40 => format!("`{s}`"),
        Kind::Str(_) => "this text".into(),
        Kind::Int(i) => format!("`{i}`"),
        Kind::Float(f) => format!("`{f}`"),
        Kind::Bool(b) => format!("`{b}`"),
        _ => article(node.type_name()),
    }
}

impl<'a> Checker<'a, '_> {
    fn resolve(&self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let Some(r) = schema.get("$ref").and_then(Value::as_str) else { break };
            let Some(target) = r.strip_prefix('#').and_then(|p| self.root.pointer(p)) else { break };
            schema = target;
        }
        schema
    }

    fn context(&self) -> String {
        let kind = |section: &str| match section {
            "databases" => Some("database"),
            "models" => Some("model"),
            "agents" => Some("agent"),
            "teams" => Some("team"),
            "workflows" => Some("workflow"),
            _ => None,
        };
        match self.path.as_slice() {
            [] => "at the top level".into(),
            [section, id, rest @ ..] if kind(section).is_some() => {
                let base = format!("in {} `{id}`", kind(section).unwrap_or_default());
                if rest.is_empty() { base } else { format!("{base}, at `{}`", render_path(rest)) }
            }
            all => format!("at `{}`", render_path(all)),
        }
    }

    fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    fn check(&mut self, schema: &'a Value, node: &mut Node, owner: Span) {
        let schema = self.resolve(schema);
        if schema.as_bool() == Some(true) {
            return;
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, node, owner);
            }
            return;
        }
        if let Some(branches) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
            self.check_alternatives(branches, node, owner);
            return;
        }
        let types = types_of(schema);
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, node)) && !self.coerce(&types, node) {
            let expected: Vec<String> = types.iter().filter(|t| **t != "null").map(|t| article(t)).collect();
            let found = if node.interpolated { "text from the environment".into() } else { article(node.type_name()) };
            let mut d = Diagnostic::new(
                Code::Type,
                format!("expected {}, found {found} {}", join_or(&expected), self.context()),
            )
            .at(self.file, node.span, format!("this is {found}"));
            if types.contains(&"integer") && matches!(node.kind, Kind::Str(_)) && !node.interpolated {
                d = d.help("write the number without quotes");
            } else if types.contains(&"object") && matches!(node.kind, Kind::Seq(_)) {
                d = d.help("write `key: value` lines indented under the key, not `- item` lines");
            } else if types.contains(&"array") && !matches!(node.kind, Kind::Map(_)) {
                d = d.help("write a list: `[a, b]` or one `- item` per line");
            }
            self.push(d);
            return;
        }
        if let Some(c) = schema.get("const") {
            if &node.to_json() != c {
                self.invalid_value(node, &[c]);
            }
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            let json = node.to_json();
            if !values.contains(&json) {
                self.invalid_value(node, &values.iter().collect::<Vec<_>>());
            }
            return;
        }
        match &mut node.kind {
            Kind::Int(_) | Kind::Float(_) => self.check_number(schema, node),
            Kind::Seq(items) => {
                let len = items.len();
                if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                    && (len as u64) < min
                {
                    let d = Diagnostic::new(
                        Code::Range,
                        format!("the list needs at least {min} item(s) {}", self.context()),
                    )
                    .at(self.file, node.span, "empty list");
                    self.push(d);
                }
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.path.push(format!("[{i}]"));
                        let owner = item.span;
                        self.check(item_schema, item, owner);
                        self.path.pop();
                    }
                }
            }
            Kind::Map(_) => self.check_object(schema, node, owner),
            _ => {}
        }
    }

    fn coerce(&mut self, types: &[&str], node: &mut Node) -> bool {
        let Kind::Str(s) = &node.kind else { return false };
        if !node.interpolated {
            return false;
        }
        let t = s.trim();
        let kind = if types.contains(&"integer") {
            t.parse::<i64>().ok().map(Kind::Int)
        } else if types.contains(&"number") {
            t.parse::<f64>().ok().filter(|f| f.is_finite()).map(Kind::Float)
        } else if types.contains(&"boolean") {
            match t {
                "true" => Some(Kind::Bool(true)),
                "false" => Some(Kind::Bool(false)),
                _ => None,
            }
        } else {
            None
        };
        match kind {
            Some(k) => {
                node.kind = k;
                true
            }
            None => false,
        }
    }

    fn invalid_value(&mut self, node: &Node, allowed: &[&Value]) {
        let names: Vec<String> =
            allowed.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect();
        let hint = node.as_str().and_then(|s| did_you_mean(s, names.iter().map(String::as_str)));
        let listed = format!("allowed: {}", names.join(", "));
        let help = match hint {
            Some(h) if !node.interpolated => format!("did you mean `{h}`? {listed}"),
            _ => listed,
        };
        let d = Diagnostic::new(Code::InvalidValue, format!("{} is not allowed here {}", show(node), self.context()))
            .at(self.file, node.span, "not an allowed value")
            .help(help);
        self.push(d);
    }

    fn check_number(&mut self, schema: &Value, node: &Node) {
        let v = match node.kind {
            Kind::Int(i) => i as f64,
            Kind::Float(f) => f,
            _ => return,
        };
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max = schema.get("maximum").and_then(Value::as_f64);
        let too_small = min.is_some_and(|m| v < m);
        let too_large = max.is_some_and(|m| v > m) || v.is_nan();
        if too_small || too_large {
            let fmt =
                |x: f64| if x.fract() == 0.0 && x.abs() < 1e15 { format!("{}", x as i64) } else { format!("{x}") };
            let range = match (min, max) {
                (Some(a), Some(b)) => format!("from {} to {}", fmt(a), fmt(b)),
                (Some(a), None) => format!("at least {}", fmt(a)),
                (None, Some(b)) => format!("at most {}", fmt(b)),
                (None, None) => String::new(),
            };
            let d = Diagnostic::new(Code::Range, format!("{} is out of range {}", show(node), self.context()))
                .at(self.file, node.span, format!("must be {range}"))
                .help(format!("use a value {range}"));
            self.push(d);
        }
    }

    fn check_object(&mut self, schema: &'a Value, node: &mut Node, owner: Span) {
        let Kind::Map(entries) = &mut node.kind else { return };
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let known: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
        for entry in entries.iter_mut() {
            let sub = props.and_then(|p| p.get(&entry.key));
            let sub = match (sub, additional) {
                (Some(s), _) => s,
                (None, Some(Value::Bool(false))) => {
                    let mut help = match did_you_mean(&entry.key, known.iter().copied()) {
                        Some(k) => format!("did you mean `{k}`? "),
                        None => String::new(),
                    };
                    help.push_str(&format!("known keys here: {}", known.join(", ")));
                    let d =
                        Diagnostic::new(Code::UnknownKey, format!("unknown key `{}` {}", entry.key, self.context()))
                            .at(self.file, entry.key_span, "unknown key")
                            .help(help);
                    self.push(d);
                    continue;
                }
                (None, Some(s)) if s.is_object() => s,
                (None, _) => continue,
            };
            self.path.push(entry.key.clone());
            self.check(sub, &mut entry.value, entry.key_span);
            self.path.pop();
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if !entries.iter().any(|e| e.key == key) {
                    let at = if owner.is_empty() { Span::new(node.span.start, node.span.start) } else { owner };
                    let d =
                        Diagnostic::new(Code::MissingKey, format!("missing required key `{key}` {}", self.context()))
                            .at(self.file, at, format!("`{key}` is missing here"))
                            .help(format!("add `{key}: ...`"));
                    self.push(d);
                }
            }
        }
    }

    /// `oneOf` / `anyOf`: by discriminator when the branches have one, else the best fit.
    fn check_alternatives(&mut self, branches: &'a [Value], node: &mut Node, owner: Span) {
        let branches: Vec<&'a Value> = branches.iter().map(|b| self.resolve(b)).collect();
        let consts: Vec<&Value> = branches.iter().filter_map(|b| b.get("const")).collect();
        if consts.len() == branches.len() {
            if !consts.contains(&&node.to_json()) {
                self.invalid_value(node, &consts);
            }
            return;
        }
        if let Some(key) = discriminator(&branches)
            && let Kind::Map(_) = node.kind
        {
            let tags: Vec<&Value> =
                branches.iter().filter_map(|b| b.pointer(&format!("/properties/{key}/const"))).collect();
            let names: Vec<String> = tags.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
            let Some(entry) = node.entry(key) else {
                let at = if owner.is_empty() { Span::new(node.span.start, node.span.start) } else { owner };
                let d = Diagnostic::new(Code::MissingKey, format!("missing required key `{key}` {}", self.context()))
                    .at(self.file, at, format!("`{key}` is missing here"))
                    .help(format!("add `{key}:` with one of: {}", names.join(", ")));
                self.push(d);
                return;
            };
            let value = entry.value.to_json();
            match branches.iter().zip(&tags).find(|(_, t)| ***t == value) {
                Some((branch, _)) => self.check(branch, node, owner),
                None => {
                    let value_node = entry.value.clone();
                    self.path.push(key.to_string());
                    self.invalid_value(&value_node, &tags);
                    self.path.pop();
                }
            }
            return;
        }
        let mut best: Option<(usize, usize, Vec<Diagnostic>, Node)> = None;
        for (i, branch) in branches.iter().enumerate() {
            let mut trial = node.clone();
            let mut out = Vec::new();
            let mut c = Checker { root: self.root, file: self.file, path: self.path.clone(), out: &mut out };
            c.check(branch, &mut trial, owner);
            if out.is_empty() {
                *node = trial;
                return;
            }
            let fits = accepts_type(self, branch, node);
            let score = if fits { out.len() } else { usize::MAX };
            if best.as_ref().is_none_or(|b| score < b.1) {
                best = Some((i, score, out, trial));
            }
        }
        let Some((_, score, out, _)) = best else { return };
        if score == usize::MAX {
            let mut expected: Vec<String> = Vec::new();
            for b in &branches {
                for t in leaf_types(self, b) {
                    let a = article(&t);
                    if t != "null" && !expected.contains(&a) {
                        expected.push(a);
                    }
                }
            }
            let found = article(node.type_name());
            let d = Diagnostic::new(
                Code::Type,
                format!("expected {}, found {found} {}", join_or(&expected), self.context()),
            )
            .at(self.file, node.span, format!("this is {found}"));
            self.push(d);
        } else {
            self.out.extend(out);
        }
    }
}

fn render_path(parts: &[String]) -> String {
    let mut s = String::new();
    for p in parts {
        if !p.starts_with('[') && !s.is_empty() {
            s.push('.');
        }
        s.push_str(p);
    }
    s
}

/// The property that tells the branches apart by a `const`, when there is one.
fn discriminator<'v>(branches: &[&'v Value]) -> Option<&'v str> {
    let first = branches.first()?.get("properties")?.as_object()?;
    first
        .iter()
        .find(|(k, v)| {
            v.get("const").is_some() && branches.iter().all(|b| b.pointer(&format!("/properties/{k}/const")).is_some())
        })
        .map(|(k, _)| k.as_str())
}

fn leaf_types(c: &Checker<'_, '_>, schema: &Value) -> Vec<String> {
    let schema = c.resolve(schema);
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        return all.iter().flat_map(|b| leaf_types(c, b)).collect();
    }
    if let Some(bs) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        return bs.iter().flat_map(|b| leaf_types(c, b)).collect();
    }
    let t = types_of(schema);
    if t.is_empty() && (schema.get("properties").is_some() || schema.get("const").is_some()) {
        return vec![if schema.get("properties").is_some() { "object".into() } else { "string".into() }];
    }
    t.into_iter().map(str::to_string).collect()
}

fn accepts_type(c: &Checker<'_, '_>, schema: &Value, node: &Node) -> bool {
    leaf_types(c, schema).iter().any(|t| type_matches(t, node) || (node.interpolated && t != "null"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn problems(text: &str) -> Vec<Diagnostic> {
        let mut root = yaml::parse(FileId(0), text).root.unwrap();
        let mut out = Vec::new();
        check(&json_schema(), FileId(0), &mut root, &mut out);
        out
    }

    #[test]
    fn a_valid_file_has_no_problems() {
        let text = "version: 1\ndatabases:\n  d: {type: sqlite, db_file: x.db}\nmodels:\n  m: {provider: scripted}\nagents:\n  a: {model: m, instructions: [x], tools: [calculator, {name: http_request, allowed_hosts: [h]}]}\n";
        assert_eq!(problems(text), vec![]);
    }

    #[test]
    fn every_problem_in_a_file_is_reported_at_once() {
        let text = "version: 1\nagnets: {}\nmodels:\n  m: {provider: openia}\nagents:\n  a: {model: m, num_history_runs: three, instrucions: x}\n  b: {num_history_runs: 0}\n";
        let codes: Vec<Code> = problems(text).iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            vec![Code::UnknownKey, Code::InvalidValue, Code::Type, Code::UnknownKey, Code::Range, Code::MissingKey]
        );
    }

    #[test]
    fn unknown_keys_suggest_the_closest_known_key() {
        let p = problems("agents:\n  a: {model: m, instrucions: x}\n");
        assert_eq!(p[0].code, Code::UnknownKey);
        assert!(p[0].help.as_deref().unwrap().starts_with("did you mean `instructions`?"));
        assert_eq!(p[0].message, "unknown key `instrucions` in agent `a`");
    }

    #[test]
    fn the_database_type_selects_the_keys_that_apply() {
        let p = problems("databases:\n  d: {type: sqlite, db_schema: ai}\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].code, Code::UnknownKey);
        let p = problems("databases:\n  d: {type: sqllite}\n");
        assert_eq!(p[0].code, Code::InvalidValue);
        assert!(p[0].help.as_deref().unwrap().starts_with("did you mean `sqlite`?"));
    }

    #[test]
    fn interpolated_numbers_are_read_as_numbers() {
        let mut root = yaml::parse(FileId(0), "server: {port: x}\n").root.unwrap();
        if let Kind::Map(e) = &mut root.kind
            && let Kind::Map(s) = &mut e[0].value.kind
        {
            s[0].value.kind = Kind::Str("8080".into());
            s[0].value.interpolated = true;
        }
        let mut out = Vec::new();
        check(&json_schema(), FileId(0), &mut root, &mut out);
        assert_eq!(out, vec![]);
        assert_eq!(root.get("server").unwrap().get("port").unwrap().kind, Kind::Int(8080));
    }
}
