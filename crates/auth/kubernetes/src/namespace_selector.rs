//! `bound_service_account_namespace_selector`: a Kubernetes label selector (JSON form of
//! `metav1.LabelSelector`: `matchLabels` and `matchExpressions` with `In`, `NotIn`, `Exists`,
//! `DoesNotExist`) admitting namespaces by their labels, read from the API server.

use coffer_types::{Error, Map, Result};
use serde::Deserialize;
use serde_json::Value;

/// One `matchExpressions` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
struct Requirement {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

/// A parsed label selector. An empty selector matches every namespace, as in Kubernetes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LabelSelector {
    #[serde(default)]
    match_labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the JSON form; the error is Vault's message.
    pub(crate) fn parse(text: &str) -> Result<LabelSelector> {
        let invalid =
            || Error::invalid("invalid \"bound_service_account_namespace_selector\" configured");
        let selector: LabelSelector = serde_json::from_str(text).map_err(|_| invalid())?;
        for r in &selector.match_expressions {
            let ok = match r.operator.as_str() {
                "In" | "NotIn" => !r.values.is_empty(),
                "Exists" | "DoesNotExist" => r.values.is_empty(),
                _ => false,
            };
            if !ok || r.key.is_empty() {
                return Err(invalid());
            }
        }
        Ok(selector)
    }

    /// Whether a namespace with `labels` is selected.
    pub(crate) fn matches(&self, labels: &Map) -> bool {
        let label = |k: &str| labels.get(k).and_then(Value::as_str);
        self.match_labels.iter().all(|(k, v)| label(k) == Some(v.as_str()))
            && self.match_expressions.iter().all(|r| match r.operator.as_str() {
                "In" => label(&r.key).is_some_and(|v| r.values.iter().any(|x| x == v)),
                "NotIn" => label(&r.key).is_none_or(|v| r.values.iter().all(|x| x != v)),
                "Exists" => label(&r.key).is_some(),
                "DoesNotExist" => label(&r.key).is_none(),
                _ => false,
            })
    }
}

/// The labels of a `GET /api/v1/namespaces/<name>` answer.
pub(crate) fn labels_of(namespace: &Value) -> Map {
    namespace
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parses_and_matches_like_kubernetes() {
        let s = LabelSelector::parse(
            r#"{"matchLabels":{"team":"web"},"matchExpressions":[
                {"key":"env","operator":"In","values":["prod","staging"]},
                {"key":"frozen","operator":"DoesNotExist"}]}"#,
        )
        .unwrap_or_default();
        assert!(s.matches(&labels(json!({"team": "web", "env": "prod"}))));
        assert!(!s.matches(&labels(json!({"team": "web", "env": "dev"}))));
        assert!(!s.matches(&labels(json!({"team": "web", "env": "prod", "frozen": "1"}))));
        assert!(!s.matches(&labels(json!({"env": "prod"}))));
        let not_in = LabelSelector::parse(
            r#"{"matchExpressions":[{"key":"env","operator":"NotIn","values":["prod"]}]}"#,
        )
        .unwrap_or_default();
        assert!(not_in.matches(&labels(json!({}))));
        assert!(!not_in.matches(&labels(json!({"env": "prod"}))));
        assert!(LabelSelector::parse("team=web").is_err(), "only the JSON form");
        assert!(
            LabelSelector::parse(r#"{"matchExpressions":[{"key":"a","operator":"In"}]}"#).is_err()
        );
        assert!(
            LabelSelector::parse(
                r#"{"matchExpressions":[{"key":"a","operator":"Near","values":["x"]}]}"#
            )
            .is_err()
        );
        assert_eq!(
            labels_of(&json!({"metadata": {"labels": {"a": "b"}}})),
            labels(json!({"a": "b"}))
        );
    }
}
