//! Step-input templates: text with CEL expressions inside `{{ }}` (`{{ input }}`,
//! `{{ previous.content }}`, `{{ steps.<name>.content }}`, `{{ session_state.topic }}`). Parsed
//! and compiled once, by the loader, into [`Template`]s that executors render without parsing
//! again; [`parse`] also reports what is wrong, located inside the text, for `check`.

use std::ops::Range;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::expr::{self, CompileErrorKind, EvalError, Expr};

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The text as written.
    pub source: String,
    /// Its pieces, in order.
    pub parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// A `{{ }}` expression.
    Expr(Expr),
}

/// What kind of problem (for the diagnostic code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// `{{` without `}}`.
    Unclosed,
    /// The expression does not parse, or is too large.
    Syntax,
    /// The expression reads a variable templates do not have.
    UnknownVariable,
}

/// A problem in a template: what is wrong, help, and where in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: String,
    /// Byte range inside the template text: the bad expression, or the error inside it.
    pub span: Range<usize>,
    /// Its kind.
    pub kind: ProblemKind,
}

/// Parses `text`; the template holds every piece it could read, and the problems say what it
/// could not.
pub fn parse(text: &str) -> (Template, Vec<Problem>) {
    let mut parts = Vec::new();
    let mut problems = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find("{{").map(|i| at + i) {
        if open > at {
            parts.push(Part::Text(text[at..open].to_string()));
        }
        let inner_start = open + 2;
        let Some(close) = text[inner_start..].find("}}").map(|i| inner_start + i) else {
            problems.push(Problem {
                message: "`{{` is not closed by `}}`".into(),
                help: "close the expression with `}}`".into(),
                span: open..text.len(),
                kind: ProblemKind::Unclosed,
            });
            parts.push(Part::Text(text[open..].to_string()));
            at = text.len();
            break;
        };
        match expr::compile(&text[inner_start..close], expr::Context::Template) {
            Ok(e) => parts.push(Part::Expr(e)),
            Err(e) => problems.push(Problem {
                message: e.message,
                help: e.help,
                span: if e.span.is_empty() && e.span.start == close - inner_start {
                    open..close + 2
                } else {
                    inner_start + e.span.start..inner_start + e.span.end
                },
                kind: match e.kind {
                    CompileErrorKind::Syntax => ProblemKind::Syntax,
                    CompileErrorKind::UnknownVariable => ProblemKind::UnknownVariable,
                },
            }),
        }
        at = close + 2;
    }
    if at < text.len() {
        parts.push(Part::Text(text[at..].to_string()));
    }
    (Template { source: text.to_string(), parts }, problems)
}

impl Template {
    /// The names of the steps it reads.
    pub fn steps(&self) -> Vec<String> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Expr(e) => Some(e.steps()),
                Part::Text(_) => None,
            })
            .flatten()
            .collect()
    }

    /// The text with each expression replaced by its value under `vars`: a string as is, null
    /// as nothing, anything else as compact JSON.
    pub fn render(&self, vars: &Map<String, Value>) -> Result<String, EvalError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => match e.eval(vars)? {
                    Value::String(s) => out.push_str(&s),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }
}

impl Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_parse_into_pieces_and_render() {
        let text = "Check: {{ steps.draft.content }} for {{input}} after {{ previous.content }}; n={{ session_state.n }}{{ session_state.none }}.";
        let (t, problems) = parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(t.parts.len(), 10);
        assert_eq!(t.steps(), ["draft"]);
        let vars = json!({
            "input": "the topic",
            "previous": {"content": "prev"},
            "steps": {"draft": {"content": "D"}},
            "session_state": {"n": [1, 2], "none": null},
        });
        let out = t.render(vars.as_object().unwrap()).unwrap();
        assert_eq!(out, "Check: D for the topic after prev; n=[1,2].");
    }

    #[test]
    fn problems_point_inside_the_text() {
        let text = "{{ foo }} and {{ input +  }} and {{ input";
        let (_, p) = parse(text);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0].kind, ProblemKind::UnknownVariable);
        assert_eq!(&text[p[0].span.clone()], "foo");
        assert_eq!(p[1].kind, ProblemKind::Syntax);
        assert!(p[1].span.start >= 14 && p[1].span.end <= 28, "{:?}", p[1].span);
        assert_eq!(p[2].kind, ProblemKind::Unclosed);
        assert_eq!(&text[p[2].span.clone()], "{{ input");
        let (t, p) = parse("no expressions");
        assert!(p.is_empty());
        assert_eq!(t.render(&Map::new()).unwrap(), "no expressions");
    }
}
