//! JSON merge-patch (RFC 7396) and the `subkeys` view of a secret.

use serde_json::{Map, Value};

/// Applies `patch` to `target` per RFC 7396: objects merge recursively, `null` removes a key,
/// anything else replaces.
pub fn merge_patch(target: Value, patch: &Value) -> Value {
    let Value::Object(patch_map) = patch else { return patch.clone() };
    let mut out = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in patch_map {
        if value.is_null() {
            out.remove(key);
        } else {
            let current = out.remove(key).unwrap_or(Value::Null);
            out.insert(key.clone(), merge_patch(current, value));
        }
    }
    Value::Object(out)
}

/// The key structure of `data` with leaves (including arrays) replaced by `null`, down to
/// `depth` levels (0 = unlimited).
pub fn subkeys(data: &Map<String, Value>, depth: u64) -> Value {
    fn walk(map: &Map<String, Value>, level: u64, depth: u64) -> Value {
        let out = map
            .iter()
            .map(|(k, v)| {
                let child = match v {
                    Value::Object(inner) if depth == 0 || level < depth => walk(inner, level + 1, depth),
                    _ => Value::Null,
                };
                (k.clone(), child)
            })
            .collect();
        Value::Object(out)
    }
    walk(data, 1, depth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7396_examples() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let patch = json!({"a": "z", "c": {"f": null}});
        assert_eq!(merge_patch(target, &patch), json!({"a": "z", "c": {"d": "e"}}));
        assert_eq!(merge_patch(json!({"a": [1]}), &json!({"a": [2]})), json!({"a": [2]}));
        assert_eq!(merge_patch(json!({"a": "b"}), &json!({"a": {"x": 1}})), json!({"a": {"x": 1}}));
    }

    #[test]
    fn subkeys_replace_leaves_and_respect_depth() {
        let data = json!({"pw": {"n2": {"a": 1}, "nested": [1]}, "user": "x"});
        let Value::Object(map) = data else { unreachable!() };
        assert_eq!(subkeys(&map, 0), json!({"pw": {"n2": {"a": null}, "nested": null}, "user": null}));
        assert_eq!(subkeys(&map, 1), json!({"pw": null, "user": null}));
    }
}
