//! Parameter constraints of a path rule (`allowed_parameters`, `denied_parameters`,
//! `required_parameters`): how they merge across policies and how a request's parameters are
//! checked against them. Only read, create, update and patch requests are checked (§14.3).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use coffer_types::Map;

/// The parameter constraints of one rule. Keys of `allowed` and `denied` are lower-case.
///
/// A key with an empty list matches any value; a non-empty list holds the values that match,
/// where a string may be a `prefix*`, `*suffix` or `*infix*` glob. The key `"*"` stands for every
/// parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamConstraints {
    /// When not empty, every request parameter must be listed here (or `"*"` must be).
    pub allowed: BTreeMap<String, Vec<Value>>,
    /// Parameters (and values) a request may not carry; `"*"` denies every parameter.
    pub denied: BTreeMap<String, Vec<Value>>,
    /// Parameters a request must carry (compared case-insensitively).
    pub required: Vec<String>,
}

impl ParamConstraints {
    /// Whether there is no constraint at all.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty() && self.denied.is_empty() && self.required.is_empty()
    }

    /// Merges the constraints of the same pattern from another policy, as Vault does: a key
    /// listed with `[]` on either side ends up as `[]` (any value); otherwise the value lists
    /// are concatenated. Required parameters are unioned.
    ///
    /// Note that Vault's merge is not a union of permissions: a policy without
    /// `allowed_parameters` merged with one that has them ends up restricted.
    pub fn merge(&mut self, other: &ParamConstraints) {
        merge_map(&mut self.allowed, &other.allowed);
        merge_map(&mut self.denied, &other.denied);
        for name in &other.required {
            if !self.required.contains(name) {
                self.required.push(name.clone());
            }
        }
    }

    /// Checks a request's parameters. The caller applies this only to read, create, update
    /// and patch operations.
    pub fn permits(&self, params: &Map) -> bool {
        let required_present =
            self.required.iter().all(|name| params.keys().any(|k| k.eq_ignore_ascii_case(name)));
        if !required_present {
            return false;
        }
        if params.is_empty() {
            return true;
        }
        if !self.denied.is_empty() {
            if self.denied.contains_key("*") {
                return false;
            }
            for (key, value) in params {
                if let Some(list) = self.denied.get(lower(key).as_ref())
                    && value_in_list(value, list)
                {
                    return false;
                }
            }
        }
        if self.allowed.is_empty() {
            return true;
        }
        let allow_all = self.allowed.contains_key("*");
        if allow_all && self.allowed.len() == 1 {
            return true;
        }
        params.iter().all(|(key, value)| match self.allowed.get(lower(key).as_ref()) {
            Some(list) => value_in_list(value, list),
            None => allow_all,
        })
    }
}

fn merge_map(into: &mut BTreeMap<String, Vec<Value>>, from: &BTreeMap<String, Vec<Value>>) {
    if from.is_empty() {
        return;
    }
    if into.is_empty() {
        into.clone_from(from);
        return;
    }
    for (key, values) in from {
        match into.get_mut(key) {
            Some(existing) if existing.is_empty() => {}
            Some(_) if values.is_empty() => {
                into.insert(key.clone(), Vec::new());
            }
            Some(existing) => existing.extend(values.iter().cloned()),
            None => {
                into.insert(key.clone(), values.clone());
            }
        }
    }
}

/// Lower-cases a parameter name, allocating only when it has upper-case characters.
fn lower(key: &str) -> Cow<'_, str> {
    if key.chars().any(char::is_uppercase) {
        Cow::Owned(key.to_lowercase())
    } else {
        Cow::Borrowed(key)
    }
}

/// Whether `value` is matched by `list` (an empty list matches everything).
fn value_in_list(value: &Value, list: &[Value]) -> bool {
    list.is_empty() || list.iter().any(|item| value_matches(item, value))
}

fn value_matches(item: &Value, value: &Value) -> bool {
    match (item, value) {
        (Value::String(pattern), Value::String(s)) => glob_match(pattern, s),
        // HCL numbers and JSON numbers may differ in representation (1 vs 1.0).
        (Value::Number(a), Value::Number(b)) => {
            a == b || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
        }
        _ => item == value,
    }
}

