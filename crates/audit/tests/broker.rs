//! The broker: enable/disable/list, fail-closed fan-out, audit-hash and reopen.
//!
//! Contents: no devices · one failing device fails closed · one of two failing is fine ·
//! enable/disable/list · hash by path · reopen_all · new_device from a persisted config.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use coffer_audit::{
    AuditBroker, AuditDevice, AuditEntry, AuditError, AuditRequest, DeviceInfo, FileDevice,
    hash_string, new_device,
};
use coffer_types::{Map, Operation};
use serde_json::{Value, json};

fn file_device(path: &Path, salt: &[u8]) -> Arc<dyn AuditDevice> {
    let mut opts = Map::new();
    opts.insert("file_path".into(), path.display().to_string().into());
    Arc::new(FileDevice::new("file", &opts, salt.to_vec()).unwrap())
}

fn entry() -> AuditEntry {
    let mut r = AuditRequest::new("req-9", Operation::Update, "secret/x");
    r.data = json!({"password": "hunter2"}).as_object().cloned();
    AuditEntry::request(&r)
}

fn line_count(path: &Path) -> usize {
    fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn no_devices_is_ok() {
    let broker = AuditBroker::new();
    assert!(broker.is_empty());
    broker.log_request(&entry()).unwrap();
    broker.log_response(&entry()).unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn the_only_device_failing_fails_closed() {
    let broker = AuditBroker::new();
    broker.enable("full", file_device(Path::new("/dev/full"), b"s")).unwrap();
    let err = broker.log_request(&entry()).unwrap_err();
    assert!(matches!(err, AuditError::NotRecorded { devices: 1 }), "{err}");
    assert!(!err.to_string().contains("hunter2"));
    let mapped: coffer_types::Error = err.into();
    assert_eq!(mapped.status(), 500);
}

#[cfg(target_os = "linux")]
#[test]
fn one_of_two_failing_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("audit.log");
    let broker = AuditBroker::new();
    broker.enable("full", file_device(Path::new("/dev/full"), b"s")).unwrap();
    broker.enable("file", file_device(&good, b"s")).unwrap();
    broker.log_request(&entry()).unwrap();
    broker.log_response(&entry()).unwrap();
    assert_eq!(line_count(&good), 2);

    // Once the good device is gone, the broker fails closed again.
    assert!(broker.disable("file/"));
    assert!(broker.log_request(&entry()).is_err());
}

#[test]
fn every_device_gets_every_entry_hashed_with_its_own_salt() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let broker = AuditBroker::new();
    broker.enable("a", file_device(&a, b"salt-a")).unwrap();
    broker.enable("b", file_device(&b, b"salt-b")).unwrap();
    broker.log_request(&entry()).unwrap();
    let read = |p: &Path| -> Value {
        serde_json::from_str(fs::read_to_string(p).unwrap().trim_end()).unwrap()
    };
    assert_eq!(read(&a)["request"]["data"]["password"], hash_string(b"salt-a", "hunter2"));
    assert_eq!(read(&b)["request"]["data"]["password"], hash_string(b"salt-b", "hunter2"));
    assert_eq!(broker.hash("a", "hunter2").unwrap(), hash_string(b"salt-a", "hunter2"));
    assert_eq!(broker.hash("b/", "hunter2").unwrap(), hash_string(b"salt-b", "hunter2"));
    assert!(matches!(broker.hash("nope", "x"), Err(AuditError::UnknownDevice(_))));
}

#[test]
fn enable_disable_list() {
    let dir = tempfile::tempdir().unwrap();
    let broker = AuditBroker::new();
    broker.enable("zeta", file_device(&dir.path().join("z.log"), b"s")).unwrap();
    broker.enable("file", file_device(&dir.path().join("f.log"), b"s")).unwrap();
    let err = broker.enable("file/", file_device(&dir.path().join("g.log"), b"s")).unwrap_err();
    assert_eq!(err.to_string(), "path already in use at file/");
    assert_eq!(coffer_types::Error::from(err).status(), 400);

    let list = broker.list();
    let paths: Vec<&str> = list.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["file/", "zeta/"]);
    assert_eq!(list[0].device_type, "file");
    assert!(broker.contains("zeta"));

    assert!(broker.disable("zeta"));
    assert!(!broker.disable("zeta"));
    assert_eq!(broker.list().len(), 1);
    assert!(!broker.is_empty());
}

#[test]
fn reopen_all_moves_to_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let broker = AuditBroker::new();
    broker.enable("file", file_device(&path, b"s")).unwrap();
    broker.log_request(&entry()).unwrap();
    fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
    broker.reopen_all().unwrap();
    broker.log_request(&entry()).unwrap();
    assert_eq!(line_count(&path), 1);
}

#[test]
fn new_device_rebuilds_from_a_persisted_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let original: Arc<dyn AuditDevice> = {
        let mut opts = Map::new();
        opts.insert("file_path".into(), path.display().to_string().into());
        opts.insert("hmac_accessor".into(), false.into());
        Arc::new(
            FileDevice::new("file", &opts, vec![7; 32])
                .unwrap()
                .with_description("main log")
                .with_local(true),
        )
    };
    let info: DeviceInfo = original.describe();
    assert_eq!(info.options["hmac_accessor"], "false");
    let stored = serde_json::to_string(&info).unwrap();
    let restored = new_device(&serde_json::from_str(&stored).unwrap(), vec![7; 32]).unwrap();
    assert_eq!(restored.describe(), info);
    assert_eq!(restored.hash("x"), original.hash("x"));

    let bad = DeviceInfo { device_type: "syslog".into(), ..info };
    assert!(new_device(&bad, vec![]).is_err());
}
