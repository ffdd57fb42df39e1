//! `${VAR}` interpolation in string values, applied to the parsed tree so spans stay true.
//!
//! Forms (as docker compose has them): `${VAR}`, `${VAR:-default}` (unset or empty),
//! `${VAR-default}` (unset), `${VAR:?message}` / `${VAR?message}` (required), and `$${` for a
//! literal `${`. Keys are never interpolated. Values that came from the environment are marked
//! so that no diagnostic ever prints them.

use std::collections::HashMap;

use super::diagnostic::{Code, Diagnostic, FileId, Span, sub_span};
use super::yaml::{Kind, Node};

/// How missing variables are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvMode {
    /// A missing variable without a default is an error.
    Check,
    /// Missing variables become empty strings and are not reported (CI without secrets).
    Skip,
}

/// Interpolates every string value under `node`; `text` is the file's text for precise spans.
pub fn interpolate(
    node: &mut Node,
    file: FileId,
    text: &str,
    env: &HashMap<String, String>,
    mode: EnvMode,
    out: &mut Vec<Diagnostic>,
) {
    match &mut node.kind {
        Kind::Str(s) if s.contains('$') => {
            let (value, changed, problems) = expand(s, env, mode);
            for p in problems {
                out.push(p.locate(file, node.span, text));
            }
            if changed {
                *s = value;
                node.interpolated = true;
            }
        }
        Kind::Seq(items) => items.iter_mut().for_each(|n| interpolate(n, file, text, env, mode, out)),
        Kind::Map(entries) => entries.iter_mut().for_each(|e| interpolate(&mut e.value, file, text, env, mode, out)),
        _ => {}
    }
}

/// A problem in one expression, before it is located in the file.
#[derive(Debug, PartialEq)]
struct Problem {
    code: Code,
    /// The expression as written, used to find its span.
    expr: String,
    message: String,
    help: Option<String>,
}

impl Problem {
    fn locate(self, file: FileId, node: Span, text: &str) -> Diagnostic {
        let span = sub_span(text, node, &self.expr);
        Diagnostic::new(self.code, self.message).at(file, span, "here").maybe_help(self.help)
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Expands one string: (result, whether anything was substituted, problems).
fn expand(s: &str, env: &HashMap<String, String>, mode: EnvMode) -> (String, bool, Vec<Problem>) {
    let mut out = String::with_capacity(s.len());
    let mut problems = Vec::new();
    let mut changed = false;
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            changed = true;
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(close) = body_start.find('}') else {
            problems.push(Problem {
                code: Code::Interpolation,
                expr: rest[i..].to_string(),
                message: "`${` is not closed by `}`".into(),
                help: Some(
                    "write `${NAME}`, `${NAME:-default}` or `${NAME:?message}`; `$${` gives a literal `${`".into(),
                ),
            });
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let body = &body_start[..close];
        let expr = format!("${{{body}}}");
        rest = &body_start[close + 1..];
        changed = true;
        let (name, op, arg) = match body.find([':', '-', '?']) {
            Some(p) => {
                let (name, tail) = body.split_at(p);
                if let Some(arg) = tail.strip_prefix(":-") {
                    (name, "-", Some((arg, true)))
                } else if let Some(arg) = tail.strip_prefix(":?") {
                    (name, "?", Some((arg, true)))
                } else if let Some(arg) = tail.strip_prefix('-') {
                    (name, "-", Some((arg, false)))
                } else if let Some(arg) = tail.strip_prefix('?') {
                    (name, "?", Some((arg, false)))
                } else {
                    (body, "", None)
                }
            }
            None => (body, "", None),
        };
        if !is_name(name) {
            problems.push(Problem {
                code: Code::Interpolation,
                expr,
                message: format!("`{name}` is not a variable name"),
                help: Some("names are letters, digits and `_`, not starting with a digit; forms: `${NAME}`, `${NAME:-default}`, `${NAME:?message}`".into()),
            });
            continue;
        }
        let value = env.get(name).map(String::as_str);
        let present = |empty_counts: bool| match value {
            Some(v) => !(empty_counts && v.is_empty()),
            None => false,
        };
        match (op, arg) {
            ("-", Some((default, colon))) => out.push_str(if present(colon) { value.unwrap_or_default() } else { default }),
            ("?", Some((message, colon))) => {
                if present(colon) {
                    out.push_str(value.unwrap_or_default());
                } else if mode == EnvMode::Check {
                    let why = if message.is_empty() { String::new() } else { format!(": {message}") };
                    problems.push(Problem {
                        code: Code::MissingEnv,
                        expr,
                        message: format!("the environment variable `{name}` is required{why}"),
                        help: Some(format!("set `{name}`, or run `agno-run validate --no-env` to skip environment checks")),
                    });
                }
            }
            _ => match value {
                Some(v) => out.push_str(v),
                None if mode == EnvMode::Check => problems.push(Problem {
                    code: Code::MissingEnv,
                    expr,
                    message: format!("the environment variable `{name}` is not set"),
                    help: Some(format!(
                        "set `{name}`, give a default with `${{{name}:-default}}`, or run `agno-run validate --no-env` to skip environment checks"
                    )),
                }),
                None => {}
            },
        }
    }
    out.push_str(rest);
    (out, changed, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        [("A", "x"), ("EMPTY", "")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn ok(s: &str) -> String {
        let (v, _, p) = expand(s, &env(), EnvMode::Check);
        assert!(p.is_empty(), "{p:?}");
        v
    }

    #[test]
    fn every_form_expands_like_docker_compose() {
        assert_eq!(ok("${A}"), "x");
        assert_eq!(ok("a-${A}-b"), "a-x-b");
        assert_eq!(ok("${B:-d}"), "d");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${B-d}"), "d");
        assert_eq!(ok("${A:?m}"), "x");
        assert_eq!(ok("$${A} $5 $"), "${A} $5 $");
        assert_eq!(ok("${B:-http://h:1/x}"), "http://h:1/x");
    }

    #[test]
    fn missing_variables_are_problems_unless_skipped() {
        let (_, _, p) = expand("${NOPE}", &env(), EnvMode::Check);
        assert_eq!(p[0].code, Code::MissingEnv);
        let (_, _, p) = expand("${NOPE:?set it}", &env(), EnvMode::Check);
        assert!(p[0].message.ends_with(": set it"));
        let (v, _, p) = expand("a${NOPE}b", &env(), EnvMode::Skip);
        assert!(p.is_empty());
        assert_eq!(v, "ab");
    }

    #[test]
    fn malformed_expressions_are_problems() {
        let (_, _, p) = expand("${A", &env(), EnvMode::Check);
        assert_eq!(p[0].code, Code::Interpolation);
        let (_, _, p) = expand("${1A}", &env(), EnvMode::Check);
        assert_eq!(p[0].code, Code::Interpolation);
    }
}