/// Vault's `GlobbedStringsMatch`: `*x*` contains, `*x` suffix, `x*` prefix, else equality. A lone
/// `*` (shorter than two characters) only matches itself.
pub(crate) fn glob_match(pattern: &str, value: &str) -> bool {
    if pattern.len() < 2 {
        return pattern == value;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(rest), Some(_)) => rest.strip_suffix('*').is_some_and(|infix| value.contains(infix)),
        (Some(suffix), None) => value.ends_with(suffix),
        (None, Some(prefix)) => value.starts_with(prefix),
        (None, None) => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn constraints(allowed: Value, denied: Value, required: &[&str]) -> ParamConstraints {
        let conv = |v: Value| -> BTreeMap<String, Vec<Value>> {
            map(v)
                .into_iter()
                .map(|(k, v)| (k, v.as_array().cloned().unwrap_or_default()))
                .collect()
        };
        ParamConstraints {
            allowed: conv(allowed),
            denied: conv(denied),
            required: required.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn globs_follow_vault() {
        assert!(glob_match("foo*", "foobar"));
        assert!(!glob_match("foo*", "barfoo"));
        assert!(glob_match("*bar", "foobar"));
        assert!(glob_match("*ob*", "foobar"));
        assert!(!glob_match("*ob*", "fbar"));
        assert!(glob_match("*", "*"));
        assert!(!glob_match("*", "anything"));
        assert!(glob_match("**", "anything"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn no_constraints_permit_anything() {
        assert!(ParamConstraints::default().permits(&map(json!({"a": 1}))));
    }

    #[test]
    fn required_parameters_must_be_present_case_insensitively() {
        let c = constraints(json!({}), json!({}), &["name"]);
        assert!(!c.permits(&Map::new()));
        assert!(c.permits(&map(json!({"NAME": "x"}))));
        assert!(!c.permits(&map(json!({"other": "x"}))));
    }

    #[test]
    fn denied_parameters_win_and_star_denies_all() {
        let c =
            constraints(json!({"*": []}), json!({"token_policies": [], "ttl": ["1h", "9*"]}), &[]);
        assert!(!c.permits(&map(json!({"token_policies": ["a"]}))));
        assert!(!c.permits(&map(json!({"ttl": "1h"}))));
        assert!(!c.permits(&map(json!({"ttl": "99h"}))));
        assert!(c.permits(&map(json!({"ttl": "2h"}))));
        assert!(c.permits(&Map::new()));
        let all = constraints(json!({}), json!({"*": []}), &[]);
        assert!(!all.permits(&map(json!({"x": 1}))));
        assert!(all.permits(&Map::new()));
    }

    #[test]
    fn allowed_parameters_restrict_keys_and_values() {
        let c = constraints(
            json!({"bar": ["zip", "zap"], "foo": [], "common_name": ["*.example.com"]}),
            json!({}),
            &[],
        );
        assert!(c.permits(&map(json!({"bar": "zip", "foo": "anything"}))));
        assert!(!c.permits(&map(json!({"bar": "zoo"}))));
        assert!(!c.permits(&map(json!({"baz": "x"}))));
        assert!(c.permits(&map(json!({"Bar": "zap"}))));
        assert!(c.permits(&map(json!({"common_name": "www.example.com"}))));
        assert!(!c.permits(&map(json!({"common_name": "www.example.org"}))));
        let with_star = constraints(json!({"bar": ["zip"], "*": []}), json!({}), &[]);
        assert!(with_star.permits(&map(json!({"other": 1}))));
        assert!(!with_star.permits(&map(json!({"bar": "zap"}))));
    }

    #[test]
    fn numbers_compare_by_value() {
        let c = constraints(json!({"n": [1, 2.5]}), json!({}), &[]);
        assert!(c.permits(&map(json!({"n": 1}))));
        assert!(c.permits(&map(json!({"n": 1.0}))));
        assert!(c.permits(&map(json!({"n": 2.5}))));
        assert!(!c.permits(&map(json!({"n": "1"}))));
    }

    #[test]
    fn merge_follows_vault() {
        let mut a = constraints(json!({"x": ["1"], "y": []}), json!({}), &["r"]);
        let b =
            constraints(json!({"x": ["2"], "y": ["3"], "z": []}), json!({"d": []}), &["r", "s"]);
        a.merge(&b);
        assert_eq!(a.allowed.get("x"), Some(&vec![json!("1"), json!("2")]));
        assert_eq!(a.allowed.get("y"), Some(&vec![]));
        assert_eq!(a.allowed.get("z"), Some(&vec![]));
        assert_eq!(a.denied.get("d"), Some(&vec![]));
        assert_eq!(a.required, ["r", "s"]);

        let mut free = ParamConstraints::default();
        free.merge(&constraints(json!({"only": []}), json!({}), &[]));
        assert!(!free.permits(&map(json!({"other": 1}))), "Vault's merge restricts");
    }
}
