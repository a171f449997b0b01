//! RSA key generation off the request path, at low CPU priority.
//!
//! Generating an RSA key takes tens to hundreds of milliseconds. On tokio's blocking pool each
//! one would get its own thread at normal priority, so a burst of RSA issues would take the
//! CPU from everything else (EC issues, KV reads) in proportion to their number. Here they run
//! on a fixed set of threads, one per CPU the process may use, each lowered to nice 19: RSA
//! keys still use every idle cycle, but other requests go first when the CPU is busy.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};

use coffer_types::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

static POOL: LazyLock<Option<Sender<Job>>> = LazyLock::new(start);

fn start() -> Option<Sender<Job>> {
    let (sender, receiver) = channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut started = 0;
    for i in 0..threads {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("coffer-keygen-{i}"))
            .spawn(move || work(&receiver));
        if spawned.is_ok() {
            started += 1;
        }
    }
    (started > 0).then_some(sender)
}

fn work(jobs: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Sets this thread's nice value to 19 (Linux nice values are per thread). Raising one's own
/// nice value needs no privilege; where it fails the thread simply keeps normal priority.
fn lower_priority() {
    let Ok(link) = std::fs::read_link("/proc/thread-self") else { return };
    let Some(tid) = link.file_name().and_then(|t| t.to_str()).map(str::to_string) else {
        return;
    };
    let _ = std::process::Command::new("renice")
        .args(["-n", "19", "-p", &tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Runs `f` on a low-priority key generation thread and waits for its result.
pub(crate) async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let failed = || Error::internal("key generation task failed");
    let Some(pool) = POOL.as_ref() else {
        return tokio::task::spawn_blocking(f).await.map_err(|_| failed());
    };
    let (reply, result) = tokio::sync::oneshot::channel();
    pool.send(Box::new(move || {
        let _ = reply.send(f());
    }))
    .map_err(|_| failed())?;
    result.await.map_err(|_| failed())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn runs_jobs_at_nice_19() {
        let nice = super::run(|| {
            let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
            // Field 19 is the nice value; fields after the command name (in parentheses).
            let after = stat.rsplit_once(')').map(|(_, rest)| rest.to_string()).unwrap_or_default();
            after.split_whitespace().nth(16).map(str::to_string)
        })
        .await
        .ok()
        .flatten();
        assert_eq!(nice.as_deref(), Some("19"));
    }
}
