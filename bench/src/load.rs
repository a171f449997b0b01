//! Drives a prepared workload: closed loop (N workers back to back) or open loop (a fixed
//! arrival rate, latency measured from the scheduled send time so a slow server cannot hide
//! behind fewer requests: no coordinated omission).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Mutex;

use crate::workloads::Prepared;

/// What one run measured.
pub struct Measured {
    /// Successful requests.
    pub ok: u64,
    /// Failures by kind (`status 403`, `transport`).
    pub errors: BTreeMap<String, u64>,
    /// Latency of successful requests, microseconds.
    pub latency: Histogram<u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 60 s with 3 significant digits; the bounds are constants, so this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

async fn send(w: &Prepared, i: u64) -> Result<(), String> {
    let call = (w.next)(i);
    match w.client.request(call.method, &call.path, &[], call.body.as_ref(), &[]).await {
        Ok(r) if r.status < 400 => Ok(()),
        Ok(r) => Err(format!("status {}", r.status)),
        Err(_) => Err("transport".into()),
    }
}

struct Shared {
    latency: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
}

/// Closed loop: `concurrency` workers, each sending its next request when the last answered.
pub async fn closed(w: Arc<Prepared>, concurrency: usize, duration: Duration) -> Measured {
    let shared =
        Arc::new(Mutex::new(Shared { latency: histogram(), errors: BTreeMap::new(), ok: 0 }));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (w, shared) = (w.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = histogram();
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            let mut ok = 0;
            let mut i = worker as u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                match send(&w, i).await {
                    Ok(()) => {
                        ok += 1;
                        let _ = local.record(sent.elapsed().as_micros().max(1) as u64);
                    }
                    Err(kind) => *errors.entry(kind).or_default() += 1,
                }
                i += concurrency as u64;
            }
            let mut s = shared.lock().await;
            let _ = s.latency.add(&local);
            s.ok += ok;
            for (k, v) in errors {
                *s.errors.entry(k).or_default() += v;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    finish(shared, start).await
}

/// Open loop: `rate` requests per second for `duration`, at most `max_in_flight` at once
/// (beyond that a request counts as an error of kind `overload`).
pub async fn open(
    w: Arc<Prepared>,
    rate: u64,
    duration: Duration,
    max_in_flight: usize,
) -> Measured {
    let shared =
        Arc::new(Mutex::new(Shared { latency: histogram(), errors: BTreeMap::new(), ok: 0 }));
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let total = (duration.as_secs_f64() * rate as f64) as u64;
    let mut tasks = Vec::new();
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            *shared.lock().await.errors.entry("overload".into()).or_default() += 1;
            continue;
        };
        let (w, shared) = (w.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            let result = send(&w, i).await;
            let micros = scheduled.elapsed().as_micros().max(1) as u64;
            drop(permit);
            let mut s = shared.lock().await;
            match result {
                Ok(()) => {
                    s.ok += 1;
                    let _ = s.latency.record(micros);
                }
                Err(kind) => *s.errors.entry(kind).or_default() += 1,
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    finish(shared, start).await
}

async fn finish(shared: Arc<Mutex<Shared>>, start: Instant) -> Measured {
    let s = shared.lock().await;
    Measured {
        ok: s.ok,
        errors: s.errors.clone(),
        latency: s.latency.clone(),
        elapsed: start.elapsed(),
    }
}
