//! The `ivr.md` caller scripts as event sequences with the actions each event must
//! cause, and a driver that runs them through any policy, carrying the per-call state
//! from one event to the next exactly as the host does.
//!
//! The events are what the service would send for a caller following the script; the
//! simulator produces the same sequences over HTTP. The demo, the decision tests and
//! the benchmarks share them.

use crate::contract::{
    CallSnapshot, CallState, CommunicationIdentifier, ConfigEntry, Context, CustomContext,
    Decision, DtmfTone, Event, IncomingCall, MediaFailure, OperationInfo, Participant,
    RecognizeCompleted, Recognized, ResultInformation, TransferAccepted,
};

/// The caller in every script.
pub const CALLER: &str = "+14255550123";
/// The tenant's number the caller dials.
pub const TENANT_NUMBER: &str = "+18005550100";
/// The tenant's `agent_phone`.
pub const AGENT_PHONE: &str = "+15550001111";

/// One event and the action kinds it must cause, in order.
#[derive(Debug, Clone)]
pub struct Step {
    pub event: Event,
    pub expect: &'static [&'static str],
}

/// A named caller script.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: &'static str,
    pub summary: &'static str,
    pub steps: Vec<Step>,
}

/// Every caller script of `ivr.md`.
#[must_use]
pub fn ivr_scripts() -> Vec<Script> {
    let opening = || {
        vec![
            step(incoming_call(), &["answer"]),
            step(
                Event::CallConnected(info(Some("ivr"), 200, 0, "")),
                &["recognize"],
            ),
        ]
    };
    let with = |mut steps: Vec<Step>, rest: Vec<Step>| {
        steps.extend(rest);
        steps
    };
    vec![
        Script {
            name: "press-1",
            summary: "presses 1; the agent accepts the transfer",
            steps: with(
                opening(),
                vec![
                    step(pressed(&[DtmfTone::One]), &["transfer"]),
                    step(transfer_accepted(), &[]),
                    step(disconnected(5001), &[]),
                ],
            ),
        },
        Script {
            name: "press-2-then-3",
            summary: "presses 2, hears the menu again, presses 3",
            steps: with(
                opening(),
                vec![
                    step(pressed(&[DtmfTone::Two]), &["recognize"]),
                    step(pressed(&[DtmfTone::Three]), &["play"]),
                    step(
                        Event::PlayCompleted(info(Some("goodbye"), 200, 0, OK)),
                        &["terminate"],
                    ),
                    step(disconnected(7000), &[]),
                ],
            ),
        },
        Script {
            name: "silent",
            summary: "presses nothing: two retries, then goodbye",
            steps: with(
                opening(),
                vec![
                    step(silence(), &["recognize"]),
                    step(silence(), &["recognize"]),
                    step(silence(), &["play"]),
                    step(
                        Event::PlayCompleted(info(Some("goodbye"), 200, 0, OK)),
                        &["terminate"],
                    ),
                    step(disconnected(7000), &[]),
                ],
            ),
        },
        Script {
            name: "agent-busy",
            summary: "presses 1; the transfer target declines",
            steps: with(
                opening(),
                vec![
                    step(pressed(&[DtmfTone::One]), &["transfer"]),
                    step(
                        Event::CallTransferFailed(info(
                            Some("transfer"),
                            486,
                            5300,
                            "The transfer target declined the call.",
                        )),
                        &["play"],
                    ),
                    step(
                        Event::PlayCompleted(info(Some("sorry"), 200, 0, OK)),
                        &["terminate"],
                    ),
                    step(disconnected(7000), &[]),
                ],
            ),
        },
        Script {
            name: "caller-hangs-up",
            summary: "hangs up during the prompt",
            steps: with(
                opening(),
                vec![
                    step(
                        Event::RecognizeCanceled(info(
                            Some("menu"),
                            400,
                            8508,
                            "Action failed, the operation was canceled.",
                        )),
                        &[],
                    ),
                    step(disconnected(540_000), &[]),
                ],
            ),
        },
    ]
}

const OK: &str = "Action completed successfully.";

fn step(event: Event, expect: &'static [&'static str]) -> Step {
    Step { event, expect }
}

/// Operation info as the service sends it.
#[must_use]
pub fn info(context: Option<&str>, code: u32, sub_code: u32, message: &str) -> OperationInfo {
    OperationInfo {
        operation_context: context.map(str::to_owned),
        result: Some(ResultInformation {
            code,
            sub_code,
            message: message.to_owned(),
        }),
    }
}

