//! End to end: the simulator rings, the host answers through the Rust IVR plugin, the
//! simulator's scripted callers follow `ivr.md`; every script ends as it expects.
//! Callbacks without a valid token change nothing; a failing plugin gets the fallback.

use switchboard_e2e::{StackBuilder, TenantSpec, ivr_script, ivr_scripts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ivr_caller_script_end_to_end_through_the_rust_plugin() {
    let stack = StackBuilder::ivr()
        .expect("ivr")
        .start()
        .await
        .expect("stack");
    let scripts = ivr_scripts().expect("scripts");
    assert_eq!(scripts.len(), 5, "ivr.md has five caller scripts");
    for caller in &scripts {
        stack.place(caller).await.expect("place");
    }
    let report = stack
        .report_when_ended(scripts.len())
        .await
        .expect("report");
    for call in report["calls"].as_array().expect("calls") {
        assert_eq!(call["pass"], true, "{} failed: {call:#}", call["script"]);
    }
    let health = reqwest::get(format!("http://{}/healthz", stack.host))
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    // The host counted what it did.
    let metrics = stack.metrics().await.expect("metrics");
    for name in [
        "switchboard_events_total",
        "switchboard_invocations_total",
        "switchboard_actions_total",
        "switchboard_event_overhead_seconds_bucket",
        "switchboard_action_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plugin_gets_the_fallback_and_other_tenants_are_unaffected() {
    let stack = StackBuilder::ivr()
        .expect("ivr")
        .tenant(TenantSpec::hostile("evil", "+18005550199", "loop").expect("guest"))
        .start()
        .await
        .expect("stack");
    let evil = stack
        .ring("+14255550999", "+18005550199")
        .await
        .expect("place");
    stack
        .place(&ivr_script("press-2-then-3").expect("script"))
        .await
        .expect("place");
    let report = stack.report_when_ended(1).await.expect("report");
    assert_eq!(report["passed"], 1, "the good tenant's call: {report:#}");
    // The hostile plugin ran into its deadline; the fallback rejected its call.
    let id = evil.as_str();
    stack
        .ended(id)
        .await
        .expect("the hostile tenant's call ends");
    let operations = stack.operations(id).await.expect("operations");
    assert_eq!(
        operations,
        ["RejectCall 204"],
        "the fallback rejects the call"
    );
    let metrics = stack.metrics().await.expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchboard_fallbacks_total")
                && l.contains("tenant=\"evil\"")
                && l.contains("reason=\"deadline-exceeded\"")),
        "the fallback is counted:\n{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_failing_on_a_connected_call_gets_an_apology_then_the_call_ends() {
    let mut hostile = TenantSpec::hostile("flaky", "+18005550177", "panic").expect("guest");
    hostile
        .config
        .insert("misbehave_on".into(), "CallConnected".into());
    let stack = StackBuilder::ivr()
        .expect("ivr")
        .tenant(hostile)
        .start()
        .await
        .expect("stack");
    let id = stack
        .ring("+14255550888", "+18005550177")
        .await
        .expect("place");
    stack.ended(&id).await.expect("the call ends");
    let operations = stack.operations(&id).await.expect("operations");
    assert_eq!(
        operations,
        ["AnswerCall 200", "Play 202", "TerminateCall 204"],
        "answered by the plugin; then, after it panicked, one apology and the end"
    );
}
