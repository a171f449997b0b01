//! From policy text (HCL or JSON) to a list of `(pattern, fields)` entries, the fields as a JSON
//! object. Both syntaxes meet here so that the rules are built by one piece of code.
//!
//! Accepted shapes:
//! - HCL: `path "<pattern>" { ... }` blocks (HCL v1 forms are rewritten by [`crate::hcl1`] when
//!   the text does not parse as HCL v2), or a `path = { "<pattern>" = { ... } }` attribute;
//! - JSON: `{"path": {"<pattern>": {...}}}`, where a value may also be a list of objects, as
//!   HCL v1's JSON decoder allows.
//!
//! A top-level `name` is accepted and ignored; any other top-level key is an error.

use hcl::{Body, Expression, ObjectKey, Structure};
use serde_json::Value;

use coffer_types::Map;

use crate::PolicyError;
use crate::hcl1;

/// One `path` stanza: the pattern as written and its fields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub pattern: String,
    pub fields: Map,
}

/// Parses policy text into its path stanzas, in order.
pub(crate) fn parse_document(text: &str) -> Result<Vec<Entry>, PolicyError> {
    if text.trim_start().starts_with('{') {
        let value: Value =
            serde_json::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        return top_level_json(value);
    }
    let body = match hcl::parse(text) {
        Ok(body) => body,
        Err(first) => match hcl1::normalize(text).and_then(|t| hcl::parse(&t).ok()) {
            Some(body) => body,
            None => return Err(PolicyError::Syntax(hcl_message(&first))),
        },
    };
    top_level_hcl(&body)
}

/// A one-line message in the style of Vault's HCL errors: `At 2:37: <what>`.
fn hcl_message(err: &hcl::Error) -> String {
    match err {
        hcl::Error::Parse(e) => {
            format!("At {}:{}: {}", e.location().line(), e.location().column(), e.message())
        }
        other => other.to_string(),
    }
}

fn top_level_hcl(body: &Body) -> Result<Vec<Entry>, PolicyError> {
    let mut entries = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) if attr.key.as_str() == "name" => {}
            Structure::Attribute(attr) if attr.key.as_str() == "path" => {
                entries.extend(path_map(expr_to_value(&attr.expr)?)?);
            }
            Structure::Block(block) if block.identifier.as_str() == "path" => {
                let [label] = block.labels.as_slice() else {
                    return Err(PolicyError::Syntax("path block needs exactly one label".into()));
                };
                entries.push(Entry {
                    pattern: label.as_str().to_owned(),
                    fields: body_to_map(&block.body)?,
                });
            }
            Structure::Attribute(attr) => {
                return Err(PolicyError::InvalidKey { path: None, key: attr.key.to_string() });
            }
            Structure::Block(block) => {
                return Err(PolicyError::InvalidKey {
                    path: None,
                    key: block.identifier.to_string(),
                });
            }
        }
    }
    Ok(entries)
}

fn top_level_json(value: Value) -> Result<Vec<Entry>, PolicyError> {
    let Value::Object(top) = value else {
        return Err(PolicyError::Syntax("does not contain a root object".into()));
    };
    let mut entries = Vec::new();
    for (key, value) in top {
        match key.as_str() {
            "name" => {}
            "path" => entries.extend(path_map(value)?),
            _ => return Err(PolicyError::InvalidKey { path: None, key }),
        }
    }
    Ok(entries)
}

/// `{"<pattern>": {fields}}`, or a list of such objects; a pattern's value may itself be a list
/// of field objects.
fn path_map(value: Value) -> Result<Vec<Entry>, PolicyError> {
    let mut entries = Vec::new();
    match value {
        Value::Object(paths) => {
            for (pattern, fields) in paths {
                match fields {
                    Value::Object(fields) => entries.push(Entry { pattern, fields }),
                    Value::Array(items) => {
                        for item in items {
                            let Value::Object(fields) = item else {
                                return Err(PolicyError::Syntax(format!(
                                    "path {pattern:?}: expected an object"
                                )));
                            };
                            entries.push(Entry { pattern: pattern.clone(), fields });
                        }
                    }
                    _ => {
                        return Err(PolicyError::Syntax(format!(
                            "path {pattern:?}: expected an object"
                        )));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                entries.extend(path_map(item)?);
            }
        }
        _ => return Err(PolicyError::Syntax("path: expected an object".into())),
    }
    Ok(entries)
}

/// A block body as a JSON object: attributes become keys, nested blocks become objects (nested
/// under their labels, if any).
fn body_to_map(body: &Body) -> Result<Map, PolicyError> {
    let mut map = Map::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attr) => {
                map.insert(attr.key.to_string(), expr_to_value(&attr.expr)?);
            }
            Structure::Block(block) => {
                let mut value = Value::Object(body_to_map(&block.body)?);
                for label in block.labels.iter().rev() {
                    let mut wrapper = Map::new();
                    wrapper.insert(label.as_str().to_owned(), value);
                    value = Value::Object(wrapper);
                }
                map.insert(block.identifier.to_string(), value);
            }
        }
    }
    Ok(map)
}

