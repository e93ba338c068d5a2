"""Write Switchboard call policies in Python.

A policy is a function decorated with :func:`policy` in the app module that
`plugins/python/build.sh` turns into a component::

    from switchboard_policy import act, events, policy

    @policy
    def handle(event, ctx, state):
        match event:
            case events.IncomingCall():
                return [act.answer()]
            case events.CallConnected():
                return [act.play(act.text("Hello!")).context("hello")]
        return []

Map of the package:
- :mod:`~switchboard_policy.events`: the contract's events under short names
  (`events.IncomingCall`…), `keys()`, `operation_context()`, `result()`.
- :mod:`~switchboard_policy.act`: builders for every action.
- :mod:`~switchboard_policy.log`: the host's log, the only thing a policy can reach.
- :class:`Context`: tenant, call and configuration (`ctx.config("agent_phone")`).
- :mod:`~switchboard_policy.warm`: the handler warmed up on made-up events before the
  component's snapshot (`@policy(warm_up=True)`): less memory per instance.
- per-call state: a dict, JSON between events (the same bytes as the Rust SDK's).
- `types`: the generated contract itself (`wit/policy.wit`), for everything else.
"""

from . import act, events, log, warm
from ._wit import types
from .context import Context
from .events import keys
from .policy import PluginError, decide, export, policy

__all__ = [
    "Context", "PluginError", "act", "decide", "events", "export", "keys", "log", "policy",
    "types", "warm",
]
