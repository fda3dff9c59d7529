//! Drives one operation at a fixed concurrency (closed loop) or a fixed arrival rate (open loop)
//! and records latencies in an HDR histogram.
//!
//! Rate mode corrects for coordinated omission: call `i` is due at `start + i / rate`, and its
//! latency is measured from that due time, not from when a worker got round to sending it. When
//! the service falls behind, the wait shows in the percentiles instead of silently lowering the
//! offered load.
use hdrhistogram::Histogram;
use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// How the load is applied.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// `n` workers, each sending its next call as soon as the previous one answered.
    Concurrency(usize),
    /// Calls due at a steady `per_s`, sent by at most `in_flight` workers at once.
    Rate { per_s: f64, in_flight: usize },
}

impl Load {
    fn workers(self) -> usize {
        match self {
            Load::Concurrency(n) => n.max(1),
            Load::Rate { in_flight, .. } => in_flight.max(1),
        }
    }
}

/// What one call of an operation came to: the number of HTTP/gRPC requests it made, or why it
/// failed (a short, secret-free reason such as `status 503`).
pub type Outcome = Result<u32, String>;

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub warm_up: Duration,
    pub duration: Duration,
}

/// One scenario's measured window.
pub struct Measurement {
    pub calls: u64,
    pub requests: u64,
    pub errors: u64,
    pub error_reasons: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Microseconds per successful call.
    pub latency_us: Histogram<u64>,
}

impl Measurement {
    pub fn calls_per_s(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// Latency at quantile `q` (0..=1) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Up to a minute per call: anything slower is recorded as a minute.
fn histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, 60_000_000, 3) {
        Ok(h) => h,
        Err(_) => unreachable!("constant bounds are valid"),
    }
}

struct WorkerTally {
    calls: u64,
    requests: u64,
    errors: u64,
    reasons: BTreeMap<String, u64>,
    latency_us: Histogram<u64>,
}

impl WorkerTally {
    fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Ok(requests) => {
                self.calls += 1;
                self.requests += u64::from(requests);
                self.latency_us.saturating_record(latency.as_micros().min(u128::from(u64::MAX)) as u64);
            }
            Err(reason) => {
                self.errors += 1;
                *self.reasons.entry(reason).or_default() += 1;
            }
        }
    }
}

/// Runs `op(worker, n)` under `load`: a warm-up that is not recorded, then `timing.duration`
/// that is. In rate mode, calls still unsent a few seconds after the window count as errors.
pub async fn drive<F, Fut>(load: Load, timing: Timing, op: F) -> Measurement
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let start = Instant::now();
    let window_start = start + timing.warm_up;
    let window_end = window_start + timing.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let next_ticket = Arc::new(AtomicU64::new(0));

    let workers: Vec<_> = (0..load.workers())
        .map(|worker| {
            let (op, stop, next_ticket) = (op.clone(), stop.clone(), next_ticket.clone());
            tokio::spawn(async move {
                let mut tally =
                    WorkerTally { calls: 0, requests: 0, errors: 0, reasons: BTreeMap::new(), latency_us: histogram() };
                let mut n = 0u64;
                loop {
                    n += 1;
                    let due = match load {
                        Load::Concurrency(_) => {
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
                            Instant::now()
                        }
                        Load::Rate { per_s, .. } => {
                            let ticket = next_ticket.fetch_add(1, Ordering::Relaxed);
                            let due = start + Duration::from_secs_f64(ticket as f64 / per_s);
                            if due >= window_end {
                                break;
                            }
                            // Far behind schedule: what is left was never sent in time.
                            if Instant::now() > window_end + Duration::from_secs(5) {
                                if due >= window_start {
                                    tally.record(Err("not sent within 5 s of its due time".to_owned()), Duration::ZERO);
                                }
                                continue;
                            }
                            tokio::time::sleep_until(due.into()).await;
                            due
                        }
                    };
                    let outcome = op(worker, n).await;
                    let finished = Instant::now();
                    // Closed loop: calls started and answered inside the window. Open loop: every
                    // call due inside it, however late it was answered.
                    let counted = due >= window_start
                        && match load {
                            Load::Concurrency(_) => finished <= window_end,
                            Load::Rate { .. } => true,
                        };
                    if counted {
                        tally.record(outcome, finished - due);
                    }
                }
                tally
            })
        })
        .collect();

    if let Load::Concurrency(_) = load {
        tokio::time::sleep_until(window_end.into()).await;
        stop.store(true, Ordering::Relaxed);
    }
    let mut total = WorkerTally { calls: 0, requests: 0, errors: 0, reasons: BTreeMap::new(), latency_us: histogram() };
    for worker in workers {
        // A worker that panicked lost its tally; the report shows it as an error.
        match worker.await {
            Ok(tally) => {
                total.calls += tally.calls;
                total.requests += tally.requests;
                total.errors += tally.errors;
                for (reason, count) in tally.reasons {
                    *total.reasons.entry(reason).or_default() += count;
                }
                let _ = total.latency_us.add(&tally.latency_us);
            }
            Err(e) => {
                total.errors += 1;
                *total.reasons.entry(format!("worker failed: {e}")).or_default() += 1;
            }
        }
    }
    Measurement {
        calls: total.calls,
        requests: total.requests,
        errors: total.errors,
        error_reasons: total.reasons,
        elapsed: timing.duration,
        latency_us: total.latency_us,
    }
}
