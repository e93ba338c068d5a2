//! Prometheus metrics: the names the host records, and the recorder `/metrics` renders.
//!
//! The host records through the `metrics` facade, so an embedding program (a benchmark,
//! another exporter) may install its own recorder first; [`install`] then returns
//! `None` and `/metrics` says no Prometheus recorder is installed.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `switchboard_events_total` | counter | `tenant`, `event` |
//! | `switchboard_events_duplicate_total` | counter | |
//! | `switchboard_events_held_total` | counter | `reason` (reordered deliveries held back) |
//! | `switchboard_events_late_total` | counter | (completions of operations the policy had been told the outcome of was unknown: dropped) |
//! | `switchboard_invocations_total` | counter | `tenant`, `outcome` |
//! | `switchboard_invocation_seconds` | histogram | `tenant` |
//! | `switchboard_actions_total` | counter | `tenant`, `action`, `result` (`ok`, `failed`, `refused`) |
//! | `switchboard_action_seconds` | histogram | `action` (retries included) |
//! | `switchboard_action_retries_total` | counter | `action` |
//! | `switchboard_fallbacks_total` | counter | `tenant`, `reason` |
//! | `switchboard_event_overhead_seconds` | histogram | (event received → its first REST request sent) |
//! | `switchboard_callbacks_rejected_total` | counter | `reason` |
//! | `switchboard_active_calls` | gauge | |
//! | `switchboard_store_seconds` | histogram | `op` (`save`: a call's record before its actions; `inbox`: an accepted event; `handover`: an event for a call another replica owns; `catch_up`: the inbox read when an event reached its owner before an earlier one handed over) |
//! | `switchboard_store_errors_total` | counter | `op` (calls that went on without durability) |
//! | `switchboard_calls_resumed_total` | counter | (calls continued from the store: restart or takeover) |
//! | `switchboard_completions_overdue_total` | counter | (media operations whose completion never came; the policy heard `outcome-unknown`) |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const EVENTS: &str = "switchboard_events_total";
pub const EVENTS_DUPLICATE: &str = "switchboard_events_duplicate_total";
pub const EVENTS_HELD: &str = "switchboard_events_held_total";
pub const EVENTS_LATE: &str = "switchboard_events_late_total";
pub const INVOCATIONS: &str = "switchboard_invocations_total";
pub const INVOCATION_SECONDS: &str = "switchboard_invocation_seconds";
pub const ACTIONS: &str = "switchboard_actions_total";
pub const ACTION_SECONDS: &str = "switchboard_action_seconds";
pub const ACTION_RETRIES: &str = "switchboard_action_retries_total";
pub const FALLBACKS: &str = "switchboard_fallbacks_total";
pub const EVENT_OVERHEAD_SECONDS: &str = "switchboard_event_overhead_seconds";
pub const CALLBACKS_REJECTED: &str = "switchboard_callbacks_rejected_total";
pub const ACTIVE_CALLS: &str = "switchboard_active_calls";
pub const STORE_SECONDS: &str = "switchboard_store_seconds";
pub const STORE_ERRORS: &str = "switchboard_store_errors_total";
pub const CALLS_RESUMED: &str = "switchboard_calls_resumed_total";
pub const COMPLETIONS_OVERDUE: &str = "switchboard_completions_overdue_total";

/// Buckets (seconds) for plugin and host-overhead times: 10 µs to 1 s.
const FAST_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 1.0,
];
/// Buckets (seconds) for REST actions, retries included: 1 ms to 30 s.
const ACTION_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder as the process's recorder, once. `None` when
/// another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(INVOCATION_SECONDS.into()), FAST_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(EVENT_OVERHEAD_SECONDS.into()),
                        FAST_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(ACTION_SECONDS.into()), ACTION_BUCKETS)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(STORE_SECONDS.into()), FAST_BUCKETS)
                })
                .expect("bucket lists are not empty")
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS, "Events accepted for a call, by tenant and type.");
    describe_counter!(EVENTS_DUPLICATE, "Redelivered events (same id) dropped.");
    describe_counter!(
        EVENTS_HELD,
        "Events held back until the event they follow arrived."
    );
    describe_counter!(
        EVENTS_LATE,
        "Completions dropped because the policy had been told the operation's outcome was unknown."
    );
    describe_counter!(INVOCATIONS, "Plugin invocations, by outcome.");
    describe_histogram!(INVOCATION_SECONDS, Unit::Seconds, "Plugin invocation time.");
    describe_counter!(ACTIONS, "Actions run against the service, by result.");
    describe_histogram!(
        ACTION_SECONDS,
        Unit::Seconds,
        "REST action latency, retries included."
    );
    describe_counter!(ACTION_RETRIES, "REST attempts beyond the first.");
    describe_histogram!(
        STORE_SECONDS,
        Unit::Seconds,
        "Store writes on an event's path (call record, inbox)."
    );
    describe_counter!(
        STORE_ERRORS,
        "Store writes that failed after retries (the call went on)."
    );
    describe_counter!(
        CALLS_RESUMED,
        "Calls continued from the store after a restart or a takeover."
    );
    describe_counter!(
        COMPLETIONS_OVERDUE,
        "Media operations whose completion event never came within the completion timeout."
    );
    describe_counter!(
        FALLBACKS,
        "Calls put in fallback because their plugin failed."
    );
    describe_histogram!(
        EVENT_OVERHEAD_SECONDS,
        Unit::Seconds,
        "From an event received to its first REST request sent (plugin included)."
    );
    describe_counter!(
        CALLBACKS_REJECTED,
        "Callbacks refused (authentication, body, unknown call)."
    );
    describe_gauge!(ACTIVE_CALLS, "Calls this host is handling.");
}
