//! Test support: start a real `coffer` server process on 127.0.0.1, talk to it over plain
//! HTTP, and find the real clients (`bao`, Python with hvac).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod tls;

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `coffer server`, killed on drop.
pub struct Server {
    child: Option<Child>,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// The root token (dev servers; set by tests after init otherwise).
    pub token: String,
    /// Where the server writes its log.
    pub log: PathBuf,
    _logdir: tempfile::TempDir,
}

impl Server {
    /// A dev server with a known root token.
    pub fn dev() -> Server {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let token = format!("root-{}", port);
        let mut server = Server::spawn(&[
            "server",
            "--dev",
            "--dev-listen-address",
            &addr,
            "--dev-root-token-id",
            &token,
        ]);
        server.addr = addr;
        server.token = token;
        server.wait_until_up();
        server
    }

    /// A server started from a config file whose listener is `addr` (plain HTTP).
    pub fn with_config(config_path: &Path, addr: &str) -> Server {
        let mut server = Server::spawn(&["server", "--config", config_path.to_str().unwrap()]);
        server.addr = addr.to_string();
        server.wait_until_up();
        server
    }

    fn spawn(args: &[&str]) -> Server {
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("server.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_coffer"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .stdin(Stdio::null())
            .spawn()
            .expect("start coffer");
        Server {
            child: Some(child),
            addr: String::new(),
            token: String::new(),
            log,
            _logdir: logdir,
        }
    }

    /// Waits until the listener answers `sys/health` (any status).
    pub fn wait_until_up(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.addr).is_ok()
                && request(&self.addr, "GET", "/v1/sys/health", None, None).is_ok()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("coffer exited with {status} before serving:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("coffer did not come up at {}:\n{}", self.addr, self.log_text());
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An API call with this server's token.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        request(&self.addr, method, path, Some(&self.token), body).unwrap()
    }

    /// A handle on the same server (no process of its own): for running clients with
    /// another token. Dropping it stops nothing.
    pub fn share(&self) -> Server {
        Server {
            child: None,
            addr: self.addr.clone(),
            token: self.token.clone(),
            log: self.log.clone(),
            _logdir: tempfile::tempdir().unwrap(),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One HTTP/1.1 request over a fresh connection; returns status and parsed JSON body
/// (`Value::Null` for an empty body, a JSON string for a non-JSON body).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let (status, _headers, bytes) =
        raw_request(addr, method, path, token, body.map(|b| b.to_string().into_bytes()), &[])?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Ok((status, value))
}

/// One HTTP/1.1 request with raw body and extra headers; returns status, headers, body.
pub fn raw_request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("X-Vault-Token: {t}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut body = response[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

/// The `bao` CLI: `$BAO`, else `.openbao/` in the repo. `None` (with a message) outside CI
/// when it is not installed; in CI a missing client is a failure.
pub fn bao() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BAO") {
        if !p.is_empty() && Path::new(&p).exists() {
            return Some(PathBuf::from(p));
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = walk_for(&root.join(".openbao"), "bao");
    if found.is_none() {
        missing("the bao CLI (run scripts/test, or set BAO)");
    }
    found
}

/// Python with hvac: `$COFFER_TEST_PYTHON`, else `.venv/bin/python`.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var("COFFER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    if candidate.exists() {
        Some(candidate)
    } else {
        missing("Python with hvac (run scripts/test, or set COFFER_TEST_PYTHON)");
        None
    }
}

fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI must install {what}");
    }
    eprintln!("skipping: {what} is not installed");
}

fn walk_for(dir: &Path, name: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = walk_for(&path, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == name)
            && path.parent().is_some_and(|p| p.ends_with("bin"))
        {
            return Some(path);
        }
    }
    None
}

/// Runs the `bao` CLI against `server` with its token; returns the output.
pub fn run_bao(bao: &Path, server: &Server, args: &[&str]) -> Output {
    Command::new(bao)
        .args(args)
        .env("VAULT_ADDR", server.url())
        .env("BAO_ADDR", server.url())
        .env("VAULT_TOKEN", &server.token)
        .env("BAO_TOKEN", &server.token)
        .env_remove("VAULT_NAMESPACE")
        .env_remove("BAO_NAMESPACE")
        .stdin(Stdio::null())
        .output()
        .expect("run bao")
}

/// Runs bao and asserts success, returning stdout.
pub fn bao_ok(bao: &Path, server: &Server, args: &[&str]) -> String {
    let out = run_bao(bao, server, args);
    assert!(
        out.status.success(),
        "bao {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs bao with `-format=json` (placed after the command words) and parses stdout.
pub fn bao_json(bao: &Path, server: &Server, args: &[&str]) -> Value {
    let words = match args {
        ["kv", "metadata", ..] => 3,
        [first, ..]
            if matches!(
                *first,
                "kv" | "secrets" | "operator" | "token" | "policy" | "auth" | "audit" | "lease"
            ) =>
        {
            2
        }
        _ => 1,
    };
    let words = words.min(args.len());
    let mut all: Vec<&str> = args[..words].to_vec();
    all.push("-format=json");
    all.extend_from_slice(&args[words..]);
    let out = bao_ok(bao, server, &all);
    serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("bao {args:?} printed non-JSON ({e}): {out}"))
}
