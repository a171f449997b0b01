//! Printing results the way Vault's CLI does: aligned `Key    Value` tables, `Keys` lists,
//! `== Header ==` lines, JSON, or one raw field. Formatting returns strings so it can be
//! tested; only `emit` and `print_field` write to stdout.

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};

use crate::args::Global;

/// A value as a table cell: strings raw (`n/a` when empty), `null` as `n/a`, string lists as
/// `[a b]`, everything else as JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "n/a".into(),
        Value::String(s) => s.clone(),
        Value::Null => "n/a".into(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            format!("[{}]", items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
        }
        other => other.to_string(),
    }
}

/// Columns separated by four spaces, each as wide as its widest cell; no trailing blanks.
pub fn columns(rows: &[Vec<String>]) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("    ").trim_end());
        out.push('\n');
    }
    out
}

/// A table with a header row and a dashes row (`Key`/`---`).
pub fn table_with(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = vec![
        headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        headers.iter().map(|h| "-".repeat(h.chars().count())).collect(),
    ];
    all.extend(rows);
    columns(&all)
}

/// A `Key    Value` table of rows in the given order.
pub fn table(rows: &[(String, String)]) -> String {
    table_with(&["Key", "Value"], rows.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect())
}

/// A `Key    Value` table of a map, keys sorted.
pub fn map_table(map: &Map<String, Value>) -> String {
    let mut rows: Vec<(String, String)> = map.iter().map(|(k, v)| (k.clone(), cell(v))).collect();
    rows.sort();
    table(&rows)
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

/// `== Title ==` padded with equal signs to `width`, as Vault's `padEqualSigns`.
pub fn header(title: &str, width: usize) -> String {
    let mut signs = width.saturating_sub(title.len() + 2);
    if signs == 0 {
        signs = 4;
    }
    if signs % 2 == 1 {
        signs += 1;
    }
    let side = "=".repeat(signs / 2);
    format!("{side} {title} {side}")
}

/// The header above the table of `map`: as wide as the widest key plus the `Value` column.
pub fn map_header(title: &str, map: &Map<String, Value>) -> String {
    let widest = map.keys().map(String::len).max().unwrap_or(0);
    header(title, widest + 4 + 5)
}

/// Seconds as Vault prints durations: Go's format without zero tails (`768h`, `1h30m`, `90s`
/// as `1m30s`).
pub fn human_duration(secs: i64) -> String {
    let mut s = coffer_types::format_go_duration(secs);
    if s.ends_with("m0s") {
        s.truncate(s.len() - 2);
    }
    if let Some(i) = s.find("h0m") {
        s.replace_range(i + 1..i + 3, "");
    }
    s
}

/// Greedy word wrap at `width` columns, each line prefixed with `indent` (Vault wraps
/// warnings at 80 columns including a two-space indent on both sides).
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines.iter().map(|l| format!("{indent}{l}")).collect::<Vec<_>>().join("\n")
}

/// Pretty JSON.
pub fn json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Prints one field: raw for strings, JSON otherwise (pretty with `-format=json`). Like
/// Vault, no newline is added when stdout is not a terminal, so `> file` gets the bytes.
pub fn print_field(global: &Global, value: &Value) {
    let text = match value {
        Value::String(s) if global.format != "json" => s.clone(),
        other if global.format == "json" => json(other),
        other => other.to_string(),
    };
    let mut stdout = std::io::stdout();
    let newline = if stdout.is_terminal() { "\n" } else { "" };
    let _ = write!(stdout, "{text}{newline}");
}

/// Prints what the user asked for: one field of `fields`, the JSON `whole`, or the table made
/// by `table_of`. Returns the exit code (1 when the field is missing, like Vault).
pub fn emit(
    global: &Global,
    fields: &Map<String, Value>,
    whole: &Value,
    table_of: impl FnOnce() -> String,
) -> u8 {
    if let Some(field) = &global.field {
        return match fields.get(field) {
            Some(value) => {
                print_field(global, value);
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
        let t = table(&[("a".into(), "1".into()), ("long_key".into(), "2".into())]);
        assert_eq!(t, "Key         Value\n---         -----\na           1\nlong_key    2\n");
        let t = table_with(&["Path", "Type"], vec![vec!["sys/".into(), "system".into()]]);
        assert_eq!(t, "Path    Type\n----    ----\nsys/    system\n");
    }

    #[test]
    fn cells_are_raw_strings_or_json() {
        assert_eq!(cell(&json!(["a", "b"])), "[a b]");
        assert_eq!(cell(&json!(null)), "n/a");
        assert_eq!(cell(&json!("")), "n/a");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(cell(&json!({"x": 1})), r#"{"x":1}"#);
        assert_eq!(keys_list(&[json!("a"), json!("b/")]), "Keys\n----\na\nb/\n");
    }

    #[test]
    fn headers_are_padded_like_vault() {
        // Observed from `bao kv get`: the path header is as wide as the path, the others as
        // wide as their table's widest key plus "    Value".
        assert_eq!(header("Secret Path", "secret/data/foo".len()), "= Secret Path =");
        let meta: Map<String, Value> = ["created_time", "custom_metadata", "version"]
            .iter()
            .map(|k| (k.to_string(), json!(1)))
            .collect();
        assert_eq!(map_header("Metadata", &meta), "======= Metadata =======");
        let data: Map<String, Value> = [("bar".to_string(), json!("baz"))].into_iter().collect();
        assert_eq!(map_header("Data", &data), "=== Data ===");
        assert_eq!(header("Long title here", 3), "== Long title here ==");
    }

    #[test]
    fn warnings_wrap_at_eighty_columns() {
        let w = "* Invalid path for a versioned K/V secrets engine. See the API docs for the \
                 appropriate API endpoints to use.";
        assert_eq!(
            wrap(w, 76, "  "),
            "  * Invalid path for a versioned K/V secrets engine. See the API docs for the\n  \
             appropriate API endpoints to use."
        );
    }

    #[test]
    fn durations_print_like_vault() {
        assert_eq!(human_duration(2_764_800), "768h");
        assert_eq!(human_duration(3600), "1h");
        assert_eq!(human_duration(5400), "1h30m");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration(120), "2m");
        assert_eq!(human_duration(3605), "1h5s");
        assert_eq!(human_duration(0), "0s");
    }
}
