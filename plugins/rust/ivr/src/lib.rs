//! The reference IVR policy (`shared/scenarios/ivr.md`), written with the Rust SDK.
//!
//! Answer; offer a DTMF menu (1 sales, 2 repeat, 3 leave); transfer to the tenant's
//! `agent_phone` on 1; say goodbye and end the call on 3, after two failed retries,
//! or when the transfer fails (with an apology). The retry count is per-call state.
//! Beyond `ivr.md`: when the host reports that a menu or goodbye may not have gone out
//! (`action-failed`, code `outcome-unknown`, after a restart), offer the menu again or
//! end the call, so the caller is never left in silence.

use serde::{Deserialize, Serialize};
use switchboard_sdk::{
    ActionRequest, Context, Event, PluginError, Policy, Recognized, act, export_policy, keys, log,
};

const MENU_PROMPT: &str = "Press 1 for sales, 2 to hear this again, 3 to leave.";
const VOICE: &str = "en-US-NancyNeural";
/// Recognize attempts after the first, before giving up.
const MAX_RETRIES: u32 = 2;

/// What this policy remembers between events of one call.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    retries: u32,
}

#[derive(Debug)]
pub struct Ivr;

impl Policy for Ivr {
    type State = State;

    fn handle(
        event: Event,
        ctx: &Context,
        state: &mut State,
    ) -> Result<Vec<ActionRequest>, PluginError> {
        Ok(match event {
            Event::IncomingCall(_) => vec![act::answer().context("ivr")],
            Event::CallConnected(_) => vec![menu(ctx)],
            Event::RecognizeCompleted(done) => match &done.recognized {
                Recognized::Dtmf(tones) => match keys(tones).as_str() {
                    "1" => vec![transfer_to_agent(ctx)?],
                    "2" => vec![menu(ctx)],
                    "3" => vec![goodbye()],
                    other => {
                        log::info(&format!("unexpected input {other:?}; treated as a failure"));
                        retry_or_goodbye(ctx, state)
                    }
                },
                Recognized::Choice(_) | Recognized::Speech(_) => retry_or_goodbye(ctx, state),
            },
            Event::RecognizeFailed(_) => retry_or_goodbye(ctx, state),
            Event::CallTransferFailed(_) => vec![
                act::play(act::text("Sorry, no agent is available.").voice(VOICE)).context("sorry"),
            ],
            Event::PlayCompleted(info)
                if matches!(info.operation_context.as_deref(), Some("goodbye" | "sorry")) =>
            {
                vec![act::terminate()]
            }
            // The host restarted while sending: the menu may never have played (offer
            // it again rather than leave the caller in silence); a goodbye may not have
            // played (end the call rather than say it twice).
            Event::ActionFailed(failed) if failed.code == "outcome-unknown" => {
                match failed.operation_context.as_deref() {
                    Some("menu") => vec![menu(ctx)],
                    Some("goodbye" | "sorry") => vec![act::terminate()],
                    _ => vec![],
                }
            }
            _ => vec![],
        })
    }
}

fn menu(ctx: &Context) -> ActionRequest {
    act::recognize_dtmf(ctx.caller().clone(), 1)
        .prompt(act::text(MENU_PROMPT).voice(VOICE))
        .interrupt_prompt()
        .initial_silence_timeout(5)
        .into_request()
        .context("menu")
}

fn goodbye() -> ActionRequest {
    act::play(act::text("Goodbye.").voice(VOICE)).context("goodbye")
}

fn retry_or_goodbye(ctx: &Context, state: &mut State) -> Vec<ActionRequest> {
    if state.retries < MAX_RETRIES {
        state.retries += 1;
        vec![menu(ctx)]
    } else {
        vec![goodbye()]
    }
}

fn transfer_to_agent(ctx: &Context) -> Result<ActionRequest, PluginError> {
    let agent = ctx.config("agent_phone").ok_or_else(|| PluginError {
        code: "config".into(),
        message: "tenant config has no `agent_phone` to transfer to".into(),
    })?;
    Ok(act::transfer(act::phone(agent)).context("transfer"))
}

export_policy!(Ivr);
