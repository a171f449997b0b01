//! Printing results the way Vault's CLI does: aligned `Key  Value` tables, `Keys` lists,
//! JSON, or one raw field.

use serde_json::{Map, Value};

use crate::args::Global;

/// A value as a table cell: strings raw, null as `n/a`, the rest as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "n/a".into(),
        Value::String(s) => s.clone(),
        Value::Null => "n/a".into(),
        Value::Array(items) if items.iter().all(|v| v.is_string()) => {
            format!("[{}]", items.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// A two-column table with a header, keys in the given order.
pub fn table(rows: &[(String, String)], headers: (&str, &str)) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).chain([headers.0.len()]).max().unwrap_or(0);
    let mut out = format!("{:<width$}    {}\n", headers.0, headers.1);
    out.push_str(&format!(
        "{:<width$}    {}\n",
        "-".repeat(headers.0.len()),
        "-".repeat(headers.1.len())
    ));
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$}    {v}\n"));
    }
    out
}

/// A `Key  Value` table of a map, keys sorted.
pub fn map_table(map: &Map<String, Value>) -> String {
    let mut rows: Vec<(String, String)> = map.iter().map(|(k, v)| (k.clone(), cell(v))).collect();
    rows.sort();
    table(&rows, ("Key", "Value"))
}

/// A `Keys` list.
pub fn keys_list(keys: &[Value]) -> String {
    let mut out = String::from("Keys\n----\n");
    for k in keys {
        out.push_str(&cell(k));
        out.push('\n');
    }
    out
}

/// Pretty JSON.
pub fn json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Prints `value` as the user asked: one field, JSON, or the table made by `table_of`.
/// Returns the exit code (2 when the requested field is missing).
pub fn emit(
    global: &Global,
    field_source: &Map<String, Value>,
    whole: &Value,
    table_of: impl FnOnce() -> String,
) -> u8 {
    if let Some(field) = &global.field {
        return match field_source.get(field) {
            Some(Value::String(s)) => {
                println!("{s}");
                0
            }
            Some(other) => {
                println!("{}", other);
                0
            }
            None => {
                eprintln!("Field \"{field}\" not present in secret");
                1
            }
        };
    }
    if global.format == "json" {
        println!("{}", json(whole));
    } else {
        print!("{}", table_of());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_like_vault() {
        let t =
            table(&[("a".into(), "1".into()), ("long_key".into(), "2".into())], ("Key", "Value"));
        assert_eq!(t, "Key         Value\n---         -----\na           1\nlong_key    2\n");
        assert_eq!(cell(&json!(["a", "b"])), "[a b]");
        assert_eq!(cell(&json!(null)), "n/a");
        assert_eq!(cell(&json!(3)), "3");
    }
}
