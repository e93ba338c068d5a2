"""Conformance of the simulator with the official Python SDK.

Drives every Call Automation operation through `azure-communication-callautomation`
(built with `from_connection_string`, over HTTPS, exactly as applications do) and checks
that the expected callback events arrive and parse as CloudEvents.

Environment: SIM_CONNECTION_STRING, SIM_HTTP (the simulator's plain HTTP base, for its
/sim API), REQUESTS_CA_BUNDLE (the simulator's CA). Exit status 0 = conformant.
"""

import json
import os
import queue
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.messaging import CloudEvent
from azure.communication.callautomation import (
    CallAutomationClient,
    CommunicationUserIdentifier,
    FileSource,
    PhoneNumberIdentifier,
    RecognitionChoice,
    TextSource,
)

CONN = os.environ["SIM_CONNECTION_STRING"]
SIM = os.environ["SIM_HTTP"]
CALLER = "+14255550123"
APP_NUMBER = "+18005550100"
AGENT = "+15550001111"
SLOW_AGENT = "+15550002222"
ACS_USER = "8:acs:6d4c0c6e-5b0f-4a8a-9d3e-0a1b2c3d4e5f_user1"

events = {}  # call connection id -> queue of CloudEvent
events_lock = threading.Lock()
tokens = []


def inbox(call_id):
    with events_lock:
        return events.setdefault(call_id, queue.Queue())


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        tokens.append(self.headers.get("Authorization", ""))
        for raw in json.loads(body):
            event = CloudEvent.from_dict(raw)
            inbox(event.data["callConnectionId"]).put(event)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
CALLBACK = f"http://127.0.0.1:{server.server_port}/callback"


