//! CEL expressions of workflow steps (conditions, loop end conditions, router selectors and the
//! `{{ }}` of step-input templates), with Agno's variable names per context: compiled once —
//! syntax, size and depth bounds, the variables the context knows — and evaluated against JSON
//! variables. It knows nothing of config files, spans in them, or runs.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr as Ast, IdedExpr, SourceInfo};
use cel::objects::{Key, Map as CelMap};
use cel::{Env, Value as Cel};
use serde::Serialize;
use serde_json::{Map, Value};

/// The longest expression source, in bytes.
pub const MAX_SOURCE: usize = 4096;
/// The deepest nesting of brackets (and `? :`) in an expression source.
pub const MAX_NESTING: usize = 64;
/// The deepest tree a parsed expression may have (operators included): evaluation recurses
/// once per level, so this bounds its stack.
pub const MAX_TREE_DEPTH: usize = 128;
/// Most comprehensions (`map`, `filter`, `all`, `exists`, `exists_one`) nested in one another:
/// each level multiplies the work (ten nested `[0,...,9].map(...)` ask for 10^10 steps), and
/// evaluation has no budget of its own.
pub const MAX_COMPREHENSION_NESTING: usize = 2;

/// CEL's standard environment, built once: immutable, and the same for every expression.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// Which variables an expression may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// A `condition:` (Agno's `Condition` evaluator).
    Condition,
    /// A loop's `end_condition:` (Agno's `Loop` end condition).
    Loop,
    /// A `router:` selector (Agno's `Router` selector).
    Router,
    /// An expression inside `{{ }}` in a step's `input`.
    Template,
}

const CONDITION: &[&str] =
    &["input", "previous_step_content", "previous_step_outputs", "additional_data", "session_state", "steps"];
const LOOP: &[&str] = &[
    "current_iteration",
    "max_iterations",
    "all_success",
    "last_step_content",
    "step_outputs",
    "input",
    "session_state",
    "steps",
];
const ROUTER: &[&str] = &[
    "input",
    "previous_step_content",
    "previous_step_outputs",
    "additional_data",
    "session_state",
    "step_choices",
    "steps",
];
const TEMPLATE: &[&str] = &["input", "previous", "previous_step_content", "steps", "session_state", "additional_data"];

/// CEL's type names, which an expression may use as identifiers (`type(x) == string`).
const TYPE_NAMES: &[&str] =
    &["bool", "bytes", "double", "dyn", "int", "list", "map", "null_type", "string", "type", "uint"];

/// Variables known per context (for help texts and the docs).
pub fn variables(ctx: Context) -> &'static [&'static str] {
    match ctx {
        Context::Condition => CONDITION,
        Context::Loop => LOOP,
        Context::Router => ROUTER,
        Context::Template => TEMPLATE,
    }
}

/// A compiled CEL expression. Cheap to clone (the program is shared); serializes as its source.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
}

/// A parsed expression and where each of its nodes is written.
struct Program {
    ast: IdedExpr,
    info: SourceInfo,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expr").field(&&*self.source).finish()
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

/// An expression that could not be evaluated, or whose result has the wrong type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// What kind of compile error (for the diagnostic code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileErrorKind {
    /// The expression does not parse, or is longer or deeper than allowed.
    Syntax,
    /// The expression reads a variable its context does not have.
    UnknownVariable,
}

/// Why an expression does not compile, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// What is wrong, in one sentence.
    pub message: String,
    /// What to write instead.
    pub help: String,
    /// Byte range inside the expression source.
    pub span: Range<usize>,
    /// Syntax (and bounds) or unknown variable.
    pub kind: CompileErrorKind,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompileError {}

fn syntax(message: impl Into<String>, help: impl Into<String>, span: Range<usize>) -> CompileError {
    CompileError { message: message.into(), help: help.into(), span, kind: CompileErrorKind::Syntax }
}

