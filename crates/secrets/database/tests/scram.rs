//! Against a private PostgreSQL cluster that checks passwords (`initdb
//! --auth-host=scram-sha-256`), started on a free port for this test and removed after it:
//! a trust-auth server accepts any password, so only here can a wrong password fail.
//!
//! - `passwords_are_checked_after_rotations`: rotate-root (the old root password stops
//!   working, the engine goes on with the new one), dynamic users with
//!   `password_authentication = "scram-sha-256"` (SCRAM verifier in SQL, the plaintext logs
//!   in, a wrong password does not), static role rotation (the old password stops working).
//!
//! Runs when `COFFER_TEST_POSTGRES_URL` is set (the PostgreSQL tests are wanted) and `initdb`
//! can be found; as root it runs the server as the `postgres` user with `runuser`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use coffer_types::Operation;
use common::*;
use serde_json::json;

/// A running private cluster; stopped and deleted on drop.
struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
}

fn pg_bin() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/local/bin")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(entries.flatten().map(|e| e.path().join("bin")));
    }
    candidates.into_iter().find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    fn run(&self, program: &str, args: &[&str]) -> bool {
        let exe = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let status = command.args(args).stdout(Stdio::null()).status();
        status.is_ok_and(|s| s.success())
    }

    /// Starts a cluster whose superuser `postgres` has `password`, or says why it cannot.
    fn start(password: &str) -> Result<Cluster, String> {
        let bin = pg_bin().ok_or("initdb/pg_ctl not found")?;
        let as_postgres = is_root();
        let dir =
            std::env::temp_dir().join(format!("coffer-pg-{}", coffer_types::random_base62(8)));
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| e.to_string())?;
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, password).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let cluster = Cluster { dir, port, bin, as_postgres };
        let data = cluster.dir.join("data");
        let (data_s, pw_s) =
            (data.to_string_lossy().to_string(), pwfile.to_string_lossy().to_string());
        let init =
            ["-D", &data_s, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256"];
        if !cluster
            .run("initdb", &[&init[..], &["--pwfile", &pw_s, "--no-sync", "-E", "UTF8"]].concat())
        {
            return Err("initdb failed (as root it needs the postgres user and runuser)".into());
        }
        let dir_s = cluster.dir.to_string_lossy().to_string();
        let options = format!("-p {port} -k {dir_s} -c listen_addresses=127.0.0.1 -c fsync=off");
        let log = cluster.dir.join("log").to_string_lossy().to_string();
        if !cluster.run("pg_ctl", &["-D", &data_s, "-o", &options, "-l", &log, "-w", "start"]) {
            return Err("pg_ctl start failed".into());
        }
        Ok(cluster)
    }

    /// The superuser over the Unix socket (trusted).
    async fn admin(&self) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config.host_path(&self.dir).port(self.port).user("postgres").dbname("postgres");
        connect(&config).await.unwrap()
    }

    /// A URL over TCP (password checked).
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").to_string_lossy().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn passwords_are_checked_after_rotations() {
    if pg_url("passwords_are_checked_after_rotations").is_none() {
        return;
    }
    let root_password = format!("Root-{}", coffer_types::random_base62(12));
    let cluster = match Cluster::start(&root_password) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipping passwords_are_checked_after_rotations: {why}");
            return;
        }
    };
    let url = cluster.url();
    let admin = cluster.admin().await;
    assert!(
        login(&url, "postgres", "wrong-password").await.is_err(),
        "the cluster checks passwords"
    );
    assert!(login(&url, "postgres", &root_password).await.is_ok());

    let core = core().await;
    let config = json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": templated(&url),
        "username": "postgres",
        "password": root_password,
        "allowed_roles": "*",
        "password_authentication": "scram-sha-256",
    });
    root(&core, Operation::Update, "database/config/pg", config).await.unwrap();
    let read = root(&core, Operation::Read, "database/config/pg", json!({})).await.unwrap();
    assert!(!shown(&read).contains(&root_password));
    assert_eq!(
        read.data.unwrap()["connection_details"]["password_authentication"],
        "scram-sha-256"
    );

    // rotate-root: the old password stops working, the engine goes on with the new one.
    root(&core, Operation::Update, "database/rotate-root/pg", json!({})).await.unwrap();
    assert!(login(&url, "postgres", &root_password).await.is_err(), "old root password refused");
    let hash = password_hash(&admin, "postgres").await.unwrap();
    assert!(hash.starts_with("SCRAM-SHA-256$"));

    // Dynamic users get a SCRAM verifier; their plaintext password logs in, others do not.
    let creation =
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'";
    let role = json!({"db_name": "pg", "creation_statements": creation, "default_ttl": 300});
    root(&core, Operation::Update, "database/roles/ro", role).await.unwrap();
    let creds = root(&core, Operation::Read, "database/creds/ro", json!({})).await.unwrap();
    let data = creds.data.unwrap();
    let (user, password) = (data["username"].as_str().unwrap(), data["password"].as_str().unwrap());
    assert!(password_hash(&admin, user).await.unwrap().starts_with("SCRAM-SHA-256$4096:"));
    assert!(login(&url, user, password).await.is_ok());
    assert!(login(&url, user, "Wrong-password-1").await.is_err());
    let lease = creds.lease.unwrap().lease_id;
    root(&core, Operation::Update, "sys/leases/revoke", json!({"lease_id": lease})).await.unwrap();
    assert!(login(&url, user, password).await.is_err());
    assert!(!role_exists(&admin, user).await);

    // Static roles: after each rotation only the newest password works.
    admin.batch_execute("CREATE ROLE app LOGIN PASSWORD 'Initial-pw-1'").await.unwrap();
    assert!(login(&url, "app", "Initial-pw-1").await.is_ok());
    let st = json!({"db_name": "pg", "username": "app", "rotation_period": "1h"});
    root(&core, Operation::Update, "database/static-roles/app", st).await.unwrap();
    assert!(login(&url, "app", "Initial-pw-1").await.is_err());
    let first = root(&core, Operation::Read, "database/static-creds/app", json!({})).await.unwrap();
    let first = first.data.unwrap()["password"].as_str().unwrap().to_string();
    assert!(login(&url, "app", &first).await.is_ok());
    root(&core, Operation::Update, "database/rotate-role/app", json!({})).await.unwrap();
    let second =
        root(&core, Operation::Read, "database/static-creds/app", json!({})).await.unwrap();
    let second = second.data.unwrap()["password"].as_str().unwrap().to_string();
    assert!(login(&url, "app", &first).await.is_err());
    assert!(login(&url, "app", &second).await.is_ok());
}
