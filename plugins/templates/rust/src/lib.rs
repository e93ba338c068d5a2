//! {{name}}: a Switchboard call policy.
//!
//! Answers, greets the caller, and hangs up once the greeting has played. Change
//! `handle` to decide what your calls do; the events and actions are those of
//! Azure Communication Services Call Automation (see the SDK's docs).

use serde::{Deserialize, Serialize};
use switchboard_sdk::{ActionRequest, Context, Event, PluginError, Policy, act, export_policy};

/// What this policy remembers between the events of one call (JSON, handed back
/// with the next event).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    greeted: bool,
}

#[derive(Debug)]
pub struct Greeter;

impl Policy for Greeter {
    type State = State;

    fn handle(
        event: Event,
        ctx: &Context,
        state: &mut State,
    ) -> Result<Vec<ActionRequest>, PluginError> {
        Ok(match event {
            Event::IncomingCall(_) => vec![act::answer()],
            Event::CallConnected(_) => {
                state.greeted = true;
                let greeting = ctx.config("greeting").unwrap_or("Hello from {{name}}!");
                vec![act::play(act::text(greeting)).context("greeting")]
            }
            Event::PlayCompleted(info) if info.operation_context.as_deref() == Some("greeting") => {
                vec![act::hang_up()]
            }
            _ => vec![],
        })
    }
}

export_policy!(Greeter);

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdk::{Action, CallSnapshot, CallState, CommunicationIdentifier, OperationInfo};

    fn context() -> Context {
        let caller = CommunicationIdentifier::PhoneNumber("+14255550123".into());
        Context {
            tenant_id: "me".into(),
            call: CallSnapshot {
                call_connection_id: Some("c".into()),
                server_call_id: "s".into(),
                correlation_id: "r".into(),
                state: CallState::Connected,
                from: caller,
                to: CommunicationIdentifier::PhoneNumber("+18005550100".into()),
                participants: vec![],
            },
            config: vec![],
            state: vec![],
        }
    }

    fn info(operation_context: &str) -> OperationInfo {
        OperationInfo {
            operation_context: Some(operation_context.into()),
            result: None,
        }
    }

    #[test]
    fn greets_then_hangs_up() {
        let mut state = State::default();
        let played = Greeter::handle(Event::CallConnected(info("")), &context(), &mut state)
            .expect("decision");
        assert!(matches!(played[..], [ActionRequest { action: Action::Play(_), .. }]));
        assert!(state.greeted);
        let done = Greeter::handle(Event::PlayCompleted(info("greeting")), &context(), &mut state)
            .expect("decision");
        assert!(matches!(done[..], [ActionRequest { action: Action::HangUp, .. }]));
    }
}
