//! KV paths as Vault's CLI builds them: the mount found by the preflight
//! (`sys/internal/ui/mounts/<path>`), then `<mount>/<api>/<rest>` for version 2.

use serde_json::{Map, Value};

/// Where a KV path lives, from the preflight answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvMount {
    /// The mount with its trailing `/` (`""` when the preflight found none: KV v1).
    pub mount: String,
    /// 1 or 2.
    pub version: u8,
}

impl KvMount {
    /// Reads the preflight's `data`: `path` and `options.version` (`"2"` means v2).
    pub fn from_preflight(data: &Map<String, Value>) -> KvMount {
        let mount = data.get("path").and_then(Value::as_str).unwrap_or("").to_string();
        let version = match data.get("options").and_then(|o| o.get("version")) {
            Some(Value::String(v)) if v == "2" => 2,
            Some(Value::Number(n)) if n.as_u64() == Some(2) => 2,
            _ => 1,
        };
        KvMount { mount, version }
    }

    /// The API path of `path` for the v2 sub-API `api` (`data`, `metadata`, `delete`...); for
    /// v1 the path itself. Like Vault's `addPrefixToKVPath`: the mount alone gives
    /// `<mount>/<api>`.
    pub fn api_path(&self, path: &str, api: &str) -> String {
        let path = sanitize(path);
        if self.version != 2 {
            return path;
        }
        let mount = self.mount.trim_end_matches('/');
        if path == mount {
            return join(&[mount, api]);
        }
        let rest = path.strip_prefix(&self.mount).unwrap_or(&path);
        join(&[mount, api, rest])
    }
}

/// Trims the slashes around a path, as Vault's `sanitizePath`.
pub fn sanitize(path: &str) -> String {
    path.trim().trim_matches('/').to_string()
}

/// Joins path parts with single slashes, dropping empty segments (Go's `path.Join` for the
/// inputs the CLI has).
pub fn join(parts: &[&str]) -> String {
    parts.iter().flat_map(|p| p.split('/')).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("/")
}

/// The full path the user means: `-mount` joined with the path, or the path.
pub fn full_path(mount: Option<&str>, path: &str) -> String {
    match mount {
        Some(m) => join(&[m, path]),
        None => sanitize(path),
    }
}

/// Parses `-versions=1,2` (kept as strings, as Vault's CLI sends them).
pub fn versions(list: Option<&str>) -> Option<Vec<String>> {
    let v: Vec<String> = list
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v2() -> KvMount {
        KvMount { mount: "secret/".into(), version: 2 }
    }

    #[test]
    fn v2_paths_put_the_sub_api_after_the_mount() {
        assert_eq!(v2().api_path("secret/app/db", "data"), "secret/data/app/db");
        assert_eq!(v2().api_path("/secret/app/", "metadata"), "secret/metadata/app");
        assert_eq!(v2().api_path("secret", "metadata"), "secret/metadata");
        assert_eq!(v2().api_path("secret/", "metadata"), "secret/metadata");
        let nested = KvMount { mount: "team/kv/".into(), version: 2 };
        assert_eq!(nested.api_path("team/kv/x", "destroy"), "team/kv/destroy/x");
    }

    #[test]
    fn v1_paths_are_the_path() {
        let v1 = KvMount { mount: "kv/".into(), version: 1 };
        assert_eq!(v1.api_path("kv/x/", "data"), "kv/x");
        let none = KvMount { mount: String::new(), version: 1 };
        assert_eq!(none.api_path("kv/x", "metadata"), "kv/x");
    }

    #[test]
    fn the_preflight_answer_gives_mount_and_version() {
        let data = json!({"path": "secret/", "type": "kv", "options": {"version": "2"}});
        assert_eq!(KvMount::from_preflight(data.as_object().unwrap_or(&Map::new())), v2());
        let v1 = json!({"path": "kv/", "type": "kv", "options": null});
        assert_eq!(KvMount::from_preflight(v1.as_object().unwrap_or(&Map::new())).version, 1);
    }

    #[test]
    fn mount_flags_and_versions() {
        assert_eq!(full_path(Some("secret/"), "/app"), "secret/app");
        assert_eq!(full_path(None, "/secret/app/"), "secret/app");
        assert_eq!(versions(Some("1, 2,,3")), Some(vec!["1".into(), "2".into(), "3".into()]));
        assert_eq!(versions(Some("")), None);
        assert_eq!(versions(None), None);
    }
}
