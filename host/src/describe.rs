//! One-line, human-readable descriptions of contract values, for the demo, logs and
//! call timelines. Descriptions are for people: they may change between versions.

use std::fmt::{self, Display, Formatter};

use crate::contract::{
    Action, ActionRequest, CommunicationIdentifier, Event, OperationInfo, PlaySource,
    RecognizeInput, Recognized,
};

/// Describes a value for people.
#[derive(Debug, Clone, Copy)]
pub struct Described<'a, T>(pub &'a T);

impl Display for Described<'_, CommunicationIdentifier> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            CommunicationIdentifier::AcsUser(id) | CommunicationIdentifier::Raw(id) => {
                f.write_str(id)
            }
            CommunicationIdentifier::PhoneNumber(number) => f.write_str(number),
            CommunicationIdentifier::TeamsUser(user) => write!(f, "teams:{}", user.user_id),
        }
    }
}

impl Display for Described<'_, PlaySource> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            PlaySource::File(url) => write!(f, "file {url}"),
            PlaySource::Ssml(_) => f.write_str("SSML"),
            PlaySource::Text(t) => {
                write!(f, "{:?}", t.text)?;
                if let Some(voice) = &t.voice {
                    write!(f, " ({voice})")?;
                }
                Ok(())
            }
        }
    }
}

fn sources(f: &mut Formatter<'_>, sources: &[PlaySource]) -> fmt::Result {
    for (i, source) in sources.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        Described(source).fmt(f)?;
    }
    Ok(())
}

fn tag(f: &mut Formatter<'_>, context: Option<&str>) -> fmt::Result {
    match context {
        Some(context) => write!(f, " [{context}]"),
        None => Ok(()),
    }
}

fn result(f: &mut Formatter<'_>, info: &OperationInfo) -> fmt::Result {
    tag(f, info.operation_context.as_deref())?;
    match &info.result {
        Some(r) if r.code / 100 != 2 || r.sub_code != 0 => write!(f, " {}/{}", r.code, r.sub_code),
        _ => Ok(()),
    }
}

impl Display for Described<'_, ActionRequest> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let request = self.0;
        f.write_str(request.action.kind())?;
        match &request.action {
            Action::Reject(reason) => write!(f, " ({reason:?})")?,
            Action::Redirect(to)
            | Action::Transfer(crate::contract::Transfer { target: to, .. }) => {
                write!(f, " to {}", Described(to))?;
            }
            Action::AddParticipant(add) => write!(f, " {}", Described(&add.participant))?,
            Action::RemoveParticipant(who)
            | Action::Mute(who)
            | Action::Unhold(who)
            | Action::StartContinuousDtmfRecognition(who)
            | Action::StopContinuousDtmfRecognition(who) => write!(f, " {}", Described(who))?,
            Action::CreateCall(call) => {
                for target in &call.targets {
                    write!(f, " {}", Described(target))?;
                }
            }
            Action::Play(play) => {
                f.write_str(" ")?;
                sources(f, &play.sources)?;
                if play.loop_ {
                    f.write_str(" in a loop")?;
                }
            }
            Action::Recognize(r) => {
                match &r.input {
                    RecognizeInput::Dtmf(d) => match d.max_tones {
                        Some(n) => write!(f, " dtmf (max {n})")?,
                        None => f.write_str(" dtmf")?,
                    },
                    RecognizeInput::Choices(c) => write!(f, " {} choices", c.len())?,
                    RecognizeInput::Speech(_) => f.write_str(" speech")?,
                    RecognizeInput::SpeechOrDtmf(_) => f.write_str(" speech or dtmf")?,
                }
                write!(f, " from {}", Described(&r.target))?;
                if !r.prompt.is_empty() {
                    f.write_str(", prompt ")?;
                    sources(f, &r.prompt)?;
                }
            }
            Action::SendDtmfTones(send) => {
                let keys: String = send.tones.iter().map(|t| t.key()).collect();
                write!(f, " {keys:?} to {}", Described(&send.target))?;
            }
            Action::CancelAddParticipant(id)
            | Action::PauseRecording(id)
            | Action::ResumeRecording(id)
            | Action::StopRecording(id) => write!(f, " {id}")?,
            _ => {}
        }
        tag(f, request.operation_context.as_deref())
    }
}

impl Display for Described<'_, Event> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let event = self.0;
        f.write_str(event.name())?;
        match event {
            Event::IncomingCall(call) => {
                write!(
                    f,
                    " from {} to {}",
                    Described(&call.from),
                    Described(&call.to)
                )
            }
            Event::RecognizeCompleted(done) => {
                match &done.recognized {
                    Recognized::Dtmf(tones) => {
                        let keys: String = tones.iter().map(|t| t.key()).collect();
                        write!(f, " tones {keys:?}")?;
                    }
                    Recognized::Choice(choice) => write!(f, " choice {:?}", choice.label)?,
                    Recognized::Speech(speech) => write!(f, " speech {:?}", speech.speech)?,
                }
                result(f, &done.info)
            }
            Event::ActionFailed(failed) => {
                write!(
                    f,
                    " {} #{}: {} {}",
                    failed.action, failed.index, failed.code, failed.message
                )?;
                tag(f, failed.operation_context.as_deref())
            }
            Event::Unknown(_) => Ok(()),
            other => match crate::contract::operation_info(other) {
                Some(info) => result(f, info),
                None => Ok(()),
            },
        }
    }
}
