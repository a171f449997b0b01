//! The `file` device as an operator sees it: what lands in the log file.
//!
//! Contents: format (one JSON line, prefix, time) · hashing (tokens, data, non-HMAC keys,
//! log_raw, hmac_accessor, wrap info) · elide_list_responses · file mode · errors (/dev/full)
//! · reopen after rotation · stdout and discard · audit-hash · concurrent writers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use coffer_audit::{
    AuditAuth, AuditDevice, AuditEntry, AuditError, AuditRequest, AuditResponse, AuditWrapInfo,
    FileDevice, hash_string,
};
use coffer_types::{Map, Operation, SecretString};
use serde_json::{Value, json};

const SALT: &[u8] = b"0123456789abcdef0123456789abcdef";

fn options(v: Value) -> Map {
    v.as_object().cloned().unwrap()
}

fn file_device(path: &Path, extra: Value) -> FileDevice {
    let mut opts = options(extra);
    opts.insert("file_path".into(), path.display().to_string().into());
    FileDevice::new("file", &opts, SALT.to_vec()).unwrap()
}

fn request(operation: Operation, data: Value) -> AuditRequest {
    let mut r = AuditRequest::new("req-1", operation, "secret/app");
    r.mount_point = "secret/".into();
    r.mount_type = "kv".into();
    r.client_token = SecretString::new("s.callertoken");
    r.client_token_accessor = "callerAccessor".into();
    r.data = data.as_object().cloned();
    r.auth = Some(AuditAuth {
        client_token: SecretString::new("s.callertoken"),
        accessor: "callerAccessor".into(),
        policies: vec!["default".into()],
        token_type: "service".into(),
        ..AuditAuth::default()
    });
    r
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap().lines().map(String::from).collect()
}

fn entries(path: &Path) -> Vec<Value> {
    lines(path).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn h(value: &str) -> String {
    hash_string(SALT, value)
}

fn temp_log() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    (dir, path)
}

#[test]
fn one_parseable_json_line_per_entry() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({}));
    let req = request(Operation::Update, json!({"password": "hunter2"}));
    device.log(&AuditEntry::request(&req)).unwrap();
    device.log(&AuditEntry::response(&req, &AuditResponse::default())).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let all = entries(&path);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["type"], "request");
    assert_eq!(all[1]["type"], "response");
    assert_eq!(all[0]["request"]["id"], all[1]["request"]["id"]);
    assert_eq!(all[0]["request"]["namespace"]["id"], "root");
    assert!(humantime::parse_rfc3339(all[0]["time"].as_str().unwrap()).is_ok());
}

#[test]
fn prefix_starts_every_line() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({"prefix": "AUDIT: "}));
    let req = request(Operation::Read, json!({}));
    device.log(&AuditEntry::request(&req)).unwrap();
    device.log(&AuditEntry::request(&req)).unwrap();
    for line in lines(&path) {
        let json = line.strip_prefix("AUDIT: ").expect("prefix");
        serde_json::from_str::<Value>(json).unwrap();
    }
}

#[test]
fn tokens_accessors_and_data_are_hashed_recursively() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({}));
    let data = json!({"password": "hunter2", "nested": {"list": ["a", 7, true, {"deep": "b"}]},
                      "ttl": 30, "flag": false});
    device.log(&AuditEntry::request(&request(Operation::Update, data))).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    for secret in ["hunter2", "s.callertoken", "callerAccessor"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    let e = &entries(&path)[0];
    assert_eq!(e["auth"]["client_token"], h("s.callertoken"));
    assert_eq!(e["auth"]["accessor"], h("callerAccessor"));
    assert_eq!(e["request"]["client_token"], h("s.callertoken"));
    assert_eq!(e["request"]["client_token_accessor"], h("callerAccessor"));
    let d = &e["request"]["data"];
    assert_eq!(d["password"], h("hunter2"));
    assert_eq!(d["nested"]["list"], json!([h("a"), 7, true, {"deep": h("b")}]));
    assert_eq!(d["ttl"], 30);
    assert_eq!(d["flag"], false);
    // Non-secret fields stay readable.
    assert_eq!(e["request"]["path"], "secret/app");
    assert_eq!(e["auth"]["policies"], json!(["default"]));
}

