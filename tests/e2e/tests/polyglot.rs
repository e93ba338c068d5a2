//! One scenario suite for every language: the `ivr.md` caller scripts against the
//! reference IVR plugin written in Rust, Python and JavaScript (`plugins/*/`), each
//! built from source by `make guests`. Every script must pass, and the service must
//! see the same timeline from each plugin: the same REST requests with the same
//! bodies, the same events delivered, in the same order.

use std::collections::BTreeMap;

use serde_json::Value;
use switchboard_e2e::{Lang, StackBuilder, ivr_scripts};

/// Fields that differ between any two runs (call-specific tokens and contexts).
const VOLATILE: [&str; 2] = ["callbackUri", "incomingCallContext"];

fn without_volatile(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), without_volatile(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_volatile).collect()),
        other => other.clone(),
    }
}

/// Events the service sends on its own schedule, whatever the application does:
/// when they arrive among the others depends on timing, not on the plugin.
const UNSOLICITED: [&str; 3] = ["CallStarted", "ParticipantsUpdated", "CallEnded"];

/// What the service saw of a call: the requests (name, status, body) in order, then
/// the events it delivered in order (a delivery is recorded when its answer comes,
/// which may be after the request the event led to: the two are compared apart),
/// then the unsolicited events, sorted.
fn seen_by_the_service(timeline: &[Value]) -> Vec<String> {
    let mut requests = Vec::new();
    let mut delivered = Vec::new();
    let mut unsolicited = Vec::new();
    for e in timeline {
        let name = e["name"].as_str().unwrap_or("?");
        match e["kind"].as_str() {
            Some("request") => requests.push(format!(
                "→ {name} {} {}",
                e["detail"]["status"],
                without_volatile(&e["detail"]["body"])
            )),
            Some("delivery") if e["detail"]["status"] == 200 => {
                if UNSOLICITED.contains(&name) {
                    unsolicited.push(format!("← {name} (unsolicited)"));
                } else {
                    delivered.push(format!("← {name}"));
                }
            }
            _ => {}
        }
    }
    unsolicited.sort();
    requests.extend(delivered);
    requests.extend(unsolicited);
    requests
}

/// Runs every caller script once against the plugin in `lang`; the service's view of
/// each call, by script name.
async fn run_scripts(lang: Lang, per_call: bool) -> BTreeMap<String, Vec<String>> {
    let mut builder =
        StackBuilder::ivr_in(lang).expect("ivr plugin (make guests builds all three)");
    if per_call {
        builder.tenants[0]
            .limits
            .insert("reuse".into(), "per-call".into());
    }
    let stack = builder.start().await.expect("stack");
    let scripts = ivr_scripts().expect("scripts");
    for caller in &scripts {
        stack.place(caller).await.expect("place");
    }
    let report = stack
        .report_when_ended(scripts.len())
        .await
        .expect("report");
    let mut seen = BTreeMap::new();
    for call in report["calls"].as_array().expect("calls") {
        assert_eq!(
            call["pass"], true,
            "{lang:?}: {} failed: {call:#}",
            call["script"]
        );
        let id = call["serverCallId"].as_str().expect("id");
        let timeline = stack.timeline(id).await.expect("timeline");
        seen.insert(
            call["script"].as_str().expect("script").to_owned(),
            seen_by_the_service(&timeline),
        );
    }
    assert_eq!(seen.len(), scripts.len(), "{lang:?}: one call per script");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_passes_every_script_with_the_same_timeline() {
    let mut by_lang = Vec::new();
    for lang in Lang::ALL {
        by_lang.push((format!("{lang:?}"), run_scripts(lang, false).await));
    }
    // One instance per call (the mode for heavy guests) changes nothing either.
    by_lang.push((
        "Python, per-call instances".into(),
        run_scripts(Lang::Python, true).await,
    ));
    let (_, rust) = &by_lang[0];
    // The comparison is worth something only if the timelines say something.
    for (script, seen) in rust {
        assert!(
            seen.iter().any(|s| s.starts_with("→ AnswerCall 200")),
            "{script}: no answer in {seen:#?}"
        );
    }
    for (lang, seen) in &by_lang[1..] {
        for (script, expected) in rust {
            assert_eq!(
                seen.get(script),
                Some(expected),
                "{lang} and Rust differ on `{script}`"
            );
        }
    }
}