def wait_for(call_id, event_type, timeout=15.0):
    """The next event of this type on the call; other events are skipped."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            event = inbox(call_id).get(timeout=deadline - time.monotonic())
        except queue.Empty:
            break
        name = event.type.removeprefix("Microsoft.Communication.")
        seen.append(name)
        if name == event_type:
            assert event.source == f"calling/callConnections/{call_id}", event.source
            return event
    raise AssertionError(f"{event_type} not received on {call_id}; saw {seen}")


def sim_post(path, body):
    request = urllib.request.Request(f"{SIM}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


def ring(inputs=(), agents=()):
    caller = {"name": "sdk", "from": CALLER, "to": APP_NUMBER, "inputs": list(inputs), "agent": list(agents)}
    return sim_post("/sim/calls", {"caller": caller})


passed = []


def step(name):
    passed.append(name)
    print(f"ok {name}", flush=True)


client = CallAutomationClient.from_connection_string(CONN)
caller = PhoneNumberIdentifier(CALLER)

# --- answer, get call, participants -------------------------------------------
placed = ring(
    inputs=[{"dtmf": "5"}, {"say": "sales"}],
    agents=[{"id": AGENT, "answer": "accept", "ring": 0.5}, {"id": SLOW_AGENT, "answer": "no-answer"}],
)
props = client.answer_call(placed["incomingCallContext"], CALLBACK, operation_context="conformance")
call_id = props.call_connection_id
assert props.server_call_id == placed["serverCallId"], props
connected = wait_for(call_id, "CallConnected")
assert connected.data["operationContext"] == "conformance", connected.data
step("answer_call + CallConnected")

conn = client.get_call_connection(call_id)
props = conn.get_call_properties()
assert props.call_connection_state == "connected", props.call_connection_state
assert props.source.raw_id == f"4:{CALLER}", props.source
step("get_call_properties")

participants = list(conn.list_participants())
assert any(p.identifier.raw_id == f"4:{CALLER}" for p in participants), participants
one = conn.get_participant(caller)
assert one.identifier.raw_id == f"4:{CALLER}" and not one.is_muted
step("list_participants + get_participant")

# --- media --------------------------------------------------------------------
conn.play_media_to_all(TextSource(text="Hello from the simulator.", voice_name="en-US-NancyNeural"), operation_context="hello")
done = wait_for(call_id, "PlayCompleted")
assert done.data["operationContext"] == "hello" and done.data["resultInformation"]["code"] == 200
step("play_media_to_all + PlayCompleted")

conn.play_media(FileSource(url="https://files.invalid/missing.wav"), play_to=[caller], operation_context="bad-file")
failed = wait_for(call_id, "PlayFailed")
assert failed.data["resultInformation"]["subCode"] == 8536, failed.data
step("play_media (unreachable file) + PlayFailed 8536")

conn.start_recognizing_media(
    "dtmf", caller, play_prompt=TextSource(text="Enter a digit."), dtmf_max_tones_to_collect=1,
    initial_silence_timeout=5, interrupt_prompt=True, operation_context="digit",
)
recognized = wait_for(call_id, "RecognizeCompleted")
assert recognized.data["dtmfResult"]["tones"] == ["five"], recognized.data
step("start_recognizing_media (dtmf) + RecognizeCompleted")

conn.start_recognizing_media(
    "choices", caller, play_prompt=TextSource(text="Sales or support?"),
    choices=[RecognitionChoice(label="Sales", phrases=["sales"]), RecognitionChoice(label="Support", phrases=["support"])],
)
choice = wait_for(call_id, "RecognizeCompleted")
assert choice.data["choiceResult"]["label"] == "Sales", choice.data
step("start_recognizing_media (choices) + RecognizeCompleted")

conn.play_media_to_all(FileSource(url="https://files.example/hold-music.wav"), loop=True, operation_context="music")
wait_for(call_id, "PlayStarted")
conn.cancel_all_media_operations()
canceled = wait_for(call_id, "PlayCanceled")
assert canceled.data["resultInformation"]["subCode"] == 8508, canceled.data
step("cancel_all_media_operations + PlayCanceled")

conn.start_continuous_dtmf_recognition(caller, operation_context="cdtmf")
sim_post(f"/sim/calls/{call_id}/dtmf", {"keys": "7#"})
tone = wait_for(call_id, "ContinuousDtmfRecognitionToneReceived")
assert tone.data["tone"] == "seven", tone.data
conn.stop_continuous_dtmf_recognition(caller, operation_context="cdtmf")
wait_for(call_id, "ContinuousDtmfRecognitionStopped")
step("continuous DTMF start/stop + events")

result = conn.send_dtmf_tones(["one", "two", "pound"], caller, operation_context="send")
wait_for(call_id, "SendDtmfTonesCompleted")
step("send_dtmf_tones + SendDtmfTonesCompleted")

conn.hold(caller, play_source=FileSource(url="https://files.example/music.wav"))
held = wait_for(call_id, "ParticipantsUpdated")
assert any(p["isOnHold"] for p in held.data["participants"]), held.data
conn.unhold(caller)
unheld = wait_for(call_id, "ParticipantsUpdated")
assert not any(p["isOnHold"] for p in unheld.data["participants"]), unheld.data
step("hold/unhold + ParticipantsUpdated")

conn.start_transcription(locale="en-US", operation_context="tr")
wait_for(call_id, "TranscriptionStarted")
conn.update_transcription(locale="fr-FR")
updated = wait_for(call_id, "TranscriptionUpdated")
assert updated.data["transcriptionUpdate"]["transcriptionStatusDetails"] == "transcriptionLocaleUpdated"
conn.stop_transcription()
wait_for(call_id, "TranscriptionStopped")
step("transcription start/update/stop + events")

conn.start_media_streaming(operation_context="ms")
started = wait_for(call_id, "MediaStreamingStarted")
assert started.data["mediaStreamingUpdate"]["mediaStreamingStatus"] == "mediaStreamingStarted"
conn.stop_media_streaming()
wait_for(call_id, "MediaStreamingStopped")
step("media streaming start/stop + events")

# --- participants -------------------------------------------------------------
added = conn.add_participant(CommunicationUserIdentifier(ACS_USER), operation_context="add")
assert added.invitation_id
ok = wait_for(call_id, "AddParticipantSucceeded")
assert ok.data["participant"]["rawId"] == ACS_USER
step("add_participant + AddParticipantSucceeded")

muted = conn.mute_participant(CommunicationUserIdentifier(ACS_USER), operation_context="mute")
assert conn.get_participant(CommunicationUserIdentifier(ACS_USER)).is_muted
step("mute_participant")

pending = conn.add_participant(PhoneNumberIdentifier(SLOW_AGENT), invitation_timeout=60,
                               source_caller_id_number=PhoneNumberIdentifier(APP_NUMBER))
cancel = conn.cancel_add_participant_operation(pending.invitation_id, operation_context="cancel")
assert cancel.invitation_id == pending.invitation_id
wait_for(call_id, "CancelAddParticipantSucceeded")
step("cancel_add_participant_operation + CancelAddParticipantSucceeded")

conn.remove_participant(CommunicationUserIdentifier(ACS_USER), operation_context="remove")
wait_for(call_id, "RemoveParticipantSucceeded")
step("remove_participant + RemoveParticipantSucceeded")

# --- recording ----------------------------------------------------------------
recording = client.start_recording(call_connection_id=call_id)
assert recording.recording_id
wait_for(call_id, "RecordingStateChanged")
active = wait_for(call_id, "RecordingStateChanged")
assert active.data["state"] == "active", active.data
assert client.get_recording_properties(recording.recording_id).recording_state == "active"
client.pause_recording(recording.recording_id)
assert client.get_recording_properties(recording.recording_id).recording_state == "inactive"
client.resume_recording(recording.recording_id)
client.stop_recording(recording.recording_id)
try:
    client.get_recording_properties(recording.recording_id)
    raise AssertionError("a stopped recording must be gone")
except ResourceNotFoundError:
    pass
step("recording start/get/pause/resume/stop")

# --- transfer -----------------------------------------------------------------
transfer = conn.transfer_call_to_participant(PhoneNumberIdentifier(AGENT), operation_context="transfer")
assert transfer.operation_context == "transfer"
accepted = wait_for(call_id, "CallTransferAccepted")
assert accepted.data["transferTarget"]["rawId"] == f"4:{AGENT}"
wait_for(call_id, "CallDisconnected")
try:
    conn.get_call_properties()
    raise AssertionError("a transferred call connection must be gone")
except ResourceNotFoundError:
    pass
step("transfer_call_to_participant + CallTransferAccepted + CallDisconnected")

# --- outbound call, terminate -------------------------------------------------
created = client.create_call(PhoneNumberIdentifier(AGENT), CALLBACK, source_caller_id_number=PhoneNumberIdentifier(APP_NUMBER),
                             operation_context="outbound")
out_id = created.call_connection_id
wait_for(out_id, "CallConnected")
client.get_call_connection(out_id).hang_up(is_for_everyone=True)
wait_for(out_id, "CallDisconnected")
step("create_call + hang_up(is_for_everyone=True)")

created = client.create_call(CommunicationUserIdentifier(ACS_USER), CALLBACK)
out_id = created.call_connection_id
wait_for(out_id, "CallConnected")
client.get_call_connection(out_id).hang_up(is_for_everyone=False)
wait_for(out_id, "CallDisconnected")
step("create_call (ACS user) + hang_up")

# --- reject, redirect, connect ------------------------------------------------
placed = ring()
client.reject_call(placed["incomingCallContext"], call_reject_reason="busy")
placed = ring()
client.redirect_call(placed["incomingCallContext"], PhoneNumberIdentifier(AGENT))
try:
    client.answer_call(placed["incomingCallContext"], CALLBACK)
    raise AssertionError("a redirected call cannot be answered")
except HttpResponseError as error:
    assert error.status_code == 400, error
step("reject_call + redirect_call")

group = client.connect_call(CALLBACK, group_call_id="c1b1a1d1-0000-4000-8000-000000000001", operation_context="group")
wait_for(group.call_connection_id, "CallConnected")
step("connect_call (group)")

# --- errors -------------------------------------------------------------------
try:
    client.get_call_connection("no-such-call").get_call_properties()
    raise AssertionError("unknown calls must be 404")
except ResourceNotFoundError:
    pass
endpoint = CONN.split(";")[0]
wrong = CallAutomationClient.from_connection_string(f"{endpoint};accesskey=d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktISE=")
try:
    wrong.get_call_connection(call_id).get_call_properties()
    raise AssertionError("a wrong key must be refused")
except ClientAuthenticationError as error:
    assert error.status_code == 401, error
step("404 for unknown calls; 401 for a wrong key")

assert tokens and all(t.startswith("Bearer ") for t in tokens), tokens[:3]
print(f"python sdk conformance: {len(passed)} checks passed")
