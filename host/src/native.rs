//! Policies in plain Rust, behind the same signature as a plugin's `handle`.
//!
//! [`ivr`] is `shared/scenarios/ivr.md` written natively: the baseline the Wasm
//! plugins are benchmarked against, and the oracle the equivalence tests compare
//! every plugin's decisions with. [`fallback`] is what a call gets when its plugin
//! fails.

use crate::contract::{
    Action, ActionRequest, CommunicationIdentifier, Context, Decision, DtmfOptions, Event, Play,
    PlaySource, PluginError, Recognize, RecognizeInput, Recognized, TextSource, Transfer,
};

const MENU_PROMPT: &str = "Press 1 for sales, 2 to hear this again, 3 to leave.";
const VOICE: &str = "en-US-NancyNeural";
const MAX_RETRIES: u32 = 2;

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct IvrState {
    retries: u32,
}

/// The IVR policy; state is the same JSON the Rust SDK writes (`{"retries":N}`).
pub fn ivr(event: &Event, ctx: &Context) -> Result<Decision, PluginError> {
    let mut state: IvrState = if ctx.state.is_empty() {
        IvrState::default()
    } else {
        serde_json::from_slice(&ctx.state).map_err(|e| error("bad-state", e.to_string()))?
    };
    let actions = match event {
        Event::IncomingCall(_) => vec![tagged(Action::Answer, "ivr")],
        Event::CallConnected(_) => vec![menu(ctx)],
        Event::RecognizeCompleted(done) => match &done.recognized {
            Recognized::Dtmf(tones) if tones.len() == 1 => match tones[0].key() {
                '1' => {
                    let agent = config(ctx, "agent_phone").ok_or_else(|| {
                        error(
                            "config",
                            "tenant config has no `agent_phone` to transfer to",
                        )
                    })?;
                    vec![tagged(
                        Action::Transfer(Transfer {
                            target: CommunicationIdentifier::PhoneNumber(agent.to_owned()),
                            transferee: None,
                            custom_context: crate::contract::CustomContext {
                                sip_headers: vec![],
                                voip_headers: vec![],
                            },
                            source_caller_id_number: None,
                        }),
                        "transfer",
                    )]
                }
                '2' => vec![menu(ctx)],
                '3' => vec![say("Goodbye.", "goodbye")],
                _ => retry_or_goodbye(ctx, &mut state),
            },
            _ => retry_or_goodbye(ctx, &mut state),
        },
        Event::RecognizeFailed(_) => retry_or_goodbye(ctx, &mut state),
        Event::CallTransferFailed(_) => vec![say("Sorry, no agent is available.", "sorry")],
        Event::PlayCompleted(info)
            if matches!(info.operation_context.as_deref(), Some("goodbye" | "sorry")) =>
        {
            vec![terminate()]
        }
        // The host restarted while sending: the menu may never have played (offer it
        // again rather than leave the caller in silence); a goodbye may not have played
        // (end the call rather than say it twice).
        Event::ActionFailed(failed) if failed.code == "outcome-unknown" => {
            match failed.operation_context.as_deref() {
                Some("menu") => vec![menu(ctx)],
                Some("goodbye" | "sorry") => vec![terminate()],
                _ => vec![],
            }
        }
        _ => vec![],
    };
    let encoded = serde_json::to_vec(&state).map_err(|e| error("bad-state", e.to_string()))?;
    let changed = encoded != ctx.state;
    Ok(Decision {
        actions,
        state: changed.then_some(encoded),
    })
}

fn menu(ctx: &Context) -> ActionRequest {
    tagged(
        Action::Recognize(Recognize {
            input: RecognizeInput::Dtmf(DtmfOptions {
                max_tones: Some(1),
                stop_tones: vec![],
                inter_tone_timeout_seconds: None,
            }),
            target: ctx.call.from.clone(),
            prompt: vec![text(MENU_PROMPT)],
            interrupt_prompt: true,
            initial_silence_timeout_seconds: Some(5),
            speech_language: None,
            interrupt_call_media_operation: false,
        }),
        "menu",
    )
}

fn retry_or_goodbye(ctx: &Context, state: &mut IvrState) -> Vec<ActionRequest> {
    if state.retries < MAX_RETRIES {
        state.retries += 1;
        vec![menu(ctx)]
    } else {
        vec![say("Goodbye.", "goodbye")]
    }
}

fn terminate() -> ActionRequest {
    ActionRequest {
        action: Action::Terminate,
        operation_context: None,
        operation_callback_uri: None,
    }
}

fn say(words: &str, context: &str) -> ActionRequest {
    tagged(
        Action::Play(Play {
            sources: vec![text(words)],
            play_to: vec![],
            loop_: false,
            interrupt: false,
        }),
        context,
    )
}

