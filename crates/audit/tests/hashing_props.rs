//! Property: whatever JSON a client sends, no string from `request.data` or `response.data`
//! survives hashing, and the structure does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_audit::{AuditEntry, AuditRequest, AuditResponse, HashOptions, Salt};
use coffer_types::{Map, Operation};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        ".{1,24}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map> {
    prop::collection::btree_map(".{1,8}", json_value(), 0..8).prop_map(|m| m.into_iter().collect())
}

fn string_leaves(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| string_leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| string_leaves(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The value with every string leaf replaced by a marker: the shape hashing must keep.
fn shape(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::String("*".into()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn no_original_string_survives(request_data in json_object(), response_data in json_object()) {
        let mut req = AuditRequest::new("id", Operation::Update, "secret/p");
        req.data = Some(request_data.clone());
        let resp = AuditResponse { data: Some(response_data.clone()), ..AuditResponse::default() };
        let entry = AuditEntry::response(&req, &resp);
        let hashed = entry.hashed(&Salt::new(b"salt"), HashOptions::default());

        for (original, pointer) in [(&request_data, "/request/data"), (&response_data, "/response/data")] {
            let original = Value::Object(original.clone());
            let Some(after) = hashed.pointer(pointer) else {
                // Empty data is left out, as Vault does.
                prop_assert!(original.as_object().is_some_and(Map::is_empty));
                continue;
            };
            let mut before_leaves = Vec::new();
            string_leaves(&original, &mut before_leaves);
            let mut after_leaves = Vec::new();
            string_leaves(after, &mut after_leaves);
            prop_assert_eq!(before_leaves.len(), after_leaves.len());
            for leaf in &after_leaves {
                prop_assert!(leaf.starts_with("hmac-sha256:") && leaf.len() == 12 + 64);
                prop_assert!(!before_leaves.contains(leaf));
            }
            prop_assert_eq!(shape(after), shape(&original));
        }
        // Long originals do not appear anywhere in the written line either.
        let line = serde_json::to_string(&hashed).unwrap();
        let mut originals = Vec::new();
        string_leaves(&Value::Object(request_data), &mut originals);
        for leaf in originals.iter().filter(|l| l.chars().count() >= 12) {
            prop_assert!(!line.contains(leaf.as_str()));
        }
    }
}