/// Compiles `source` for `ctx`: syntax errors, and variables that `ctx` does not know, are errors
/// (with "did you mean").
pub fn compile(source: &str, ctx: Context) -> Result<Expr, CompileError> {
    if source.len() > MAX_SOURCE {
        let at = floor_boundary(source, MAX_SOURCE);
        let end = source[at..].chars().next().map_or(at, |c| at + c.len_utf8());
        return Err(syntax(
            format!("the expression is {} bytes long; at most {MAX_SOURCE} are allowed", source.len()),
            "shorten the expression; long logic belongs in an agent's instructions",
            at..end,
        ));
    }
    if source.trim().is_empty() {
        return Err(syntax(
            "the expression is empty",
            "write a CEL expression, e.g. `input.contains(\"x\")`",
            0..source.len(),
        ));
    }
    if let Some(at) = too_nested(source) {
        return Err(syntax(
            format!("the expression nests deeper than {MAX_NESTING} levels"),
            "flatten the expression",
            at..at + 1,
        ));
    }
    // The parser's own limit counts nested `expr` rules; ours above ran first, so it only adds
    // a second guard.
    let parsed = ENV.parser().max_recursion_depth(MAX_NESTING as u16 * 2).parse_with_source_info(source);
    let (ast, info) = match parsed {
        Ok(p) => p,
        Err(errors) => {
            let first = errors.errors.into_iter().next();
            let (message, span) = match first {
                Some(e) => {
                    let at = position(source, e.pos);
                    // Grow the span to the token the message quotes, when it is there.
                    let message = clean_message(&e.msg);
                    let token = message.split_once('\'').and_then(|(_, r)| r.rsplit_once('\'')).map(|(t, _)| t);
                    let span = match token {
                        Some(t) if !t.is_empty() && source[at.start..].starts_with(t) => at.start..at.start + t.len(),
                        _ => at,
                    };
                    (message, span)
                }
                None => ("the expression does not parse".to_string(), 0..source.len()),
            };
            return Err(syntax(
                format!("CEL syntax error: {message}"),
                "CEL reads like `input.contains(\"urgent\") && size(previous_step_content) > 0`",
                span,
            ));
        }
    };
    if depth(&ast) > MAX_TREE_DEPTH {
        return Err(syntax(
            format!("the expression is deeper than {MAX_TREE_DEPTH} levels of operators"),
            "split the expression into simpler ones",
            0..source.len(),
        ));
    }
    if comprehension_nesting(&ast) > MAX_COMPREHENSION_NESTING {
        return Err(syntax(
            format!(
                "the expression nests comprehensions (`map`, `filter`, `all`, `exists`) more than {MAX_COMPREHENSION_NESTING} deep"
            ),
            "each nested comprehension multiplies the work; flatten the expression",
            0..source.len(),
        ));
    }
    let program = Program { ast, info };
    let known = variables(ctx);
    for (name, span) in program.free_variables(source) {
        if known.contains(&name.as_str()) || TYPE_NAMES.contains(&name.as_str()) {
            continue;
        }
        let listed = known.join(", ");
        let help = match did_you_mean(&name, known) {
            Some(best) => format!("did you mean `{best}`? {} expressions read: {listed}", ctx.noun()),
            None => format!("{} expressions read: {listed}", ctx.noun()),
        };
        return Err(CompileError {
            message: format!("unknown variable `{name}`"),
            help,
            span,
            kind: CompileErrorKind::UnknownVariable,
        });
    }
    Ok(Expr { source: source.into(), program: Arc::new(program) })
}

impl Context {
    fn noun(self) -> &'static str {
        match self {
            Context::Condition => "condition",
            Context::Loop => "loop end condition",
            Context::Router => "router",
            Context::Template => "template",
        }
    }
}

impl Expr {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Step names it reads through `steps.<name>` / `steps["name"]` (for the earlier-step check).
    pub fn steps(&self) -> Vec<String> {
        self.step_reads().into_iter().map(|(name, _)| name).collect()
    }