fn text(words: &str) -> PlaySource {
    PlaySource::Text(TextSource {
        text: words.to_owned(),
        voice: Some(VOICE.to_owned()),
        locale: None,
    })
}

fn tagged(action: Action, context: &str) -> ActionRequest {
    ActionRequest {
        action,
        operation_context: Some(context.to_owned()),
        operation_callback_uri: None,
    }
}

fn config<'a>(ctx: &'a Context, key: &str) -> Option<&'a str> {
    ctx.config
        .iter()
        .find(|e| e.key == key)
        .map(|e| e.value.as_str())
}

fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// The operation context the fallback tags its apology with, so the host recognises
/// the apology's completion without the (failed) plugin.
pub const FALLBACK_CONTEXT: &str = "switchboard:fallback";

/// The default fallback of a tenant whose plugin failed on a call: reject a ringing
/// call; on a connected one, apologise, then end the call when the apology has been
/// played (or could not be). Once a call is in fallback, the host sends its events
/// here instead of to the plugin; `apologised` says the apology was already sent (one
/// is enough, whatever else happens on the call meanwhile).
#[must_use]
pub fn fallback(
    event: &Event,
    state: crate::contract::CallState,
    apologised: bool,
) -> Vec<ActionRequest> {
    use crate::contract::{CallState, RejectReason};
    let live = !matches!(state, CallState::Disconnected | CallState::Disconnecting);
    match event {
        Event::IncomingCall(_) => vec![ActionRequest {
            action: Action::Reject(RejectReason::None),
            operation_context: None,
            operation_callback_uri: None,
        }],
        Event::PlayCompleted(info) | Event::PlayCanceled(info)
            if info.operation_context.as_deref() == Some(FALLBACK_CONTEXT) && live =>
        {
            vec![ActionRequest {
                action: Action::Terminate,
                operation_context: None,
                operation_callback_uri: None,
            }]
        }
        Event::PlayFailed(failure)
            if failure.info.operation_context.as_deref() == Some(FALLBACK_CONTEXT) && live =>
        {
            vec![ActionRequest {
                action: Action::Terminate,
                operation_context: None,
                operation_callback_uri: None,
            }]
        }
        Event::CallDisconnected(_) | Event::CallEnded(_) => vec![],
        _ if !apologised && matches!(state, CallState::Connected) => {
            vec![tagged(
                Action::Play(Play {
                    sources: vec![text("We are sorry, something went wrong. Goodbye.")],
                    play_to: vec![],
                    loop_: false,
                    interrupt: true,
                }),
                FALLBACK_CONTEXT,
            )]
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{CallState, MediaFailure};
    use crate::scenario;

    fn kinds(actions: &[ActionRequest]) -> Vec<&'static str> {
        actions.iter().map(|a| a.action.kind()).collect()
    }

    #[test]
    fn fallback_rejects_ringing_calls_and_apologises_then_ends_connected_ones() {
        assert_eq!(
            kinds(&fallback(
                &scenario::incoming_call(),
                CallState::Unknown,
                false
            )),
            ["reject"]
        );
        let apology = fallback(&scenario::silence(), CallState::Connected, false);
        assert_eq!(kinds(&apology), ["play"]);
        assert_eq!(
            apology[0].operation_context.as_deref(),
            Some(FALLBACK_CONTEXT)
        );
        let played = Event::PlayCompleted(scenario::info(Some(FALLBACK_CONTEXT), 200, 0, ""));
        assert_eq!(
            kinds(&fallback(&played, CallState::Connected, true)),
            ["terminate"]
        );
        let failed = Event::PlayFailed(MediaFailure {
            info: scenario::info(Some(FALLBACK_CONTEXT), 400, 8536, ""),
            failed_play_source_index: Some(0),
        });
        assert_eq!(
            kinds(&fallback(&failed, CallState::Connected, true)),
            ["terminate"]
        );
        // The plugin's own plays are not the fallback's; ended calls get nothing.
        let other = Event::PlayCompleted(scenario::info(Some("goodbye"), 200, 0, ""));
        assert_eq!(
            kinds(&fallback(&other, CallState::Connected, false)),
            ["play"]
        );
        // One apology: later events while it plays get nothing.
        assert!(fallback(&other, CallState::Connected, true).is_empty());
        let ended = Event::CallDisconnected(scenario::info(None, 200, 7000, ""));
        assert!(fallback(&ended, CallState::Disconnected, false).is_empty());
        assert!(fallback(&scenario::silence(), CallState::Disconnected, false).is_empty());
    }
}
