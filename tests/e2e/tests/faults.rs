//! Service faults through the whole stack: the simulator fails requests and
//! duplicates, delays or reorders callbacks; the host retries with the same
//! repeatability id, handles each event once, and keeps each call's order.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::executor::Handled;
use switchboard_e2e::{Stack, StackBuilder, ivr_script};
use tokio::sync::broadcast;

async fn ivr_stack() -> Stack {
    StackBuilder::ivr()
        .expect("ivr")
        .start()
        .await
        .expect("stack")
}

/// The events the host handled for one call, in order, once it ended.
async fn handled(journal: &mut broadcast::Receiver<Handled>, call: &str) -> Vec<Handled> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let record = tokio::time::timeout_at(deadline, journal.recv())
            .await
            .unwrap_or_else(|_| panic!("call {call} did not end in the journal: {events:#?}"))
            .expect("journal");
        if record.server_call_id == call {
            let end = record.event == "CallDisconnected";
            events.push(record);
            if end {
                return events;
            }
        }
    }
}

/// The `press-2-then-3` script under a fault rule; it must still pass. The stack, the
/// call's id, what the host handled, and the simulator's timeline.
async fn press_2_then_3_with(fault: Value) -> (Stack, String, Vec<Handled>, Vec<Value>) {
    let stack = ivr_stack().await;
    let mut journal = stack.executor.journal();
    stack.fault(fault).await.expect("fault");
    let id = stack
        .place(&ivr_script("press-2-then-3").expect("script"))
        .await
        .expect("place");
    let events = handled(&mut journal, &id).await;
    let report = stack.report_when_ended(1).await.expect("report");
    assert_eq!(report["passed"], 1, "{report:#}");
    let timeline = stack.timeline(&id).await.expect("timeline");
    (stack, id, events, timeline)
}

