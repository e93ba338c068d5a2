//! The service's events, from the wire to the contract: CloudEvents callbacks and
//! Event Grid deliveries (either schema, the validation handshake, batches).
//!
//! An event type this host does not know becomes `Event::Unknown` with its data as
//! JSON, so a new service event never breaks a plugin.

use serde_json::Value;

use super::wire::{parse_identifier, parse_result, parse_tone};
use crate::contract::{
    CallLifecycle, ChoiceResult, CommunicationIdentifier, CustomContext, Event, Header,
    IncomingCall, InvitationResult, MediaFailure, OperationInfo, Participant, ParticipantChange,
    ParticipantResult, ParticipantsUpdated, RecognizeCompleted, Recognized, RecordingFileStatus,
    RecordingState, RecordingStateChanged, SpeechResult, StreamingUpdate, ToneReceived,
    TransferAccepted, UnknownEvent,
};

/// One event off the wire, with what identifies its call. Serializable: a call's
/// inbox in the store keeps events this way.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Received {
    /// The event's id (for de-duplication).
    pub id: String,
    /// The type without `Microsoft.Communication.`.
    pub event_type: String,
    pub call_connection_id: Option<String>,
    pub server_call_id: Option<String>,
    pub correlation_id: Option<String>,
    /// The service's time for the event, as sent.
    pub time: Option<String>,
    pub event: Event,
    /// When the host had it (ingress sets it when the request arrived; an event read
    /// back from the store: when it was read).
    #[serde(skip, default = "std::time::Instant::now")]
    pub received_at: std::time::Instant,
}

/// Why a body is not events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not JSON: {0}")]
    Json(String),
    #[error("event #{index}: {problem}")]
    Event { index: usize, problem: String },
    #[error("the body must be an event or an array of events")]
    Shape,
}

/// What an Event Grid delivery holds.
#[derive(Debug, Clone, PartialEq)]
pub enum EventGridBody {
    /// The subscription validation handshake (Event Grid schema): echo the code.
    Validation {
        code: String,
    },
    Events(Vec<Received>),
}

fn events(body: &[u8]) -> Result<Vec<Value>, ParseError> {
    match serde_json::from_slice::<Value>(body).map_err(|e| ParseError::Json(e.to_string()))? {
        Value::Array(events) => Ok(events),
        event @ Value::Object(_) => Ok(vec![event]),
        _ => Err(ParseError::Shape),
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// A callback body: CloudEvents, as an array (what the service sends) or one object.
pub fn parse_callbacks(body: &[u8]) -> Result<Vec<Received>, ParseError> {
    let received = parse_events(body)?;
    // Every Call Automation callback names its call connection.
    if let Some(index) = received.iter().position(|r| r.call_connection_id.is_none()) {
        return Err(ParseError::Event {
            index,
            problem: "no `data.callConnectionId`".into(),
        });
    }
    Ok(received)
}

/// Events of any kind in either envelope, as one object or an array (what a plugin
/// author saves from the service's logs).
pub fn parse_events(body: &[u8]) -> Result<Vec<Received>, ParseError> {
    envelopes(&events(body)?)
}

/// An Event Grid delivery in the Event Grid schema (`eventType`, `eventTime`) or the
/// CloudEvents schema (`type`, `time`).
pub fn parse_event_grid(body: &[u8]) -> Result<EventGridBody, ParseError> {
    let events = events(body)?;
    if let Some(first) = events.first()
        && first.get("eventType").and_then(Value::as_str)
            == Some("Microsoft.EventGrid.SubscriptionValidationEvent")
    {
        let code = first
            .pointer("/data/validationCode")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Ok(EventGridBody::Validation {
            code: code.to_owned(),
        });
    }
    envelopes(&events).map(EventGridBody::Events)
}

/// Events in either envelope: CloudEvents (`type`, `time`) or Event Grid
/// (`eventType`, `eventTime`).
fn envelopes(events: &[Value]) -> Result<Vec<Received>, ParseError> {
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let problem = |problem: &str| ParseError::Event {
                index,
                problem: problem.to_owned(),
            };
            let full_type = event
                .get("type")
                .or_else(|| event.get("eventType"))
                .and_then(Value::as_str)
                .ok_or_else(|| problem("no `type`"))?;
            let id = text(event, "id").ok_or_else(|| problem("no `id`"))?;
            let data = event
                .get("data")
                .filter(|d| d.is_object())
                .ok_or_else(|| problem("no `data` object"))?;
            if let Some(field) = missing(full_type, data) {
                return Err(problem(&format!("{full_type} without `data.{field}`")));
            }
            let time = text(event, "time").or_else(|| text(event, "eventTime"));
            Ok(received(id, full_type, data, time))
        })
        .collect()
}

