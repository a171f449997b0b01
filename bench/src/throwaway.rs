//! Throwaway databases for the database workloads of `compare`: a PostgreSQL cluster made
//! with `initdb` (run as user `postgres`, trust authentication, no fsync) or a redis-server,
//! listening on 127.0.0.1 only, in a temporary directory that goes with it.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tempfile::TempDir;
use tokio::process::Child;

use crate::args::Database;
use crate::compare::{free_port, spawn};

/// A running database; stopped and deleted on drop.
pub struct Throwaway {
    kind: Database,
    child: Child,
    /// Deleted after the process is gone (fields drop after `drop`).
    _dir: TempDir,
    /// The URL to pass as `--database`.
    pub url: String,
}

impl Throwaway {
    /// One line for the report.
    pub fn describe(&self) -> String {
        match self.kind {
            Database::Postgres => "a throwaway PostgreSQL cluster (initdb, trust auth, fsync off), pinned beside the load generator".into(),
            Database::Redis => "a throwaway redis-server (OpenBao's redis-database-plugin), pinned beside the load generator".into(),
        }
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        // PostgreSQL gets a fast shutdown (SIGINT) so it releases its shared memory; whatever
        // still runs after five seconds is killed.
        if let (Database::Postgres, Some(pid)) = (self.kind, self.child.id()) {
            let _ = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Path::new(&format!("/proc/{pid}/status")).exists()
                && matches!(self.child.try_wait(), Ok(None))
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.start_kill();
    }
}

/// Starts a database of `kind`, pinned to `cpu`.
pub async fn start(kind: Database, cpu: Option<u32>) -> Result<Throwaway> {
    let dir = tempfile::Builder::new().prefix("coffer-bench-db-").tempdir()?;
    let port = free_port()?;
    let log = dir.path().join("db.log");
    let (child, url) = match kind {
        Database::Postgres => {
            let data = dir.path().join("data");
            // PostgreSQL refuses to run as root: the directory belongs to `postgres`.
            let chown = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .context("chown")?;
            if !chown.success() {
                bail!("chown postgres {} failed", dir.path().display());
            }
            let init = std::process::Command::new("setpriv")
                .args(["--reuid=postgres", "--regid=postgres", "--init-groups", "initdb"])
                .args(["--auth=trust", "--username=postgres", "--no-sync", "--no-instructions"])
                .arg("-D")
                .arg(&data)
                .output()
                .context("running initdb as postgres (setpriv)")?;
            if !init.status.success() {
                bail!("initdb failed: {}", String::from_utf8_lossy(&init.stderr));
            }
            let args: Vec<String> = vec![
                "--reuid=postgres".into(),
                "--regid=postgres".into(),
                "--init-groups".into(),
                "postgres".into(),
                "-D".into(),
                data.display().to_string(),
                "-p".into(),
                port.to_string(),
                "-k".into(),
                dir.path().display().to_string(),
                "-c".into(),
                "listen_addresses=127.0.0.1".into(),
                "-c".into(),
                "fsync=off".into(),
                "-c".into(),
                "max_connections=200".into(),
            ];
            let child = spawn(Path::new("setpriv"), &args, cpu, &log)?;
            (child, format!("postgres://postgres:@127.0.0.1:{port}/postgres"))
        }
        Database::Redis => {
            let password = format!("bench-{}-{port}", std::process::id());
            let args: Vec<String> = [
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--requirepass",
                &password,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &dir.path().display().to_string(),
            ]
            .map(String::from)
            .to_vec();
            let child = spawn(Path::new("redis-server"), &args, cpu, &log)?;
            (child, format!("redis://default:{password}@127.0.0.1:{port}"))
        }
    };
    let db = Throwaway { kind, child, _dir: dir, url };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("the {kind:?} database did not listen on 127.0.0.1:{port}; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // PostgreSQL listens a moment before it accepts logins.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(db)
}
