//! Reading claims the way Vault's JWT method does: a claim name starting with `/` is a JSON
//! pointer into nested claims; numbers compare by their integer text; `bound_claims` values
//! may be lists (any match) and globs; `claim_mappings` copy string claims into metadata.

use coffer_types::Map;
use serde_json::Value;

use coffer_framework::glob;

/// One comparable claim value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scalar {
    Str(String),
    Bool(bool),
    /// A number, by its integer text (Vault truncates floats).
    Num(String),
}

/// A claim by name or JSON pointer; `aud` as a string becomes a list of one.
pub(crate) fn get<'a>(claims: &'a Map, name: &str) -> Option<std::borrow::Cow<'a, Value>> {
    let value = if name.starts_with('/') {
        pointer(claims, name)?
    } else {
        claims.get(name).filter(|v| !v.is_null())?
    };
    if name == "aud" {
        if let Value::String(s) = value {
            return Some(std::borrow::Cow::Owned(Value::Array(vec![Value::String(s.clone())])));
        }
    }
    Some(std::borrow::Cow::Borrowed(value))
}

fn pointer<'a>(claims: &'a Map, pointer: &str) -> Option<&'a Value> {
    let mut parts = pointer.strip_prefix('/')?.split('/');
    let first = unescape(parts.next()?);
    let mut current = claims.get(&first)?;
    for part in parts {
        let part = unescape(part);
        current = match current {
            Value::Object(map) => map.get(&part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!current.is_null()).then_some(current)
}

fn unescape(part: &str) -> String {
    part.replace("~1", "/").replace("~0", "~")
}

fn scalar(value: &Value) -> Option<Scalar> {
    match value {
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => {
            let int = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?;
            Some(Scalar::Num(int.to_string()))
        }
        _ => None,
    }
}

/// A value as a list of scalars: lists as they are, a single scalar as a list of one.
fn normalize(value: &Value) -> Option<Vec<Scalar>> {
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => scalar(other).map(|s| vec![s]),
    }
}

/// Whether a bound claims value has an acceptable shape (scalar or list of scalars; only
/// strings for globs).
pub(crate) fn bound_value_ok(value: &Value, globs: bool) -> bool {
    match normalize(value) {
        Some(items) => !globs || items.iter().all(|s| matches!(s, Scalar::Str(_))),
        None => false,
    }
}

/// Checks every `claim: values` requirement of `bound` against `claims`.
pub(crate) fn check_bound(bound: &Map, globs: bool, claims: &Map) -> Result<(), String> {
    for (claim, expected) in bound {
        let actual = get(claims, claim).ok_or_else(|| format!("claim {claim:?} is missing"))?;
        let actual = normalize(&actual)
            .ok_or_else(|| "received claim is not a string, bool, int or list".to_string())?;
        let expected = normalize(expected)
            .ok_or_else(|| "bound claim is not a string, bool, int or list".to_string())?;
        let found = expected.iter().any(|want| {
            actual.iter().any(|have| match (globs, want, have) {
                (true, Scalar::Str(pattern), Scalar::Str(value)) => glob::matches(pattern, value),
                (true, _, _) => false,
                (false, want, have) => want == have,
            })
        });
        if !found {
            return Err(format!(
                "claim {claim:?} does not match any associated bound claim values"
            ));
        }
    }
    Ok(())
}

/// Token metadata from `claim_mappings` (claim → metadata key); absent claims are skipped,
/// non-string ones are an error.
pub(crate) fn metadata(claims: &Map, mappings: &Map) -> Result<Map, String> {
    let mut out = Map::new();
    for (source, target) in mappings {
        let Some(value) = get(claims, source) else { continue };
        let Value::String(s) = value.as_ref() else {
            return Err(format!("error converting claim '{source}' to string"));
        };
        out.insert(target.as_str().unwrap_or_default().to_string(), Value::String(s.clone()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn names_and_pointers() {
        let c = map(json!({"aud": "api", "a": {"b/c": {"d": 1}}, "l": ["x", "y"], "n": null}));
        assert_eq!(get(&c, "aud").map(|v| v.into_owned()), Some(json!(["api"])));
        assert_eq!(get(&c, "/a/b~1c/d").map(|v| v.into_owned()), Some(json!(1)));
        assert_eq!(get(&c, "/l/1").map(|v| v.into_owned()), Some(json!("y")));
        assert!(get(&c, "/a/missing").is_none());
        assert!(get(&c, "n").is_none());
        assert!(get(&c, "missing").is_none());
    }

    #[test]
    fn bound_claims() {
        let c = map(json!({"env": "prod", "groups": ["a", "b"], "n": 42.0, "ok": true,
                           "nested": {"team": "web-1"}}));
        let check = |b: Value, globs| check_bound(&map(b), globs, &c);
        assert_eq!(check(json!({"env": "prod"}), false), Ok(()));
        assert_eq!(check(json!({"env": ["dev", "prod"]}), false), Ok(()));
        assert_eq!(check(json!({"groups": "b"}), false), Ok(()));
        assert_eq!(check(json!({"n": 42}), false), Ok(()));
        assert_eq!(check(json!({"ok": true}), false), Ok(()));
        assert_eq!(check(json!({"/nested/team": "web-*"}), true), Ok(()));
        assert_eq!(
            check(json!({"env": "dev"}), false),
            Err("claim \"env\" does not match any associated bound claim values".into())
        );
        assert!(check(json!({"/nested/team": "web-*"}), false).is_err());
        assert_eq!(check(json!({"x": "y"}), false), Err("claim \"x\" is missing".into()));
        assert!(bound_value_ok(&json!(["a", 1]), false));
        assert!(!bound_value_ok(&json!(["a", 1]), true));
        assert!(!bound_value_ok(&json!({"a": 1}), false));
    }

    #[test]
    fn claim_mappings() {
        let c = map(json!({"email": "a@b", "n": 1}));
        let m = metadata(&c, &map(json!({"email": "mail", "missing": "x"}))).unwrap_or_default();
        assert_eq!(Value::Object(m), json!({"mail": "a@b"}));
        assert!(metadata(&c, &map(json!({"n": "num"}))).is_err());
    }
}
