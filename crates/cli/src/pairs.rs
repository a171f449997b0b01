//! `k=v` arguments: `k=@file` reads a file, `k=-` reads stdin, repeated keys become lists.

use std::io::Read;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// Parses `k=v` pairs into a JSON object.
pub fn parse_pairs(pairs: &[String]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for pair in pairs {
        let Some((key, raw)) = pair.split_once('=') else {
            bail!("invalid key/value pair {pair:?}: expected key=value");
        };
        if key.is_empty() {
            bail!("invalid key/value pair {pair:?}: empty key");
        }
        let value = if raw == "-" {
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf).context("reading stdin")?;
            buf.trim_end_matches('\n').to_string()
        } else if let Some(file) = raw.strip_prefix('@') {
            std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?
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
    use super::*;
    use serde_json::json;

    #[test]
    fn pairs_become_a_map() {
        let m = parse_pairs(&["a=1".into(), "b=x=y".into(), "a=2".into()]).unwrap_or_default();
        assert_eq!(Value::Object(m), json!({"a": ["1", "2"], "b": "x=y"}));
        assert!(parse_pairs(&["novalue".into()]).is_err());
    }
}
