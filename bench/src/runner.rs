//! Drives a prepared workload in a closed loop (N workers back to back) or an open loop (a
//! fixed arrival rate). In the open loop each latency is measured from the request's
//! scheduled send time, so a stalled server is charged for the requests it delayed
//! (no coordinated omission).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::sync::Semaphore;

use crate::workloads::Prepared;

/// The shape of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// This many workers, each sending its next request when the last one is answered.
    Closed(usize),
    /// This many requests per second, at most `max_in_flight` outstanding.
    Open {
        /// Arrivals per second.
        rate: u64,
        /// Beyond this many outstanding requests, an arrival counts as `overload`.
        max_in_flight: usize,
    },
}

/// One run's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Closed or open loop.
    pub mode: Mode,
    /// How long.
    pub duration: Duration,
    /// At most this many requests.
    pub max_requests: Option<u64>,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Requests answered 2xx/3xx.
    pub ok: u64,
    /// Failures by kind: `status 403`, `transport: connect`, `timeout`, `overload`.
    pub errors: BTreeMap<String, u64>,
    /// Latency of successful requests, microseconds.
    pub latency: Histogram<u64>,
    /// Wall time from the first send to the last answer.
    pub elapsed: Duration,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    errors: BTreeMap<String, u64>,
}

/// 1 µs to 5 min at 3 significant digits.
fn histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy the constructor's checks (low >= 1,
    // high >= 2 * low, sigfig <= 5), so this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 300_000_000, 3).expect("constant histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Sends request `i`; `Ok` for a 2xx/3xx answer, else the error kind.
async fn one(w: &Prepared, i: u64) -> Result<(), String> {
    match w.api.send(&(w.next)(i)).await {
        Ok(status) if status.as_u16() < 400 => Ok(()),
        Ok(status) => Err(format!("status {}", status.as_u16())),
        Err(kind) => Err(kind.to_string()),
    }
}

/// Runs `plan` against `w`, ticking `bar` (its length is the run's milliseconds).
pub async fn run(w: Arc<Prepared>, plan: Plan, bar: &ProgressBar) -> Measured {
    let limit = plan.max_requests.unwrap_or(u64::MAX);
    let counter = Arc::new(AtomicU64::new(0));
    let ticker = {
        let (bar, counter) = (bar.clone(), counter.clone());
        tokio::spawn(async move {
            let start = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                bar.set_position(start.elapsed().as_millis() as u64);
                bar.set_message(format!("{} requests", counter.load(Ordering::Relaxed)));
            }
        })
    };
    let measured = match plan.mode {
        Mode::Closed(concurrency) => closed(w, concurrency, plan.duration, limit, counter).await,
        Mode::Open { rate, max_in_flight } => {
            open(w, rate, max_in_flight, plan.duration, limit, counter).await
        }
    };
    ticker.abort();
    measured
}

async fn closed(
    w: Arc<Prepared>,
    concurrency: usize,
    duration: Duration,
    limit: u64,
    counter: Arc<AtomicU64>,
) -> Measured {
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (w, counter) = (w.clone(), counter.clone());
        workers.spawn(async move {
            let (mut latency, mut tally) = (histogram(), Tally::default());
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                if counter.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
                let Some(i) = w.take() else { break };
                match one(&w, i).await {
                    Ok(()) => {
                        tally.ok += 1;
                        latency.saturating_record(micros(sent.elapsed()));
                    }
                    Err(kind) => *tally.errors.entry(kind).or_default() += 1,
                }
            }
            (latency, tally)
        });
    }
    let (mut latency, mut total) = (histogram(), Tally::default());
    while let Some(done) = workers.join_next().await {
        if let Ok((h, tally)) = done {
            let _ = latency.add(&h);
            total.ok += tally.ok;
            for (kind, n) in tally.errors {
                *total.errors.entry(kind).or_default() += n;
            }
        }
    }
    Measured { ok: total.ok, errors: total.errors, latency, elapsed: start.elapsed() }
}

async fn open(
    w: Arc<Prepared>,
    rate: u64,
    max_in_flight: usize,
    duration: Duration,
    limit: u64,
    counter: Arc<AtomicU64>,
) -> Measured {
    let shared = Arc::new(Mutex::new((histogram(), Tally::default())));
    let max_in_flight = max_in_flight.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let total = ((duration.as_secs_f64() * rate as f64) as u64).min(limit);
    let runtime = tokio::runtime::Handle::current();
    let start = Instant::now();
    // The arrivals are paced by a plain thread: tokio's timer rounds to whole milliseconds,
    // and that lateness would be charged to the server, since latency counts from the
    // scheduled time. When the pacer falls behind it sends at once, still timing from then.
    let pacer = {
        let (shared, slots) = (shared.clone(), slots.clone());
        tokio::task::spawn_blocking(move || {
            for n in 0..total {
                let scheduled = start + interval.mul_f64(n as f64);
                if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                counter.store(n + 1, Ordering::Relaxed);
                let Some(i) = w.take() else { break };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    record(&shared, Err("overload".into()), 0);
                    continue;
                };
                let (w, shared) = (w.clone(), shared.clone());
                runtime.spawn(async move {
                    let result = one(&w, i).await;
                    record(&shared, result, micros(scheduled.elapsed()));
                    drop(slot);
                });
            }
        })
    };
    let _ = pacer.await;
    // Every outstanding request holds a slot: taking them all waits for the last answer.
    let _all = slots.acquire_many(max_in_flight as u32).await;
    let elapsed = start.elapsed();
    let (latency, tally) = match shared.lock() {
        Ok(mut guard) => std::mem::replace(&mut *guard, (histogram(), Tally::default())),
        Err(poisoned) => {
            std::mem::replace(&mut *poisoned.into_inner(), (histogram(), Tally::default()))
        }
    };
    Measured { ok: tally.ok, errors: tally.errors, latency, elapsed }
}

fn record(shared: &Mutex<(Histogram<u64>, Tally)>, result: Result<(), String>, micros: u64) {
    // A short critical section with no await inside; a poisoned lock still holds valid counts.
    let mut guard = match shared.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let (latency, tally) = &mut *guard;
    match result {
        Ok(()) => {
            tally.ok += 1;
            latency.saturating_record(micros);
        }
        Err(kind) => *tally.errors.entry(kind).or_default() += 1,
    }
}
