//! Every action of the contract as the REST request that carries it out.

use serde_json::{Map, Value, json};

use super::wire::{identifier, play_source, tone};
use crate::contract::{
    Action, ActionRequest, CallLocator, CustomContext, RecognizeInput, RecordingChannel,
    RecordingContent, RecordingFormat, RejectReason,
};

/// HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

/// A REST request, before signing.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Path under the endpoint, without the query.
    pub path: String,
    pub body: Option<Value>,
    /// Whether the operation takes `Repeatability-Request-ID`/`-First-Sent`.
    pub repeatable: bool,
}

/// What an action needs to know about its call.
#[derive(Debug, Clone, Copy)]
pub struct CallRef<'a> {
    /// The application's call connection, once answered.
    pub call_connection_id: Option<&'a str>,
    pub server_call_id: &'a str,
    /// For answer/reject/redirect of a ringing call.
    pub incoming_call_context: Option<&'a str>,
    /// Where this call's events must come back.
    pub callback_uri: &'a str,
}

/// Why an action cannot become a request for this call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("`{0}` needs an incoming call (no incoming call context)")]
    NotIncoming(&'static str),
    #[error("`{0}` needs a connected call (no call connection id yet)")]
    NotConnected(&'static str),
}

/// A path segment, percent-encoded (a call connection id may hold any character).
pub(crate) fn percent(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn custom_context(context: &CustomContext) -> Option<Value> {
    if context.sip_headers.is_empty() && context.voip_headers.is_empty() {
        return None;
    }
    let headers = |list: &[crate::contract::Header]| -> Map<String, Value> {
        list.iter()
            .map(|h| (h.name.clone(), json!(h.value)))
            .collect()
    };
    Some(
        json!({"sipHeaders": headers(&context.sip_headers), "voipHeaders": headers(&context.voip_headers)}),
    )
}

fn phone_number(number: Option<&String>) -> Option<Value> {
    number.map(|n| json!({"value": n}))
}

/// Inserts the optional fields that are set.
fn with(mut body: Value, fields: &[(&str, Option<Value>)]) -> Value {
    for (name, value) in fields {
        if let Some(value) = value {
            body[*name] = value.clone();
        }
    }
    body
}

/// The request that carries out `request` on `call`.
pub fn build(request: &ActionRequest, call: CallRef<'_>) -> Result<Request, RequestError> {
    let kind = request.action.kind();
    let context = request.operation_context.as_ref().map(|c| json!(c));
    let callback = request.operation_callback_uri.as_ref().map(|c| json!(c));
    let incoming = || {
        call.incoming_call_context
            .ok_or(RequestError::NotIncoming(kind))
    };
    let cc = || {
        call.call_connection_id
            .map(|id| format!("/calling/callConnections/{}", percent(id)))
            .ok_or(RequestError::NotConnected(kind))
    };
    let post = |path: String, body: Value, repeatable: bool| Request {
        method: Method::Post,
        path,
        body: Some(body),
        repeatable,
    };
    // Media and mid-call operations take both tags.
    let tags = |body: Value| {
        with(
            body,
            &[
                ("operationContext", context.clone()),
                ("operationCallbackUri", callback.clone()),
            ],
        )
    };
    Ok(match &request.action {
        Action::Answer => post(
            "/calling/callConnections:answer".into(),
            with(
                json!({"incomingCallContext": incoming()?, "callbackUri": call.callback_uri}),
                &[("operationContext", context.clone())],
            ),
            true,
        ),
        Action::Reject(reason) => {
            let reason = match reason {
                RejectReason::None => "none",
                RejectReason::Busy => "busy",
                RejectReason::Forbidden => "forbidden",
            };
            post(
                "/calling/callConnections:reject".into(),
                json!({"incomingCallContext": incoming()?, "callRejectReason": reason}),
                true,
            )
        }
        Action::Redirect(target) => post(
            "/calling/callConnections:redirect".into(),
            json!({"incomingCallContext": incoming()?, "target": identifier(target)}),
            true,
        ),
        Action::CreateCall(create) => post(
            "/calling/callConnections".into(),
            with(
                json!({"targets": create.targets.iter().map(identifier).collect::<Vec<_>>(), "callbackUri": call.callback_uri}),
                &[
                    (
                        "sourceCallerIdNumber",
                        phone_number(create.source_caller_id_number.as_ref()),
                    ),
                    (
                        "sourceDisplayName",
                        create.source_display_name.as_ref().map(|n| json!(n)),
                    ),
                    ("operationContext", context.clone()),
                ],
            ),
            true,
        ),
        Action::Connect(locator) => {
            let locator = match locator {
                CallLocator::ServerCall(id) => {
                    json!({"kind": "serverCallLocator", "serverCallId": id})
                }
                CallLocator::GroupCall(id) => {
                    json!({"kind": "groupCallLocator", "groupCallId": id})
                }
                CallLocator::Room(id) => json!({"kind": "roomCallLocator", "roomId": id}),
            };
            post(
                "/calling/callConnections:connect".into(),
                with(
                    json!({"callLocator": locator, "callbackUri": call.callback_uri}),
                    &[("operationContext", context.clone())],
                ),
                true,
            )
        }
        Action::AddParticipant(add) => post(
            format!("{}/participants:add", cc()?),
            tags(with(
                json!({"participantToAdd": identifier(&add.participant)}),
                &[
                    (
                        "sourceCallerIdNumber",
                        phone_number(add.source_caller_id_number.as_ref()),
                    ),
                    (
                        "sourceDisplayName",
                        add.source_display_name.as_ref().map(|n| json!(n)),
                    ),
                    (
                        "invitationTimeoutInSeconds",
                        add.invitation_timeout_seconds.map(|s| json!(s)),
                    ),
                    ("customCallingContext", custom_context(&add.custom_context)),
                ],
            )),
            true,
        ),
        Action::CancelAddParticipant(invitation) => post(
            format!("{}/participants:cancelAddParticipant", cc()?),
            tags(json!({"invitationId": invitation})),
            true,
        ),
        Action::RemoveParticipant(who) => post(
            format!("{}/participants:remove", cc()?),
            tags(json!({"participantToRemove": identifier(who)})),
            true,
        ),
        Action::Transfer(transfer) => post(
            format!("{}:transferToParticipant", cc()?),
            tags(with(
                json!({"targetParticipant": identifier(&transfer.target)}),
                &[
                    ("transferee", transfer.transferee.as_ref().map(identifier)),
                    (
                        "customCallingContext",
                        custom_context(&transfer.custom_context),
                    ),
                    (
                        "sourceCallerIdNumber",
                        phone_number(transfer.source_caller_id_number.as_ref()),
                    ),
                ],
            )),
            true,
        ),
        Action::Mute(who) => post(
            format!("{}/participants:mute", cc()?),
            with(
                json!({"targetParticipants": [identifier(who)]}),
                &[("operationContext", context.clone())],
            ),
            true,
        ),
        Action::HangUp => Request {
            method: Method::Delete,
            path: cc()?,
            body: None,
            repeatable: false,
        },
        Action::Terminate => Request {
            method: Method::Post,
            path: format!("{}:terminate", cc()?),
            body: None,
            repeatable: true,
        },
        Action::Play(play) => post(
            format!("{}:play", cc()?),
            tags(json!({
                "playSources": play.sources.iter().map(play_source).collect::<Vec<_>>(),
                "playTo": play.play_to.iter().map(identifier).collect::<Vec<_>>(),
                "playOptions": {"loop": play.loop_},
                "interruptCallMediaOperation": play.interrupt,
            })),
            false,
        ),
        Action::Recognize(r) => {
            let mut options = with(
                json!({"targetParticipant": identifier(&r.target), "interruptPrompt": r.interrupt_prompt}),
                &[
                    (
                        "initialSilenceTimeoutInSeconds",
                        r.initial_silence_timeout_seconds.map(|s| json!(s)),
                    ),
                    (
                        "speechLanguage",
                        r.speech_language.as_ref().map(|l| json!(l)),
                    ),
                ],
            );
            let dtmf = |d: &crate::contract::DtmfOptions| {
                with(
                    json!({"stopTones": d.stop_tones.iter().map(|t| tone(*t)).collect::<Vec<_>>()}),
                    &[
                        ("maxTonesToCollect", d.max_tones.map(|n| json!(n))),
                        (
                            "interToneTimeoutInSeconds",
                            d.inter_tone_timeout_seconds.map(|n| json!(n)),
                        ),
                    ],
                )
            };
            let speech = |s: &crate::contract::SpeechOptions, options: &mut Value| {
                if let Some(ms) = s.end_silence_timeout_ms {
                    options["speechOptions"] = json!({"endSilenceTimeoutInMs": ms});
                }
                if let Some(endpoint) = &s.model_endpoint_id {
                    options["speechRecognitionModelEndpointId"] = json!(endpoint);
                }
            };
            let input_type = match &r.input {
                RecognizeInput::Dtmf(d) => {
                    options["dtmfOptions"] = dtmf(d);
                    "dtmf"
                }
                RecognizeInput::Choices(choices) => {
                    options["choices"] = choices
                        .iter()
                        .map(|c| {
                            with(
                                json!({"label": c.label, "phrases": c.phrases}),
                                &[("tone", c.tone.map(|t| json!(tone(t))))],
                            )
                        })
                        .collect();
                    "choices"
                }
                RecognizeInput::Speech(s) => {
                    speech(s, &mut options);
                    "speech"
                }
                RecognizeInput::SpeechOrDtmf((s, d)) => {
                    speech(s, &mut options);
                    options["dtmfOptions"] = dtmf(d);
                    "speechOrDtmf"
                }
            };
            let mut body = json!({
                "recognizeInputType": input_type,
                "recognizeOptions": options,
                "interruptCallMediaOperation": r.interrupt_call_media_operation,
            });
            if !r.prompt.is_empty() {
                body["playPrompts"] = r.prompt.iter().map(play_source).collect();
            }
            post(format!("{}:recognize", cc()?), tags(body), false)
        }
        Action::CancelMediaOperations => Request {
            method: Method::Post,
            path: format!("{}:cancelAllMediaOperations", cc()?),
            body: None,
            repeatable: false,
        },
        Action::StartContinuousDtmfRecognition(who) => post(
            format!("{}:startContinuousDtmfRecognition", cc()?),
            tags(json!({"targetParticipant": identifier(who)})),
            false,
        ),
        Action::StopContinuousDtmfRecognition(who) => post(
            format!("{}:stopContinuousDtmfRecognition", cc()?),
            tags(json!({"targetParticipant": identifier(who)})),
            false,
        ),
        Action::SendDtmfTones(send) => post(
            format!("{}:sendDtmfTones", cc()?),
            tags(
                json!({"tones": send.tones.iter().map(|t| tone(*t)).collect::<Vec<_>>(), "targetParticipant": identifier(&send.target)}),
            ),
            true,
        ),
        Action::Hold(hold) => post(
            format!("{}:hold", cc()?),
            tags(with(
                json!({"targetParticipant": identifier(&hold.target)}),
                &[("playSourceInfo", hold.music.as_ref().map(play_source))],
            )),
            false,
        ),
        Action::Unhold(who) => post(
            format!("{}:unhold", cc()?),
            tags(json!({"targetParticipant": identifier(who)})),
            false,
        ),
        Action::StartTranscription(t) | Action::UpdateTranscription(t) => {
            let verb = if matches!(request.action, Action::StartTranscription(_)) {
                "startTranscription"
            } else {
                "updateTranscription"
            };
            post(
                format!("{}:{verb}", cc()?),
                tags(with(
                    json!({}),
                    &[
                        ("locale", t.locale.as_ref().map(|l| json!(l))),
                        (
                            "speechModelEndpointId",
                            t.speech_model_endpoint_id.as_ref().map(|e| json!(e)),
                        ),
                    ],
                )),
                false,
            )
        }
        Action::StopTranscription => post(
            format!("{}:stopTranscription", cc()?),
            tags(json!({})),
            false,
        ),
        Action::StartMediaStreaming => post(
            format!("{}:startMediaStreaming", cc()?),
            tags(json!({})),
            false,
        ),
        Action::StopMediaStreaming => post(
            format!("{}:stopMediaStreaming", cc()?),
            tags(json!({})),
            false,
        ),
        Action::StartRecording(options) => {
            let content = match options.content {
                RecordingContent::Audio => "audio",
                RecordingContent::AudioVideo => "audioVideo",
            };
            let channel = match options.channel {
                RecordingChannel::Mixed => "mixed",
                RecordingChannel::Unmixed => "unmixed",
            };
            let format = match options.format {
                RecordingFormat::Wav => "wav",
                RecordingFormat::Mp3 => "mp3",
                RecordingFormat::Mp4 => "mp4",
            };
            post(
                "/calling/recordings".into(),
                json!({
                    "callLocator": {"kind": "serverCallLocator", "serverCallId": call.server_call_id},
                    "recordingStateCallbackUri": request.operation_callback_uri.as_deref().unwrap_or(call.callback_uri),
                    "recordingContentType": content,
                    "recordingChannelType": channel,
                    "recordingFormatType": format,
                    "pauseOnStart": options.pause_on_start,
                }),
                true,
            )
        }
        Action::PauseRecording(id) => Request {
            method: Method::Post,
            path: format!("/calling/recordings/{}:pause", percent(id)),
            body: None,
            repeatable: false,
        },
        Action::ResumeRecording(id) => Request {
            method: Method::Post,
            path: format!("/calling/recordings/{}:resume", percent(id)),
            body: None,
            repeatable: false,
        },
        Action::StopRecording(id) => Request {
            method: Method::Delete,
            path: format!("/calling/recordings/{}", percent(id)),
            body: None,
            repeatable: false,
        },
    })
}