#[test]
fn non_hmac_keys_stay_clear_at_top_level_only() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({}));
    let mut req = request(
        Operation::Update,
        json!({"username": "alice", "password": "pw", "x": {"username": "n"}}),
    );
    req.non_hmac_request_keys = vec!["username".into()];
    let resp = AuditResponse {
        data: json!({"keys": ["k1"], "secret": "s"}).as_object().cloned(),
        non_hmac_response_keys: vec!["keys".into()],
        ..AuditResponse::default()
    };
    device.log(&AuditEntry::response(&req, &resp)).unwrap();
    let e = &entries(&path)[0];
    assert_eq!(e["request"]["data"]["username"], "alice");
    assert_eq!(e["request"]["data"]["password"], h("pw"));
    assert_eq!(e["request"]["data"]["x"]["username"], h("n"));
    assert_eq!(e["response"]["data"]["keys"], json!(["k1"]));
    assert_eq!(e["response"]["data"]["secret"], h("s"));
}

#[test]
fn log_raw_keeps_everything_clear() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({"log_raw": "true"}));
    device
        .log(&AuditEntry::request(&request(Operation::Update, json!({"password": "hunter2"}))))
        .unwrap();
    let e = &entries(&path)[0];
    assert_eq!(e["request"]["data"]["password"], "hunter2");
    assert_eq!(e["request"]["client_token"], "s.callertoken");
    // audit-hash still hashes with the salt.
    assert_eq!(device.hash("hunter2"), h("hunter2"));
}

#[test]
fn hmac_accessor_false_keeps_accessors_clear() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({"hmac_accessor": false}));
    let resp = AuditResponse {
        auth: Some(AuditAuth {
            client_token: SecretString::new("s.newtoken"),
            accessor: "newAccessor".into(),
            ..AuditAuth::default()
        }),
        wrap_info: Some(AuditWrapInfo {
            token: SecretString::new("s.wraptoken"),
            accessor: "wrapAccessor".into(),
            ttl: 300,
            ..AuditWrapInfo::default()
        }),
        ..AuditResponse::default()
    };
    let req = request(Operation::Update, json!({}));
    device.log(&AuditEntry::response(&req, &resp)).unwrap();
    let e = &entries(&path)[0];
    assert_eq!(e["auth"]["accessor"], "callerAccessor");
    assert_eq!(e["request"]["client_token_accessor"], "callerAccessor");
    assert_eq!(e["response"]["auth"]["accessor"], "newAccessor");
    assert_eq!(e["response"]["wrap_info"]["accessor"], "wrapAccessor");
    // Tokens are hashed regardless.
    assert_eq!(e["response"]["auth"]["client_token"], h("s.newtoken"));
    assert_eq!(e["response"]["wrap_info"]["token"], h("s.wraptoken"));
    assert_eq!(e["response"]["wrap_info"]["ttl"], 300);

    let (_dir2, path2) = temp_log();
    let hashing = file_device(&path2, json!({}));
    hashing.log(&AuditEntry::response(&req, &resp)).unwrap();
    let e = &entries(&path2)[0];
    assert_eq!(e["response"]["auth"]["accessor"], h("newAccessor"));
    assert_eq!(e["response"]["wrap_info"]["accessor"], h("wrapAccessor"));
}

#[test]
fn error_is_recorded() {
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({}));
    let req = request(Operation::Read, json!({}));
    device.log(&AuditEntry::request(&req).with_error("permission denied")).unwrap();
    device.log(&AuditEntry::request(&req)).unwrap();
    let all = entries(&path);
    assert_eq!(all[0]["error"], "permission denied");
    assert!(all[1].get("error").is_none());
}

#[test]
fn elide_list_responses_replaces_keys_with_count() {
    let data = json!({"keys": ["a/", "b", "c"], "key_info": {"a/": {}, "b": {}}});
    let resp = AuditResponse { data: data.as_object().cloned(), ..AuditResponse::default() };
    let (_dir, path) = temp_log();
    let device = file_device(&path, json!({"elide_list_responses": "true"}));
    device.log(&AuditEntry::response(&request(Operation::List, json!({})), &resp)).unwrap();
    device.log(&AuditEntry::response(&request(Operation::Read, json!({})), &resp)).unwrap();
    let all = entries(&path);
    assert_eq!(all[0]["response"]["data"]["keys"], 3);
    assert_eq!(all[0]["response"]["data"]["key_info"], 2);
    assert_eq!(all[1]["response"]["data"]["keys"], json!([h("a/"), h("b"), h("c")]));

    let (_dir2, path2) = temp_log();
    let plain = file_device(&path2, json!({}));
    plain.log(&AuditEntry::response(&request(Operation::List, json!({})), &resp)).unwrap();
    assert!(entries(&path2)[0]["response"]["data"]["keys"].is_array());
}

