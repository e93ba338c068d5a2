//! What a decision may do: each action checked against the event it answers, the
//! state of the call and the tenant's allowances, before anything is sent to the
//! service. A refused action becomes an `action-failed` event for the plugin (code
//! `not-allowed`); the actions before it still run.
//!
//! Must not: talk to the service or run plugins.

use crate::contract::{Action, ActionRequest, CallState, CommunicationIdentifier, Event};

/// What the tenant lets its plugins reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowances {
    /// Phone number prefixes (E.164, e.g. `+1555`) the plugin may transfer to,
    /// invite, redirect to or call. Empty: any number.
    pub phone_prefixes: Vec<String>,
    /// May the plugin place new calls (create-call)?
    pub outbound_calls: bool,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`{0}` answers an incoming call and is only allowed on IncomingCall")]
    IncomingOnly(&'static str),
    #[error("`{0}` needs a connected call; on IncomingCall only answer, reject or redirect")]
    NotYetConnected(&'static str),
    #[error("the call has ended; `{0}` cannot run on it")]
    CallEnded(&'static str),
    #[error("{0} is not a number this tenant may reach")]
    TargetNotAllowed(String),
    #[error("this tenant may not place outbound calls")]
    OutboundNotAllowed,
    #[error("operation callback URI {0:?} must be an absolute https URL")]
    BadCallbackUri(String),
}

/// Checks one action of a decision made for `event` on a call in `state`.
pub fn check(
    request: &ActionRequest,
    event: &Event,
    state: CallState,
    allow: &Allowances,
) -> Result<(), Refusal> {
    let kind = request.action.kind();
    if let Some(uri) = &request.operation_callback_uri
        && !(uri.starts_with("https://") && uri.len() > "https://".len())
    {
        return Err(Refusal::BadCallbackUri(uri.clone()));
    }
    let incoming = matches!(event, Event::IncomingCall(_));
    match &request.action {
        Action::Answer | Action::Reject(_) | Action::Redirect(_) if !incoming => {
            return Err(Refusal::IncomingOnly(kind));
        }
        Action::Answer | Action::Reject(_) | Action::Redirect(_) => {}
        Action::CreateCall(_) if !allow.outbound_calls => return Err(Refusal::OutboundNotAllowed),
        Action::CreateCall(_) | Action::Connect(_) => {}
        _ if incoming => return Err(Refusal::NotYetConnected(kind)),
        _ if matches!(state, CallState::Disconnected | CallState::Disconnecting) => {
            return Err(Refusal::CallEnded(kind));
        }
        _ => {}
    }
    for target in targets(&request.action) {
        if let Some(number) = phone_number(target)
            && !allow.phone_prefixes.is_empty()
            && !allow
                .phone_prefixes
                .iter()
                .any(|p| number.starts_with(p.as_str()))
        {
            return Err(Refusal::TargetNotAllowed(number.to_owned()));
        }
    }
    Ok(())
}

/// The phone number an identifier reaches. The service takes a raw id `4:<number>` as
/// a phone number whatever variant carries it, so a raw (or mislabelled ACS user) id
/// must not be a way around the tenant's prefixes.
fn phone_number(id: &CommunicationIdentifier) -> Option<&str> {
    match id {
        CommunicationIdentifier::PhoneNumber(number) => Some(number),
        CommunicationIdentifier::Raw(raw) | CommunicationIdentifier::AcsUser(raw) => {
            raw.strip_prefix("4:")
        }
        CommunicationIdentifier::TeamsUser(_) => None,
    }
}

/// The parties an action reaches out to.
fn targets(action: &Action) -> Vec<&CommunicationIdentifier> {
    match action {
        Action::Redirect(to) => vec![to],
        Action::Transfer(t) => vec![&t.target],
        Action::AddParticipant(a) => vec![&a.participant],
        Action::CreateCall(c) => c.targets.iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{CreateCall, CustomContext, Transfer};
    use crate::scenario;

    fn request(action: Action) -> ActionRequest {
        ActionRequest {
            action,
            operation_context: None,
            operation_callback_uri: None,
        }
    }

    fn transfer(to: &str) -> ActionRequest {
        request(Action::Transfer(Transfer {
            target: CommunicationIdentifier::PhoneNumber(to.into()),
            transferee: None,
            custom_context: CustomContext {
                sip_headers: vec![],
                voip_headers: vec![],
            },
            source_caller_id_number: None,
        }))
    }

    #[test]
    fn incoming_call_actions_only_on_incoming_calls() {
        let allow = Allowances::default();
        let incoming = scenario::incoming_call();
        let connected = Event::CallConnected(scenario::info(None, 200, 0, ""));
        assert_eq!(
            check(
                &request(Action::Answer),
                &incoming,
                CallState::Unknown,
                &allow
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &request(Action::Answer),
                &connected,
                CallState::Connected,
                &allow
            ),
            Err(Refusal::IncomingOnly("answer"))
        );
        assert_eq!(
            check(
                &request(Action::HangUp),
                &incoming,
                CallState::Unknown,
                &allow
            ),
            Err(Refusal::NotYetConnected("hang-up"))
        );
        assert_eq!(
            check(
                &request(Action::HangUp),
                &connected,
                CallState::Connected,
                &allow
            ),
            Ok(())
        );
    }

    #[test]
    fn nothing_runs_on_an_ended_call() {
        let disconnected = Event::CallDisconnected(scenario::info(None, 200, 7000, ""));
        let refused = check(
            &request(Action::Terminate),
            &disconnected,
            CallState::Disconnected,
            &Allowances::default(),
        );
        assert_eq!(refused, Err(Refusal::CallEnded("terminate")));
    }

    #[test]
    fn targets_and_outbound_calls_follow_the_tenant_allowances() {
        let event = Event::CallConnected(scenario::info(None, 200, 0, ""));
        let allow = Allowances {
            phone_prefixes: vec!["+1555".into()],
            outbound_calls: false,
        };
        assert_eq!(
            check(
                &transfer("+15550001111"),
                &event,
                CallState::Connected,
                &allow
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &transfer("+449001234567"),
                &event,
                CallState::Connected,
                &allow
            ),
            Err(Refusal::TargetNotAllowed("+449001234567".into()))
        );
        // The same number as a raw id (the service's `4:` phone prefix) is refused too.
        for raw in [
            CommunicationIdentifier::Raw("4:+449001234567".into()),
            CommunicationIdentifier::AcsUser("4:+449001234567".into()),
        ] {
            let mut sneaky = transfer("+15550001111");
            let Action::Transfer(t) = &mut sneaky.action else {
                unreachable!()
            };
            t.target = raw;
            assert_eq!(
                check(&sneaky, &event, CallState::Connected, &allow),
                Err(Refusal::TargetNotAllowed("+449001234567".into()))
            );
        }
        let call = request(Action::CreateCall(CreateCall {
            targets: vec![CommunicationIdentifier::PhoneNumber("+15550002222".into())],
            source_caller_id_number: None,
            source_display_name: None,
        }));
        assert_eq!(
            check(&call, &event, CallState::Connected, &allow),
            Err(Refusal::OutboundNotAllowed)
        );
        let open = Allowances {
            outbound_calls: true,
            ..allow
        };
        assert_eq!(check(&call, &event, CallState::Connected, &open), Ok(()));
    }

    #[test]
    fn operation_callbacks_must_be_https() {
        let event = Event::CallConnected(scenario::info(None, 200, 0, ""));
        let mut play = request(Action::CancelMediaOperations);
        play.operation_callback_uri = Some("http://10.0.0.1/steal".into());
        assert!(matches!(
            check(&play, &event, CallState::Connected, &Allowances::default()),
            Err(Refusal::BadCallbackUri(_))
        ));
        play.operation_callback_uri = Some("https://tenant.example/events".into());
        assert_eq!(
            check(&play, &event, CallState::Connected, &Allowances::default()),
            Ok(())
        );
    }
}
