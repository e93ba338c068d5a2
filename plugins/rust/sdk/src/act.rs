//! Builders for every action of the contract.
//!
//! Each function returns an [`ActionRequest`]; tag it with
//! [`ActionRequest::context`] (echoed in the events the action causes) and, rarely,
//! [`ActionRequest::callback_uri`]. Play and recognize have option builders.

use crate::{
    Action, ActionRequest, AddParticipant, CallLocator, CommunicationIdentifier, CreateCall,
    CustomContext, DtmfOptions, DtmfTone, Hold, Play, PlaySource, Recognize, RecognizeInput,
    RejectReason, SendDtmfTones, StartRecording, TextSource, Transcription, Transfer,
};

impl From<Action> for ActionRequest {
    fn from(action: Action) -> Self {
        ActionRequest {
            action,
            operation_context: None,
            operation_callback_uri: None,
        }
    }
}

impl ActionRequest {
    /// Tags the action; the tag comes back in the events it causes.
    #[must_use]
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.operation_context = Some(context.into());
        self
    }

    /// Sends this action's events to `uri` instead of the call's callback.
    #[must_use]
    pub fn callback_uri(mut self, uri: impl Into<String>) -> Self {
        self.operation_callback_uri = Some(uri.into());
        self
    }
}

// ------------------------------------------------------------------ identifiers

/// A phone number in E.164 form.
pub fn phone(number: impl Into<String>) -> CommunicationIdentifier {
    CommunicationIdentifier::PhoneNumber(number.into())
}

/// An ACS user (`8:acs:…`).
pub fn acs_user(id: impl Into<String>) -> CommunicationIdentifier {
    CommunicationIdentifier::AcsUser(id.into())
}

// ---------------------------------------------------------------- play sources

/// Text-to-speech in the service's default voice; see [`PlaySource::voice`].
pub fn text(text: impl Into<String>) -> PlaySource {
    PlaySource::Text(TextSource {
        text: text.into(),
        voice: None,
        locale: None,
    })
}

/// An audio file (WAV or MP3) the service downloads.
pub fn file(url: impl Into<String>) -> PlaySource {
    PlaySource::File(url.into())
}

/// An SSML document.
pub fn ssml(document: impl Into<String>) -> PlaySource {
    PlaySource::Ssml(document.into())
}

impl PlaySource {
    /// Sets the neural voice of a text source (e.g. `en-US-NancyNeural`).
    #[must_use]
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        if let PlaySource::Text(t) = &mut self {
            t.voice = Some(voice.into());
        }
        self
    }

    /// Sets the locale of a text source (e.g. `en-US`).
    #[must_use]
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        if let PlaySource::Text(t) = &mut self {
            t.locale = Some(locale.into());
        }
        self
    }
}

// ------------------------------------------------------------- incoming calls

/// Answers the incoming call.
pub fn answer() -> ActionRequest {
    Action::Answer.into()
}

/// Rejects the incoming call.
pub fn reject(reason: RejectReason) -> ActionRequest {
    Action::Reject(reason).into()
}

/// Forwards the incoming call without answering it.
pub fn redirect(target: CommunicationIdentifier) -> ActionRequest {
    Action::Redirect(target).into()
}

// ----------------------------------------------------------------- new calls

/// Places a call to one target (1:1) or several (group).
pub fn create_call(
    targets: Vec<CommunicationIdentifier>,
    caller_id: Option<String>,
) -> ActionRequest {
    Action::CreateCall(CreateCall {
        targets,
        source_caller_id_number: caller_id,
        source_display_name: None,
    })
    .into()
}

/// Connects to an ongoing call or a room.
pub fn connect(locator: CallLocator) -> ActionRequest {
    Action::Connect(locator).into()
}

// --------------------------------------------------------------- participants

/// Invites a participant; `timeout_seconds` is 0..=180.
pub fn add_participant(
    participant: CommunicationIdentifier,
    timeout_seconds: Option<u32>,
) -> ActionRequest {
    Action::AddParticipant(AddParticipant {
        participant,
        source_caller_id_number: None,
        source_display_name: None,
        invitation_timeout_seconds: timeout_seconds,
        custom_context: CustomContext::default(),
    })
    .into()
}

/// Cancels an invitation by the id add-participant returned.
pub fn cancel_add_participant(invitation_id: impl Into<String>) -> ActionRequest {
    Action::CancelAddParticipant(invitation_id.into()).into()
}

pub fn remove_participant(participant: CommunicationIdentifier) -> ActionRequest {
    Action::RemoveParticipant(participant).into()
}

/// Blind transfer of a 1:1 call to `target`.
pub fn transfer(target: CommunicationIdentifier) -> ActionRequest {
    Action::Transfer(Transfer {
        target,
        transferee: None,
        custom_context: CustomContext::default(),
        source_caller_id_number: None,
    })
    .into()
}

