//! Test support shared by the JWT and Kubernetes auth tests: keys made with the `openssl` CLI,
//! JWTs signed with them, a small HTTP server on 127.0.0.1, and request helpers for a core.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use coffer_core::Core;
use coffer_types::{Error, Operation, Request, Response};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A key pair in PEM, with the algorithm it signs with.
#[derive(Clone)]
pub struct TestKey {
    pub alg: Algorithm,
    pub private_pem: String,
    pub public_pem: String,
}

fn openssl(args: &[&str], input: Option<&str>) -> String {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the openssl CLI is installed");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

impl TestKey {
    /// A fresh key for `alg` (RS256, ES256 or EdDSA).
    pub fn generate(alg: Algorithm) -> TestKey {
        let private_pem = match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 => {
                openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], None)
            }
            Algorithm::ES256 => openssl(
                &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                None,
            ),
            Algorithm::ES384 => openssl(
                &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
                None,
            ),
            Algorithm::EdDSA => openssl(&["genpkey", "-algorithm", "ED25519"], None),
            other => panic!("no test keys for {other:?}"),
        };
        let public_pem = openssl(&["pkey", "-pubout"], Some(&private_pem));
        TestKey { alg, private_pem, public_pem }
    }

    fn encoding_key(&self) -> EncodingKey {
        let pem = self.private_pem.as_bytes();
        match self.alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem).unwrap(),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem).unwrap(),
        }
    }

    /// A JWT with `claims`, signed by this key, with `kid` in the header when given.
    pub fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }

    /// The public key as a JWK with `kid`, built from its DER form.
    pub fn jwk(&self, kid: &str) -> Value {
        let der = {
            let mut child = Command::new("openssl")
                .args(["pkey", "-pubin", "-outform", "DER"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(self.public_pem.as_bytes()).unwrap();
            child.wait_with_output().unwrap().stdout
        };
        match self.alg {
            Algorithm::ES256 => {
                let point = &der[der.len() - 65..];
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256",
                       "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            Algorithm::EdDSA => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA",
                       "x": b64(&der[der.len() - 32..])})
            }
            _ => {
                let out = openssl(&["rsa", "-pubin", "-noout", "-modulus"], Some(&self.public_pem));
                let hex = out.trim().trim_start_matches("Modulus=");
                let modulus: Vec<u8> = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&modulus), "e": "AQAB"})
            }
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 JWT whose HMAC key is `secret` (key-confusion attempts use the public key).
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .unwrap()
}

/// An unsigned JWT (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64(&serde_json::to_vec(claims).unwrap()))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    coffer_types::unix_now()
}

/// A request as the fake server saw it.
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

type Handler = dyn Fn(&Seen) -> (u16, Value) + Send + Sync;

/// A small HTTP server on 127.0.0.1 answering with a handler; counts requests per path.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    pub total: Arc<AtomicUsize>,
}

impl FakeServer {
    pub async fn start(
        handler: impl Fn(&Seen) -> (u16, Value) + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Handler> = Arc::new(handler);
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let total = Arc::new(AtomicUsize::new(0));
        let (h, t) = (hits.clone(), total.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (handler, hits, total) = (handler.clone(), h.clone(), t.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (handler, hits, total) = (handler.clone(), hits.clone(), total.clone());
                        async move {
                            use http_body_util::BodyExt;
                            let method = req.method().to_string();
                            let path = req.uri().path().to_string();
                            let authorization = req
                                .headers()
                                .get("authorization")
                                .map(|v| v.to_str().unwrap_or_default().to_string());
                            let bytes = req.into_body().collect().await.unwrap().to_bytes();
                            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                            *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                            total.fetch_add(1, Ordering::SeqCst);
                            let seen = Seen { method, path, authorization, body };
                            let (status, answer) = handler(&seen);
                            let response = hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(answer.to_string())))
                                .unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeServer { addr, hits, total }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// One request with `token` (if any) and JSON `data`.
pub async fn call(
    core: &Core,
    token: Option<&str>,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, Error> {
    let mut req = Request::new(op, path).with_data(data.as_object().cloned().unwrap_or_default());
    if let Some(t) = token {
        req = req.with_token(t);
    }
    core.handle(req).await
}

/// A root write that must succeed.
pub async fn write(core: &Core, path: &str, data: Value) -> Response {
    call(core, Some("root"), Operation::Update, path, data)
        .await
        .unwrap_or_else(|e| panic!("write {path}: {e}"))
}
