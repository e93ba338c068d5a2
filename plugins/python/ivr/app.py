"""The reference IVR policy (shared/scenarios/ivr.md), written with the Python SDK.

Answer; offer a DTMF menu (1 sales, 2 repeat, 3 leave); transfer to the tenant's
`agent_phone` on 1; say goodbye and end the call on 3, after two failed retries,
or when the transfer fails (with an apology). The retry count is per-call state.
"""

from switchboard_policy import Context, PluginError, act, keys, log, policy
from switchboard_policy import events as ev

MENU_PROMPT = "Press 1 for sales, 2 to hear this again, 3 to leave."
VOICE = "en-US-NancyNeural"
MAX_RETRIES = 2  # recognize attempts after the first, before giving up


@policy(initial_state={"retries": 0}, warm_up=True)
def handle(event, ctx: Context, state: dict):
    match event:
        case ev.IncomingCall():
            return [act.answer().context("ivr")]
        case ev.CallConnected():
            return [menu(ctx)]
        case ev.RecognizeCompleted(done) if isinstance(done.recognized, ev.RecognizedDtmf):
            return on_keys(keys(done.recognized.value), ctx, state)
        case ev.RecognizeCompleted() | ev.RecognizeFailed():
            return retry_or_goodbye(ctx, state)
        case ev.CallTransferFailed():
            return [act.play(act.text("Sorry, no agent is available.").voice(VOICE)).context("sorry")]
        case ev.PlayCompleted(info) if info.operation_context in ("goodbye", "sorry"):
            return [act.terminate()]
        case ev.ActionFailed(failed) if failed.code == "outcome-unknown":
            # The host restarted while sending: the menu may never have played (offer
            # it again rather than leave the caller in silence); a goodbye may not have
            # played (end the call rather than say it twice).
            if failed.operation_context == "menu":
                return [menu(ctx)]
            if failed.operation_context in ("goodbye", "sorry"):
                return [act.terminate()]
            return []
        case _:
            return []


def on_keys(pressed: str, ctx: Context, state: dict):
    match pressed:
        case "1":
            return [transfer_to_agent(ctx)]
        case "2":
            return [menu(ctx)]
        case "3":
            return [goodbye()]
        case _:
            log.info(f'unexpected input "{pressed}"; treated as a failure')
            return retry_or_goodbye(ctx, state)


def menu(ctx: Context):
    return (
        act.recognize_dtmf(ctx.caller(), 1)
        .prompt(act.text(MENU_PROMPT).voice(VOICE))
        .interrupt_prompt()
        .initial_silence_timeout(5)
        .context("menu")
    )


def goodbye():
    return act.play(act.text("Goodbye.").voice(VOICE)).context("goodbye")


def retry_or_goodbye(ctx: Context, state: dict):
    if state["retries"] < MAX_RETRIES:
        state["retries"] += 1
        return [menu(ctx)]
    return [goodbye()]


def transfer_to_agent(ctx: Context):
    agent = ctx.config("agent_phone")
    if agent is None:
        raise PluginError("config", "tenant config has no `agent_phone` to transfer to")
    return act.transfer(act.phone(agent)).context("transfer")
