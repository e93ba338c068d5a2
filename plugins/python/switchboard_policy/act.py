"""Builders for every action of the contract.

Each action function returns a :class:`Request`; tag it with :meth:`Request.context`
(echoed in the events the action causes) and, rarely, :meth:`Request.callback_uri`.
Play sources and recognize have option builders::

    act.play(act.text("Goodbye.").voice("en-US-NancyNeural")).context("goodbye")
    act.recognize_dtmf(ctx.caller(), 1).prompt(act.text("Press 1")).context("menu")

Handlers may also return the contract's own records (``types.ActionRequest``, or a bare
``types.Action_*``); the SDK turns everything into the contract's types at the end.
"""

from __future__ import annotations

from typing import Iterable, Optional, Union

from ._wit import types as t

__all__ = [
    "Request", "Recognize", "Text",
    # identifiers
    "phone", "acs_user", "teams_user", "raw_id",
    # play sources and tones
    "text", "file", "ssml", "tones",
    # incoming calls
    "answer", "reject", "redirect",
    # new calls
    "create_call", "connect", "server_call", "group_call", "room",
    # participants
    "add_participant", "cancel_add_participant", "remove_participant", "transfer", "mute",
    # ending
    "hang_up", "terminate",
    # media
    "play", "recognize", "recognize_dtmf", "recognize_choices", "recognize_speech",
    "choice", "cancel_media_operations", "start_continuous_dtmf", "stop_continuous_dtmf",
    "send_dtmf", "hold", "unhold", "start_transcription", "update_transcription",
    "stop_transcription", "start_media_streaming", "stop_media_streaming",
    # recording
    "start_recording", "pause_recording", "resume_recording", "stop_recording",
]

Identifier = t.CommunicationIdentifier


class Request:
    """An action with its tags: what a handler returns, in a list."""

    __slots__ = ("action", "operation_context", "operation_callback_uri")

    def __init__(self, action: t.Action) -> None:
        self.action = action
        self.operation_context: Optional[str] = None
        self.operation_callback_uri: Optional[str] = None

    def context(self, context: str) -> "Request":
        """Tags the action; the tag comes back in the events it causes."""
        self.operation_context = context
        return self

    def callback_uri(self, uri: str) -> "Request":
        """Sends this action's events to `uri` instead of the call's callback."""
        self.operation_callback_uri = uri
        return self

    def to_wit(self) -> t.ActionRequest:
        return t.ActionRequest(self.action, self.operation_context, self.operation_callback_uri)

    def __repr__(self) -> str:
        return f"Request({self.to_wit()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Request) and self.to_wit() == other.to_wit()


# ------------------------------------------------------------------ identifiers

def phone(number: str) -> Identifier:
    """A phone number in E.164 form (`+14255550123`)."""
    return t.CommunicationIdentifier_PhoneNumber(number)


def acs_user(user_id: str) -> Identifier:
    """An ACS user (`8:acs:…`)."""
    return t.CommunicationIdentifier_AcsUser(user_id)


def teams_user(user_id: str, cloud: t.TeamsCloud = t.TeamsCloud.PUBLIC,
               is_anonymous: bool = False) -> Identifier:
    """A Microsoft Teams user (`8:orgid:<oid>`)."""
    return t.CommunicationIdentifier_TeamsUser(t.TeamsUser(user_id, cloud, is_anonymous))


def raw_id(raw: str) -> Identifier:
    """Any other identity, as the service's raw id."""
    return t.CommunicationIdentifier_Raw(raw)


# ------------------------------------------------------------- play sources, tones

class Text:
    """Text-to-speech; set the voice and locale with the builder methods."""

    __slots__ = ("text", "_voice", "_locale")

    def __init__(self, text: str) -> None:
        self.text = text
        self._voice: Optional[str] = None
        self._locale: Optional[str] = None

    def voice(self, voice: str) -> "Text":
        """The neural voice, e.g. `en-US-NancyNeural`."""
        self._voice = voice
        return self

    def locale(self, locale: str) -> "Text":
        """The locale, e.g. `en-US`."""
        self._locale = locale
        return self

    def to_wit(self) -> t.PlaySource:
        return t.PlaySource_Text(t.TextSource(self.text, self._voice, self._locale))


Source = Union[Text, t.PlaySource_File, t.PlaySource_Text, t.PlaySource_Ssml]


def text(text: str) -> Text:
    """Text-to-speech in the service's default voice; see :meth:`Text.voice`."""
    return Text(text)


def file(url: str) -> t.PlaySource:
    """An audio file (WAV or MP3) the service downloads."""
    return t.PlaySource_File(url)


def ssml(document: str) -> t.PlaySource:
    """An SSML document."""
    return t.PlaySource_Ssml(document)


def _source(source: Source) -> t.PlaySource:
    return source.to_wit() if isinstance(source, Text) else source