fn names(events: &[Handled]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// The callbacks the simulator emitted for a call, in order (without the events that
/// go through Event Grid).
fn emitted(timeline: &[Value]) -> Vec<&str> {
    const EVENT_GRID: [&str; 6] = [
        "IncomingCall",
        "CallStarted",
        "CallEnded",
        "ParticipantAdded",
        "ParticipantRemoved",
        "RecordingFileStatusUpdated",
    ];
    timeline
        .iter()
        .filter(|e| e["kind"] == "event")
        .filter_map(|e| e["name"].as_str())
        .filter(|n| !EVENT_GRID.contains(n))
        .collect()
}

/// A counter's value in Prometheus text, summed over the lines matching `labels`.
fn counter(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_answered_503_then_accepted_happens_exactly_once() {
    let stack = ivr_stack().await;
    // First refused before any effect; then lost after the effect (the retry with the
    // same repeatability id gets the recorded answer instead of a second transfer).
    for after_effect in [false, true] {
        stack
            .fault(json!({"operation": "TransferToParticipant", "fault": {"kind": "status", "status": 503, "after_effect": after_effect}, "times": 1}))
            .await
            .expect("fault");
        let id = stack
            .place(&ivr_script("press-1").expect("script"))
            .await
            .expect("place");
        let ended = if after_effect { 2 } else { 1 };
        let report = stack.report_when_ended(ended).await.expect("report");
        assert_eq!(report["passed"], ended, "{report:#}");
        // After the effect, the call can end (the agent accepts, then hangs up)
        // before the host's retry arrives: wait for the retry.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let operations = loop {
            let operations = stack.operations(&id).await.expect("operations");
            let retried = operations
                .iter()
                .filter(|o| o.starts_with("TransferToParticipant"))
                .count()
                >= 2;
            if retried || tokio::time::Instant::now() > deadline {
                break operations;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let transfers: Vec<&String> = operations
            .iter()
            .filter(|o| o.starts_with("TransferToParticipant"))
            .collect();
        assert_eq!(
            transfers,
            ["TransferToParticipant 503", "TransferToParticipant 202"],
            "{operations:?}"
        );
        let timeline = stack.timeline(&id).await.expect("timeline");
        let accepted = timeline
            .iter()
            .filter(|e| e["kind"] == "event" && e["name"] == "CallTransferAccepted")
            .count();
        assert_eq!(accepted, 1, "one transfer took effect");
        let replayed = timeline
            .iter()
            .filter(|e| e["name"] == "TransferToParticipant" && e["detail"]["replayed"] == true)
            .count();
        assert_eq!(
            replayed,
            usize::from(after_effect),
            "answered from the first effect when there was one"
        );
    }
    let metrics = stack.metrics().await.expect("metrics");
    assert!(
        counter(
            &metrics,
            "switchboard_action_retries_total",
            &["action=\"transfer\""]
        ) >= 2.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out() {
    let stack = ivr_stack().await;
    stack
        .fault(json!({"operation": "Recognize", "fault": {"kind": "status", "status": 429, "retry_after": 1}, "times": 1}))
        .await
        .expect("fault");
    let id = stack
        .place(&ivr_script("press-2-then-3").expect("script"))
        .await
        .expect("place");
    let report = stack.report_when_ended(1).await.expect("report");
    assert_eq!(report["passed"], 1, "{report:#}");
    let timeline = stack.timeline(&id).await.expect("timeline");
    let recognizes: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["kind"] == "request" && e["name"] == "Recognize")
        .collect();
    assert_eq!(recognizes[0]["detail"]["status"], 429);
    assert_eq!(recognizes[1]["detail"]["status"], 202);
    let waited =
        recognizes[1]["at_ms"].as_f64().expect("at") - recognizes[0]["at_ms"].as_f64().expect("at");
    assert!(
        waited >= 950.0,
        "Retry-After: 1 honoured, the retry came {waited} ms later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_callbacks_are_handled_once() {
    let (stack, id, events, timeline) =
        press_2_then_3_with(json!({"event": "*", "fault": {"kind": "duplicate"}})).await;
    let deliveries = timeline.iter().filter(|e| e["kind"] == "delivery").count();
    let events_sent = timeline.iter().filter(|e| e["kind"] == "event").count();
    assert!(
        deliveries >= 2 * events_sent.saturating_sub(1),
        "every callback was delivered twice ({deliveries} deliveries of {events_sent} events)"
    );
    assert_eq!(
        names(&events)[1..],
        emitted(&timeline),
        "each event the service sent, handled once, in order"
    );
    assert_eq!(
        stack.operations(&id).await.expect("operations"),
        [
            "AnswerCall 200",
            "Recognize 202",
            "Recognize 202",
            "Play 202",
            "TerminateCall 204"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_overtakes_the_one_it_follows_waits_for_it() {
    // CallConnected is held back by the simulator and sent after the next event.
    let (stack, _, events, timeline) = press_2_then_3_with(
        json!({"event": "CallConnected", "fault": {"kind": "reorder"}, "times": 1}),
    )
    .await;
    let delivered: Vec<&str> = timeline
        .iter()
        .filter(|e| e["kind"] == "delivery")
        .filter_map(|e| e["name"].as_str())
        .collect();
    let connected = delivered.iter().position(|n| *n == "CallConnected");
    let updated = delivered.iter().position(|n| *n == "ParticipantsUpdated");
    assert!(
        updated < connected,
        "the simulator delivered them out of order: {delivered:?}"
    );
    assert_eq!(
        names(&events)[1..],
        emitted(&timeline),
        "the host handled them in the order the service sent them"
    );
    let metrics = stack.metrics().await.expect("metrics");
    assert!(
        counter(
            &metrics,
            "switchboard_events_held_total",
            &["reason=\"before-connected\""]
        ) >= 1.0,
        "{metrics}"
    );
}

/// The service loses a RecognizeCompleted: after the completion timeout the policy
/// hears `outcome-unknown` for its menu, offers it again, and the call goes on to an
/// end of the policy's making instead of waiting for the caller to hang up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_completion_is_given_up_and_the_policy_goes_on() {
    let stack = StackBuilder::ivr()
        .expect("ivr")
        .host_toml("[server]\ncompletion_timeout_ms = 300")
        .start()
        .await
        .expect("stack");
    let mut journal = stack.executor.journal();
    stack
        .fault(json!({"event": "RecognizeCompleted", "fault": {"kind": "drop"}, "times": 1}))
        .await
        .expect("fault");
    let id = stack
        .place(&ivr_script("press-1").expect("script"))
        .await
        .expect("place");
    let events = handled(&mut journal, &id).await;
    let failed: Vec<&Handled> = events
        .iter()
        .filter(|e| e.event == "ActionFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", names(&events));
    let report = stack.report_when_ended(1).await.expect("report");
    let call = &report["calls"][0];
    assert_eq!(call["ended"], true, "{call:#}");
    let made: Vec<&str> = call["made"]
        .as_array()
        .expect("made")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // The caller pressed 1 once, into the lost recognize; it stays silent after, so
    // the menu offered again times out until the policy says goodbye and ends the call.
    assert_eq!(
        made[..3],
        ["AnswerCall", "Recognize", "Recognize"],
        "the menu is offered again after the lost completion: {made:?}"
    );
    assert_eq!(made.last(), Some(&"TerminateCall"), "{made:?}");
}
