//! Request data from arguments, as Vault's CLI builds it: `k=v`; `k=@file` (the file's
//! content); `k=-` (stdin, as is); `k=\@v` (a literal `@v`); `-` or `@file` alone (a JSON
//! object, values keep their types); repeated keys become lists.

use std::io::Read;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::UsageError;

/// Where `-` reads from; a trait so tests need no real stdin.
pub trait Input {
    /// Reads everything.
    fn read_all(&mut self) -> Result<String>;
}

/// The process's stdin.
pub struct Stdin;

impl Input for Stdin {
    fn read_all(&mut self) -> Result<String> {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf).context("reading stdin")?;
        Ok(buf)
    }
}

/// Parses data arguments into a JSON object, reading `-` from stdin.
pub fn parse_pairs(pairs: &[String]) -> Result<Map<String, Value>> {
    parse_pairs_from(pairs, &mut Stdin)
}

/// Parses data arguments, reading `-` from `input` (at most once).
pub fn parse_pairs_from(pairs: &[String], input: &mut dyn Input) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut stdin_used = false;
    let mut stdin = |input: &mut dyn Input| -> Result<String> {
        if std::mem::replace(&mut stdin_used, true) {
            return Err(UsageError("stdin already consumed".into()).into());
        }
        input.read_all()
    };
    for pair in pairs.iter().filter(|p| !p.is_empty()) {
        let Some((key, raw)) = pair.split_once('=') else {
            let text = if pair == "-" {
                stdin(input)?
            } else if let Some(file) = pair.strip_prefix('@') {
                std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
            } else {
                return Err(UsageError(format!(
                    "invalid key/value pair {pair:?}: format must be key=value"
                ))
                .into());
            };
            let object: Map<String, Value> = serde_json::from_str(&text)
                .map_err(|e| UsageError(format!("invalid JSON object in {pair:?}: {e}")))?;
            out.extend(object);
            continue;
        };
        let value = if raw == "-" {
            stdin(input)?
        } else if let Some(file) = raw.strip_prefix('@') {
            std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
        } else if let Some(literal) = raw.strip_prefix('\\').filter(|r| r.starts_with('@')) {
            literal.to_string()
        } else {
            raw.to_string()
        };
        match out.get_mut(key) {
            Some(Value::Array(items)) => items.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                out.insert(key.to_string(), Value::String(value));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Fake(&'static str);

    impl Input for Fake {
        fn read_all(&mut self) -> Result<String> {
            Ok(self.0.to_string())
        }
    }

    fn parse(args: &[&str], stdin: &'static str) -> Result<Value> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse_pairs_from(&args, &mut Fake(stdin)).map(Value::Object)
    }

    #[test]
    fn pairs_become_a_map_and_repeats_a_list() {
        let m = parse(&["a=1", "b=x=y", "a=2", "c=\\@lit", "e="], "").ok();
        assert_eq!(m, Some(json!({"a": ["1", "2"], "b": "x=y", "c": "@lit", "e": ""})));
        assert!(parse(&["novalue"], "").is_err());
    }

    #[test]
    fn stdin_and_files_are_read() {
        assert_eq!(parse(&["pw=-"], "s3cret\n").ok(), Some(json!({"pw": "s3cret\n"})));
        let typed = parse(&["-", "x=1"], r#"{"n": 5, "o": {"k": true}}"#).ok();
        assert_eq!(typed, Some(json!({"n": 5, "o": {"k": true}, "x": "1"})));
        assert!(parse(&["a=-", "b=-"], "x").is_err(), "stdin is read once");
        assert!(parse(&["-"], "[1]").is_err(), "stdin JSON must be an object");

        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("v.json");
        std::fs::write(&file, r#"{"z": [1, 2]}"#).unwrap_or_else(|e| panic!("{e}"));
        let f = file.display().to_string();
        assert_eq!(parse(&[&format!("@{f}")], "").ok(), Some(json!({"z": [1, 2]})));
        assert_eq!(
            parse(&[&format!("raw=@{f}")], "").ok(),
            Some(json!({"raw": "{\"z\": [1, 2]}"}))
        );
    }
}