_TONES = {
    "0": t.DtmfTone.ZERO, "1": t.DtmfTone.ONE, "2": t.DtmfTone.TWO, "3": t.DtmfTone.THREE,
    "4": t.DtmfTone.FOUR, "5": t.DtmfTone.FIVE, "6": t.DtmfTone.SIX, "7": t.DtmfTone.SEVEN,
    "8": t.DtmfTone.EIGHT, "9": t.DtmfTone.NINE, "A": t.DtmfTone.A, "B": t.DtmfTone.B,
    "C": t.DtmfTone.C, "D": t.DtmfTone.D, "#": t.DtmfTone.POUND, "*": t.DtmfTone.ASTERISK,
}


def tones(keys: Union[str, Iterable[t.DtmfTone]]) -> list[t.DtmfTone]:
    """Tones from keys as printed on a keypad (`"12#"`), or a list of tones as is."""
    if not isinstance(keys, str):
        return list(keys)
    try:
        return [_TONES[k] for k in keys.upper()]
    except KeyError as e:
        raise ValueError(f"not a DTMF key: {e.args[0]!r} (0-9, A-D, #, *)") from None


# ------------------------------------------------------------- incoming calls

def answer() -> Request:
    """Answers the incoming call."""
    return Request(t.Action_Answer())


_REASONS = {r.name.lower(): r for r in t.RejectReason}


def reject(reason: Union[t.RejectReason, str] = t.RejectReason.NONE) -> Request:
    """Rejects the incoming call: `"none"`, `"busy"` or `"forbidden"` (or a RejectReason)."""
    if isinstance(reason, str):
        try:
            reason = _REASONS[reason.lower()]
        except KeyError:
            raise ValueError(f"not a reject reason: {reason!r} (none, busy, forbidden)") from None
    return Request(t.Action_Reject(reason))


def redirect(target: Identifier) -> Request:
    """Forwards the incoming call without answering it."""
    return Request(t.Action_Redirect(target))


# ----------------------------------------------------------------- new calls

def create_call(targets: Iterable[Identifier], caller_id: Optional[str] = None,
                display_name: Optional[str] = None) -> Request:
    """Places a call to one target (1:1) or several (group)."""
    return Request(t.Action_CreateCall(t.CreateCall(list(targets), caller_id, display_name)))


def server_call(server_call_id: str) -> t.CallLocator:
    return t.CallLocator_ServerCall(server_call_id)


def group_call(group_call_id: str) -> t.CallLocator:
    return t.CallLocator_GroupCall(group_call_id)


def room(room_id: str) -> t.CallLocator:
    return t.CallLocator_Room(room_id)


def connect(locator: t.CallLocator) -> Request:
    """Connects to an ongoing call or a room (see server_call, group_call, room)."""
    return Request(t.Action_Connect(locator))


# --------------------------------------------------------------- participants

def _no_headers() -> t.CustomContext:
    return t.CustomContext([], [])


def add_participant(participant: Identifier, timeout_seconds: Optional[int] = None, *,
                    caller_id: Optional[str] = None,
                    display_name: Optional[str] = None) -> Request:
    """Invites a participant; `timeout_seconds` is 0..=180."""
    return Request(t.Action_AddParticipant(t.AddParticipant(
        participant, caller_id, display_name, timeout_seconds, _no_headers())))


def cancel_add_participant(invitation_id: str) -> Request:
    """Cancels an invitation by the id add-participant returned."""
    return Request(t.Action_CancelAddParticipant(invitation_id))


def remove_participant(participant: Identifier) -> Request:
    return Request(t.Action_RemoveParticipant(participant))


def transfer(target: Identifier, *, transferee: Optional[Identifier] = None,
             caller_id: Optional[str] = None) -> Request:
    """Blind transfer of a 1:1 call to `target` (in a group call, name the transferee)."""
    return Request(t.Action_Transfer(t.Transfer(target, transferee, _no_headers(), caller_id)))


def mute(participant: Identifier) -> Request:
    return Request(t.Action_Mute(participant))


def hang_up() -> Request:
    """The application leaves the call (ending a 1:1 call)."""
    return Request(t.Action_HangUp())


def terminate() -> Request:
    """Ends the call for everyone."""
    return Request(t.Action_Terminate())


# ---------------------------------------------------------------------- media

def play(*sources: Source, to: Iterable[Identifier] = (), loop: bool = False,
         interrupt: bool = False) -> Request:
    """Plays the sources in order; to everyone (or `to`), once (or in a `loop`)."""
    if not sources:
        raise ValueError("play needs at least one source")
    return Request(t.Action_Play(t.Play([_source(s) for s in sources], list(to), loop, interrupt)))


