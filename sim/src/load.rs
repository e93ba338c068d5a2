//! The load generator: places N scripted calls at a rate R from a mix of caller
//! scripts, waits for them to end, and reports what the application did: calls
//! completed and failed, REST operations per second, and the latency from each event
//! sent to the application's next REST request on that call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::identifier::RawId;
use crate::script::Caller;
use crate::world::{Entry, Sim};

/// What to place.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub calls: usize,
    /// Calls placed per real second.
    pub rate: f64,
    /// Caller scripts, used in turn.
    pub mix: Vec<Caller>,
    /// Give up waiting for calls to end after this long (real time).
    pub timeout: Duration,
}

/// Percentiles of a latency distribution, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    #[must_use]
    pub fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        Self {
            samples: samples.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// A call that did not do what its script expects.
#[derive(Debug, Clone, Serialize)]
pub struct FailedCall {
    pub server_call_id: String,
    pub script: String,
    pub expected: Vec<String>,
    pub made: Vec<String>,
    pub ended: bool,
}

/// How many failed calls a report details.
const FAILURES_SHOWN: usize = 10;

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub placed: usize,
    pub completed: usize,
    /// Completed calls whose operations matched their script's expectations.
    pub passed: usize,
    /// Calls that did not end in time or did not do what their script expects.
    pub failed: usize,
    pub peak_concurrent_calls: usize,
    pub rest_operations: usize,
    /// The first few calls that failed: what their script expected and what the
    /// application did (`made` is empty for a call that did not end).
    pub failures: Vec<FailedCall>,
    /// Requests answered with an error (injected faults included): each one the
    /// application had to retry or give up.
    pub refused_requests: usize,
    /// Requests answered from the repeatability store: retries of an operation that
    /// had already run (its side effect not repeated).
    pub replayed_requests: usize,
    pub seconds: f64,
    pub operations_per_second: f64,
    /// From an event sent to the application to its next REST request on the call.
    pub event_to_request: Latency,
    /// The same, per caller script (by its name): one kind of call's latency apart
    /// from the others in a mix.
    pub event_to_request_by_script: BTreeMap<String, Latency>,
    /// The samples behind it (ms), to combine scripts.
    #[serde(skip)]
    pub samples_by_script: BTreeMap<String, Vec<f64>>,
    /// Failed calls per caller script.
    pub failures_by_script: BTreeMap<String, usize>,
}

impl LoadReport {
    /// The report as text for people.
    #[must_use]
    pub fn text(&self) -> String {
        let l = &self.event_to_request;
        format!(
            "calls: {} placed, {} completed, {} passed, {} failed; peak {} concurrent\n\
             REST operations: {} in {:.2} s ({:.0}/s)\n\
             event → next request: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.placed,
            self.completed,
            self.passed,
            self.failed,
            self.peak_concurrent_calls,
            self.rest_operations,
            self.seconds,
            self.operations_per_second,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            l.max_ms,
            l.samples,
        )
    }
}

