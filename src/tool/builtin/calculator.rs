//! The `calculator` tool: arithmetic on f64 through a small recursive-descent parser whose every
//! recursive path (parentheses, signs, powers, function calls) is bounded, so that no expression
//! a model writes can exhaust the stack: too deep is an error for the model.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::ToolSpec;
use crate::tool::{Tool, ToolContext, ToolError, string_arg};

/// Deepest nesting of parentheses, signs, powers and calls together.
const MAX_DEPTH: u32 = 200;

/// `calculator`.
#[derive(Debug)]
pub struct Calculator {
    spec: ToolSpec,
}

impl Default for Calculator {
    fn default() -> Self {
        Calculator {
            spec: ToolSpec {
                name: "calculator".into(),
                description: "Evaluates an arithmetic expression: + - * / % ^, parentheses, sqrt, abs, ln, log10, exp, sin, cos, tan, floor, ceil, round, pi, e.".into(),
                parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}),
            },
        }
    }
}

impl Tool for Calculator {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: Value, _ctx: ToolContext) -> BoxFuture<'_, Result<String, ToolError>> {
        Box::pin(async move {
            let expr = string_arg(&args, "expression")?;
            eval(expr).map(format).map_err(ToolError::Failed)
        })
    }
}

/// Evaluates `expr`; the error says what is wrong and where.
pub fn eval(expr: &str) -> Result<f64, String> {
    let mut p = Parser { s: expr.as_bytes(), i: 0, depth: 0 };
    let v = p.sum()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(format!("unexpected `{}` at position {}", p.s[p.i] as char, p.i + 1));
    }
    if !v.is_finite() {
        return Err("the result is not a finite number (division by zero?)".into());
    }
    Ok(v)
}

/// Formats a result without a trailing `.0` for whole numbers.
pub fn format(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn sum(&mut self) -> Result<f64, String> {
        let mut v = self.product()?;
        loop {
            if self.eat(b'+') {
                v += self.product()?;
            } else if self.eat(b'-') {
                v -= self.product()?;
            } else {
                return Ok(v);
            }
        }
    }

    fn product(&mut self) -> Result<f64, String> {
        let mut v = self.power()?;
        loop {
            if self.eat(b'*') {
                v *= self.power()?;
            } else if self.eat(b'/') {
                v /= self.power()?;
            } else if self.eat(b'%') {
                v %= self.power()?;
            } else {
                return Ok(v);
            }
        }
    }

    /// Runs `f` one level deeper; past [`MAX_DEPTH`] levels it is an error, not a recursion.
    fn deeper(&mut self, f: impl FnOnce(&mut Self) -> Result<f64, String>) -> Result<f64, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "the expression nests too deeply (more than {MAX_DEPTH} levels of parentheses, signs, powers or calls)"
            ));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn power(&mut self) -> Result<f64, String> {
        let base = self.unary()?;
        if self.eat(b'^') {
            let exp = self.deeper(Self::power)?;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<f64, String> {
        if self.eat(b'-') {
            return Ok(-self.deeper(Self::unary)?);
        }
        if self.eat(b'+') {
            return self.deeper(Self::unary);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<f64, String> {
        self.ws();
        self.deeper(Self::atom_inner)
    }

    fn atom_inner(&mut self) -> Result<f64, String> {
        if self.eat(b'(') {
            let v = self.sum()?;
            if !self.eat(b')') {
                return Err(format!("missing `)` at position {}", self.i + 1));
            }
            return Ok(v);
        }
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'.') {
            self.i += 1;
        }
        if self.i > start {
            if self.i < self.s.len() && matches!(self.s[self.i], b'e' | b'E') {
                let save = self.i;
                self.i += 1;
                if self.i < self.s.len() && matches!(self.s[self.i], b'+' | b'-') {
                    self.i += 1;
                }
                let digits = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                if self.i == digits {
                    self.i = save;
                }
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default();
            return text.parse().map_err(|_| format!("`{text}` is not a number"));
        }
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
            self.i += 1;
        }
        let name = std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default().to_ascii_lowercase();
        match name.as_str() {
            "" => Err(match self.s.get(self.i) {
                Some(c) => format!("unexpected `{}` at position {}", *c as char, self.i + 1),
                None => "the expression ends too early".into(),
            }),
            "pi" => Ok(std::f64::consts::PI),
            "e" => Ok(std::f64::consts::E),
            f => {
                if !self.eat(b'(') {
                    return Err(format!("unknown name `{f}`"));
                }
                let x = self.sum()?;
                if !self.eat(b')') {
                    return Err(format!("missing `)` after the argument of `{f}`"));
                }
                Ok(match f {
                    "sqrt" => x.sqrt(),
                    "abs" => x.abs(),
                    "ln" => x.ln(),
                    "log10" | "log" => x.log10(),
                    "exp" => x.exp(),
                    "sin" => x.sin(),
                    "cos" => x.cos(),
                    "tan" => x.tan(),
                    "floor" => x.floor(),
                    "ceil" => x.ceil(),
                    "round" => x.round(),
                    _ => return Err(format!("unknown function `{f}`")),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_follows_precedence() {
        assert_eq!(eval("1 + 2 * 3").unwrap(), 7.0);
        assert_eq!(eval("(1 + 2) * 3").unwrap(), 9.0);
        assert_eq!(eval("2 ^ 3 ^ 2").unwrap(), 512.0);
        assert_eq!(eval("-2 ^ 2").unwrap(), 4.0);
        assert_eq!(eval("10 % 4 + sqrt(16)").unwrap(), 6.0);
        assert_eq!(eval("1.5e3 / 3").unwrap(), 500.0);
        assert_eq!(format(eval("2 * pi").unwrap()), "6.283185307179586");
        assert_eq!(format(eval("3").unwrap()), "3");
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert!(eval("1 +").unwrap_err().contains("ends too early"));
        assert!(eval("1 / 0").unwrap_err().contains("finite"));
        assert!(eval("foo(1)").unwrap_err().contains("unknown function"));
        assert!(eval("(1").unwrap_err().contains("missing `)`"));
        assert!(eval("1 1").unwrap_err().contains("unexpected"));
        assert!(eval(&"(".repeat(1000)).is_err());
    }

    #[test]
    fn deep_signs_powers_and_calls_are_errors_not_stack_overflows() {
        // Each of these recursed once per character before (50,000 `-` aborted the process).
        for hostile in [
            format!("{}1", "-".repeat(50_000)),
            format!("{}1", "+".repeat(50_000)),
            format!("1{}", "^1".repeat(50_000)),
            format!("{}1{}", "sqrt(".repeat(50_000), ")".repeat(50_000)),
            format!("{}1{}", "(-".repeat(50_000), ")".repeat(50_000)),
        ] {
            let e = eval(&hostile).unwrap_err();
            assert!(e.contains("too deeply"), "{e}");
        }
        assert_eq!(eval(&format!("{}1", "-".repeat(100))).unwrap(), 1.0);
    }
}
