//! The contract: the one `bindgen!` of the `switchboard:policy` world (`wit/policy.wit`).
//!
//! The rest of the host names contract types through this module (`contract::Event`,
//! `contract::Decision`…), never through the generated paths, so a new contract
//! version changes one file.

mod generated {
    wasmtime::component::bindgen!({
        world: "call-policy",
        path: "../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });

    impl CallPolicy {
        /// The bindings of a fresh instance of a component that
        /// [`CallPolicyPre::new`] type-checked. The generated `load` type-checks
        /// every export again for each instance: walking the whole event variant
        /// with its string compares, cold, was most of a fresh invocation's cost.
        /// Instances of one `InstancePre` all have the checked types.
        pub(crate) fn from_checked(handle: wasmtime::component::Func) -> Self {
            Self { handle }
        }
    }
}

pub use generated::switchboard::policy::log::{Host as LogHost, Level};
pub use generated::switchboard::policy::types::{Host as TypesHost, *};
pub use generated::{CallPolicy, CallPolicyPre};

/// The package and version this host implements, as plugins declare it.
pub const PACKAGE: &str = "switchboard:policy@0.1.0";

impl Action {
    /// A media operation: the service runs it for a while and reports its end with
    /// a completion event (`play-completed`, `recognize-failed`…).
    #[must_use]
    pub fn is_media(&self) -> bool {
        matches!(self, Action::Play(_) | Action::Recognize(_))
    }

    /// The action's name in the contract (`play`, `transfer`…), for logs and
    /// `action-failed` events.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Answer => "answer",
            Action::Reject(_) => "reject",
            Action::Redirect(_) => "redirect",
            Action::CreateCall(_) => "create-call",
            Action::Connect(_) => "connect",
            Action::AddParticipant(_) => "add-participant",
            Action::CancelAddParticipant(_) => "cancel-add-participant",
            Action::RemoveParticipant(_) => "remove-participant",
            Action::Transfer(_) => "transfer",
            Action::Mute(_) => "mute",
            Action::HangUp => "hang-up",
            Action::Terminate => "terminate",
            Action::Play(_) => "play",
            Action::Recognize(_) => "recognize",
            Action::CancelMediaOperations => "cancel-media-operations",
            Action::StartContinuousDtmfRecognition(_) => "start-continuous-dtmf-recognition",
            Action::StopContinuousDtmfRecognition(_) => "stop-continuous-dtmf-recognition",
            Action::SendDtmfTones(_) => "send-dtmf-tones",
            Action::Hold(_) => "hold",
            Action::Unhold(_) => "unhold",
            Action::StartTranscription(_) => "start-transcription",
            Action::StopTranscription => "stop-transcription",
            Action::UpdateTranscription(_) => "update-transcription",
            Action::StartMediaStreaming => "start-media-streaming",
            Action::StopMediaStreaming => "stop-media-streaming",
            Action::StartRecording(_) => "start-recording",
            Action::PauseRecording(_) => "pause-recording",
            Action::ResumeRecording(_) => "resume-recording",
            Action::StopRecording(_) => "stop-recording",
        }
    }
}

