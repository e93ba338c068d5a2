"""Turns an author's handler into the component's export: decodes the per-call state,
calls the handler, encodes the state back, converts errors.

The state is JSON (UTF-8, compact, keys in insertion order), the same bytes the Rust
SDK writes for the same state, so a call's state means the same in every language.
"""

from __future__ import annotations

import json
import sys
import traceback
import typing
from typing import Any, Callable, Iterable, Optional, Union

from . import log
from ._wit import Err, types as t, wit_world
from .act import Recognize, Request
from .context import Context
from .warm import a_call

__all__ = ["PluginError", "Handler", "decide", "decode_state", "encode_state", "export", "policy"]

State = dict[str, Any]
Item = Union[Request, Recognize, t.ActionRequest, t.Action]
Handler = Callable[[t.Event, Context, State], Union[Iterable[Item], Item, None]]

_ACTION_CASES = typing.get_args(t.Action)
_EVENT_CASES = typing.get_args(t.Event)
_SCALARS = (str, int, float, bool, type(None))


class PluginError(Exception):
    """The policy could not decide; the host runs the tenant's fallback for this call.

    ``raise PluginError("config", "tenant config has no `agent_phone`")``
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = str(message)

    def to_wit(self) -> t.PluginError:
        return t.PluginError(self.code, self.message)


def decode_state(raw: bytes, initial: Callable[[], State]) -> State:
    """The call's state; at its first event (no bytes), a fresh `initial()`. Saved fields
    override the initial state's, so fields added in a later version get defaults."""
    fresh = initial()
    if not raw:
        return fresh
    try:
        saved = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise PluginError("bad-state", f"the call's state is not this policy's JSON state: {e}") from None
    if not isinstance(saved, dict):
        raise PluginError("bad-state", f"the call's state is not a JSON object: {saved!r:.80}")
    return {**fresh, **saved}


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _compact_json() -> Callable[[State], str]:
    """One encoder for every event. `JSONEncoder.encode` makes a new C encoder at each
    call (most of its cost for a small state); this one is made once, without the
    circular-reference check (a state that contains itself fails with RecursionError)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the `_json` accelerator
        return _ENCODER.encode
    encode = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",",
                  False, False, False)
    return lambda state: "".join(encode(state, 0))


_encode = _compact_json()


def encode_state(state: State) -> bytes:
    """The state as compact JSON bytes, as serde_json writes them."""
    try:
        text = _encode(state)
    except (TypeError, ValueError, RecursionError) as e:
        raise PluginError("bad-state", f"the policy's state cannot be encoded: {e}") from None
    return text.encode("utf-8")


def _request(item: Item) -> t.ActionRequest:
    if isinstance(item, (Request, Recognize)):
        return item.to_wit()
    if isinstance(item, t.ActionRequest):
        return item
    if isinstance(item, _ACTION_CASES):
        return t.ActionRequest(item, None, None)
    raise TypeError(f"not an action: {item!r}")


def _initial(initial_state: Union[State, Callable[[], State], None]) -> Callable[[], State]:
    """A function making a fresh copy of the initial state for each call: a dict is
    copied through its JSON (what the state becomes anyway), cheaper than deepcopy."""
    if initial_state is None:
        return dict
    if callable(initial_state):
        return initial_state
    if not isinstance(initial_state, dict):
        raise TypeError("initial_state must be a dict (a JSON object) or a function returning one")
    try:
        encoded = json.dumps(initial_state, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"initial_state must be JSON: {e}") from None
    template = json.loads(encoded)
    if all(isinstance(v, _SCALARS) for v in template.values()):
        # Nothing in it can be changed in place: a shallow copy is a fresh one.
        return template.copy
    return lambda: json.loads(encoded)


def decide(handler: Handler, event: t.Event, raw: t.Context,
           initial_state: Union[State, Callable[[], State], None] = None) -> t.Decision:
    """Runs `handler` for one event: decodes the state, calls it, encodes the new state.

    The state goes back to the host only when it changed (at a call's first event:
    unless it is still the implicit `{}` of a policy without `initial_state`), as the
    Rust SDK does. Raises :class:`PluginError`.
    """
    return _decide(handler, event, raw, _initial(initial_state), initial_state is None)


def _decide(handler: Handler, event: t.Event, raw: t.Context,
            initial: Callable[[], State], implicit: bool) -> t.Decision:
    previous = bytes(raw.state)
    state = decode_state(previous, initial)
    returned = handler(event, Context(raw), state)
    if returned is None:
        items: Iterable[Item] = ()
    elif isinstance(returned, (list, tuple)):
        items = returned
    else:
        items = (returned,)
    actions = [_request(item) for item in items]
    encoded = encode_state(state)
    unchanged = encoded == previous or (not previous and implicit and encoded == b"{}")
    return t.Decision(actions, None if unchanged else encoded)


def export(handler: Handler, *,
           initial_state: Union[State, Callable[[], State], None] = None,
           warm_up: Union[bool, Iterable[t.Event]] = False) -> type:
    """The component's export class for `handler`; bind it to the name `WitWorld` in the
    app module: ``WitWorld = export(handle, initial_state={"retries": 0})``. `warm_up`:
    see :func:`policy`."""

    initial = _initial(initial_state)  # once: not per event
    implicit = initial_state is None
    warm_events = _warm_up_events(warm_up)

    class WitWorld(wit_world.WitWorld):
        def handle(self, event: t.Event, ctx: t.Context) -> t.Decision:
            try:
                return _decide(handler, event, ctx, initial, implicit)
            except PluginError as e:
                raise Err(e.to_wit()) from None
            except Err:
                raise
            except Exception as e:  # a bug in the policy: log it, let the host fall back
                message = f"{type(e).__name__}: {e}"
                log.error(f"{message}\n{traceback.format_exc()}")
                raise Err(t.PluginError("internal", message)) from None

    WitWorld.handler = staticmethod(handler)
    WitWorld.warm_up = warm_events
    return WitWorld


def _warm_up_events(warm_up: Union[bool, Iterable[t.Event]]) -> tuple[t.Event, ...]:
    if warm_up is True:
        return tuple(a_call())
    if warm_up is False or warm_up is None:
        return ()
    events = tuple(warm_up)
    wrong = [e for e in events if not isinstance(e, _EVENT_CASES)]
    if wrong:
        raise TypeError(f"warm_up must be True, False or a list of events, not {wrong[0]!r:.80}")
    return events


def policy(handler: Optional[Handler] = None, *,
           initial_state: Union[State, Callable[[], State], None] = None,
           warm_up: Union[bool, Iterable[t.Event]] = False) -> Any:
    """Makes `handler` the component's `handle` export::

        @policy(initial_state={"retries": 0})
        def handle(event, ctx, state):
            ...

    The handler gets the event, a :class:`Context` and the call's state (a dict it may
    change in place: a copy of `initial_state` at the first event, taken as JSON when the
    policy is defined, `{}` if none is given) and returns the actions to run, in order
    (a list, one action, or None).
    ``raise PluginError(code, message)`` makes the result an error (the host runs the
    tenant's fallback); any other exception is logged and becomes a plugin-error with
    code `internal`.

    ``warm_up=True`` (or a list of events) runs the handler on made-up events when the
    component is built, before its snapshot is taken: each instance then starts with
    warmed-up code, which makes its first event faster and leaves it less memory of its
    own (see :mod:`~switchboard_policy.warm`; the handler must keep nothing in module
    globals). ``plugins/python/build.sh`` does the warm-up.

    componentize-py looks for a class `WitWorld` in the app module: the decorator
    defines it in the module of the decorated function (use :func:`export` to bind it
    yourself, e.g. when the handler lives in another module). The function itself is
    returned unchanged.
    """

    def register(fn: Handler) -> Handler:
        world = export(fn, initial_state=initial_state, warm_up=warm_up)
        module = sys.modules.get(fn.__module__)
        if module is not None:
            if isinstance(getattr(module, "WitWorld", None), type) and \
                    getattr(module.WitWorld, "handler", None) is not fn:
                raise RuntimeError(f"module {fn.__module__} already has a WitWorld")
            module.WitWorld = world
        fn.WitWorld = world  # type: ignore[attr-defined]
        return fn

    return register(handler) if handler is not None else register