/// Literal HCL expressions as JSON. Policies are data: variables, function calls and the
/// like are rejected; a quoted template is taken literally (HCL v1 did not evaluate it either).
fn expr_to_value(expr: &Expression) -> Result<Value, PolicyError> {
    Ok(match expr {
        Expression::Null => Value::Null,
        Expression::Bool(b) => Value::Bool(*b),
        Expression::Number(n) => number_to_value(n),
        Expression::String(s) => Value::String(s.clone()),
        Expression::Array(items) => {
            Value::Array(items.iter().map(expr_to_value).collect::<Result<_, _>>()?)
        }
        Expression::Object(object) => {
            let mut map = Map::new();
            for (key, value) in object {
                let key = match key {
                    ObjectKey::Identifier(id) => id.to_string(),
                    ObjectKey::Expression(Expression::String(s)) => s.clone(),
                    ObjectKey::Expression(Expression::TemplateExpr(t)) => t.to_string(),
                    ObjectKey::Expression(other) => {
                        return Err(PolicyError::Syntax(format!("unsupported object key {other}")));
                    }
                    _ => return Err(PolicyError::Syntax("unsupported object key".into())),
                };
                map.insert(key, expr_to_value(value)?);
            }
            Value::Object(map)
        }
        Expression::TemplateExpr(t) => Value::String(t.to_string()),
        Expression::Parenthesis(inner) => expr_to_value(inner)?,
        other => return Err(PolicyError::Syntax(format!("unsupported expression {other}"))),
    })
}

fn number_to_value(n: &hcl::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entries(text: &str) -> Vec<(String, Value)> {
        match parse_document(text) {
            Ok(entries) => {
                entries.into_iter().map(|e| (e.pattern, Value::Object(e.fields))).collect()
            }
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn hcl_blocks_become_entries() {
        let got = entries(
            "name = \"x\"\npath \"secret/*\" {\n  capabilities = [\"read\"]\n  max_wrapping_ttl = 90\n}",
        );
        assert_eq!(
            got,
            [("secret/*".to_owned(), json!({"capabilities": ["read"], "max_wrapping_ttl": 90}))]
        );
    }

    #[test]
    fn hcl_v1_forms_parse() {
        let got =
            entries("path \"a\" { allowed_parameters { \"foo\" = [] \"bar\" = [\"x\", 1] } }");
        assert_eq!(
            got,
            [("a".to_owned(), json!({"allowed_parameters": {"foo": [], "bar": ["x", 1]}}))]
        );
        let got = entries("path \"a\" { capabilities = [\"read\"], policy = \"read\" }");
        assert_eq!(got, [("a".to_owned(), json!({"capabilities": ["read"], "policy": "read"}))]);
    }

    #[test]
    fn path_attribute_form_parses() {
        let got = entries("path = {\n  \"a\" = { capabilities = [\"list\"] }\n}");
        assert_eq!(got, [("a".to_owned(), json!({"capabilities": ["list"]}))]);
    }

    #[test]
    fn json_forms_parse() {
        let got = entries(r#"{"path":{"secret/foo":{"capabilities":["read"]}}}"#);
        assert_eq!(got, [("secret/foo".to_owned(), json!({"capabilities": ["read"]}))]);
        let got =
            entries(r#"{"name":"n","path":[{"a":[{"policy":"read"},{"capabilities":["list"]}]}]}"#);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn unknown_top_level_keys_are_rejected() {
        assert_eq!(
            parse_document("paths \"a\" { }"),
            Err(PolicyError::InvalidKey { path: None, key: "paths".into() })
        );
        assert!(matches!(parse_document(r#"{"x": 1}"#), Err(PolicyError::InvalidKey { .. })));
        assert!(matches!(parse_document("path \"a\" \"b\" { }"), Err(PolicyError::Syntax(_))));
    }

    #[test]
    fn syntax_errors_have_a_location() {
        match parse_document("path \"a\" {\n  capabilities = [\"read\"\n}") {
            Err(PolicyError::Syntax(msg)) => assert!(msg.starts_with("At "), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_document("{not json"), Err(PolicyError::Syntax(_))));
        assert!(matches!(parse_document("path \"a\" { x = var.y }"), Err(PolicyError::Syntax(_))));
    }
}
