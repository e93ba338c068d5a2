//! The `ivr.md` caller scripts (shipped in `sim/scenarios/ivr/`) against a tiny IVR
//! application: every scripted call ends with exactly the operations its script
//! expects.

mod support;

use std::time::Duration;

use serde_json::json;
use switchboard_sim::script::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ivr_caller_script_runs_to_its_expected_end() {
    let sim = support::start_sim(50.0).await;
    let app = support::start_ivr_app(support::Client::new(&sim)).await;
    let http = reqwest::Client::new();
    support::subscribe(&sim, json!({"endpoint": format!("{}/eventgrid", app.base)})).await;

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ivr");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("scenario dir") {
        let scenario = Scenario::load(&entry.expect("entry").path()).expect("scenario parses");
        for caller in scenario.callers {
            names.push(caller.name.clone());
            let caller = serde_json::to_value(&caller).expect("json");
            let placed = http
                .post(format!("{}/sim/calls", sim.http_url()))
                .json(&json!({"caller": caller}))
                .send()
                .await
                .expect("place");
            assert_eq!(placed.status(), 201);
        }
    }
    assert_eq!(names.len(), 5, "{names:?}");

    let report = support::wait_for_report(&sim, 5, Duration::from_secs(30)).await;
    for call in report["calls"].as_array().expect("calls") {
        assert_eq!(
            call["pass"], true,
            "script {} failed: {call:#}",
            call["script"]
        );
    }
    assert_eq!(report["passed"], 5, "{report:#}");

    // Every callback carried a bearer token.
    let tokens = app.tokens.lock().expect("lock").clone();
    assert!(
        !tokens.is_empty() && tokens.iter().all(|t| t.starts_with("Bearer ey")),
        "{tokens:?}"
    );
}
