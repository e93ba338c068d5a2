"""Warming a policy up before its component's snapshot is taken.

componentize-py builds a component by importing the app module and keeping the
interpreter's memory as it then is: every instance starts as a copy-on-write view of
that snapshot. CPython does much on a function's first runs (it specializes the
bytecode in place, gives types their version tags, fills caches, allocates what it makes
lazily), and in a fresh instance each of those writes copies a page the instance would
otherwise share with every other one. Running the handler on a few made-up events
before the snapshot does that work once, when the component is built: for the
reference IVR, ~120 KiB less memory of its own per instance (of ~1.4 MiB).

Opt in with ``@policy(warm_up=True)`` (the events of :func:`a_call`) or
``@policy(warm_up=[event, ...])``. The handler then runs at build time, so it must keep
nothing in module globals: one set by the warm-up would be in every instance's snapshot
(what a call must remember goes in its state: instances are fresh per event by
default). During the warm-up its logs are dropped and its exceptions ignored; the state
it returns goes from one event to the next, as in a call, and is then thrown away. The
context is made up too: tenant ``warm-up``, no configuration.

``plugins/python/build.sh`` calls :func:`prepare` once the app module is imported; it
warms the policy up if asked, then lists and freezes what the snapshot holds
(:func:`settle`); once the component is built, ``plugins/python/immortalize.py`` makes
the listed objects immortal in its snapshot.
"""

from __future__ import annotations

import array
import binascii
import dataclasses
import gc
import struct
import sys
from types import ModuleType
from typing import Iterable

from . import log
from ._wit import types as t

__all__ = ["RECORD_MAGIC", "a_call", "prepare", "run", "settle"]


_CALLER = t.CommunicationIdentifier_PhoneNumber("+10000000001")
_CALLEE = t.CommunicationIdentifier_PhoneNumber("+10000000002")


def _info(operation_context: str | None, code: int, sub_code: int) -> t.OperationInfo:
    return t.OperationInfo(operation_context, t.ResultInformation(code, sub_code, "warm-up"))


def a_call() -> list[t.Event]:
    """The events of a made-up call: it arrives, is answered, the caller presses 1, a
    recognize times out, a transfer fails, a play completes, the call ends."""
    return [
        t.Event_IncomingCall(t.IncomingCall(
            _CALLER, _CALLEE, "warm-up", "warm-up", None, "warm-up",
            t.CustomContext([], []), None)),
        t.Event_CallConnected(_info(None, 200, 0)),
        t.Event_RecognizeCompleted(t.RecognizeCompleted(
            _info(None, 200, 8531), t.Recognized_Dtmf([t.DtmfTone.ONE]))),
        t.Event_RecognizeFailed(t.MediaFailure(_info(None, 400, 8510), None)),
        t.Event_CallTransferFailed(_info(None, 500, 7502)),
        t.Event_PlayCompleted(_info(None, 200, 0)),
        t.Event_CallDisconnected(_info(None, 200, 0)),
    ]


def _context() -> t.Context:
    call = t.CallSnapshot("warm-up", "warm-up", "warm-up", t.CallState.CONNECTED,
                          _CALLER, _CALLEE, [])
    return t.Context("warm-up", call, [], b"")


def run(world: type, events: Iterable[t.Event], rounds: int = 3) -> int:
    """Runs `world`'s `handle` on `events` as one call, `rounds` times over; the number
    of events that got a decision (the others raised, which a warm-up ignores).

    CPython specializes an instruction after it has run a few times: for the reference
    IVR, three rounds left each instance ~120 KiB less of its own than no warm-up, one
    round ~70 KiB less (BENCHMARKS.md, polyglot)."""
    handle = world().handle
    events = list(events)
    decided = 0
    with log.muted():
        for _ in range(rounds):
            ctx = _context()
            for event in events:
                try:
                    decision = handle(event, ctx)
                except Exception:  # noqa: BLE001 - a made-up event may not suit the policy
                    continue
                decided += 1
                if decision.state is not None:
                    ctx = dataclasses.replace(ctx, state=decision.state)
    return decided