/// A field an event the host acts on cannot do without: an IncomingCall is answered
/// with its context and routed by its callee (other events are passed on as they
/// come; what they lack, the policy sees as absent).
fn missing(full_type: &str, data: &Value) -> Option<&'static str> {
    if full_type != "Microsoft.Communication.IncomingCall" {
        return None;
    }
    ["from", "to"]
        .into_iter()
        .find(|field| ident(data, field).is_none())
        .or_else(|| {
            ["incomingCallContext", "serverCallId"]
                .into_iter()
                .find(|field| text(data, field).is_none_or(|v| v.is_empty()))
        })
}

fn received(id: String, full_type: &str, data: &Value, time: Option<String>) -> Received {
    let event_type = full_type
        .strip_prefix("Microsoft.Communication.")
        .unwrap_or(full_type);
    Received {
        id,
        event_type: event_type.to_owned(),
        call_connection_id: text(data, "callConnectionId"),
        server_call_id: text(data, "serverCallId"),
        correlation_id: text(data, "correlationId"),
        time,
        event: parse_event(event_type, data),
        received_at: std::time::Instant::now(),
    }
}

fn info(data: &Value) -> OperationInfo {
    OperationInfo {
        operation_context: text(data, "operationContext"),
        result: parse_result(data),
    }
}

fn ident(data: &Value, field: &str) -> Option<CommunicationIdentifier> {
    data.get(field).and_then(parse_identifier)
}

/// Event Grid wraps some identifiers: `{"communicationIdentifier": {…}}`.
fn wrapped(data: &Value, field: &str) -> Option<CommunicationIdentifier> {
    let value = data.get(field)?;
    value
        .get("communicationIdentifier")
        .or_else(|| value.get("communicationidentifier"))
        .and_then(parse_identifier)
        .or_else(|| parse_identifier(value))
}