    /// Step names it reads, each with the byte range of its `steps.<name>` in the source.
    pub fn step_reads(&self) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        let p = &self.program;
        walk(&p.ast, &mut |e| {
            let read = match &e.expr {
                Ast::Select(s) if matches!(&s.operand.expr, Ast::Ident(n) if n == "steps") => {
                    Some((s.field.clone(), s.operand.id))
                }
                Ast::Call(c) if c.func_name == "_[_]" && c.args.len() == 2 => {
                    match (&c.args[0].expr, &c.args[1].expr) {
                        (Ast::Ident(n), Ast::Literal(cel::common::ast::LiteralValue::String(s))) if n == "steps" => {
                            Some((s.to_string(), c.args[0].id))
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some((name, start_id)) = read {
                let start = p.span(start_id, &self.source).start;
                // The node's own offsets are those of its `.` or `[`: the name follows.
                let end = (start + "steps".len()).min(self.source.len());
                let span = extend_to_name(&self.source, start..end, &name);
                out.push((name, span));
            }
        });
        out
    }

    /// The string literals it may return, each with its byte range in the source: the whole
    /// expression, both branches of `? :` and the items of a list literal, as far as they are
    /// literals (for checking a router's choices).
    pub fn string_results(&self) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        let mut todo = vec![&self.program.ast];
        while let Some(e) = todo.pop() {
            match &e.expr {
                Ast::Literal(cel::common::ast::LiteralValue::String(s)) => {
                    out.push((s.to_string(), self.program.span(e.id, &self.source)));
                }
                Ast::Call(c) if c.func_name == "_?_:_" && c.args.len() == 3 => {
                    todo.push(&c.args[2]);
                    todo.push(&c.args[1]);
                }
                Ast::List(l) => todo.extend(l.elements.iter().rev()),
                _ => {}
            }
        }
        out
    }

    /// Evaluates with `vars` (variable name -> JSON value; JSON objects become CEL maps, arrays
    /// lists, numbers int/uint/double as fits, null null).
    pub fn eval(&self, vars: &Map<String, Value>) -> Result<Value, EvalError> {
        let mut ctx = cel::Context::with_env(Arc::clone(&ENV));
        for (name, value) in vars {
            ctx.add_variable_from_value(name.clone(), to_cel(value));
        }
        let out = Cel::resolve(&self.program.ast, &ctx).map_err(|e| EvalError(format!("`{}`: {e}", self.source)))?;
        to_json(&out).map_err(|what| EvalError(format!("`{}` returned {what}, which has no JSON form", self.source)))
    }

    /// eval, then require a bool (error naming the type it got otherwise).
    pub fn eval_bool(&self, vars: &Map<String, Value>) -> Result<bool, EvalError> {
        match self.eval(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError(format!("`{}` returned {}, not a bool", self.source, json_type(&other)))),
        }
    }
}

/// The type name of a JSON value, in CEL's words.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a double",
        Value::Number(_) => "an int",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let map: HashMap<Key, Cel> = o.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Cel::Map(CelMap { map: Arc::new(map) })
        }
    }
}

fn to_json(v: &Cel) -> Result<Value, &'static str> {
    Ok(match v {
        Cel::Null => Value::Null,
        Cel::Bool(b) => Value::Bool(*b),
        Cel::Int(i) => Value::from(*i),
        Cel::UInt(u) => Value::from(*u),
        Cel::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Cel::String(s) => Value::String(s.to_string()),
        Cel::Bytes(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Cel::List(l) => Value::Array(l.iter().map(to_json).collect::<Result<_, _>>()?),
        Cel::Map(m) => {
            let mut out = Map::new();
            let mut entries: Vec<(String, Value)> = Vec::with_capacity(m.map.len());
            for (k, v) in m.map.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                entries.push((key, to_json(v)?));
            }
            // CEL maps have no order; sorted keys make the JSON deterministic.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(entries);
            Value::Object(out)
        }
        Cel::Function(..) => return Err("a function"),
        Cel::Opaque(_) => return Err("an opaque value"),
        Cel::Struct(_) => return Err("a struct"),
    })
}

