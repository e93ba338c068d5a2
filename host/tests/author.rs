//! Plugin author tooling: `switchboard plugin run` on the service's JSON, and a
//! call's own instance (`reuse = "per-call"`) deciding as fresh instances do.

mod support;

use std::path::PathBuf;

use switchboard::author::{read_events, run_events};
use switchboard::contract::{Action, ConfigEntry};
use switchboard::runtime::{Limits, Outcome, Reuse};
use switchboard::scenario;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("run the CLI");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn events_in_the_services_json_run_in_order_with_the_state_carried() {
    let runtime = support::runtime();
    let plugin = support::load(&runtime, "switchboard_ivr");
    let json = std::fs::read(repo("examples/events/press-1.json")).expect("example");
    let events = read_events(&json).expect("events");
    assert_eq!(events.len(), 3);
    let config = vec![ConfigEntry {
        key: "agent_phone".into(),
        value: "+15550009999".into(),
    }];
    let steps = run_events(&plugin, &events, config, Vec::new(), &Limits::default());
    let actions: Vec<Vec<Action>> = steps
        .iter()
        .map(|s| match &s.invocation.outcome {
            Outcome::Decision(d) => d.actions.iter().map(|a| a.action.clone()).collect(),
            other => panic!("{other}"),
        })
        .collect();
    assert!(matches!(actions[0][..], [Action::Answer]));
    assert!(matches!(actions[1][..], [Action::Recognize(_)]));
    match &actions[2][..] {
        [Action::Transfer(t)] => assert_eq!(
            t.target,
            switchboard::contract::CommunicationIdentifier::PhoneNumber("+15550009999".into()),
            "the config given is the config the plugin saw"
        ),
        other => panic!("{other:?}"),
    }
    // The snapshot followed the events; the state the first decision returned was
    // handed to the next event.
    assert_eq!(
        steps[2].context.call.call_connection_id.as_deref(),
        Some("401f3500-0000-4000-8000-000000000001")
    );
    assert_eq!(steps[1].context.state, br#"{"retries":0}"#);
}

#[test]
fn plugin_run_prints_decisions_logs_and_costs_and_names_bad_input() {
    let plugin = repo("target/wasm32-wasip2/guest/switchboard_ivr.wasm");
    support::guest_bytes("switchboard_ivr");
    let plugin = plugin.to_str().expect("utf-8");
    let events = repo("examples/events/press-1.json");
    let events = events.to_str().expect("utf-8");
    let (ok, out, err) = cli(&[
        "plugin",
        "run",
        plugin,
        "--event",
        events,
        "--config",
        "agent_phone=+15550001111",
    ]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("→ answer [ivr]"), "{out}");
    assert!(
        out.contains("→ transfer to +15550001111 [transfer]"),
        "{out}"
    );
    assert!(out.contains("fuel "), "{out}");

    // Without the config the policy needs, the third event is a plugin error.
    let (ok, out, _) = cli(&["plugin", "run", plugin, "--event", events]);
    assert!(!ok, "{out}");
    assert!(out.contains("agent_phone"), "{out}");

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"id": "1", "data": {}}"#).expect("write");
    let (ok, _, err) = cli(&[
        "plugin",
        "run",
        plugin,
        "--event",
        bad.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(err.contains("no `type`"), "{err}");
    let (ok, _, err) = cli(&[
        "plugin", "run", plugin, "--event", events, "--config", "oops",
    ]);
    assert!(!ok);
    assert!(err.contains("`oops` is not KEY=VALUE"), "{err}");
}

#[test]
fn a_calls_own_instance_decides_as_fresh_instances_do() {
    let runtime = support::runtime();
    let plugin = support::load(&runtime, "switchboard_ivr");
    let limits = Limits {
        reuse: Reuse::PerCall,
        ..Limits::default()
    };
    let mut session = plugin.session(&limits);
    for script in scenario::ivr_scripts() {
        let steps = scenario::run(&script, |event, ctx| {
            let fresh = plugin.invoke(event, ctx, &limits);
            let reused = session.invoke(event, ctx);
            assert_eq!(fresh.outcome, reused.outcome, "{}", script.name);
            let decision = match &reused.outcome {
                Outcome::Decision(d) => Some(d.clone()),
                _ => None,
            };
            (reused, decision)
        });
        assert!(steps.iter().all(|s| s.passed()), "{}", script.name);
    }
}