fn headers(value: Option<&Value>) -> Vec<Header> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(name, v)| Header {
                    name: name.clone(),
                    value: v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn participants(data: &Value) -> Vec<Participant> {
    data.get("participants")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| {
                    Some(Participant {
                        identifier: ident(p, "identifier")?,
                        is_muted: p.get("isMuted").and_then(Value::as_bool).unwrap_or(false),
                        is_on_hold: p.get("isOnHold").and_then(Value::as_bool).unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn lifecycle(data: &Value) -> CallLifecycle {
    CallLifecycle {
        server_call_id: text(data, "serverCallId").unwrap_or_default(),
        correlation_id: text(data, "correlationId").unwrap_or_default(),
        started_by: wrapped(data, "startedBy"),
        is_two_party: data
            .get("isTwoParty")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        is_rooms_call: data
            .get("isRoomsCall")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ended_by: wrapped(data, "endedBy"),
        reason: data
            .get("reason")
            .map(|r| crate::contract::ResultInformation {
                code: u32::try_from(r.get("code").and_then(Value::as_u64).unwrap_or(0))
                    .unwrap_or(0),
                sub_code: u32::try_from(r.get("subCode").and_then(Value::as_u64).unwrap_or(0))
                    .unwrap_or(0),
                message: r
                    .get("phrase")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
        duration_seconds: data.get("callDurationInSeconds").and_then(Value::as_f64),
    }
}

fn streaming(data: &Value, update: &str, status: &str, details: &str) -> StreamingUpdate {
    let u = data.get(update).cloned().unwrap_or(Value::Null);
    StreamingUpdate {
        info: info(data),
        status: text(&u, status).unwrap_or_default(),
        status_details: text(&u, details).unwrap_or_default(),
    }
}

/// The contract event for a service event type and its data.
#[must_use]
pub fn parse_event(event_type: &str, data: &Value) -> Event {
    let participant_result = || ParticipantResult {
        info: info(data),
        participant: ident(data, "participant"),
    };
    let invitation = || InvitationResult {
        info: info(data),
        invitation_id: text(data, "invitationId").unwrap_or_default(),
    };
    let failure = || MediaFailure {
        info: info(data),
        failed_play_source_index: data
            .get("failedPlaySourceIndex")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok()),
    };
    let media = |s: &str| streaming(data, "mediaStreamingUpdate", "mediaStreamingStatus", s);
    let transcription = || {
        streaming(
            data,
            "transcriptionUpdate",
            "transcriptionStatus",
            "transcriptionStatusDetails",
        )
    };
    match event_type {
        "IncomingCall" => match (ident(data, "from"), ident(data, "to")) {
            (Some(from), Some(to)) => Event::IncomingCall(IncomingCall {
                from,
                to,
                server_call_id: text(data, "serverCallId").unwrap_or_default(),
                correlation_id: text(data, "correlationId").unwrap_or_default(),
                caller_display_name: text(data, "callerDisplayName").filter(|n| !n.is_empty()),
                incoming_call_context: text(data, "incomingCallContext").unwrap_or_default(),
                custom_context: CustomContext {
                    sip_headers: headers(data.pointer("/customContext/sipHeaders")),
                    voip_headers: headers(data.pointer("/customContext/voipHeaders")),
                },
                on_behalf_of_callee: ident(data, "onBehalfOfCallee"),
            }),
            _ => unknown(event_type, data),
        },
        "CallStarted" => Event::CallStarted(lifecycle(data)),
        "CallEnded" => Event::CallEnded(lifecycle(data)),
        "CallParticipantAdded"
        | "ParticipantAdded"
        | "CallParticipantRemoved"
        | "ParticipantRemoved" => {
            let change = ParticipantChange {
                server_call_id: text(data, "serverCallId").unwrap_or_default(),
                correlation_id: text(data, "correlationId").unwrap_or_default(),
                user: wrapped(data, "user").unwrap_or(CommunicationIdentifier::Raw(String::new())),
                display_name: text(data, "displayName"),
            };
            if event_type.ends_with("Added") {
                Event::ParticipantAdded(change)
            } else {
                Event::ParticipantRemoved(change)
            }
        }
        "RecordingFileStatusUpdated" => {
            let chunks = data
                .pointer("/recordingStorageInfo/recordingChunks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Event::RecordingFileStatusUpdated(RecordingFileStatus {
                recording_start_time: text(data, "recordingStartTime").unwrap_or_default(),
                recording_duration_ms: data
                    .get("recordingDurationMs")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                content_locations: chunks
                    .iter()
                    .filter_map(|c| text(c, "contentLocation"))
                    .collect(),
                metadata_locations: chunks
                    .iter()
                    .filter_map(|c| text(c, "metadataLocation"))
                    .collect(),
                session_end_reason: text(data, "sessionEndReason"),
            })
        }
        "CallConnected" => Event::CallConnected(info(data)),
        "CallDisconnected" => Event::CallDisconnected(info(data)),
        "CreateCallFailed" => Event::CreateCallFailed(info(data)),
        "AnswerFailed" => Event::AnswerFailed(info(data)),
        "ConnectFailed" => Event::ConnectFailed(info(data)),
        "CallTransferAccepted" => Event::CallTransferAccepted(TransferAccepted {
            info: info(data),
            transfer_target: ident(data, "transferTarget"),
            transferee: ident(data, "transferee"),
        }),
        "CallTransferFailed" => Event::CallTransferFailed(info(data)),
        "AddParticipantSucceeded" => Event::AddParticipantSucceeded(participant_result()),
        "AddParticipantFailed" => Event::AddParticipantFailed(participant_result()),
        "RemoveParticipantSucceeded" => Event::RemoveParticipantSucceeded(participant_result()),
        "RemoveParticipantFailed" => Event::RemoveParticipantFailed(participant_result()),
        "CancelAddParticipantSucceeded" => Event::CancelAddParticipantSucceeded(invitation()),
        "CancelAddParticipantFailed" => Event::CancelAddParticipantFailed(invitation()),
        "ParticipantsUpdated" => Event::ParticipantsUpdated(ParticipantsUpdated {
            sequence_number: data
                .get("sequenceNumber")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            participants: participants(data),
        }),
        "PlayStarted" => Event::PlayStarted(info(data)),
        "PlayCompleted" => Event::PlayCompleted(info(data)),
        "PlayFailed" => Event::PlayFailed(failure()),
        "PlayCanceled" => Event::PlayCanceled(info(data)),
        "RecognizeCompleted" => {
            let recognized = match data.get("recognitionType").and_then(Value::as_str) {
                Some("choices") => Recognized::Choice(ChoiceResult {
                    label: data
                        .pointer("/choiceResult/label")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    recognized_phrase: data
                        .pointer("/choiceResult/recognizedPhrase")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    confidence: data
                        .pointer("/choiceResult/confidence")
                        .and_then(Value::as_f64),
                }),
                Some("speech") => Recognized::Speech(SpeechResult {
                    speech: data
                        .pointer("/speechResult/speech")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    confidence: data
                        .pointer("/speechResult/confidence")
                        .and_then(Value::as_f64),
                }),
                _ => Recognized::Dtmf(
                    data.pointer("/dtmfResult/tones")
                        .and_then(Value::as_array)
                        .map(|tones| {
                            tones
                                .iter()
                                .filter_map(|t| t.as_str().and_then(parse_tone))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
            };
            Event::RecognizeCompleted(RecognizeCompleted {
                info: info(data),
                recognized,
            })
        }
        "RecognizeFailed" => Event::RecognizeFailed(failure()),
        "RecognizeCanceled" => Event::RecognizeCanceled(info(data)),
        "RecordingStateChanged" => Event::RecordingStateChanged(RecordingStateChanged {
            recording_id: text(data, "recordingId").unwrap_or_default(),
            state: if text(data, "state").as_deref() == Some("active") {
                RecordingState::Active
            } else {
                RecordingState::Inactive
            },
            start_time: text(data, "startDateTime"),
            result: parse_result(data),
        }),
        "ContinuousDtmfRecognitionToneReceived" => match data
            .get("tone")
            .and_then(Value::as_str)
            .and_then(parse_tone)
        {
            Some(tone) => Event::ContinuousDtmfRecognitionToneReceived(ToneReceived {
                info: info(data),
                tone,
                sequence_id: data
                    .get("sequenceId")
                    .and_then(Value::as_u64)
                    .and_then(|i| u32::try_from(i).ok())
                    .unwrap_or(0),
            }),
            None => unknown(event_type, data),
        },
        "ContinuousDtmfRecognitionToneFailed" => {
            Event::ContinuousDtmfRecognitionToneFailed(info(data))
        }
        "ContinuousDtmfRecognitionStopped" => Event::ContinuousDtmfRecognitionStopped(info(data)),
        "SendDtmfTonesCompleted" => Event::SendDtmfTonesCompleted(info(data)),
        "SendDtmfTonesFailed" => Event::SendDtmfTonesFailed(info(data)),
        "HoldFailed" => Event::HoldFailed(info(data)),
        "MediaStreamingStarted" => {
            Event::MediaStreamingStarted(media("mediaStreamingStatusDetails"))
        }
        "MediaStreamingStopped" => {
            Event::MediaStreamingStopped(media("mediaStreamingStatusDetails"))
        }
        "MediaStreamingFailed" => Event::MediaStreamingFailed(media("mediaStreamingStatusDetails")),
        "TranscriptionStarted" => Event::TranscriptionStarted(transcription()),
        "TranscriptionUpdated" => Event::TranscriptionUpdated(transcription()),
        "TranscriptionStopped" => Event::TranscriptionStopped(transcription()),
        "TranscriptionFailed" => Event::TranscriptionFailed(transcription()),
        _ => unknown(event_type, data),
    }
}

fn unknown(event_type: &str, data: &Value) -> Event {
    Event::Unknown(UnknownEvent {
        event_type: format!("Microsoft.Communication.{event_type}"),
        json: data.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::DtmfTone;

    fn example(path: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/eventgrid/examples");
        std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn event_grid_incoming_call_in_both_schemas() {
        for path in [
            "event-grid-schema/incoming_call.json",
            "cloud-events-schema/incoming_call.json",
        ] {
            let EventGridBody::Events(events) = parse_event_grid(&example(path)).expect(path)
            else {
                panic!("{path}")
            };
            let Event::IncomingCall(call) = &events[0].event else {
                panic!("{path}: {:?}", events[0].event)
            };
            assert_eq!(call.incoming_call_context, "{incoming-call-contextValue}");
            assert_eq!(
                call.from,
                CommunicationIdentifier::AcsUser("{caller-id}".into())
            );
            assert_eq!(call.caller_display_name.as_deref(), Some("VOIP Caller"));
            assert!(
                call.custom_context
                    .sip_headers
                    .iter()
                    .any(|h| h.name == "userToUser")
            );
            assert_eq!(events[0].id, "e80026e7-e298-46ba-bc42-dab0eda92581");
        }
    }

    #[test]
    fn event_grid_lifecycle_examples_parse() {
        let EventGridBody::Events(events) =
            parse_event_grid(&example("event-grid-schema/call_ended.json")).expect("ended")
        else {
            panic!()
        };
        let Event::CallEnded(ended) = &events[0].event else {
            panic!("{:?}", events[0].event)
        };
        assert_eq!(ended.duration_seconds, Some(10.0));
        assert!(matches!(
            ended.ended_by,
            Some(CommunicationIdentifier::AcsUser(_))
        ));
        for path in [
            "event-grid-schema/call_started.json",
            "event-grid-schema/call_participant_added.json",
            "event-grid-schema/call_participant_removed.json",
            "event-grid-schema/recording_file_status_updated.json",
        ] {
            let EventGridBody::Events(events) = parse_event_grid(&example(path)).expect(path)
            else {
                panic!()
            };
            assert!(
                !matches!(events[0].event, Event::Unknown(_)),
                "{path}: {:?}",
                events[0].event
            );
        }
    }

    #[test]
    fn validation_handshake() {
        let body = br#"[{"id":"1","topic":"t","subject":"","data":{"validationCode":"512d38b6","validationUrl":"https://x"},"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","eventTime":"2025-01-01T00:00:00Z","metadataVersion":"1","dataVersion":"2"}]"#;
        assert_eq!(
            parse_event_grid(body),
            Ok(EventGridBody::Validation {
                code: "512d38b6".into()
            })
        );
    }

    #[test]
    fn callbacks_parse_with_their_call_ids() {
        let body = br#"[{"id":"8ad7","source":"calling/callConnections/401f","type":"Microsoft.Communication.RecognizeCompleted",
            "data":{"version":"2025-05-15","operationContext":"menu","resultInformation":{"code":200,"subCode":8531,"message":"ok"},
            "recognitionType":"dtmf","dtmfResult":{"tones":["one","pound"]},"callConnectionId":"401f","serverCallId":"aHR0","correlationId":"5b0d"},
            "time":"2024-02-29T19:15:44.1159369+00:00","specversion":"1.0"}]"#;
        let events = parse_callbacks(body).expect("parse");
        assert_eq!(events[0].call_connection_id.as_deref(), Some("401f"));
        let Event::RecognizeCompleted(done) = &events[0].event else {
            panic!()
        };
        assert_eq!(
            done.recognized,
            Recognized::Dtmf(vec![DtmfTone::One, DtmfTone::Pound])
        );
        assert_eq!(done.info.result.as_ref().map(|r| r.sub_code), Some(8531));
        assert_eq!(done.info.operation_context.as_deref(), Some("menu"));
    }

    #[test]
    fn unknown_events_and_bad_bodies() {
        let body = br#"{"id":"1","type":"Microsoft.Communication.SomethingNew","data":{"callConnectionId":"c","x":1}}"#;
        let events = parse_callbacks(body).expect("parse");
        let Event::Unknown(u) = &events[0].event else {
            panic!()
        };
        assert_eq!(u.event_type, "Microsoft.Communication.SomethingNew");
        assert!(u.json.contains("\"x\":1"));
        assert!(matches!(
            parse_callbacks(b"{nope"),
            Err(ParseError::Json(_))
        ));
        assert_eq!(parse_callbacks(b"42"), Err(ParseError::Shape));
        let err = parse_callbacks(br#"[{"id":"1","data":{}}]"#).expect_err("no type");
        assert_eq!(err.to_string(), "event #0: no `type`");
    }
}