#[cfg(unix)]
#[test]
fn created_file_has_mode_0600_and_mode_option_applies() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let (dir, path) = temp_log();
    let _device = file_device(&path, json!({}));
    assert_eq!(mode(&path), 0o600);

    let other = dir.path().join("other.log");
    fs::write(&other, "").unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o644)).unwrap();
    let _device = file_device(&other, json!({"mode": "0640"}));
    assert_eq!(mode(&other), 0o640);

    fs::set_permissions(&other, fs::Permissions::from_mode(0o644)).unwrap();
    let _device = file_device(&other, json!({"mode": "0000"}));
    assert_eq!(mode(&other), 0o644, "0000 leaves the mode alone");
}

#[test]
fn appends_to_an_existing_file() {
    let (_dir, path) = temp_log();
    fs::write(&path, "earlier line\n").unwrap();
    let device = file_device(&path, json!({}));
    device.log(&AuditEntry::request(&request(Operation::Read, json!({})))).unwrap();
    let all = lines(&path);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], "earlier line");
}

#[cfg(target_os = "linux")]
#[test]
fn dev_full_write_error_is_returned() {
    let device = file_device(Path::new("/dev/full"), json!({}));
    let err = device.log(&AuditEntry::request(&request(Operation::Read, json!({})))).unwrap_err();
    assert!(matches!(err, AuditError::Io { .. }), "{err}");
    let io = match err {
        AuditError::Io { source, .. } => source,
        _ => unreachable!(),
    };
    assert_eq!(io.raw_os_error(), Some(28), "ENOSPC");
}

#[test]
fn reopen_after_rename_writes_to_a_new_file() {
    let (dir, path) = temp_log();
    let rotated = dir.path().join("audit.log.1");
    let device = file_device(&path, json!({}));
    let entry = AuditEntry::request(&request(Operation::Read, json!({})));
    device.log(&entry).unwrap();
    fs::rename(&path, &rotated).unwrap();
    device.log(&entry).unwrap(); // still the old, renamed file until reopened
    device.reopen().unwrap();
    device.log(&entry).unwrap();
    assert_eq!(lines(&rotated).len(), 2);
    assert_eq!(lines(&path).len(), 1);
}

#[test]
fn stdout_and_discard_accept_entries() {
    let entry = AuditEntry::request(&request(Operation::Read, json!({})));
    for target in ["stdout", "discard"] {
        let opts = options(json!({"file_path": target}));
        let device = FileDevice::new("file", &opts, SALT.to_vec()).unwrap();
        device.log(&entry).unwrap();
        device.reopen().unwrap();
        assert_eq!(device.describe().options["file_path"], target);
    }
}

#[test]
fn hash_matches_hmac_sha256_of_the_salt() {
    let device = file_device(&temp_log().1, json!({}));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SALT);
    let expected = hex::encode(aws_lc_rs::hmac::sign(&key, b"hunter2").as_ref());
    assert_eq!(device.hash("hunter2"), format!("hmac-sha256:{expected}"));
    // RFC 4231, test case 2.
    assert_eq!(
        hash_string(b"Jefe", "what do ya want for nothing?"),
        "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn different_salts_give_different_hashes() {
    let a = FileDevice::new("a", &options(json!({"file_path": "discard"})), vec![1; 32]).unwrap();
    let b = FileDevice::new("b", &options(json!({"file_path": "discard"})), vec![2; 32]).unwrap();
    assert_ne!(a.hash("x"), b.hash("x"));
}

#[test]
fn concurrent_writers_never_interleave_lines() {
    let (_dir, path) = temp_log();
    let device = std::sync::Arc::new(file_device(&path, json!({})));
    let big = "x".repeat(64 * 1024);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let device = std::sync::Arc::clone(&device);
            let data = json!({ "blob": big.clone() });
            std::thread::spawn(move || {
                for _ in 0..10 {
                    device
                        .log(&AuditEntry::request(&request(Operation::Update, data.clone())))
                        .unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(entries(&path).len(), 80);
}
