//! Step-input templates: `{{ input }}`, `{{ previous.content }}` and
//! `{{ steps.<name>.content }}` inside text. Parsed once, by the loader, into [`Template`]s that
//! executors render without parsing again; [`parse`] also reports what is wrong for the
//! diagnostics of `check`.

use serde::Serialize;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The text as written.
    pub source: String,
    /// Its pieces, in order.
    pub parts: Vec<Part>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text as written.
    Text(String),
    /// `{{ input }}`: the workflow's input.
    Input,
    /// `{{ previous.content }}`: the previous step's output.
    Previous,
    /// `{{ steps.<name>.content }}`: the output of the step `<name>`.
    Step(String),
}

/// A problem in a template: the expression as written, what is wrong, and help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The `{{ ... }}` as written (or the rest of the text after an unclosed `{{`).
    pub expr: String,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

const FORMS: &str = "templates read `{{ input }}`, `{{ previous.content }}` or `{{ steps.<name>.content }}`";

/// Parses `text`; the template holds every piece it could read, and the problems say what it
/// could not.
pub fn parse(text: &str) -> (Template, Vec<Problem>) {
    let mut parts = Vec::new();
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            problems.push(Problem {
                expr: rest[open..].to_string(),
                message: "`{{` is not closed by `}}`".into(),
                help: FORMS.into(),
            });
            parts.push(Part::Text(rest[open..].to_string()));
            rest = "";
            break;
        };
        let raw = &after[..close];
        let e = raw.trim();
        match e.split('.').collect::<Vec<_>>().as_slice() {
            ["input"] => parts.push(Part::Input),
            ["previous", "content"] => parts.push(Part::Previous),
            ["steps", name, "content"] => parts.push(Part::Step((*name).to_string())),
            _ => problems.push(Problem {
                expr: format!("{{{{{raw}}}}}"),
                message: format!("`{e}` is not a template expression agno-run knows"),
                help: FORMS.into(),
            }),
        }
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    (Template { source: text.to_string(), parts }, problems)
}

impl Template {
    /// The names of the steps it reads.
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Step(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The text with each expression replaced: `input`, `previous`, and `step(name)` for the
    /// output of a step (empty when it has none).
    pub fn render(&self, input: &str, previous: &str, step: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Input => out.push_str(input),
                Part::Previous => out.push_str(previous),
                Part::Step(name) => out.push_str(&step(name).unwrap_or_default()),
            }
        }
        out
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

    #[test]
    fn templates_parse_into_pieces_and_render() {
        let (t, problems) = parse("Check: {{ steps.draft.content }} for {{input}} after {{ previous.content }}.");
        assert!(problems.is_empty());
        assert_eq!(
            t.parts,
            [
                Part::Text("Check: ".into()),
                Part::Step("draft".into()),
                Part::Text(" for ".into()),
                Part::Input,
                Part::Text(" after ".into()),
                Part::Previous,
                Part::Text(".".into()),
            ]
        );
        assert_eq!(t.steps().collect::<Vec<_>>(), ["draft"]);
        let out = t.render("the topic", "prev", &|n| (n == "draft").then(|| "D".to_string()));
        assert_eq!(out, "Check: D for the topic after prev.");
    }

    #[test]
    fn unknown_and_unclosed_expressions_are_problems() {
        let (_, p) = parse("{{ foo }} and {{ input");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].expr, "{{ foo }}");
        assert!(p[1].message.contains("not closed"));
        let (t, p) = parse("no expressions");
        assert!(p.is_empty());
        assert_eq!(t.render("x", "y", &|_| None), "no expressions");
    }
}