impl Program {
    /// The byte range of node `id` in `source` (the parser records inclusive byte offsets).
    fn span(&self, id: u64, source: &str) -> Range<usize> {
        match self.info.offset_for(id) {
            Some((start, stop)) => {
                let start = floor_boundary(source, (start as usize).min(source.len()));
                let stop = (stop as usize).min(source.len().saturating_sub(1));
                let end =
                    source[stop.max(start)..].chars().next().map_or(source.len(), |c| stop.max(start) + c.len_utf8());
                start..end.min(source.len())
            }
            None => 0..source.len(),
        }
    }

    /// Identifiers read that no comprehension binds, with their spans, in source order.
    fn free_variables(&self, source: &str) -> Vec<(String, Range<usize>)> {
        let mut out = Vec::new();
        self.free(&self.ast, &mut Vec::new(), source, &mut out);
        out.sort_by_key(|(_, s)| s.start);
        out
    }

    fn free<'a>(&self, e: &'a IdedExpr, bound: &mut Vec<&'a str>, source: &str, out: &mut Vec<(String, Range<usize>)>) {
        match &e.expr {
            Ast::Ident(name) => {
                if !bound.contains(&name.as_str()) {
                    out.push((name.clone(), self.span(e.id, source)));
                }
            }
            Ast::Comprehension(c) => {
                self.free(&c.iter_range, bound, source, out);
                self.free(&c.accu_init, bound, source, out);
                let n = bound.len();
                bound.push(&c.iter_var);
                if let Some(v) = &c.iter_var2 {
                    bound.push(v);
                }
                bound.push(&c.accu_var);
                for inner in [&c.loop_cond, &c.loop_step, &c.result] {
                    self.free(inner, bound, source, out);
                }
                bound.truncate(n);
            }
            _ => children(e, &mut |c| self.free(c, bound, source, out)),
        }
    }
}

/// Calls `f` on each direct child of `e`.
fn children<'a>(e: &'a IdedExpr, f: &mut dyn FnMut(&'a IdedExpr)) {
    match &e.expr {
        Ast::Call(c) => {
            if let Some(t) = &c.target {
                f(t);
            }
            c.args.iter().for_each(f);
        }
        Ast::Comprehension(c) => {
            for inner in [&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
                f(inner);
            }
        }
        Ast::List(l) => l.elements.iter().for_each(f),
        Ast::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    f(&me.key);
                    f(&me.value);
                }
            }
        }
        Ast::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(sf) = &entry.expr {
                    f(&sf.value);
                }
            }
        }
        Ast::Select(s) => f(&s.operand),
        _ => {}
    }
}

/// Calls `f` on every node, parents first.
fn walk<'a>(e: &'a IdedExpr, f: &mut dyn FnMut(&'a IdedExpr)) {
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        f(e);
        children(e, &mut |c| todo.push(c));
    }
}

/// The depth of the tree, without recursion (it is measured before it is known to be shallow).
fn depth(e: &IdedExpr) -> usize {
    let mut max = 0;
    let mut todo = vec![(e, 1usize)];
    while let Some((e, d)) = todo.pop() {
        max = max.max(d);
        children(e, &mut |c| todo.push((c, d + 1)));
    }
    max
}

/// The most comprehensions on one path from the root, without recursion.
fn comprehension_nesting(e: &IdedExpr) -> usize {
    let mut max = 0;
    let mut todo = vec![(e, 0usize)];
    while let Some((e, n)) = todo.pop() {
        let n = n + usize::from(matches!(e.expr, Ast::Comprehension(_)));
        max = max.max(n);
        children(e, &mut |c| todo.push((c, n)));
    }
    max
}