def prepare(module: ModuleType) -> type:
    """The app module's `WitWorld`, warmed up if its policy asked for it."""
    world = getattr(module, "WitWorld", None)
    if not isinstance(world, type):
        raise RuntimeError(
            f"module {module.__name__} defines no WitWorld: decorate the handler with "
            "@policy, or bind WitWorld = export(handle)")
    events = getattr(world, "warm_up", None)
    if events:
        run(world, events)
    settle()
    return world


def settle() -> None:
    """Lists every object the import and warm-up left for ``immortalize.py``, and
    freezes them: what each instance would otherwise copy, page by page, from the
    snapshot it starts from.

    Listed (:func:`_hold`): CPython writes an object's reference count each time code
    takes or drops a reference to it, so an event that merely reads a module's
    functions, constants and names copies every page they sit on. ``immortalize.py``
    gives the listed objects CPython's immortal count in the built component's
    snapshot, which no reference changes (PEP 683, the same answer to the same
    problem in forked servers). They then live as long as the instance: an instance
    is one event or one call, and dropping the last reference to a snapshot object
    leaks it for that long instead of freeing it. Reference IVR: 1,298 → 924 KiB of
    its own per instance, fresh instance + call −10 % (BENCHMARKS.md, polyglot).

    Frozen: the collector moves them to its permanent generation, which collections
    skip. A collection in an instance (an event that allocates enough to start one)
    then walks only the objects the instance made, instead of writing the headers of
    objects all over the snapshot. Objects made in an instance are collected as usual.
    Measured: a policy that makes 6,000 small lists per event, enough to start a
    collection, took 9.5–10.9 ms per fresh instance + call and held 6,701 KiB of its
    own per instance without this, 5.2–5.5 ms and 5,786 KiB with it. Collecting first
    (``gc.collect()``, then freezing) cost 50 KiB more: the freed blocks, scattered
    over the snapshot's pages, are where an instance's new objects then go."""
    _hold()  # first: the collector does not list the objects it has frozen
    gc.freeze()


#: Starts the record :func:`_hold` leaves in the snapshot, for ``immortalize.py``.
#: Layout, little-endian: this, then ``sys.hexversion``, the width of an address in
#: bytes, the number of objects and the CRC-32 of their addresses (four u32), then the
#: addresses. The magic may appear elsewhere in memory (this constant, for one): the
#: checksum tells the record apart.
RECORD_MAGIC = b"switchboard-snapshot-objects\x00v1\x00"

#: The record and the objects it lists, kept alive: an object freed between the
#: listing and the snapshot would leave its address in the record, and its memory
#: reused or on a free list; making that "immortal" would corrupt it.
_HELD: tuple[bytes, tuple[object, ...]] | None = None


def _reachable() -> list[object]:
    """Every object the collector tracks and every object those refer to, transitively
    (strings, numbers and other objects it does not track), each once; the ones
    already immortal left out."""
    is_immortal = getattr(sys, "_is_immortal", lambda _: False)  # from CPython 3.14
    found = gc.get_objects()
    seen = set(map(id, found))
    i = 0
    while i < len(found):
        for referent in gc.get_referents(found[i]):
            if id(referent) not in seen:
                seen.add(id(referent))
                found.append(referent)
        i += 1
    # The list itself may be among what the collector listed.
    return [o for o in found if o is not found and not is_immortal(o)]


def _hold() -> None:
    global _HELD
    _HELD = None  # a previous listing (tests call prepare more than once)
    objects = tuple(_reachable())
    width = struct.calcsize("P")
    addresses = array.array("I" if width == 4 else "Q", map(id, objects)).tobytes()
    header = struct.pack("<4I", sys.hexversion, width, len(objects), binascii.crc32(addresses))
    _HELD = (RECORD_MAGIC + header + addresses, objects)
