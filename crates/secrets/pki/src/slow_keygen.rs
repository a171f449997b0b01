//! RSA key generation off the request path, at low CPU priority.
//!
//! Generating an RSA key takes tens to hundreds of milliseconds. On tokio's blocking pool each
//! one would get its own thread at normal priority, so a burst of RSA issues would take the
//! CPU from everything else (EC issues, KV reads) in proportion to their number. Here they run
//! on a fixed set of threads, one per CPU the process may use, each lowered to the `SCHED_IDLE`
//! policy (and nice 19 where that policy is unavailable): RSA keys still use every idle cycle,
//! but any other request that becomes runnable takes the CPU at once. Nice 19 alone is not
//! enough: a nice-19 thread keeps the CPU for its time slice when a request arrives, which
//! doubled the p99 of EC issues beside RSA load on one core. `SCHED_IDLE` alone would starve
//! RSA issues on a saturated CPU, so a key that has waited [`STARVATION_LIMIT`] gets its
//! thread raised to normal scheduling (nice 19) until it is done.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use coffer_types::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// How long a key may wait for idle CPU before its thread is raised to normal scheduling
/// (still at nice 19) until the key is done: on a saturated CPU `SCHED_IDLE` alone would
/// starve RSA issues for as long as the saturation lasts.
const STARVATION_LIMIT: Duration = Duration::from_secs(1);

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
    let tid = thread_id().unwrap_or_default();
    run_tool("renice", &["-n", "19", "-p", &tid]);
    set_policy(&tid, Policy::Idle);
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

/// This thread's id (Linux tid), as `/proc/thread-self` names it.
fn thread_id() -> Option<String> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name().and_then(|t| t.to_str()).map(str::to_string)
}

/// How a key generation thread is scheduled.
#[derive(Clone, Copy)]
enum Policy {
    /// `SCHED_IDLE` at nice 19: only idle CPU.
    Idle,
    /// Normal scheduling at nice 19, for a key that waited too long.
    Boosted,
}

/// Sets thread `tid`'s policy; its nice value (19, set once when the thread starts) is kept
/// across the change. Linux policies are per thread. Moving to `SCHED_IDLE` needs no
/// privilege, nor does returning from it to normal scheduling at nice 19; where a change
/// fails the thread keeps what it had.
fn set_policy(tid: &str, policy: Policy) {
    let flag = match policy {
        Policy::Idle => "--idle",
        Policy::Boosted => "--other",
    };
    run_tool("chrt", &[flag, "-p", "0", tid]);
}

/// Runs a util-linux tool on a thread id, ignoring its outcome (see [`set_policy`]).
fn run_tool(tool: &str, args: &[&str]) {
    if args.last().is_some_and(|tid| tid.is_empty()) {
        return;
    }
    let _ = std::process::Command::new(tool)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Where a job runs, so a waiter can raise that thread when the job starves.
#[derive(Default)]
struct Running {
    /// The tid of the thread running the job, once it has started.
    tid: Option<String>,
    /// Whether a waiter raised the thread; the thread lowers itself again after the job.
    boosted: bool,
}

/// Runs `f` on a low-priority key generation thread and waits for its result.
pub(crate) async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let failed = || Error::internal("key generation task failed");
    let Some(pool) = POOL.as_ref() else {
        return tokio::task::spawn_blocking(f).await.map_err(|_| failed());
    };
    let (reply, mut result) = tokio::sync::oneshot::channel();
    let running = Arc::new(Mutex::new(Running::default()));
    let on_thread = running.clone();
    pool.send(Box::new(move || {
        if let Ok(mut r) = on_thread.lock() {
            r.tid = thread_id();
        }
        let _ = reply.send(f());
        let (tid, boosted) = match on_thread.lock() {
            Ok(mut r) => (r.tid.take(), std::mem::take(&mut r.boosted)),
            Err(_) => (None, false),
        };
        if boosted {
            set_policy(&tid.unwrap_or_default(), Policy::Idle);
        }
    }))
    .map_err(|_| failed())?;
    loop {
        match tokio::time::timeout(STARVATION_LIMIT, &mut result).await {
            Ok(done) => return done.map_err(|_| failed()),
            Err(_) => boost(running.clone()).await,
        }
    }
}

/// Raises the thread running a starving job (if it has started and is not raised yet). The
/// lock is held while raising, so the thread, finishing meanwhile, lowers itself after.
async fn boost(running: Arc<Mutex<Running>>) {
    let _ = tokio::task::spawn_blocking(move || {
        let Ok(mut r) = running.lock() else { return };
        let Some(tid) = r.tid.clone().filter(|_| !r.boosted) else { return };
        r.boosted = true;
        set_policy(&tid, Policy::Boosted);
    })
    .await;
}

#[cfg(test)]
mod tests {
    /// This thread's nice value (field 19 of its stat) and scheduling policy (field 41;
    /// 0 = normal, 5 = SCHED_IDLE). Fields after the command name (in parentheses) start at
    /// field 3.
    fn nice_and_policy() -> (Option<String>, Option<String>) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, rest)| rest.to_string()).unwrap_or_default();
        let field = |n: usize| after.split_whitespace().nth(n - 3).map(str::to_string);
        (field(19), field(41))
    }

    fn at(nice: &str, policy: &str) -> Option<(Option<String>, Option<String>)> {
        Some((Some(nice.into()), Some(policy.into())))
    }

    #[tokio::test]
    async fn runs_jobs_at_nice_19_under_sched_idle() {
        assert_eq!(super::run(nice_and_policy).await.ok(), at("19", "5"));
    }

    #[tokio::test]
    async fn a_starving_job_is_raised_to_normal_scheduling_and_lowered_after() {
        // A job still running past the starvation limit gets its thread raised (nice kept).
        let raised = super::run(|| {
            std::thread::sleep(super::STARVATION_LIMIT + std::time::Duration::from_millis(700));
            nice_and_policy()
        })
        .await
        .ok();
        assert_eq!(raised, at("19", "0"));
        // The thread lowered itself again after that job.
        for _ in 0..4 {
            assert_eq!(super::run(nice_and_policy).await.ok(), at("19", "5"));
        }
    }
}
