//! What must hold for any input at the host's edges, as functions that panic when it
//! does not: the fuzz targets of `host/fuzz` run them on generated input, and
//! `host/tests/fuzz_regressions.rs` replays every input kept under
//! `host/fuzz/regressions/` (crashes once found) and `host/fuzz/seeds/`.
//!
//! - [`event_bodies`]: a body sent to the Event Grid or callback endpoint, in either
//!   Event Grid schema or as CloudEvents.
//! - [`event_data`]: one event's `data` turned into the contract's `event` (the
//!   conversion from the service's JSON to WIT).
//! - [`decision`]: a plugin's decision checked against the limits and the tenant's
//!   allowances, and each action turned into its REST request (the conversion from
//!   WIT to the service's JSON).

use serde_json::Value;

use crate::acs::events::{
    EventGridBody, Received, parse_callbacks, parse_event, parse_event_grid, parse_events,
};
use crate::acs::requests::{self, CallRef, percent};
use crate::admission::{self, Allowances};
use crate::contract::{CallState, Decision, Event};
use crate::runtime::{Limits, Outcome, check_decision};

/// Any bytes as an event body: parsing never panics, the three parsers agree, and
/// every event accepted is stored and read back unchanged (a call's inbox keeps
/// events as JSON: one that does not survive that would be lost).
pub fn event_bodies(body: &[u8]) {
    let events = parse_events(body);
    let callbacks = parse_callbacks(body);
    match (&events, &callbacks) {
        (Ok(all), Ok(cb)) => assert_same(all, cb),
        (Ok(all), Err(e)) => assert!(
            all.iter().any(|r| r.call_connection_id.is_none()),
            "callbacks refused events that all name their call: {e}"
        ),
        (Err(e), Ok(_)) => panic!("a callback body that is not events: {e}"),
        (Err(_), Err(_)) => {}
    }
    if let Ok(EventGridBody::Events(grid)) = parse_event_grid(body) {
        assert_same(
            events.as_ref().expect("Event Grid events are events"),
            &grid,
        );
    }
    for received in events.iter().flatten() {
        assert_stored_unchanged(received);
    }
}

/// One event type (chosen by the first byte among the types the host knows, or an
/// unknown one) with any bytes as its data.
pub fn event_data(input: &[u8]) {
    let Some((&pick, data)) = input.split_first() else {
        return;
    };
    let Ok(data) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let event_type = KNOWN_TYPES
        .get(usize::from(pick))
        .copied()
        .unwrap_or("SomethingNew");
    let event = parse_event(event_type, &data);
    if let Event::Unknown(unknown) = &event {
        assert!(
            unknown.event_type.ends_with(event_type),
            "unknown event renamed: {} for {event_type}",
            unknown.event_type
        );
        let json: Value =
            serde_json::from_str(&unknown.json).expect("an unknown event's data is JSON");
        assert_eq!(json, data, "an unknown event's data changed");
    }
    assert_round_trip(&event);
}

/// Any JSON as a decision: the limits check never panics and keeps only decisions
/// within the limits; each action becomes a request (or a clear refusal) for a
/// ringing and for a connected call, with the call's id kept inside its path segment;
/// an action admitted under a phone prefix reaches no number outside it.
pub fn decision(input: &[u8]) {
    let Ok(decision) = serde_json::from_slice::<Decision>(input) else {
        return;
    };
    assert_round_trip(&decision);
    let limits = Limits::default();
    if let Outcome::Decision(kept) = check_decision(decision.clone(), &limits) {
        assert!(kept.actions.len() <= limits.max_actions);
        assert!(
            kept.state
                .as_ref()
                .is_none_or(|s| s.len() <= limits.max_state_bytes)
        );
    }
    let allow = Allowances {
        phone_prefixes: vec![ALLOWED_PREFIX.into()],
        outbound_calls: true,
    };
    for request in &decision.actions {
        for (call, event, state) in calls() {
            let Ok(built) = requests::build(request, call) else {
                continue;
            };
            if admission::check(request, &event, state, &allow).is_ok() {
                for number in reached_numbers(&built) {
                    assert!(
                        number.starts_with(ALLOWED_PREFIX),
                        "admitted a number outside the tenant's prefixes: {number} in {built:?}"
                    );
                }
            }
            assert!(built.path.starts_with("/calling/"), "path {}", built.path);
            assert!(
                !built.path.contains(['?', '#', ' ', '\n']) && !built.path.contains("/../"),
                "path escapes its segment: {}",
                built.path
            );
            if let Some(id) = call.call_connection_id {
                assert!(
                    !built.path.contains("callConnections/") || built.path.contains(&percent(id)),
                    "call id not encoded in {}",
                    built.path
                );
            }
            if let Some(body) = &built.body {
                assert!(body.is_object(), "body is not an object: {body}");
            }
            assert_eq!(
                requests::build(request, call).ok(),
                Some(built),
                "not deterministic"
            );
        }
    }
}