class Recognize:
    """A recognize being built; tag it with :meth:`context` or return it as is."""

    __slots__ = ("_recognize",)

    def __init__(self, input: t.RecognizeInput, target: Identifier) -> None:
        self._recognize = t.Recognize(input, target, [], False, None, None, False)

    def prompt(self, *sources: Source) -> "Recognize":
        """Plays `sources` before listening."""
        self._recognize.prompt.extend(_source(s) for s in sources)
        return self

    def interrupt_prompt(self, on: bool = True) -> "Recognize":
        """Lets caller input cut the prompt short (barge-in)."""
        self._recognize.interrupt_prompt = on
        return self

    def initial_silence_timeout(self, seconds: int) -> "Recognize":
        """Gives up with RecognizeFailed (subcode 8510) after this much silence."""
        self._recognize.initial_silence_timeout_seconds = seconds
        return self

    def speech_language(self, locale: str) -> "Recognize":
        self._recognize.speech_language = locale
        return self

    def interrupt_call_media_operation(self, on: bool = True) -> "Recognize":
        self._recognize.interrupt_call_media_operation = on
        return self

    def request(self) -> Request:
        """The recognize as an action, ready to be tagged."""
        return Request(t.Action_Recognize(self._recognize))

    def context(self, context: str) -> Request:
        """The recognize as an action tagged with `context`."""
        return self.request().context(context)

    def to_wit(self) -> t.ActionRequest:
        return self.request().to_wit()


def _dtmf_options(max_tones: Optional[int], stop_tones: Union[str, Iterable[t.DtmfTone]] = (),
                  inter_tone_timeout: Optional[int] = None) -> t.DtmfOptions:
    return t.DtmfOptions(max_tones, tones(stop_tones), inter_tone_timeout)


def recognize(input: t.RecognizeInput, target: Identifier) -> Recognize:
    """Collects any kind of input (the contract's `recognize-input`) from `target`."""
    return Recognize(input, target)


def recognize_dtmf(target: Identifier, max_tones: int, *,
                   stop_tones: Union[str, Iterable[t.DtmfTone]] = (),
                   inter_tone_timeout: Optional[int] = None) -> Recognize:
    """Collects up to `max_tones` DTMF tones from `target`."""
    return Recognize(
        t.RecognizeInput_Dtmf(_dtmf_options(max_tones, stop_tones, inter_tone_timeout)), target)


def choice(label: str, *phrases: str,
           tone: Union[str, t.DtmfTone, None] = None) -> t.Choice:
    """One option of recognize_choices: said as one of `phrases`, or pressed as `tone`."""
    if isinstance(tone, str):
        (tone,) = tones(tone)
    return t.Choice(label, list(phrases), tone)


def recognize_choices(target: Identifier, *choices: t.Choice) -> Recognize:
    """Lets `target` pick one of `choices` (see :func:`choice`) by voice or key."""
    return Recognize(t.RecognizeInput_Choices(list(choices)), target)


def recognize_speech(target: Identifier, *, end_silence_timeout_ms: Optional[int] = None,
                     model_endpoint_id: Optional[str] = None) -> Recognize:
    """Collects free speech from `target`."""
    return Recognize(
        t.RecognizeInput_Speech(t.SpeechOptions(end_silence_timeout_ms, model_endpoint_id)),
        target)


def cancel_media_operations() -> Request:
    return Request(t.Action_CancelMediaOperations())


def start_continuous_dtmf(target: Identifier) -> Request:
    return Request(t.Action_StartContinuousDtmfRecognition(target))


def stop_continuous_dtmf(target: Identifier) -> Request:
    return Request(t.Action_StopContinuousDtmfRecognition(target))


def send_dtmf(target: Identifier, keys: Union[str, Iterable[t.DtmfTone]]) -> Request:
    """Sends tones to `target`: `send_dtmf(who, "123#")`."""
    return Request(t.Action_SendDtmfTones(t.SendDtmfTones(tones(keys), target)))


def hold(target: Identifier, music: Optional[Source] = None) -> Request:
    """Puts a participant on hold, optionally with music."""
    return Request(t.Action_Hold(t.Hold(target, None if music is None else _source(music))))


def unhold(target: Identifier) -> Request:
    return Request(t.Action_Unhold(target))


def start_transcription(locale: Optional[str] = None, *,
                        speech_model_endpoint_id: Optional[str] = None) -> Request:
    return Request(t.Action_StartTranscription(t.Transcription(locale, speech_model_endpoint_id)))


def update_transcription(locale: str, *,
                         speech_model_endpoint_id: Optional[str] = None) -> Request:
    return Request(t.Action_UpdateTranscription(t.Transcription(locale, speech_model_endpoint_id)))


def stop_transcription() -> Request:
    return Request(t.Action_StopTranscription())


def start_media_streaming() -> Request:
    return Request(t.Action_StartMediaStreaming())


def stop_media_streaming() -> Request:
    return Request(t.Action_StopMediaStreaming())


# ------------------------------------------------------------------ recording

def start_recording(content: t.RecordingContent = t.RecordingContent.AUDIO,
                    channel: t.RecordingChannel = t.RecordingChannel.MIXED,
                    format: t.RecordingFormat = t.RecordingFormat.WAV,
                    pause_on_start: bool = False) -> Request:
    return Request(t.Action_StartRecording(
        t.StartRecording(content, channel, format, pause_on_start)))


def pause_recording(recording_id: str) -> Request:
    """`recording_id` comes from RecordingStateChanged."""
    return Request(t.Action_PauseRecording(recording_id))


def resume_recording(recording_id: str) -> Request:
    return Request(t.Action_ResumeRecording(recording_id))


def stop_recording(recording_id: str) -> Request:
    return Request(t.Action_StopRecording(recording_id))
