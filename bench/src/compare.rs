//! Side by side: starts Coffer and OpenBao in dev mode (in memory), each pinned to CPU 0 with
//! `taskset`, pins this process to CPU 1, and runs every workload on each server in turn.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use coffer_client::{Client, ClientConfig};
use coffer_types::SecretString;

/// A server process, killed on drop.
pub struct ServerProcess {
    child: Child,
    /// The API client with the root token.
    pub root: Client,
    /// Spawn to first healthy answer.
    pub start_to_serving: Duration,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `command` pinned to CPU 0 and waits until `sys/health` answers 200.
pub async fn start(
    name: &str,
    program: &Path,
    args: &[String],
    port: u16,
    token: &str,
) -> Result<ServerProcess> {
    let started = Instant::now();
    let child = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let root = Client::new(ClientConfig {
        address: format!("http://127.0.0.1:{port}"),
        token: Some(SecretString::new(token)),
        ..ClientConfig::default()
    })?;
    let mut server = ServerProcess { child, root, start_to_serving: Duration::ZERO };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok((200, _)) = server.root.raw_json("GET", "sys/health", None).await {
            server.start_to_serving = started.elapsed();
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bail!("{name} did not become healthy")
}

/// Starts Coffer in dev mode.
pub async fn start_coffer(binary: &Path) -> Result<ServerProcess> {
    let port = free_port()?;
    let args = vec![
        "server".into(),
        "--dev".into(),
        "--dev-listen-address".into(),
        format!("127.0.0.1:{port}"),
        "--dev-root-token-id".into(),
        "bench-root".into(),
    ];
    start("coffer", binary, &args, port, "bench-root").await
}

/// Starts OpenBao in dev mode.
pub async fn start_openbao(binary: &Path) -> Result<ServerProcess> {
    let port = free_port()?;
    let args = vec![
        "server".into(),
        "-dev".into(),
        "-dev-root-token-id=bench-root".into(),
        format!("-dev-listen-address=127.0.0.1:{port}"),
    ];
    start("openbao", binary, &args, port, "bench-root").await
}

/// `(VmRSS, VmHWM)` of a process in KiB.
pub fn memory_kib(server: &ServerProcess) -> (u64, u64) {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Pins this process to CPU 1 (best effort; a one-CPU machine keeps its default).
pub fn pin_self() {
    let _ = Command::new("taskset")
        .args(["-cp", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status();
}

/// The `bao` binary: `$BAO`, else `../shared/tools/get-openbao` run from the workspace.
pub fn find_bao(workspace: &Path) -> Result<PathBuf> {
    if let Ok(p) = std::env::var("BAO") {
        return Ok(PathBuf::from(p));
    }
    let tool = workspace.join("../shared/tools/get-openbao");
    let out = Command::new("bash")
        .arg(&tool)
        .arg(workspace.join(".openbao"))
        .output()
        .context("running get-openbao")?;
    if !out.status.success() {
        bail!("get-openbao failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}