/// The offset of the first bracket (or `?`) that nests deeper than [`MAX_NESTING`], skipping
/// string literals. The parser recurses per level, so this runs before it.
fn too_nested(source: &str) -> Option<usize> {
    let b = source.as_bytes();
    let mut level = 0usize;
    let mut questions = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                let raw = i > 0 && matches!(b[i - 1], b'r' | b'R')
                    || i > 1 && matches!(b[i - 1], b'b' | b'B') && matches!(b[i - 2], b'r' | b'R');
                let triple = b.get(i..i + 3) == Some(&[q, q, q][..]);
                let close: &[u8] = if triple { &[q, q, q] } else { std::slice::from_ref(&b[i]) };
                i += close.len();
                while i < b.len() && !b[i..].starts_with(close) {
                    i += if b[i] == b'\\' && !raw { 2 } else { 1 };
                }
                i += close.len();
                continue;
            }
            b'(' | b'[' | b'{' => {
                level += 1;
                if level + questions > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => level = level.saturating_sub(1),
            b'?' => {
                questions += 1;
                if level + questions > MAX_NESTING {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The byte range of a parser position (1-based line and column) in `source`, clamped to it.
fn position(source: &str, (line, col): (isize, isize)) -> Range<usize> {
    let mut start = 0;
    for (n, l) in source.split_inclusive('\n').enumerate() {
        if n + 1 == line.max(1) as usize {
            let col = col.max(1) as usize - 1;
            let within = l.char_indices().nth(col).map_or(l.trim_end_matches('\n').len(), |(i, _)| i);
            let at = start + within;
            let end = source[at..].chars().next().filter(|c| *c != '\n').map_or(at, |c| at + c.len_utf8());
            return at..end;
        }
        start += l.len();
    }
    source.len()..source.len()
}

/// The parser's message without its `Syntax error: ` prefix and ANTLR's token list.
fn clean_message(msg: &str) -> String {
    let msg = msg.strip_prefix("Syntax error: ").unwrap_or(msg);
    match msg.find(" expecting {") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// `span` grown to the end of `name` when the source holds it right after (`steps.name`,
/// `steps["name"]`).
fn extend_to_name(source: &str, span: Range<usize>, name: &str) -> Range<usize> {
    let from = span.start.min(source.len());
    let Some(rest) = source.get(from..) else { return span };
    let window = &rest[..floor_boundary(rest, rest.len().min(span.len() + name.len() + 8))];
    match window.get(span.len()..).and_then(|w| w.find(name)).map(|i| i + span.len()) {
        Some(i) => {
            let mut end = from + i + name.len();
            if source[end..].starts_with(['"', '\'']) {
                end += 1;
                if source[end..].starts_with(']') {
                    end += 1;
                }
            }
            span.start..end.max(span.end.min(end))
        }
        None => span,
    }
}

/// The closest of `known` to `name`, when it is close enough to be a likely typo.
fn did_you_mean(name: &str, known: &[&'static str]) -> Option<&'static str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), *k))
        .filter(|(score, k)| *score >= 0.8 || strsim::levenshtein(name, k) <= 2)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The largest char boundary of `s` at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn each_context_knows_agnos_variables() {
        for (ctx, names) in [
            (
                Context::Condition,
                &[
                    "input",
                    "previous_step_content",
                    "previous_step_outputs",
                    "additional_data",
                    "session_state",
                    "steps",
                ][..],
            ),
            (
                Context::Loop,
                &["current_iteration", "max_iterations", "all_success", "last_step_content", "step_outputs"][..],
            ),
            (Context::Router, &["step_choices", "input", "previous_step_outputs"][..]),
            (
                Context::Template,
                &["input", "previous", "previous_step_content", "steps", "session_state", "additional_data"][..],
            ),
        ] {
            for name in names {
                assert!(compile(&format!("{name} == null"), ctx).is_ok(), "{ctx:?} {name}");
            }
        }
        let e = compile("step_choices", Context::Condition).unwrap_err();
        assert_eq!(e.kind, CompileErrorKind::UnknownVariable);
        assert!(compile("current_iteration", Context::Condition).is_err());
        assert!(compile("previous", Context::Condition).is_err());
    }

    #[test]
    fn string_methods_evaluate() {
        let v = vars(json!({"input": "an urgent request", "previous_step_content": "draft DONE"}));
        for (src, want) in [
            (r#"input.contains("urgent")"#, true),
            (r#"input.startsWith("an ")"#, true),
            (r#"input.endsWith("x")"#, false),
            (r#"size(input) == 17"#, true),
            (r#"input.matches("^an\\s+urg")"#, true),
            (r#"previous_step_content.contains("DONE") && !input.contains("DONE")"#, true),
        ] {
            assert_eq!(compile(src, Context::Condition).unwrap().eval_bool(&v), Ok(want), "{src}");
        }
    }

    #[test]
    fn json_maps_and_lists_become_cel_and_back() {
        let v = vars(json!({
            "session_state": {"count": 3, "tags": ["a", "b"], "big": 18446744073709551615u64, "ratio": 0.5, "none": null},
            "steps": {"research": {"content": "found"}},
            "input": "x",
        }));
        let eval = |src: &str| compile(src, Context::Condition).unwrap().eval(&v).unwrap();
        assert_eq!(eval("session_state.count + 1"), json!(4));
        assert_eq!(eval("size(session_state.tags)"), json!(2));
        assert_eq!(eval(r#""b" in session_state.tags"#), json!(true));
        assert_eq!(eval("session_state.big"), json!(18446744073709551615u64));
        assert_eq!(eval("session_state.ratio * 2.0"), json!(1.0));
        assert_eq!(eval("session_state.none"), json!(null));
        assert_eq!(eval(r#"steps.research.content + steps["research"].content"#), json!("foundfound"));
        assert_eq!(eval(r#"{"k": [1, "two"]}"#), json!({"k": [1, "two"]}));
        assert_eq!(eval("session_state.tags.map(t, t + t)"), json!(["aa", "bb"]));
    }

    #[test]
    fn eval_bool_names_the_type_it_got() {
        let e = compile("size(input)", Context::Condition).unwrap();
        let err = e.eval_bool(&vars(json!({"input": "abc"}))).unwrap_err();
        assert_eq!(err.0, "`size(input)` returned an int, not a bool");
        let err = compile("input.nope", Context::Condition).unwrap().eval(&vars(json!({"input": {}}))).unwrap_err();
        assert!(err.0.contains("nope"), "{err}");
    }

    #[test]
    fn unknown_variables_are_located_with_did_you_mean() {
        let src = r#"input.contains("a") && previous_step_contnt == """#;
        let e = compile(src, Context::Condition).unwrap_err();
        assert_eq!(e.kind, CompileErrorKind::UnknownVariable);
        assert_eq!(e.message, "unknown variable `previous_step_contnt`");
        assert_eq!(&src[e.span.clone()], "previous_step_contnt");
        assert!(e.help.starts_with("did you mean `previous_step_content`?"), "{}", e.help);
        // Comprehension variables are bound, not free.
        assert!(compile("session_state.items.exists(x, x > 1)", Context::Condition).is_ok());
        assert!(compile("type(input) == string", Context::Condition).is_ok());
    }

    #[test]
    fn syntax_errors_point_into_the_expression() {
        let src = "input.contains(\"a\") && && true";
        let e = compile(src, Context::Condition).unwrap_err();
        assert_eq!(e.kind, CompileErrorKind::Syntax);
        assert_eq!(e.span, 23..25, "{e:?}");
        assert!(e.message.starts_with("CEL syntax error:"), "{}", e.message);
        let src = "size(input) >\n  )";
        let e = compile(src, Context::Condition).unwrap_err();
        assert_eq!(&src[e.span.clone()], ")");
        assert!(compile("", Context::Condition).is_err());
        assert!(compile("é + +", Context::Condition).is_err());
    }

    #[test]
    fn nested_comprehensions_past_two_are_refused_at_compile_time() {
        // Ten nested maps over ten items ask for 10^10 steps: refused, not run.
        let list = "[0,1,2,3,4,5,6,7,8,9]";
        let mut bomb = "\"q\"".to_string();
        for _ in 0..10 {
            bomb = format!("{list}.map(x, {bomb})");
        }
        let e = compile(&format!("{bomb} == []"), Context::Condition).unwrap_err();
        assert!(e.message.contains("nests comprehensions"), "{}", e.message);
        let two = format!("{list}.map(a, {list}.map(b, a + b)).size() > 0");
        assert!(compile(&two, Context::Condition).is_ok());
        let three = format!("{list}.map(a, {list}.map(b, {list}.map(c, a))).size() > 0");
        assert!(compile(&three, Context::Condition).is_err());
    }

    #[test]
    fn hostile_sizes_and_depths_are_errors_not_crashes() {
        let huge = format!("input == \"{}\"", "a".repeat(1 << 20));
        let t = std::time::Instant::now();
        let e = compile(&huge, Context::Condition).unwrap_err();
        assert!(e.message.contains("at most 4096"), "{}", e.message);
        assert_eq!(e.span, 4096..4097);
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(compile(&deep, Context::Condition).unwrap_err().message.contains("bytes long"));
        let deep = format!("{}1{}", "(".repeat(2000), ")".repeat(2000));
        let e = compile(&deep, Context::Condition).unwrap_err();
        assert!(e.message.contains("nests deeper than 64"), "{}", e.message);
        assert_eq!(e.span, 64..65);
        let tern = format!("{}1", "true ? 1 : ".repeat(100));
        assert!(compile(&tern, Context::Condition).is_err());
        let chain = format!("{}1", "1+".repeat(2000));
        assert!(compile(&chain, Context::Condition).unwrap_err().message.contains("deeper than 128"));
        // Negations fold: long chains of them compile to a shallow tree and evaluate.
        let nots = compile(&format!("{}true", "!".repeat(4000)), Context::Condition).unwrap();
        assert_eq!(nots.eval_bool(&Map::new()), Ok(true));
        // Brackets inside strings do not count.
        assert!(compile(&format!("input == '{}'", "(".repeat(100)), Context::Condition).is_ok());
        let ok = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert!(compile(&ok, Context::Condition).is_ok());
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn step_reads_and_string_results_are_found_with_spans() {
        let src = r#"steps.research.content.contains("x") || steps["review"].content == "" || has(steps.edit)"#;
        let e = compile(src, Context::Condition).unwrap();
        let reads = e.step_reads();
        let names: Vec<&str> = reads.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 3);
        for (name, span) in &reads {
            let text = &src[span.clone()];
            assert!(text.starts_with("steps") && text.contains(name.as_str()), "{name}: {text}");
        }
        assert!(e.steps().contains(&"review".to_string()));
        let src = r#"size(input) < 40 ? "short" : ["long", "longer"]"#;
        let r = compile(src, Context::Router).unwrap();
        let got: Vec<(String, &str)> = r.string_results().into_iter().map(|(n, s)| (n, &src[s])).collect();
        assert_eq!(got, [("short".into(), "\"short\""), ("long".into(), "\"long\""), ("longer".into(), "\"longer\"")]);
    }

    #[test]
    fn exprs_are_shareable_and_serialize_as_source() {
        fn assert_traits<T: Clone + fmt::Debug + Send + Sync>() {}
        assert_traits::<Expr>();
        let e = compile("input", Context::Template).unwrap();
        assert_eq!(serde_json::to_value(&e).unwrap(), json!("input"));
        assert_eq!(e.source(), "input");
    }
}
