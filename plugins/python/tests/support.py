"""Runs policies in CPython: generated bindings, a stand-in for the host's log, events,
contexts, and the IVR's expected decisions (as host/src/native.rs makes them).

The bindings are `componentize-py bindings` output for wit/ (stubs whose imports raise
NotImplementedError), generated into plugins/python/.bindings/ (git-ignored) when
missing or older than the WIT. Without componentize-py the tests are skipped.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

PY = Path(__file__).resolve().parent.parent          # plugins/python
ROOT = PY.parent.parent
WIT = ROOT / "wit"
BINDINGS = PY / ".bindings"


def _componentize_py() -> str | None:
    venv = ROOT / ".venv" / "bin" / "componentize-py"
    return str(venv) if os.access(venv, os.X_OK) else shutil.which("componentize-py")


def _ensure_bindings() -> None:
    marker = BINDINGS / "wit_world" / "imports" / "types.py"
    newest_wit = max(p.stat().st_mtime for p in WIT.rglob("*.wit"))
    if marker.exists() and marker.stat().st_mtime >= newest_wit:
        return
    tool = _componentize_py()
    if tool is None:
        raise unittest.SkipTest(
            "componentize-py not found: pip install -r plugins/python/requirements.txt "
            "into .venv to generate the bindings the tests run against")
    with tempfile.TemporaryDirectory(dir=PY, prefix=".bindings-") as tmp:
        out = Path(tmp) / "out"
        subprocess.run([tool, "-q", "-d", str(WIT), "-w", "call-policy", "bindings", str(out)],
                       check=True)
        if BINDINGS.exists():
            shutil.rmtree(BINDINGS)
        out.rename(BINDINGS)


_ensure_bindings()
for path in (BINDINGS, PY):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import log as host_log  # noqa: E402
from wit_world.imports import types as t  # noqa: E402

# ------------------------------------------------------------------------ the log

LOG: list[tuple[str, str]] = []


def _log(level: host_log.Level, message: str) -> None:
    LOG.append((level.name.lower(), message))


host_log.log = _log


def load_app(path: Path, name: str):
    """Imports a policy's app module under `name` (it defines `WitWorld`)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------- events, context

CALLER = "+14255550123"
NUMBER = "+18005550100"
AGENT = "+15550001111"
OK = t.ResultInformation(200, 0, "ok")


def phone(number: str) -> t.CommunicationIdentifier:
    return t.CommunicationIdentifier_PhoneNumber(number)


def context(config: dict[str, str] | None = None, state: bytes | str = b"") -> t.Context:
    """A context of the reference tenant; `state` is the encoded state."""
    if config is None:
        config = {"agent_phone": AGENT}
    if isinstance(state, str):
        state = state.encode()
    return t.Context(
        tenant_id="acme",
        call=t.CallSnapshot("conn-1", "server-1", "corr-1", t.CallState.CONNECTED,
                            phone(CALLER), phone(NUMBER), []),
        config=[t.ConfigEntry(k, v) for k, v in config.items()],
        state=state,
    )


def info(operation_context: str | None, result: t.ResultInformation | None = OK):
    return t.OperationInfo(operation_context, result)


class ev:
    """Events of the IVR scenario."""

    @staticmethod
    def incoming_call():
        return t.Event_IncomingCall(t.IncomingCall(
            phone(CALLER), phone(NUMBER), "server-1", "corr-1", None, "opaque",
            t.CustomContext([], []), None))

    @staticmethod
    def call_connected():
        return t.Event_CallConnected(info("ivr"))

    @staticmethod
    def call_disconnected():
        return t.Event_CallDisconnected(info(None, None))

    @staticmethod
    def pressed(*tones: t.DtmfTone):
        return t.Event_RecognizeCompleted(
            t.RecognizeCompleted(info("menu"), t.Recognized_Dtmf(list(tones))))

    @staticmethod
    def spoke(speech: str):
        return t.Event_RecognizeCompleted(t.RecognizeCompleted(
            info("menu"), t.Recognized_Speech(t.SpeechResult(speech, 0.9))))

    @staticmethod
    def silence():
        return t.Event_RecognizeFailed(t.MediaFailure(
            info("menu", t.ResultInformation(400, 8510, "initial silence timeout")), None))

    @staticmethod
    def recognize_canceled():
        return t.Event_RecognizeCanceled(info("menu"))

    @staticmethod
    def transfer_accepted():
        return t.Event_CallTransferAccepted(
            t.TransferAccepted(info("transfer"), phone(AGENT), phone(CALLER)))

    @staticmethod
    def transfer_failed():
        return t.Event_CallTransferFailed(info("transfer", t.ResultInformation(486, 0, "busy")))

    @staticmethod
    def play_completed(operation_context: str | None):
        return t.Event_PlayCompleted(info(operation_context))

    @staticmethod
    def unknown():
        return t.Event_Unknown(t.UnknownEvent("Microsoft.Communication.New", "{}"))


# --------------------------------------------- expected decisions (as in native.rs)

VOICE = "en-US-NancyNeural"


def _say(text: str) -> t.PlaySource:
    return t.PlaySource_Text(t.TextSource(text, VOICE, None))


def _tagged(action: t.Action, operation_context: str | None) -> t.ActionRequest:
    return t.ActionRequest(action, operation_context, None)


class want:
    """The IVR's actions, spelled out in the contract's types."""

    @staticmethod
    def answer():
        return _tagged(t.Action_Answer(), "ivr")

    @staticmethod
    def menu():
        return _tagged(t.Action_Recognize(t.Recognize(
            input=t.RecognizeInput_Dtmf(t.DtmfOptions(1, [], None)),
            target=phone(CALLER),
            prompt=[_say("Press 1 for sales, 2 to hear this again, 3 to leave.")],
            interrupt_prompt=True,
            initial_silence_timeout_seconds=5,
            speech_language=None,
            interrupt_call_media_operation=False,
        )), "menu")

    @staticmethod
    def transfer(number: str = AGENT):
        return _tagged(t.Action_Transfer(
            t.Transfer(phone(number), None, t.CustomContext([], []), None)), "transfer")

    @staticmethod
    def play(text: str, operation_context: str):
        return _tagged(t.Action_Play(t.Play([_say(text)], [], False, False)), operation_context)

    @staticmethod
    def goodbye():
        return want.play("Goodbye.", "goodbye")

    @staticmethod
    def sorry():
        return want.play("Sorry, no agent is available.", "sorry")

    @staticmethod
    def terminate():
        return _tagged(t.Action_Terminate(), None)


# ------------------------------------------------------------------- invoking

def invoke(world, event: t.Event, ctx: t.Context) -> t.Decision | t.PluginError:
    """Calls an export class's `handle` like the host: the decision or the plugin-error."""
    try:
        return world().handle(event, ctx)
    except Err as e:
        return e.value


def run(world, events, config: dict[str, str] | None = None) -> list:
    """Feeds events one after another, carrying state as the host does."""
    ctx = context(config)
    outcomes = []
    for event in events:
        outcome = invoke(world, event, ctx)
        if isinstance(outcome, t.Decision) and outcome.state is not None:
            ctx = t.Context(ctx.tenant_id, ctx.call, ctx.config, outcome.state)
        outcomes.append(outcome)
    return outcomes
