//! Plugin author tooling: `switchboard plugin run` on the service's JSON, and a
//! call's own instance (`reuse = "per-call"`) deciding as fresh instances do.

mod support;

use std::path::PathBuf;

use switchboard::author::{read_events, run_events};
use switchboard::contract::{Action, ConfigEntry};
use switchboard::runtime::{Limits, Outcome, Reuse};
use switchboard::scenario;
use switchboard::store::calls::Recorded;

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

/// A call log's records (as `calls show --json` prints them) for the `ivr.md`
/// script `name`, as the Rust IVR decided it.
fn recorded_call(name: &str) -> serde_json::Value {
    let runtime = support::runtime();
    let plugin = support::load(&runtime, "switchboard_ivr");
    let script = scenario::ivr_scripts()
        .into_iter()
        .find(|s| s.name == name)
        .expect("script");
    let mut records = Vec::new();
    scenario::run(&script, |event, ctx| {
        let run = plugin.invoke(event, ctx, &Limits::default());
        let decision = match &run.outcome {
            Outcome::Decision(d) => Some(d.clone()),
            _ => None,
        };
        records.push(serde_json::json!({
            "event": event.name(),
            "recorded": Recorded {
                event: event.clone(),
                context: ctx.clone(),
                decision: decision.as_ref().map(|d| d.actions.clone()),
            },
        }));
        (run, decision)
    });
    serde_json::Value::Array(records)
}

#[test]
fn plugin_replay_shows_where_another_version_decides_differently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rust = repo("target/wasm32-wasip2/guest/switchboard_ivr.wasm");
    support::guest_bytes("switchboard_ivr");
    let rust = rust.to_str().expect("utf-8");
    let call = recorded_call("silent");
    let file = dir.path().join("call.json");
    std::fs::write(&file, call.to_string()).expect("write");
    let file = file.to_str().expect("utf-8");

    // The same version decides the same, state carried from event to event (the
    // silent caller's third failure is a goodbye only if the retries were counted).
    let (ok, out, err) = cli(&["plugin", "replay", rust, "--file", file]);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("0 of 7 decisions differ"), "{out}");

    // Another version: one recorded decision changed, as if the old version had
    // said goodbye where this one repeats the menu.
    let mut changed = call.clone();
    changed[3]["recorded"]["decision"][0]["operation_context"] = "elsewhere".into();
    let changed_file = dir.path().join("changed.json");
    std::fs::write(&changed_file, changed.to_string()).expect("write");
    let (ok, out, _) = cli(&[
        "plugin",
        "replay",
        rust,
        "--file",
        changed_file.to_str().expect("utf-8"),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("≠ RecognizeFailed"), "{out}");
    assert!(
        out.contains("[elsewhere]") && out.contains("[menu]"),
        "{out}"
    );
    assert!(out.contains("1 of 7 decisions differ"), "{out}");

    // A call log from before recording, or not a call log: says so.
    std::fs::write(
        dir.path().join("old.json"),
        r#"[{"event": "IncomingCall"}]"#,
    )
    .expect("write");
    let old = dir.path().join("old.json");
    let (ok, _, err) = cli(&[
        "plugin",
        "replay",
        rust,
        "--file",
        old.to_str().expect("utf-8"),
    ]);
    assert!(!ok && err.contains("no recorded invocations"), "{err}");
    let (ok, _, err) = cli(&["plugin", "replay", rust]);
    assert!(!ok && err.contains("--call"), "{err}");
}

/// `make` (and `make test`) in a generated project; the output when it fails.
fn make(dir: &std::path::Path, target: &str) -> Result<(), String> {
    let output = std::process::Command::new("make")
        .arg(target)
        .current_dir(dir)
        // Not the enclosing build's target directory (and its lock).
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|e| format!("make: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
fn plugin_new_makes_projects_that_build_to_working_components_and_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = support::runtime();
    let events = repo("examples/events/press-1.json");
    let events = read_events(&std::fs::read(events).expect("events")).expect("parse");
    for lang in ["rust", "python", "js"] {
        let name = format!("hello-{lang}");
        let (ok, out, err) = cli(&[
            "plugin",
            "new",
            "--lang",
            lang,
            &name,
            "--dir",
            dir.path().to_str().expect("utf-8"),
        ]);
        assert!(ok, "{lang}: {out}\n{err}");
        let project = dir.path().join(&name);
        make(&project, "build").unwrap_or_else(|e| panic!("{lang}: make: {e}"));
        make(&project, "test").unwrap_or_else(|e| panic!("{lang}: make test: {e}"));
        let bytes = std::fs::read(project.join(format!("{name}.wasm"))).expect("component");
        let plugin = runtime
            .load(&bytes)
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        let limits = Limits {
            deadline_ms: 1_000,
            ..Limits::default()
        };
        let steps = run_events(&plugin, &events, vec![], Vec::new(), &limits);
        match &steps[1].invocation.outcome {
            Outcome::Decision(d) => assert!(
                matches!(&d.actions[..], [r] if r.operation_context.as_deref() == Some("greeting")),
                "{lang}: {d:?}"
            ),
            other => panic!("{lang}: {other}"),
        }
    }
    // The same name twice, or a bad one: refused, saying why.
    let again = [
        "plugin",
        "new",
        "--lang",
        "js",
        "hello-js",
        "--dir",
        dir.path().to_str().expect("utf-8"),
    ];
    let (ok, _, err) = cli(&again);
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = cli(&["plugin", "new", "--lang", "js", "Bad Name"]);
    assert!(!ok && err.contains("is not a plugin name"), "{err}");
}