/// Places the calls and waits for them; the application must be subscribed already.
pub async fn run(sim: &Arc<Sim>, plan: &LoadPlan) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        !plan.mix.is_empty(),
        "the load needs at least one caller script"
    );
    anyhow::ensure!(plan.rate > 0.0, "the call rate must be positive");
    let started = Instant::now();
    let mut placed = Vec::with_capacity(plan.calls);
    let mut peak = 0;
    for i in 0..plan.calls {
        let due = started + Duration::from_secs_f64(i as f64 / plan.rate);
        tokio::time::sleep_until(due.into()).await;
        let mut caller = plan.mix[i % plan.mix.len()].clone();
        // Distinct callers, so every call is its own party.
        caller.from = format!("+1999{:07}", i);
        let reply = sim.ring(RawId::phone(&caller.from), party(&caller.to), Some(caller));
        placed.push(
            reply["serverCallId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        if i % 16 == 0 {
            peak = peak.max(live_calls(sim));
        }
    }
    let deadline = started + plan.timeout;
    loop {
        peak = peak.max(live_calls(sim));
        let ended = {
            let world = sim.world();
            placed
                .iter()
                .filter(|id| {
                    ended(
                        world
                            .timelines
                            .get(*id)
                            .map(Vec::as_slice)
                            .unwrap_or_default(),
                    )
                })
                .count()
        };
        if ended == placed.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();

    let world = sim.world();
    let mut by_script: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut failures_by_script: BTreeMap<String, usize> = BTreeMap::new();
    let (mut completed, mut passed, mut operations) = (0, 0, 0);
    let (mut refused, mut replayed) = (0, 0);
    let mut failures = Vec::new();
    for id in &placed {
        let timeline = world
            .timelines
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for request in timeline.iter().filter(|e| e.kind == "request") {
            operations += 1;
            let detail = request.detail();
            if detail["replayed"].as_bool().unwrap_or(false) {
                replayed += 1;
            } else if detail["status"].as_u64().is_some_and(|s| s >= 400) {
                refused += 1;
            }
        }
        let script = world.scripts.get(id);
        let name = script.map(|s| s.name.clone()).unwrap_or_default();
        by_script
            .entry(name.clone())
            .or_default()
            .extend(event_to_request(timeline));
        let expected = script.map(|s| s.expect.clone()).unwrap_or_default();
        let ended = ended(timeline);
        let made = made(timeline);
        if ended {
            completed += 1;
        }
        if ended && (expected.is_empty() || made == expected) {
            passed += 1;
            continue;
        }
        *failures_by_script.entry(name.clone()).or_default() += 1;
        if failures.len() < FAILURES_SHOWN {
            failures.push(FailedCall {
                server_call_id: id.clone(),
                script: name,
                expected,
                made,
                ended,
            });
        }
    }
    Ok(LoadReport {
        placed: placed.len(),
        completed,
        passed,
        failed: placed.len() - passed,
        peak_concurrent_calls: peak,
        rest_operations: operations,
        failures,
        refused_requests: refused,
        replayed_requests: replayed,
        seconds,
        operations_per_second: operations as f64 / seconds,
        event_to_request: Latency::of(by_script.values().flatten().copied().collect()),
        event_to_request_by_script: by_script
            .iter()
            .map(|(name, samples)| (name.clone(), Latency::of(samples.clone())))
            .collect(),
        samples_by_script: by_script,
        failures_by_script,
    })
}

fn party(text: &str) -> RawId {
    if text.starts_with('+') {
        RawId::phone(text)
    } else {
        RawId(text.to_owned())
    }
}

fn live_calls(sim: &Sim) -> usize {
    let world = sim.world();
    world.ringing.len() + world.calls.values().filter(|c| c.is_live()).count()
}

/// Whether the call is over: ended after it connected, or rejected or redirected
/// while it rang.
#[must_use]
pub fn ended(timeline: &[Entry]) -> bool {
    timeline.iter().any(|e| {
        e.kind == "state" && matches!(e.name.as_str(), "Ended" | "Rejected" | "Redirected")
    })
}

/// The operations an application made on a call that count against its script:
/// those that took effect (a replay of a repeated request is not a second effect; an
/// injected failure after the effect is one).
#[must_use]
pub fn made(timeline: &[Entry]) -> Vec<String> {
    timeline
        .iter()
        .filter(|e| e.kind == "request" && !e.name.starts_with("Get"))
        .filter(|e| {
            let detail = e.detail();
            let succeeded = detail["status"].as_u64().is_some_and(|s| s < 400)
                && !detail["replayed"].as_bool().unwrap_or(false);
            succeeded || detail["effect"] == true
        })
        .map(|e| e.name.clone())
        .collect()
}

/// For each request, the time since the latest event sent before it (ms).
fn event_to_request(timeline: &[Entry]) -> Vec<f64> {
    let mut last_sent: Option<f64> = None;
    let mut out = Vec::new();
    let mut entries: Vec<(f64, bool)> = timeline
        .iter()
        .filter_map(|e| match e.kind {
            "delivery" => e
                .detail()
                .get("sent_ms")
                .and_then(Value::as_f64)
                .map(|t| (t, true)),
            "request" => Some((
                e.detail()
                    .get("arrived_ms")
                    .and_then(Value::as_f64)
                    .unwrap_or(e.at_ms),
                false,
            )),
            _ => None,
        })
        .collect();
    entries.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, is_delivery) in entries {
        if is_delivery {
            last_sent = Some(at);
        } else if let Some(sent) = last_sent.take() {
            out.push(at - sent);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (l.p50_ms, l.p99_ms, l.max_ms, l.samples),
            (51.0, 99.0, 100.0, 100)
        );
        assert_eq!(Latency::of(vec![]).samples, 0);
    }

    #[test]
    fn latency_is_measured_from_the_latest_event_to_the_next_request() {
        let entry = |kind: &'static str, at: f64, detail: Value| Entry::new(at, kind, "", &detail);
        let timeline = vec![
            entry("delivery", 12.0, serde_json::json!({"sent_ms": 10.0})),
            entry("request", 15.0, serde_json::json!({"arrived_ms": 11.5})),
            entry("delivery", 22.0, serde_json::json!({"sent_ms": 20.0})),
            entry("delivery", 32.0, serde_json::json!({"sent_ms": 30.0})),
            entry("request", 40.0, serde_json::json!({"arrived_ms": 33.0})),
        ];
        assert_eq!(event_to_request(&timeline), vec![1.5, 3.0]);
    }
}