#[must_use]
pub fn incoming_call() -> Event {
    Event::IncomingCall(IncomingCall {
        from: CommunicationIdentifier::PhoneNumber(CALLER.into()),
        to: CommunicationIdentifier::PhoneNumber(TENANT_NUMBER.into()),
        server_call_id: SERVER_CALL_ID.into(),
        correlation_id: CORRELATION_ID.into(),
        caller_display_name: None,
        incoming_call_context: "demo-incoming-call-context".into(),
        custom_context: CustomContext {
            sip_headers: vec![],
            voip_headers: vec![],
        },
        on_behalf_of_callee: None,
    })
}

/// RecognizeCompleted with these tones.
#[must_use]
pub fn pressed(tones: &[DtmfTone]) -> Event {
    Event::RecognizeCompleted(RecognizeCompleted {
        info: info(
            Some("menu"),
            200,
            8531,
            "Action completed, max digits received.",
        ),
        recognized: Recognized::Dtmf(tones.to_vec()),
    })
}

/// RecognizeFailed: initial silence timeout.
#[must_use]
pub fn silence() -> Event {
    Event::RecognizeFailed(MediaFailure {
        info: info(
            Some("menu"),
            400,
            8510,
            "Action failed, initial silence timeout reached.",
        ),
        failed_play_source_index: None,
    })
}

fn transfer_accepted() -> Event {
    Event::CallTransferAccepted(TransferAccepted {
        info: info(
            Some("transfer"),
            200,
            7015,
            "The transfer operation completed successfully.",
        ),
        transfer_target: Some(CommunicationIdentifier::PhoneNumber(AGENT_PHONE.into())),
        transferee: Some(CommunicationIdentifier::PhoneNumber(CALLER.into())),
    })
}

fn disconnected(sub_code: u32) -> Event {
    Event::CallDisconnected(info(
        Some("ivr"),
        200,
        sub_code,
        "The conversation has ended.",
    ))
}

const SERVER_CALL_ID: &str = "aHR0cHM6Ly9zd2l0Y2hib2FyZC5sb2NhbC9jYWxsLzE";
const CORRELATION_ID: &str = "5b0d0522-7d1c-4a2e-9a43-1d2b0c2e8f10";
const CALL_CONNECTION_ID: &str = "401f0b00-7f80-4a99-8308-843f2cedce1d";

/// The context of a scripted call at its first event: the tenant's config, no state.
#[must_use]
pub fn context() -> Context {
    let caller = CommunicationIdentifier::PhoneNumber(CALLER.into());
    Context {
        tenant_id: "demo".into(),
        call: CallSnapshot {
            call_connection_id: None,
            server_call_id: SERVER_CALL_ID.into(),
            correlation_id: CORRELATION_ID.into(),
            state: CallState::Unknown,
            from: caller.clone(),
            to: CommunicationIdentifier::PhoneNumber(TENANT_NUMBER.into()),
            participants: vec![Participant {
                identifier: caller,
                is_muted: false,
                is_on_hold: false,
            }],
        },
        config: vec![ConfigEntry {
            key: "agent_phone".into(),
            value: AGENT_PHONE.into(),
        }],
        state: Vec::new(),
    }
}

/// What one step of a run produced.
#[derive(Debug, Clone)]
pub struct StepRun<O> {
    pub event: Event,
    pub expect: &'static [&'static str],
    pub outcome: O,
    /// The action kinds decided, or `None` if the policy did not decide.
    pub actions: Option<Vec<&'static str>>,
}

impl<O> StepRun<O> {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.actions.as_deref() == Some(self.expect)
    }
}

/// Runs a script through `policy`, which returns its outcome and, if it decided, the
/// decision. State and call snapshot evolve between events as in the host.
pub fn run<O>(
    script: &Script,
    mut policy: impl FnMut(&Event, &Context) -> (O, Option<Decision>),
) -> Vec<StepRun<O>> {
    let mut ctx = context();
    script
        .steps
        .iter()
        .map(|step| {
            observe(&mut ctx.call, &step.event);
            let (outcome, decision) = policy(&step.event, &ctx);
            let actions = decision.map(|d| {
                if let Some(state) = d.state {
                    ctx.state = state;
                }
                d.actions.iter().map(|a| a.action.kind()).collect()
            });
            StepRun {
                event: step.event.clone(),
                expect: step.expect,
                outcome,
                actions,
            }
        })
        .collect()
}

/// Updates the call snapshot the way the host does when an event arrives.
fn observe(call: &mut CallSnapshot, event: &Event) {
    match event {
        Event::CallConnected(_) => {
            call.call_connection_id = Some(CALL_CONNECTION_ID.into());
            call.state = CallState::Connected;
        }
        Event::CallTransferAccepted(_) => call.state = CallState::TransferAccepted,
        Event::CallDisconnected(_) => call.state = CallState::Disconnected,
        _ => {}
    }
}