/// Event types the host turns into typed events (the rest become `unknown`).
pub const KNOWN_TYPES: &[&str] = &[
    "IncomingCall",
    "CallStarted",
    "CallEnded",
    "CallParticipantAdded",
    "ParticipantAdded",
    "CallParticipantRemoved",
    "ParticipantRemoved",
    "RecordingFileStatusUpdated",
    "CallConnected",
    "CallDisconnected",
    "CreateCallFailed",
    "AnswerFailed",
    "ConnectFailed",
    "CallTransferAccepted",
    "CallTransferFailed",
    "AddParticipantSucceeded",
    "AddParticipantFailed",
    "RemoveParticipantSucceeded",
    "RemoveParticipantFailed",
    "CancelAddParticipantSucceeded",
    "CancelAddParticipantFailed",
    "ParticipantsUpdated",
    "PlayStarted",
    "PlayCompleted",
    "PlayFailed",
    "PlayCanceled",
    "RecognizeCompleted",
    "RecognizeFailed",
    "RecognizeCanceled",
    "RecordingStateChanged",
    "ContinuousDtmfRecognitionToneReceived",
    "ContinuousDtmfRecognitionToneFailed",
    "ContinuousDtmfRecognitionStopped",
    "SendDtmfTonesCompleted",
    "SendDtmfTonesFailed",
    "HoldFailed",
    "MediaStreamingStarted",
    "MediaStreamingStopped",
    "MediaStreamingFailed",
    "TranscriptionStarted",
    "TranscriptionUpdated",
    "TranscriptionStopped",
    "TranscriptionFailed",
];

const ALLOWED_PREFIX: &str = "+1555";

/// A ringing call, and a connected one whose id needs escaping, each with the event
/// a decision for it answers.
fn calls() -> [(CallRef<'static>, Event, CallState); 2] {
    [
        (
            CallRef {
                call_connection_id: None,
                server_call_id: "server-1",
                incoming_call_context: Some("ctx"),
                callback_uri: "https://host/callbacks/t",
            },
            crate::scenario::incoming_call(),
            CallState::Connecting,
        ),
        (
            CallRef {
                call_connection_id: Some("a/b?c#d e"),
                server_call_id: "server-2",
                incoming_call_context: None,
                callback_uri: "https://host/callbacks/t",
            },
            Event::CallConnected(crate::scenario::info(None, 200, 0, "")),
            CallState::Connected,
        ),
    ]
}

/// The phone numbers a request reaches out to (redirect, add participant, transfer,
/// create or connect a call), read from the wire body as the service would: a
/// `phoneNumber` object or a raw id with the phone prefix `4:`.
fn reached_numbers(request: &requests::Request) -> Vec<String> {
    let Some(body) = &request.body else {
        return Vec::new();
    };
    let path = &request.path;
    let fields: &[&str] = if path.ends_with(":redirect") {
        &["target"]
    } else if path.ends_with("participants:add") {
        &["participantToAdd"]
    } else if path.ends_with(":transferToParticipant") {
        &["targetParticipant"]
    } else if path == "/calling/callConnections" {
        &["targets"]
    } else {
        &[]
    };
    let mut ids: Vec<&Value> = Vec::new();
    for field in fields {
        match body.get(field) {
            Some(Value::Array(list)) => ids.extend(list),
            Some(id) => ids.push(id),
            None => {}
        }
    }
    ids.iter()
        .flat_map(|id| {
            let raw = id
                .get("rawId")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("4:"));
            let number = id.pointer("/phoneNumber/value").and_then(Value::as_str);
            raw.into_iter().chain(number).map(str::to_owned)
        })
        .collect()
}

/// The same events (`received_at` aside: each parser stamps its own).
fn assert_same(a: &[Received], b: &[Received]) {
    assert_eq!(a.len(), b.len(), "parsers disagree on the number of events");
    for (a, b) in a.iter().zip(b) {
        assert_eq!(strip(a), strip(b), "parsers disagree");
    }
}

fn strip(r: &Received) -> (&str, &str, Option<&str>, Option<&str>, &Event) {
    (
        &r.id,
        &r.event_type,
        r.call_connection_id.as_deref(),
        r.server_call_id.as_deref(),
        &r.event,
    )
}

fn assert_stored_unchanged(received: &Received) {
    let stored = serde_json::to_vec(received).expect("an event serializes");
    let back: Received = serde_json::from_slice(&stored).expect("a stored event reads back");
    assert_eq!(strip(&back), strip(received), "changed in the store");
    assert_eq!(back.time, received.time);
    assert_eq!(back.correlation_id, received.correlation_id);
}

fn assert_round_trip<T>(value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_vec(value).expect("serializes");
    let back: T = serde_json::from_slice(&json).expect("reads back");
    assert_eq!(&back, value, "changed by a JSON round trip");
}
