//! JSON column helpers shared by the backends: reading Agno 2.x's double-encoded values and
//! Agno's deep merge of session state.

use serde_json::Value;

/// Parses a JSON column's text. Agno 2.x on SQLite stored JSON as a JSON string literal
/// holding the JSON text ("double-encoded"); such a value is decoded twice. Text that is not
/// JSON at all is returned as a JSON string.
pub fn decode_json(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(inner),
        },
        Ok(v) => v,
        Err(_) => Value::String(text.to_string()),
    }
}

/// Deep-merges `patch` into `base` as Agno merges session state: objects merge key by key,
/// recursively; any other value replaces.
pub fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn double_encoded_json_from_agno_2_is_read_as_json() {
        assert_eq!(decode_json(r#""{\"session_state\": {\"a\": 1}}""#), json!({"session_state": {"a": 1}}));
        assert_eq!(decode_json(r#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(decode_json(r#""likes tea""#), json!("likes tea"));
        assert_eq!(decode_json(r#""[\"food\"]""#), json!(["food"]));
        assert_eq!(decode_json("not json"), json!("not json"));
    }

    #[test]
    fn deep_merge_merges_objects_and_replaces_the_rest() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "b": [1], "c": 1});
        deep_merge(&mut base, &json!({"a": {"y": 3, "z": 4}, "b": [2], "d": null}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3, "z": 4}, "b": [2], "c": 1, "d": null}));
    }
}
