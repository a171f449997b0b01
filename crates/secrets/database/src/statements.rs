//! SQL statements as roles carry them: parsed from the forms clients send, split into queries
//! the way Vault splits them, and templated (`{{name}}`, `{{password}}`, `{{expiration}}`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{Error, Result, coerce_string};
use serde_json::Value;

/// Parses a statements parameter: a JSON list, a JSON-array string, a plain string (kept as
/// one element: splitting happens at execution), or base64 of either.
pub(crate) fn parse(field: &str, value: &Value) -> Result<Vec<String>> {
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => {
            items.iter().map(|item| coerce_string(field, item)).collect::<Result<Vec<_>>>()?
        }
        Value::String(s) => {
            let text = decode_base64(s.trim()).unwrap_or_else(|| s.clone());
            match serde_json::from_str::<Vec<String>>(text.trim()) {
                Ok(list) if text.trim_start().starts_with('[') => list,
                _ => vec![text],
            }
        }
        _ => {
            return Err(Error::invalid(format!(
                "error converting input for field \"{field}\": expected a list of statements"
            )));
        }
    };
    Ok(items.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
}

/// The text behind a base64 string, when it is one (SQL never is: it has spaces).
fn decode_base64(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    let bytes = STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

/// The queries of one statement: split on `;`, unless it holds the word `END` outside quotes
/// (a `DO $$ BEGIN ... END $$` block), which runs as it is. Empty parts are skipped.
pub(crate) fn split(statement: &str) -> Vec<String> {
    if has_end_keyword(statement) {
        return vec![statement.trim().to_string()];
    }
    statement.split(';').map(str::trim).filter(|q| !q.is_empty()).map(String::from).collect()
}

/// Whether `END` appears as a whole word outside single- and double-quoted text.
fn has_end_keyword(statement: &str) -> bool {
    let mut outside = String::with_capacity(statement.len());
    let mut quote: Option<char> = None;
    for c in statement.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                outside.push(' ');
            }
            None => outside.push(c),
        }
    }
    outside.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| word == "END")
}

/// Replaces each `{{key}}` by its value; other text is left as it is.
pub(crate) fn render(query: &str, vars: &[(&str, &str)]) -> String {
    let mut out = query.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Every query of `statements`, split and then templated (split first, so that a value never
/// splits a query).
pub(crate) fn queries(statements: &[String], vars: &[(&str, &str)]) -> Vec<String> {
    statements.iter().flat_map(|s| split(s)).map(|q| render(&q, vars)).collect()
}

/// A double-quoted SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Unix seconds in the `{{expiration}}` format, `2006-01-02 15:04:05-0700` in UTC.
pub(crate) fn format_expiration(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}+0000", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The proleptic Gregorian date of a count of days since 1970-01-01 (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_input_form() {
        let one = "CREATE ROLE \"{{name}}\"; GRANT x TO \"{{name}}\";";
        assert_eq!(parse("s", &json!(one)).ok(), Some(vec![one.to_string()]));
        assert_eq!(parse("s", &json!(["a", " ", "b"])).ok(), Some(vec!["a".into(), "b".into()]));
        assert_eq!(parse("s", &json!("[\"a\",\"b\"]")).ok(), Some(vec!["a".into(), "b".into()]));
        let b64 = STANDARD.encode(one);
        assert_eq!(parse("s", &json!(b64)).ok(), Some(vec![one.to_string()]));
        let b64_list = STANDARD.encode("[\"x\",\"y\"]");
        assert_eq!(parse("s", &json!(b64_list)).ok(), Some(vec!["x".into(), "y".into()]));
        assert_eq!(parse("s", &json!(null)).ok(), Some(vec![]));
        assert!(parse("s", &json!({"a": 1})).is_err());
        // A comma inside a statement is not a list separator.
        assert_eq!(
            parse("s", &json!("GRANT SELECT, INSERT ON t TO u")).ok().map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn splits_like_vault() {
        assert_eq!(split("A; B ;; C;"), vec!["A", "B", "C"]);
        let block = "DO $$ BEGIN CREATE ROLE x; EXCEPTION WHEN others THEN NULL; END $$;";
        assert_eq!(split(block), vec![block.to_string()]);
        assert_eq!(split("SELECT 'END'; SELECT 1"), vec!["SELECT 'END'", "SELECT 1"]);
        assert_eq!(split("SELECT \"END\"; SELECT 1").len(), 2);
        assert_eq!(split("SELECT ENDING; SELECT 1").len(), 2);
        assert_eq!(split("select end; select 1").len(), 2, "case-sensitive");
    }

    #[test]
    fn renders_after_splitting() {
        let stmts = vec!["CREATE ROLE \"{{name}}\" PASSWORD '{{password}}'; SELECT 1".to_string()];
        let q = queries(&stmts, &[("name", "v-a"), ("password", "p;w")]);
        assert_eq!(q, vec!["CREATE ROLE \"v-a\" PASSWORD 'p;w'", "SELECT 1"]);
        assert_eq!(render("{{ name }}", &[("name", "x")]), "{{ name }}");
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("v-a"), "\"v-a\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn expiration_format() {
        assert_eq!(format_expiration(0), "1970-01-01 00:00:00+0000");
        assert_eq!(format_expiration(1_795_887_783), "2026-11-28 17:43:03+0000");
        assert_eq!(format_expiration(951_782_400), "2000-02-29 00:00:00+0000");
    }
}
