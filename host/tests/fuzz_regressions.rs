//! The fuzz targets' checks (`switchboard::invariants`) on every input kept under
//! `host/fuzz/`: `seeds/<target>/` (where fuzzing starts from) and
//! `regressions/<target>/` (inputs that once broke a check). `make reliability`
//! fuzzes; this runs in `make test`, so what fuzzing found stays fixed.
//!
//! `cargo test -p switchboard --test fuzz_regressions -- --ignored write_seeds`
//! rewrites the seeds from the shared reference examples and the IVR scenario.

use std::path::{Path, PathBuf};

use serde_json::Value;
use switchboard::invariants;
use switchboard::scenario;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every kept input of `target`, with its file name.
fn kept(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut inputs = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let bytes = std::fs::read(&path).expect("readable input");
            inputs.push((path, bytes));
        }
    }
    inputs.sort();
    inputs
}

fn replay(target: &str, check: fn(&[u8])) {
    let inputs = kept(target);
    assert!(
        inputs.len() >= 3,
        "too few kept inputs for `{target}` under {}",
        fuzz_dir().display()
    );
    for (path, bytes) in inputs {
        let result = std::panic::catch_unwind(|| check(&bytes));
        assert!(
            result.is_ok(),
            "{target}: {} breaks a check",
            path.display()
        );
    }
}

#[test]
fn event_bodies_hold_for_every_kept_input() {
    replay("events", invariants::event_bodies);
}

#[test]
fn event_data_holds_for_every_kept_input() {
    replay("event_data", invariants::event_data);
}

#[test]
fn decisions_hold_for_every_kept_input() {
    replay("decision", invariants::decision);
}

/// The checks can fail: a body the three parsers would disagree on is impossible to
/// build from outside, but a decision that reaches a number outside the tenant's
/// prefixes through a raw id was admitted before the fix, and must now be refused.
#[test]
fn the_raw_phone_id_regression_is_kept() {
    let kept = kept("decision");
    assert!(
        kept.iter()
            .any(|(path, _)| path.to_string_lossy().contains("raw-phone-id")),
        "the raw phone id regression is missing"
    );
}

/// The native IVR's decisions over every `ivr.md` script, each once.
fn ivr_decisions() -> std::collections::BTreeSet<Vec<u8>> {
    let mut decisions = std::collections::BTreeSet::new();
    for script in scenario::ivr_scripts() {
        scenario::run(&script, |event, ctx| {
            let decision = switchboard::native::ivr(event, ctx).ok();
            if let Some(d) = &decision {
                decisions.insert(serde_json::to_vec_pretty(d).expect("decision JSON"));
            }
            ((), decision)
        });
    }
    decisions
}

#[test]
#[ignore = "rewrites host/fuzz/seeds; run by hand"]
fn write_seeds() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in [
        shared.join("eventgrid/examples/event-grid-schema"),
        shared.join("eventgrid/examples/cloud-events-schema"),
        repo.join("examples/events"),
    ] {
        for entry in std::fs::read_dir(&dir).expect("examples") {
            let path = entry.expect("entry").path();
            let schema = dir.file_name().expect("dir name").to_string_lossy();
            let name = format!(
                "{schema}-{}",
                path.file_name().expect("file").to_string_lossy()
            );
            bodies.push((name, std::fs::read(&path).expect("example")));
        }
    }
    let seeds = fuzz_dir().join("seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir).expect("seed dir");
        std::fs::write(dir.join(name), bytes).expect("seed");
    };
    for (name, body) in &bodies {
        write("events", name, body);
        let value: Value = serde_json::from_slice(body).expect("example JSON");
        let events = match value {
            Value::Array(list) => list,
            one => vec![one],
        };
        for (i, event) in events.iter().enumerate() {
            let full = event
                .get("type")
                .or_else(|| event.get("eventType"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let short = full.trim_start_matches("Microsoft.Communication.");
            let Some(index) = invariants::KNOWN_TYPES.iter().position(|t| *t == short) else {
                continue;
            };
            let mut input = vec![u8::try_from(index).expect("few types")];
            input.extend(serde_json::to_vec(&event["data"]).expect("data"));
            write("event_data", &format!("{name}-{i}"), &input);
        }
    }
    for (i, decision) in ivr_decisions().iter().enumerate() {
        write("decision", &format!("ivr-{i:02}.json"), decision);
    }
}

#[test]
fn the_ivr_decisions_hold() {
    let decisions = ivr_decisions();
    assert!(decisions.len() > 5, "{}", decisions.len());
    for decision in decisions {
        invariants::decision(&decision);
    }
}
