//! Text PostgreSQL refuses: the NUL character. A `TEXT` value cannot hold it at all, and
//! `jsonb` refuses the `\u0000` escape, so one NUL in an e-mail body made its whole batch
//! fail. Webhooks are customer data that we must store, not judge, so every NUL in a row
//! (in text columns and anywhere inside JSON, keys included) becomes U+FFFD, the
//! replacement character, before any backend sees it.
//!
//! Replaced rather than dropped: U+FFFD is Unicode's own mark for "a character that could
//! not be represented", so a reader sees that something was there, and removing the NUL
//! would silently join the text around it. Done for every backend, so that the warehouse
//! holds the same text whichever one it runs on.

use serde_json::{Map, Value};

const NUL: char = '\0';
const REPLACEMENT: &str = "\u{FFFD}";

/// Whether any string of these rows (values or keys, at any depth) holds a NUL. The common
/// case (none) costs one scan and no copy.
pub(super) fn any(rows: &[Map<String, Value>]) -> bool {
    rows.iter().any(object_has)
}

/// The rows with every NUL replaced by U+FFFD.
pub(super) fn replaced(rows: &[Map<String, Value>]) -> Vec<Map<String, Value>> {
    rows.iter().map(replace_object).collect()
}

fn object_has(m: &Map<String, Value>) -> bool {
    m.iter().any(|(k, v)| k.contains(NUL) || value_has(v))
}

fn value_has(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(NUL),
        Value::Array(a) => a.iter().any(value_has),
        Value::Object(m) => object_has(m),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn replace_object(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| (replace_str(k), replace_value(v)))
        .collect()
}

fn replace_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(replace_str(s)),
        Value::Array(a) => Value::Array(a.iter().map(replace_value).collect()),
        Value::Object(m) => Value::Object(replace_object(m)),
        other => other.clone(),
    }
}

fn replace_str(s: &str) -> String {
    s.replace(NUL, REPLACEMENT)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(v: Value) -> Vec<Map<String, Value>> {
        vec![v.as_object().unwrap().clone()]
    }

    #[test]
    fn nul_anywhere_is_found_and_replaced() {
        let dirty = rows(json!({
            "subject": "a\u{0}b",
            "payload": {"list": [1, {"k\u{0}": "x"}], "ok": "plain"},
        }));
        assert!(any(&dirty));
        let clean = replaced(&dirty);
        assert!(!any(&clean));
        assert_eq!(clean[0]["subject"], json!("a\u{FFFD}b"));
        assert_eq!(clean[0]["payload"]["list"][1]["k\u{FFFD}"], json!("x"));
        assert_eq!(clean[0]["payload"]["ok"], json!("plain"));
    }

    #[test]
    fn rows_without_nul_are_left_alone() {
        let plain = rows(json!({"subject": "hello", "n": 3, "j": {"a": [true, null]}}));
        assert!(!any(&plain));
    }
}