pub fn mute(participant: CommunicationIdentifier) -> ActionRequest {
    Action::Mute(participant).into()
}

/// The application leaves the call (ending a 1:1 call).
pub fn hang_up() -> ActionRequest {
    Action::HangUp.into()
}

/// Ends the call for everyone.
pub fn terminate() -> ActionRequest {
    Action::Terminate.into()
}

// ---------------------------------------------------------------------- media

/// Plays to everyone, once.
pub fn play(source: PlaySource) -> ActionRequest {
    play_with(Play {
        sources: vec![source],
        play_to: Vec::new(),
        loop_: false,
        interrupt: false,
    })
}

pub fn play_with(play: Play) -> ActionRequest {
    Action::Play(play).into()
}

/// Collects DTMF from `target`; set options on the returned [`Recognize`].
pub fn recognize_dtmf(target: CommunicationIdentifier, max_tones: u32) -> Recognize {
    Recognize {
        input: RecognizeInput::Dtmf(DtmfOptions {
            max_tones: Some(max_tones),
            stop_tones: Vec::new(),
            inter_tone_timeout_seconds: None,
        }),
        target,
        prompt: Vec::new(),
        interrupt_prompt: false,
        initial_silence_timeout_seconds: None,
        speech_language: None,
        interrupt_call_media_operation: false,
    }
}

impl Recognize {
    /// Plays `prompt` before listening.
    #[must_use]
    pub fn prompt(mut self, prompt: PlaySource) -> Self {
        self.prompt.push(prompt);
        self
    }

    /// Lets caller input cut the prompt short (barge-in).
    #[must_use]
    pub fn interrupt_prompt(mut self) -> Self {
        self.interrupt_prompt = true;
        self
    }

    /// Gives up with RecognizeFailed (subcode 8510) after this much silence.
    #[must_use]
    pub fn initial_silence_timeout(mut self, seconds: u32) -> Self {
        self.initial_silence_timeout_seconds = Some(seconds);
        self
    }

    #[must_use]
    pub fn speech_language(mut self, locale: impl Into<String>) -> Self {
        self.speech_language = Some(locale.into());
        self
    }
}

impl Recognize {
    /// The recognize as an action, ready to be tagged.
    #[must_use]
    pub fn into_request(self) -> ActionRequest {
        Action::Recognize(self).into()
    }
}

impl From<Recognize> for ActionRequest {
    fn from(recognize: Recognize) -> Self {
        Action::Recognize(recognize).into()
    }
}

pub fn recognize(recognize: Recognize) -> ActionRequest {
    recognize.into()
}

pub fn cancel_media_operations() -> ActionRequest {
    Action::CancelMediaOperations.into()
}

pub fn start_continuous_dtmf(target: CommunicationIdentifier) -> ActionRequest {
    Action::StartContinuousDtmfRecognition(target).into()
}

pub fn stop_continuous_dtmf(target: CommunicationIdentifier) -> ActionRequest {
    Action::StopContinuousDtmfRecognition(target).into()
}

pub fn send_dtmf(target: CommunicationIdentifier, tones: Vec<DtmfTone>) -> ActionRequest {
    Action::SendDtmfTones(SendDtmfTones { tones, target }).into()
}

/// Puts a participant on hold, optionally with music.
pub fn hold(target: CommunicationIdentifier, music: Option<PlaySource>) -> ActionRequest {
    Action::Hold(Hold { target, music }).into()
}

pub fn unhold(target: CommunicationIdentifier) -> ActionRequest {
    Action::Unhold(target).into()
}

pub fn start_transcription(locale: Option<String>) -> ActionRequest {
    Action::StartTranscription(Transcription {
        locale,
        speech_model_endpoint_id: None,
    })
    .into()
}

pub fn update_transcription(locale: impl Into<String>) -> ActionRequest {
    Action::UpdateTranscription(Transcription {
        locale: Some(locale.into()),
        speech_model_endpoint_id: None,
    })
    .into()
}

pub fn stop_transcription() -> ActionRequest {
    Action::StopTranscription.into()
}

pub fn start_media_streaming() -> ActionRequest {
    Action::StartMediaStreaming.into()
}

pub fn stop_media_streaming() -> ActionRequest {
    Action::StopMediaStreaming.into()
}

// ------------------------------------------------------------------ recording

pub fn start_recording(options: StartRecording) -> ActionRequest {
    Action::StartRecording(options).into()
}

pub fn pause_recording(recording_id: impl Into<String>) -> ActionRequest {
    Action::PauseRecording(recording_id.into()).into()
}

pub fn resume_recording(recording_id: impl Into<String>) -> ActionRequest {
    Action::ResumeRecording(recording_id.into()).into()
}

pub fn stop_recording(recording_id: impl Into<String>) -> ActionRequest {
    Action::StopRecording(recording_id.into()).into()
}
