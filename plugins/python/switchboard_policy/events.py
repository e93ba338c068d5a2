"""The contract's events under short names, and helpers to read them.

Every event is one class (a case of the contract's `event` variant) whose payload is
`.value`; match on them::

    match event:
        case events.IncomingCall():
            ...
        case events.RecognizeCompleted(done) if isinstance(done.recognized, events.RecognizedDtmf):
            pressed = keys(done.recognized.value)
        case events.PlayCompleted(info) if info.operation_context == "goodbye":
            ...

The names are the WIT case names in PascalCase (`incoming-call` → `IncomingCall`);
:func:`name` gives the snake_case form (`"incoming_call"`) for logs.
"""

from __future__ import annotations

import re
from typing import Optional

from ._wit import types as t

Event = t.Event

# Event Grid
IncomingCall = t.Event_IncomingCall
CallStarted = t.Event_CallStarted
CallEnded = t.Event_CallEnded
ParticipantAdded = t.Event_ParticipantAdded
ParticipantRemoved = t.Event_ParticipantRemoved
RecordingFileStatusUpdated = t.Event_RecordingFileStatusUpdated

# Call Automation callbacks
CallConnected = t.Event_CallConnected
CallDisconnected = t.Event_CallDisconnected
CreateCallFailed = t.Event_CreateCallFailed
AnswerFailed = t.Event_AnswerFailed
ConnectFailed = t.Event_ConnectFailed
CallTransferAccepted = t.Event_CallTransferAccepted
CallTransferFailed = t.Event_CallTransferFailed
AddParticipantSucceeded = t.Event_AddParticipantSucceeded
AddParticipantFailed = t.Event_AddParticipantFailed
CancelAddParticipantSucceeded = t.Event_CancelAddParticipantSucceeded
CancelAddParticipantFailed = t.Event_CancelAddParticipantFailed
RemoveParticipantSucceeded = t.Event_RemoveParticipantSucceeded
RemoveParticipantFailed = t.Event_RemoveParticipantFailed
ParticipantsUpdated = t.Event_ParticipantsUpdated
PlayStarted = t.Event_PlayStarted
PlayCompleted = t.Event_PlayCompleted
PlayFailed = t.Event_PlayFailed
PlayCanceled = t.Event_PlayCanceled
RecognizeCompleted = t.Event_RecognizeCompleted
RecognizeFailed = t.Event_RecognizeFailed
RecognizeCanceled = t.Event_RecognizeCanceled
RecordingStateChanged = t.Event_RecordingStateChanged
ContinuousDtmfRecognitionToneReceived = t.Event_ContinuousDtmfRecognitionToneReceived
ContinuousDtmfRecognitionToneFailed = t.Event_ContinuousDtmfRecognitionToneFailed
ContinuousDtmfRecognitionStopped = t.Event_ContinuousDtmfRecognitionStopped
SendDtmfTonesCompleted = t.Event_SendDtmfTonesCompleted
SendDtmfTonesFailed = t.Event_SendDtmfTonesFailed
HoldFailed = t.Event_HoldFailed
MediaStreamingStarted = t.Event_MediaStreamingStarted
MediaStreamingStopped = t.Event_MediaStreamingStopped
MediaStreamingFailed = t.Event_MediaStreamingFailed
TranscriptionStarted = t.Event_TranscriptionStarted
TranscriptionUpdated = t.Event_TranscriptionUpdated
TranscriptionStopped = t.Event_TranscriptionStopped
TranscriptionFailed = t.Event_TranscriptionFailed

# From the host
ActionFailed = t.Event_ActionFailed
Unknown = t.Event_Unknown

# What RecognizeCompleted carries in `.recognized` (payload in `.value`).
RecognizedDtmf = t.Recognized_Dtmf
RecognizedChoice = t.Recognized_Choice
RecognizedSpeech = t.Recognized_Speech

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def name(event: t.Event) -> str:
    """The event's kind in snake_case, e.g. `"recognize_completed"`."""
    cls = type(event).__name__
    return _CAMEL.sub("_", cls.removeprefix("Event_")).lower()


def info(event: t.Event) -> Optional[t.OperationInfo]:
    """The operation information of a callback event, if it has one."""
    value = getattr(event, "value", None)
    if isinstance(value, t.OperationInfo):
        return value
    nested = getattr(value, "info", None)
    return nested if isinstance(nested, t.OperationInfo) else None


def operation_context(event: t.Event) -> Optional[str]:
    """The operation context the event's action was tagged with."""
    if isinstance(event, t.Event_ActionFailed):
        return event.value.operation_context
    i = info(event)
    return i.operation_context if i else None


def result(event: t.Event) -> Optional[t.ResultInformation]:
    """The result the service reported, if any."""
    i = info(event)
    return i.result if i else None


_KEYS = {
    t.DtmfTone.ZERO: "0", t.DtmfTone.ONE: "1", t.DtmfTone.TWO: "2", t.DtmfTone.THREE: "3",
    t.DtmfTone.FOUR: "4", t.DtmfTone.FIVE: "5", t.DtmfTone.SIX: "6", t.DtmfTone.SEVEN: "7",
    t.DtmfTone.EIGHT: "8", t.DtmfTone.NINE: "9", t.DtmfTone.A: "A", t.DtmfTone.B: "B",
    t.DtmfTone.C: "C", t.DtmfTone.D: "D", t.DtmfTone.POUND: "#", t.DtmfTone.ASTERISK: "*",
}


def key(tone: t.DtmfTone) -> str:
    """The key as printed on a keypad (`0`-`9`, `A`-`D`, `#`, `*`)."""
    return _KEYS[tone]


def keys(tones: list[t.DtmfTone]) -> str:
    """Tones as the keys pressed, e.g. `"12#"`."""
    return "".join(_KEYS[tone] for tone in tones)
