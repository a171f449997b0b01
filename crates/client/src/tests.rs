//! Client tests against a canned HTTP server on a local socket: what is sent (method, URL,
//! headers, body) and how answers become `Secret`s and errors.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// One request as the canned server saw it: the head (lower-cased header names) and body.
#[derive(Debug, Clone, Default)]
struct Seen {
    head: String,
    body: String,
}

impl Seen {
    fn line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Seen {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stream.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0usize);
            if buf.len() >= end + 4 + len {
                return Seen { head, body: text[end + 4..end + 4 + len].to_string() };
            }
        }
    }
    Seen::default()
}

/// Serves the canned `(status, body)` answers in order, one connection each.
async fn canned(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for (status, body) in answers {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let request = read_request(&mut stream).await;
            if let Ok(mut log) = log.lock() {
                log.push(request);
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (format!("http://{addr}"), seen)
}

fn client(address: &str) -> Client {
    Client::new(ClientConfig {
        address: address.into(),
        token: Some(SecretString::new("s.sekrit")),
        ..ClientConfig::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn requests(seen: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    seen.lock().map(|s| s.clone()).unwrap_or_default()
}

#[tokio::test]
async fn reads_send_the_token_and_the_request_header() {
    let (addr, seen) =
        canned(vec![(200, r#"{"request_id":"r1","data":{"a":"b"},"lease_duration":60}"#)]).await;
    let s = client(&addr).read("secret/data/app", &[("version", "2")]).await;
    let s = s.ok().flatten().unwrap_or_default();
    assert_eq!(s.request_id, "r1");
    assert_eq!(s.lease_duration, 60);
    let seen = requests(&seen);
    assert_eq!(seen[0].line(), "GET /v1/secret/data/app?version=2 HTTP/1.1");
    assert_eq!(seen[0].header("x-vault-token").as_deref(), Some("s.sekrit"));
    assert_eq!(seen[0].header("x-vault-request").as_deref(), Some("true"));
}

#[tokio::test]
async fn a_404_is_none_unless_its_body_has_data_or_warnings() {
    let deleted = r#"{"data":{"data":null,"metadata":{"version":2}},"warnings":null}"#;
    let warned = r#"{"data":null,"warnings":["Invalid path for a versioned K/V secrets engine"]}"#;
    let (addr, seen) = canned(vec![(404, r#"{"errors":[]}"#), (404, deleted), (404, warned)]).await;
    let c = client(&addr);
    assert!(matches!(c.read("kv/missing", &[]).await, Ok(None)));
    let s = c.read("secret/data/gone", &[]).await.ok().flatten().unwrap_or_default();
    assert_eq!(s.data.and_then(|d| d.get("metadata").cloned()), Some(json!({"version": 2})));
    let s = c.read("secret/x", &[]).await.ok().flatten().unwrap_or_default();
    assert!(s.has_warnings());
    assert_eq!(requests(&seen).len(), 3, "one request per read");
}

#[tokio::test]
async fn lists_use_get_with_list_true_and_no_trailing_slash() {
    let (addr, seen) =
        canned(vec![(200, r#"{"data":{"keys":["a","b/"]}}"#), (404, r#"{"errors":[]}"#)]).await;
    let c = client(&addr);
    let s = c.list("secret/metadata/").await.ok().flatten().unwrap_or_default();
    assert_eq!(s.data.and_then(|d| d.get("keys").cloned()), Some(json!(["a", "b/"])));
    assert!(matches!(c.list("secret/metadata/none").await, Ok(None)));
    assert_eq!(requests(&seen)[0].line(), "GET /v1/secret/metadata?list=true HTTP/1.1");
}

#[tokio::test]
async fn writes_patches_and_deletes_send_what_vault_sends() {
    let (addr, seen) = canned(vec![
        (204, ""),
        (204, ""),
        (200, r#"{"data":{"version":3}}"#),
        (204, ""),
        (204, ""),
        (204, ""),
    ])
    .await;
    let c = client(&addr);
    assert!(matches!(c.write("kv/a", &json!({"k": "v"})).await, Ok(None)));
    assert!(matches!(c.write("kv/b", &Value::Null).await, Ok(None)));
    let patched = c.patch("secret/data/a", &json!({"data": {"k": "w"}})).await;
    assert_eq!(
        patched.ok().flatten().and_then(|s| s.data).and_then(|d| d.get("version").cloned()),
        Some(json!(3))
    );
    assert!(matches!(c.delete("kv/a", &[]).await, Ok(None)));
    assert!(matches!(c.write_empty("sys/seal").await, Ok(None)));
    assert!(matches!(c.post("sys/mounts/kv", &json!({"type": "kv"})).await, Ok(None)));
    let seen = requests(&seen);
    assert_eq!(seen[0].line(), "PUT /v1/kv/a HTTP/1.1");
    assert_eq!(seen[0].body, r#"{"k":"v"}"#);
    assert_eq!(seen[1].body, "null");
    assert_eq!(seen[2].line(), "PATCH /v1/secret/data/a HTTP/1.1");
    assert_eq!(seen[2].header("content-type").as_deref(), Some("application/merge-patch+json"));
    assert_eq!(seen[3].line(), "DELETE /v1/kv/a HTTP/1.1");
    assert_eq!(seen[4].body, "");
    assert_eq!(seen[4].header("content-type"), None);
    assert_eq!(seen[5].line(), "POST /v1/sys/mounts/kv HTTP/1.1");
}

#[tokio::test]
async fn error_statuses_become_api_errors_with_the_full_url() {
    let (addr, _) = canned(vec![(403, r#"{"errors":["permission denied"]}"#), (500, "oops")]).await;
    let c = client(&addr);
    let e = c.read("secret/data/x", &[("version", "1")]).await.err();
    let Some(ClientError::Api { method, url, status, errors }) = e else {
        panic!("expected an API error, got {e:?}")
    };
    assert_eq!((method.as_str(), status), ("GET", 403));
    assert_eq!(url, format!("{addr}/v1/secret/data/x?version=1"));
    assert_eq!(errors, ["permission denied"]);
    let e = c.write("x", &json!({})).await.err();
    assert!(
        matches!(e, Some(ClientError::Api { status: 500, ref errors, .. }) if errors.is_empty()),
        "{e:?}"
    );
}

#[tokio::test]
async fn bare_json_endpoints_return_any_status() {
    let (addr, _) = canned(vec![
        (503, r#"{"sealed":true}"#),
        (200, r#"{"ha_enabled":false}"#),
        (400, r#"{"errors":["Vault is already initialized"]}"#),
    ])
    .await;
    let c = client(&addr);
    let answer = c.raw_json("GET", "sys/health", None).await.ok();
    assert_eq!(answer, Some((503, json!({"sealed": true}))));
    assert_eq!(c.json("GET", "sys/leader", None).await.ok(), Some(json!({"ha_enabled": false})));
    let e = c.json("PUT", "sys/init", Some(&json!({"secret_shares": 1}))).await.err();
    assert_eq!(e.map(|e| e.errors().to_vec()), Some(vec!["Vault is already initialized".into()]));
}

#[tokio::test]
async fn refused_connections_are_transport_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(listener);
    let e = client(&format!("http://{addr}")).read("sys/health", &[]).await.err();
    assert!(matches!(e, Some(ClientError::Transport(ref m)) if m.contains("GET http://")), "{e:?}");
}

#[test]
fn addresses_need_a_scheme() {
    let bad = Client::new(ClientConfig { address: "127.0.0.1:8200".into(), ..Default::default() });
    assert!(matches!(bad, Err(ClientError::Config(_))));
}

#[test]
fn tokens_stay_out_of_debug() {
    let config = ClientConfig {
        address: "http://127.0.0.1:1".into(),
        token: Some(SecretString::new("s.secret")),
        ..Default::default()
    };
    assert!(!format!("{config:?}").contains("s.secret"));
    let client = Client::new(config).unwrap_or_else(|e| panic!("{e}"));
    assert!(!format!("{client:?}").contains("s.secret"));
}

#[test]
fn urls_escape_what_paths_cannot_hold() {
    let c = client("http://127.0.0.1:8200/");
    assert_eq!(c.url("/secret/data/a b", &[]), "http://127.0.0.1:8200/v1/secret/data/a%20b");
    assert_eq!(c.url("kv/x", &[("list", "true")]), "http://127.0.0.1:8200/v1/kv/x?list=true");
    assert_eq!(c.url("kv/é?#", &[]), "http://127.0.0.1:8200/v1/kv/%C3%A9%3F%23");
}