impl Event {
    /// The service's name for this event (`CallConnected`…), or the host's
    /// (`ActionFailed`), or the unknown event's type as received.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Event::IncomingCall(_) => "IncomingCall",
            Event::CallStarted(_) => "CallStarted",
            Event::CallEnded(_) => "CallEnded",
            Event::ParticipantAdded(_) => "ParticipantAdded",
            Event::ParticipantRemoved(_) => "ParticipantRemoved",
            Event::RecordingFileStatusUpdated(_) => "RecordingFileStatusUpdated",
            Event::CallConnected(_) => "CallConnected",
            Event::CallDisconnected(_) => "CallDisconnected",
            Event::CreateCallFailed(_) => "CreateCallFailed",
            Event::AnswerFailed(_) => "AnswerFailed",
            Event::ConnectFailed(_) => "ConnectFailed",
            Event::CallTransferAccepted(_) => "CallTransferAccepted",
            Event::CallTransferFailed(_) => "CallTransferFailed",
            Event::AddParticipantSucceeded(_) => "AddParticipantSucceeded",
            Event::AddParticipantFailed(_) => "AddParticipantFailed",
            Event::CancelAddParticipantSucceeded(_) => "CancelAddParticipantSucceeded",
            Event::CancelAddParticipantFailed(_) => "CancelAddParticipantFailed",
            Event::RemoveParticipantSucceeded(_) => "RemoveParticipantSucceeded",
            Event::RemoveParticipantFailed(_) => "RemoveParticipantFailed",
            Event::ParticipantsUpdated(_) => "ParticipantsUpdated",
            Event::PlayStarted(_) => "PlayStarted",
            Event::PlayCompleted(_) => "PlayCompleted",
            Event::PlayFailed(_) => "PlayFailed",
            Event::PlayCanceled(_) => "PlayCanceled",
            Event::RecognizeCompleted(_) => "RecognizeCompleted",
            Event::RecognizeFailed(_) => "RecognizeFailed",
            Event::RecognizeCanceled(_) => "RecognizeCanceled",
            Event::RecordingStateChanged(_) => "RecordingStateChanged",
            Event::ContinuousDtmfRecognitionToneReceived(_) => {
                "ContinuousDtmfRecognitionToneReceived"
            }
            Event::ContinuousDtmfRecognitionToneFailed(_) => "ContinuousDtmfRecognitionToneFailed",
            Event::ContinuousDtmfRecognitionStopped(_) => "ContinuousDtmfRecognitionStopped",
            Event::SendDtmfTonesCompleted(_) => "SendDtmfTonesCompleted",
            Event::SendDtmfTonesFailed(_) => "SendDtmfTonesFailed",
            Event::HoldFailed(_) => "HoldFailed",
            Event::MediaStreamingStarted(_) => "MediaStreamingStarted",
            Event::MediaStreamingStopped(_) => "MediaStreamingStopped",
            Event::MediaStreamingFailed(_) => "MediaStreamingFailed",
            Event::TranscriptionStarted(_) => "TranscriptionStarted",
            Event::TranscriptionUpdated(_) => "TranscriptionUpdated",
            Event::TranscriptionStopped(_) => "TranscriptionStopped",
            Event::TranscriptionFailed(_) => "TranscriptionFailed",
            Event::ActionFailed(_) => "ActionFailed",
            Event::Unknown(u) => &u.event_type,
        }
    }
}

impl DtmfTone {
    /// The key as printed on a keypad.
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

/// One match for [`operation_info`] and [`operation_info_mut`].
macro_rules! operation_info_of {
    ($event:expr $(, $m:tt)?) => {
    match $event {
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
        Event::CallTransferAccepted(e) => Some(&$($m)? e.info),
        Event::AddParticipantSucceeded(e)
        | Event::AddParticipantFailed(e)
        | Event::RemoveParticipantSucceeded(e)
        | Event::RemoveParticipantFailed(e) => Some(&$($m)? e.info),
        Event::CancelAddParticipantSucceeded(e) | Event::CancelAddParticipantFailed(e) => {
            Some(&$($m)? e.info)
        }
        Event::PlayFailed(e) | Event::RecognizeFailed(e) => Some(&$($m)? e.info),
        Event::RecognizeCompleted(e) => Some(&$($m)? e.info),
        Event::ContinuousDtmfRecognitionToneReceived(e) => Some(&$($m)? e.info),
        Event::MediaStreamingStarted(e)
        | Event::MediaStreamingStopped(e)
        | Event::MediaStreamingFailed(e)
        | Event::TranscriptionStarted(e)
        | Event::TranscriptionUpdated(e)
        | Event::TranscriptionStopped(e)
        | Event::TranscriptionFailed(e) => Some(&$($m)? e.info),
        Event::IncomingCall(_)
        | Event::CallStarted(_)
        | Event::CallEnded(_)
        | Event::ParticipantAdded(_)
        | Event::ParticipantRemoved(_)
        | Event::RecordingFileStatusUpdated(_)
        | Event::ParticipantsUpdated(_)
        | Event::RecordingStateChanged(_)
        | Event::ActionFailed(_)
        | Event::Unknown(_) => None,
    }
    };
}

/// The operation information of a callback event, if it has one.
#[must_use]
pub fn operation_info(event: &Event) -> Option<&OperationInfo> {
    operation_info_of!(event)
}

/// The same, to change (the host restores the plugin's own operation context).
pub fn operation_info_mut(event: &mut Event) -> Option<&mut OperationInfo> {
    operation_info_of!(event, mut)
}
