"""{{name}}: a Switchboard call policy.

Answers, greets the caller, and hangs up once the greeting has played. Change `handle`
to decide what your calls do; the events and actions are those of Azure Communication
Services Call Automation (see {{plugins}}/python/README.md).
"""

from switchboard_policy import Context, act, policy
from switchboard_policy import events as ev


@policy(initial_state={"greeted": False}, warm_up=True)
def handle(event, ctx: Context, state: dict):
    match event:
        case ev.IncomingCall():
            return [act.answer()]
        case ev.CallConnected():
            state["greeted"] = True
            greeting = ctx.config("greeting") or "Hello from {{name}}!"
            return [act.play(act.text(greeting)).context("greeting")]
        case ev.PlayCompleted(info) if info.operation_context == "greeting":
            return [act.hang_up()]
        case _:
            return []
