//! Conveniences on the contract's types.

use crate::{
    CommunicationIdentifier, Context, CustomContext, DtmfTone, Event, OperationInfo,
    ResultInformation,
};

impl Context {
    /// A value of the tenant's configuration.
    #[must_use]
    pub fn config(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }

    /// The caller: who the call is from.
    #[must_use]
    pub fn caller(&self) -> &CommunicationIdentifier {
        &self.call.from
    }
}

impl Event {
    /// The operation information of a callback event, if it has one.
    #[must_use]
    pub fn info(&self) -> Option<&OperationInfo> {
        match self {
            Event::CallConnected(i)
            | Event::CallDisconnected(i)
            | Event::CreateCallFailed(i)
            | Event::AnswerFailed(i)
            | Event::ConnectFailed(i)
            | Event::CallTransferFailed(i)
            | Event::PlayStarted(i)
            | Event::PlayCompleted(i)
            | Event::PlayCanceled(i)
            | Event::RecognizeCanceled(i)
            | Event::ContinuousDtmfRecognitionToneFailed(i)
            | Event::ContinuousDtmfRecognitionStopped(i)
            | Event::SendDtmfTonesCompleted(i)
            | Event::SendDtmfTonesFailed(i)
            | Event::HoldFailed(i) => Some(i),
            Event::CallTransferAccepted(e) => Some(&e.info),
            Event::AddParticipantSucceeded(e)
            | Event::AddParticipantFailed(e)
            | Event::RemoveParticipantSucceeded(e)
            | Event::RemoveParticipantFailed(e) => Some(&e.info),
            Event::CancelAddParticipantSucceeded(e) | Event::CancelAddParticipantFailed(e) => {
                Some(&e.info)
            }
            Event::PlayFailed(e) | Event::RecognizeFailed(e) => Some(&e.info),
            Event::RecognizeCompleted(e) => Some(&e.info),
            Event::ContinuousDtmfRecognitionToneReceived(e) => Some(&e.info),
            Event::MediaStreamingStarted(e)
            | Event::MediaStreamingStopped(e)
            | Event::MediaStreamingFailed(e)
            | Event::TranscriptionStarted(e)
            | Event::TranscriptionUpdated(e)
            | Event::TranscriptionStopped(e)
            | Event::TranscriptionFailed(e) => Some(&e.info),
            _ => None,
        }
    }

    /// The operation context the event's action was tagged with.
    #[must_use]
    pub fn operation_context(&self) -> Option<&str> {
        match self {
            Event::ActionFailed(f) => f.operation_context.as_deref(),
            _ => self.info()?.operation_context.as_deref(),
        }
    }

    /// The result the service reported, if any.
    #[must_use]
    pub fn result(&self) -> Option<&ResultInformation> {
        self.info()?.result.as_ref()
    }
}

impl DtmfTone {
    /// The key as printed on a keypad (`0`-`9`, `A`-`D`, `#`, `*`).
    #[must_use]
    pub fn key(self) -> char {
        match self {
            DtmfTone::Zero => '0',
            DtmfTone::One => '1',
            DtmfTone::Two => '2',
            DtmfTone::Three => '3',
            DtmfTone::Four => '4',
            DtmfTone::Five => '5',
            DtmfTone::Six => '6',
            DtmfTone::Seven => '7',
            DtmfTone::Eight => '8',
            DtmfTone::Nine => '9',
            DtmfTone::A => 'A',
            DtmfTone::B => 'B',
            DtmfTone::C => 'C',
            DtmfTone::D => 'D',
            DtmfTone::Pound => '#',
            DtmfTone::Asterisk => '*',
        }
    }
}

/// Tones as the keys pressed, e.g. `"12#"`.
#[must_use]
pub fn keys(tones: &[DtmfTone]) -> String {
    tones.iter().map(|t| t.key()).collect()
}

impl Default for CustomContext {
    /// No custom headers.
    fn default() -> Self {
        CustomContext {
            sip_headers: Vec::new(),
            voip_headers: Vec::new(),
        }
    }
}
