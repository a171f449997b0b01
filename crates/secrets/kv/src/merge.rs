//! JSON merge-patch (RFC 7396), as PATCH of `data/` and `metadata/` applies it.

use serde_json::{Map, Value};

/// Applies `patch` to `target` per RFC 7396: an object patch merges key by key (recursively),
/// a `null` member removes the key, and any other patch value replaces the target.
pub(crate) fn merge_patch(target: Value, patch: &Value) -> Value {
    let Value::Object(patch_map) = patch else { return patch.clone() };
    let target = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Value::Object(merge_objects(target, patch_map))
}

/// [`merge_patch`] of two objects, which always gives an object.
pub(crate) fn merge_objects(
    target: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = target;
    for (key, value) in patch {
        if value.is_null() {
            out.remove(key);
        } else {
            let current = out.remove(key).unwrap_or(Value::Null);
            out.insert(key.clone(), merge_patch(current, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7396, appendix A.
    #[test]
    fn rfc7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(merge_patch(target.clone(), &patch), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn objects_merge_into_objects() {
        let Value::Object(target) = json!({"user": "a", "pw": {"old": 1, "keep": 2}}) else {
            unreachable!()
        };
        let Value::Object(patch) = json!({"user": null, "pw": {"old": null, "new": 3}}) else {
            unreachable!()
        };
        assert_eq!(
            Value::Object(merge_objects(target, &patch)),
            json!({"pw": {"keep": 2, "new": 3}})
        );
    }
}
