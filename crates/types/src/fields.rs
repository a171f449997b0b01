//! Vault's weak typing of request fields: the CLI sends every `k=v` as a string, so ints, bools
//! and lists arrive as strings and are coerced once, here.

use serde_json::Value;

use crate::{Error, Map};

fn conversion_error(field: &str, what: &str) -> Error {
    Error::invalid(format!("error converting input for field \"{field}\": {what}"))
}

/// A string field: strings as they are, numbers and bools stringified.
pub fn coerce_string(field: &str, value: &Value) -> Result<String, Error> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(conversion_error(field, "expected a string")),
    }
}

/// An int field: a JSON number or a numeric string.
pub fn coerce_int(field: &str, value: &Value) -> Result<i64, Error> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| conversion_error(field, "expected an integer")),
        Value::String(s) if s.trim().is_empty() => Ok(0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| conversion_error(field, &format!("cannot parse '{s}' as int"))),
        _ => Err(conversion_error(field, "expected an integer")),
    }
}

/// A bool field: a JSON bool, or `true/false/1/0/t/f` (any case) as a string or number.
pub fn coerce_bool(field: &str, value: &Value) -> Result<bool, Error> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(conversion_error(field, "expected a bool")),
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Ok(true),
            "0" | "f" | "false" | "" => Ok(false),
            other => Err(conversion_error(field, &format!("cannot parse '{other}' as bool"))),
        },
        _ => Err(conversion_error(field, "expected a bool")),
    }
}

/// A list field: a JSON array (of strings or numbers) or a comma-separated string, trimmed,
/// with empty items dropped.
pub fn coerce_string_list(field: &str, value: &Value) -> Result<Vec<String>, Error> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => {
            Ok(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
        }
        Value::Array(items) => items
            .iter()
            .map(|item| coerce_string(field, item).map(|s| s.trim().to_string()))
            .filter(|r| r.as_ref().map(|s| !s.is_empty()).unwrap_or(true))
            .collect(),
        Value::Number(_) | Value::Bool(_) => Ok(vec![coerce_string(field, value)?]),
        Value::Object(_) => Err(conversion_error(field, "expected a list")),
    }
}

/// A map of strings: a JSON object whose values are strings (numbers and bools stringified),
/// or a JSON-encoded object inside a string.
pub fn coerce_string_map(field: &str, value: &Value) -> Result<Map, Error> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), Value::String(coerce_string(field, v)?))))
            .collect(),
        Value::String(s) if s.trim().is_empty() => Ok(Map::new()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ Value::Object(_)) => coerce_string_map(field, &inner),
            _ => Err(conversion_error(field, "expected a map")),
        },
        _ => Err(conversion_error(field, "expected a map")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn coerces_cli_strings() {
        assert_eq!(coerce_int("n", &json!("7")).ok(), Some(7));
        assert_eq!(coerce_bool("b", &json!("t")).ok(), Some(true));
        assert!(
            coerce_bool("bind_secret_id", &json!("maybe"))
                .unwrap_err()
                .to_string()
                .contains("bind_secret_id")
        );
        assert_eq!(
            coerce_string_list("l", &json!("a, b ,c")).ok(),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(coerce_string("s", &json!(123)).ok(), Some("123".into()));
        assert_eq!(coerce_string_map("m", &json!("{\"a\":\"b\"}")).ok().map(|m| m.len()), Some(1));
    }
}
