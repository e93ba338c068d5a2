//! Service faults in a mix, over many calls (issue #8): the simulator refuses
//! requests (429 with Retry-After, 503), loses answers after the effect (500) and
//! holds answers past the host's request timeout, and duplicates, delays, reorders
//! and drops events, all at random (seeded), while `ivr.md` callers call. Every call
//! must reach its script's expected end state with each side effect once: the
//! simulator's report counts only effects (an operation answered from the
//! repeatability store is a replay, not an effect), so an action run twice fails its
//! call.
//!
//! `make test` runs 100 calls; `make reliability` runs 1,000
//! (`SWITCHBOARD_FAULT_MIX_CALLS`) and writes the table to `RELIABILITY.md`
//! (`RELIABILITY_OUT=dir`: `dir/fault-mix.md`).

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_e2e::{StackBuilder, ivr_script, metric_sum};
use switchboard_sim::load::{LoadPlan, run};

/// A counter's value in Prometheus text, summed over its label sets.
fn counter(metrics: &str, name: &str) -> u64 {
    metric_sum(metrics, name) as u64
}

/// The mix: (what, rule).
fn mix() -> Vec<(&'static str, Value)> {
    // Operations that take a repeatability id: a lost answer or a timeout is retried
    // with the same id, and the service runs them once. (Play and Recognize take none:
    // a retry after an effect would play twice, which is the service's contract, so
    // their faults here are refusals before any effect.)
    let repeatable = ["AnswerCall", "TransferToParticipant", "TerminateCall"];
    let mut rules = vec![
        (
            "429 Too Many Requests, Retry-After 1 s (any operation, 3 %)",
            json!({"operation": "*", "fault": {"kind": "status", "status": 429, "retry_after": 1}, "probability": 0.03}),
        ),
        (
            "503 before the effect (any operation, 3 %)",
            json!({"operation": "*", "fault": {"kind": "status", "status": 503}, "probability": 0.03}),
        ),
        (
            "event duplicated (any event, 5 %)",
            json!({"event": "*", "fault": {"kind": "duplicate"}, "probability": 0.05}),
        ),
        (
            "event delayed 150 ms (any event, 5 %)",
            json!({"event": "*", "fault": {"kind": "latency", "ms": 150}, "probability": 0.05}),
        ),
        (
            "event reordered after the call's next one (any event, 5 %)",
            json!({"event": "*", "fault": {"kind": "reorder"}, "probability": 0.05}),
        ),
        (
            "event dropped (ParticipantsUpdated, 30 %)",
            json!({"event": "ParticipantsUpdated", "fault": {"kind": "drop"}, "probability": 0.3}),
        ),
    ];
    for operation in repeatable {
        rules.push((
            "500 after the effect (answer lost; repeatable operations, 10 %)",
            json!({"operation": operation, "fault": {"kind": "status", "status": 500, "after_effect": true}, "probability": 0.1}),
        ));
        rules.push((
            "answer held 1.2 s, past the host's 0.5 s timeout (repeatable operations, 5 %)",
            json!({"operation": operation, "fault": {"kind": "latency", "ms": 1200}, "probability": 0.05}),
        ));
    }
    rules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_ends_as_expected_with_each_effect_once_under_a_fault_mix() {
    let calls: usize = std::env::var("SWITCHBOARD_FAULT_MIX_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let stack = StackBuilder::ivr()
        .expect("ivr")
        .host_toml("[acs]\nrequest_timeout_ms = 500")
        .start()
        .await
        .expect("stack");
    let rules = mix();
    for (_, rule) in &rules {
        stack.fault(rule.clone()).await.expect("fault rule");
    }
    let plan = LoadPlan {
        calls,
        rate: 40.0,
        mix: [
            "press-1",
            "press-2-then-3",
            "silent",
            "agent-busy",
            "caller-hangs-up",
        ]
        .map(|name| ivr_script(name).expect("script"))
        .to_vec(),
        timeout: Duration::from_secs(120 + calls as u64 / 5),
    };
    let report = run(&stack.sim.sim, &plan).await.expect("load");
    let metrics = stack.metrics().await.expect("metrics");
    let fired = stack.sim_get("faults").await.expect("faults");
    let retries = counter(&metrics, "switchboard_action_retries_total");
    let fallbacks = counter(&metrics, "switchboard_fallbacks_total");
    let duplicates = counter(&metrics, "switchboard_events_duplicate_total");
    let held = counter(&metrics, "switchboard_events_held_total");
    let table = format!(
        "| calls | ended as expected | lost or wrong | requests refused (retried) | retries answered from the repeatability store | host retries | duplicate events dropped | events held for order | fallbacks |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {retries} | {duplicates} | {held} | {fallbacks} |\n\n\
         Faults fired, by rule:\n\n{}\n",
        report.placed,
        report.passed,
        report.failed,
        report.refused_requests,
        report.replayed_requests,
        fired_lines(&rules, &fired),
    );
    println!("{}\n\n{table}", report.text());
    if let Ok(dir) = std::env::var("RELIABILITY_OUT") {
        std::fs::create_dir_all(&dir).expect("RELIABILITY_OUT");
        std::fs::write(format!("{dir}/fault-mix.md"), &table).expect("write");
    }
    for failed in report.failures.iter().take(3) {
        let timeline = stack
            .timeline(&failed.server_call_id)
            .await
            .unwrap_or_default();
        println!("timeline of failed call {}:", failed.server_call_id);
        for entry in timeline {
            println!("  {entry}");
        }
    }
    assert_eq!(
        report.failed, 0,
        "calls lost or with an effect repeated\n{table}\n{:#?}",
        report.failures
    );
    // The mix did fire: the test proves nothing otherwise.
    assert!(
        report.refused_requests > 0 && report.replayed_requests > 0,
        "{table}"
    );
    assert!(duplicates > 0 && retries > 0, "{table}");
}

/// "- rule: fired N times" for each rule, from `GET /sim/faults`.
fn fired_lines(rules: &[(&str, Value)], fired: &Value) -> String {
    let list = fired
        .get("faults")
        .or(Some(fired))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    rules
        .iter()
        .zip(list.iter())
        .map(|((what, rule), listed)| {
            let target = rule["operation"]
                .as_str()
                .or(rule["event"].as_str())
                .unwrap_or("*");
            format!("- {what}, on `{target}`: fired {} times", listed["fired"])
        })
        .collect::<Vec<_>>()
        .join("\n")
}
