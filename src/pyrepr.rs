//! Python's `repr()` of JSON values: how Agno writes a dict into a prompt or a tool result
//! (`<session_state>` in a system message, `Updated session state: {...}`), so that a model sees
//! what it would see under Python Agno.

use serde_json::Value;

/// Python's `datetime.isoformat()` of a naive UTC time, microseconds always written:
/// `2026-12-04T19:02:51.687428`. Callers add the offset Agno writes where it writes one
/// (`+00:00` in trace rows, `Z` in AgentOS answers).
pub fn isoformat(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// `repr(value)` as Python writes it for the same data (dict, list, str, int, float, bool, None).
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out, 0);
    out
}

/// Deeper than this, the rest is written as `...` (as Python does for recursive data).
const MAX_DEPTH: usize = 64;

fn write(value: &Value, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("...");
        return;
    }
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => string(s, out),
        Value::Array(list) => {
            out.push('[');
            for (i, v) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(v, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(k, out);
                out.push_str(": ");
                write(v, out, depth + 1);
            }
            out.push('}');
        }
    }
}

/// Python's float repr: the shortest round-trip digits, always with a `.` or an exponent.
fn float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python: 1e+16, 1.5e-05.
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Python's str repr: single quotes unless the text holds a `'` and no `"`.
fn string(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dicts_lists_strings_and_numbers_read_as_python_writes_them() {
        let v = json!({"counter": 11, "visited": ["a", "b"], "ok": true, "none": null, "f": 1.0, "q": "it's", "both": "'\"", "nl": "a\nb"});
        assert_eq!(
            repr(&v),
            r#"{'counter': 11, 'visited': ['a', 'b'], 'ok': True, 'none': None, 'f': 1.0, 'q': "it's", 'both': '\'"', 'nl': 'a\nb'}"#
        );
        assert_eq!(repr(&json!(1e16)), "1e+16");
        assert_eq!(repr(&json!(0.5)), "0.5");
        assert_eq!(repr(&json!(1.5e-5)), "1.5e-05");
    }

    #[test]
    fn deep_data_is_cut_not_overflowed() {
        let mut v = json!(1);
        for _ in 0..200 {
            v = json!([v]);
        }
        assert!(repr(&v).contains("..."));
    }
}
