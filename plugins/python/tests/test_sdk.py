"""The SDK on its own: builders, state, errors, events, context, log, export."""

import gc
import sys
import types as pytypes
import typing
import unittest

from support import LOG, CALLER, context, ev, info, invoke, phone, t

from switchboard_policy import (
    Context, PluginError, act, decide, events, export, keys, log, policy, warm)

D = t.DtmfTone


def actions(*items):
    """Items as a handler would return them, through the SDK's conversion."""
    return decide(lambda e, c, s: list(items), ev.call_connected(), context()).actions


class Builders(unittest.TestCase):
    def test_tags(self):
        self.assertEqual(actions(act.answer().context("ivr").callback_uri("https://x/cb")),
                         [t.ActionRequest(t.Action_Answer(), "ivr", "https://x/cb")])

    def test_play_sources(self):
        self.assertEqual(
            actions(act.play(act.text("Hi").voice("v").locale("en-US"), act.file("https://a/b.wav"),
                             act.ssml("<speak/>"), to=[phone(CALLER)], loop=True, interrupt=True)),
            [t.ActionRequest(t.Action_Play(t.Play(
                [t.PlaySource_Text(t.TextSource("Hi", "v", "en-US")),
                 t.PlaySource_File("https://a/b.wav"), t.PlaySource_Ssml("<speak/>")],
                [phone(CALLER)], True, True)), None, None)])
        with self.assertRaises(ValueError):
            act.play()

    def test_recognize_dtmf_returned_untagged_or_tagged(self):
        built = act.recognize_dtmf(phone(CALLER), 4, stop_tones="#", inter_tone_timeout=2) \
            .prompt(act.text("Code?")).interrupt_prompt().initial_silence_timeout(5) \
            .speech_language("en-US").interrupt_call_media_operation()
        expected = t.Action_Recognize(t.Recognize(
            t.RecognizeInput_Dtmf(t.DtmfOptions(4, [D.POUND], 2)), phone(CALLER),
            [t.PlaySource_Text(t.TextSource("Code?", None, None))], True, 5, "en-US", True))
        self.assertEqual(actions(built), [t.ActionRequest(expected, None, None)])
        self.assertEqual(actions(built.context("pin")), [t.ActionRequest(expected, "pin", None)])

    def test_recognize_choices_and_speech(self):
        [choices] = actions(act.recognize_choices(
            phone(CALLER), act.choice("sales", "sales", "buy", tone="1"),
            act.choice("help", "help", tone=D.TWO)))
        self.assertEqual(choices.action.value.input, t.RecognizeInput_Choices([
            t.Choice("sales", ["sales", "buy"], D.ONE), t.Choice("help", ["help"], D.TWO)]))
        [speech] = actions(act.recognize_speech(phone(CALLER), end_silence_timeout_ms=800))
        self.assertEqual(speech.action.value.input,
                         t.RecognizeInput_Speech(t.SpeechOptions(800, None)))

    def test_tones(self):
        self.assertEqual(act.tones("12#*ab"), [D.ONE, D.TWO, D.POUND, D.ASTERISK, D.A, D.B])
        self.assertEqual(act.tones([D.NINE]), [D.NINE])
        with self.assertRaises(ValueError):
            act.tones("1x")

    def test_reject_reasons(self):
        self.assertEqual(actions(act.reject("busy"), act.reject(t.RejectReason.FORBIDDEN),
                                 act.reject()),
                         [t.ActionRequest(t.Action_Reject(r), None, None) for r in (
                             t.RejectReason.BUSY, t.RejectReason.FORBIDDEN,
                             t.RejectReason.NONE)])
        with self.assertRaises(ValueError):
            act.reject("later")

    def test_transfer_and_participants(self):
        no_headers = t.CustomContext([], [])
        self.assertEqual(
            actions(act.transfer(act.phone("+1555"), caller_id="+1800"),
                    act.add_participant(act.acs_user("8:acs:r_u"), 30)),
            [t.ActionRequest(t.Action_Transfer(t.Transfer(
                phone("+1555"), None, no_headers, "+1800")), None, None),
             t.ActionRequest(t.Action_AddParticipant(t.AddParticipant(
                 t.CommunicationIdentifier_AcsUser("8:acs:r_u"), None, None, 30, no_headers)),
                 None, None)])

    def test_the_contracts_own_records_pass_through(self):
        raw = t.ActionRequest(t.Action_HangUp(), "bye", None)
        self.assertEqual(actions(raw, t.Action_Terminate()),
                         [raw, t.ActionRequest(t.Action_Terminate(), None, None)])
        with self.assertRaises(TypeError):
            actions("answer")

    def test_a_builder_for_every_action(self):
        who = phone(CALLER)
        built = [
            act.answer(), act.reject(), act.redirect(who), act.create_call([who], "+1800"),
            act.connect(act.server_call("s")), act.connect(act.group_call("g")),
            act.connect(act.room("r")), act.add_participant(who),
            act.cancel_add_participant("i"), act.remove_participant(who), act.transfer(who),
            act.mute(who), act.hang_up(), act.terminate(), act.play(act.text("x")),
            act.recognize_dtmf(who, 1), act.cancel_media_operations(),
            act.start_continuous_dtmf(who), act.stop_continuous_dtmf(who),
            act.send_dtmf(who, "12"), act.hold(who, act.file("https://m")), act.unhold(who),
            act.start_transcription("en-US"), act.stop_transcription(),
            act.update_transcription("fr-FR"), act.start_media_streaming(),
            act.stop_media_streaming(), act.start_recording(), act.pause_recording("r"),
            act.resume_recording("r"), act.stop_recording("r"),
        ]
        made = {type(a.action) for a in actions(*built)}
        self.assertEqual(made, set(typing.get_args(t.Action)))


class State(unittest.TestCase):
    @staticmethod
    def counting(event, ctx, state):
        state["n"] = state.get("n", 0) + 1

    @staticmethod
    def reading(event, ctx, state):
        return None

    def test_implicit_empty_state_is_not_stored(self):
        self.assertIsNone(decide(self.reading, ev.call_connected(), context()).state)

    def test_declared_initial_state_is_stored_at_the_first_event(self):
        self.assertEqual(
            decide(self.reading, ev.call_connected(), context(), {"retries": 0}).state,
            b'{"retries":0}')

    def test_changed_state_is_stored_compact_unchanged_is_not(self):
        self.assertEqual(decide(self.counting, ev.call_connected(), context()).state, b'{"n":1}')
        self.assertEqual(
            decide(self.counting, ev.call_connected(), context(state='{"n":1}')).state,
            b'{"n":2}')
        self.assertIsNone(
            decide(self.reading, ev.call_connected(), context(state='{"n":1}')).state)

    def test_initial_state_is_a_fresh_copy_and_fills_new_fields(self):
        initial = {"seen": []}

        def remember(event, ctx, state):
            state["seen"].append(1)

        decide(remember, ev.call_connected(), context(), initial)
        self.assertEqual(initial, {"seen": []})
        out = decide(self.reading, ev.call_connected(), context(state='{"n":3}'),
                     lambda: {"n": 0, "added": True})
        self.assertEqual(out.state, b'{"n":3,"added":true}')

    def test_each_call_starts_from_its_own_copy_flat_or_nested(self):
        def count(event, ctx, state):
            state["n"] += 1
            state.setdefault("seen", []).append(state["n"])

        for initial in ({"n": 0}, {"n": 0, "seen": []}):
            world = export(count, initial_state=initial)
            first = invoke(world, ev.call_connected(), context())
            again = invoke(world, ev.call_connected(), context())
            self.assertEqual(first.state, b'{"n":1,"seen":[1]}', initial)
            self.assertEqual(again.state, first.state, initial)
            self.assertEqual(initial["n"], 0)

    def test_unicode_is_written_as_utf8(self):
        def name(event, ctx, state):
            state["name"] = "Zoë"

        self.assertEqual(decide(name, ev.call_connected(), context()).state,
                         '{"name":"Zoë"}'.encode())

    def test_bad_states(self):
        for raw in ("not json", "[1]", b"\xff"):
            with self.subTest(raw=raw), self.assertRaises(PluginError) as e:
                decide(self.reading, ev.call_connected(), context(state=raw))
            self.assertEqual(e.exception.code, "bad-state")

        def unencodable(event, ctx, state):
            state["x"] = object()

        def circular(event, ctx, state):
            state["me"] = state

        def not_a_number(event, ctx, state):
            state["x"] = float("nan")

        for handler in (unencodable, circular, not_a_number):
            with self.subTest(handler=handler.__name__), self.assertRaises(PluginError) as e:
                decide(handler, ev.call_connected(), context())
            self.assertEqual(e.exception.code, "bad-state")
        with self.assertRaises(TypeError):
            decide(self.reading, ev.call_connected(), context(), [1])
        with self.assertRaisesRegex(TypeError, "initial_state must be JSON"):
            decide(self.reading, ev.call_connected(), context(), {"at": object()})


class Export(unittest.TestCase):
    def setUp(self):
        LOG.clear()

    def test_plugin_error_becomes_the_results_err(self):
        def refuse(event, ctx, state):
            raise PluginError("config", "no agent")

        self.assertEqual(invoke(export(refuse), ev.call_connected(), context()),
                         t.PluginError("config", "no agent"))

    def test_other_exceptions_are_logged_and_become_internal(self):
        def broken(event, ctx, state):
            return [{}["missing"]]

        self.assertEqual(invoke(export(broken), ev.call_connected(), context()),
                         t.PluginError("internal", "KeyError: 'missing'"))
        [(level, message)] = LOG
        self.assertEqual(level, "error")
        self.assertIn("Traceback", message)

    def test_single_action_or_none(self):
        self.assertEqual(invoke(export(lambda e, c, s: act.hang_up()), ev.unknown(),
                                context()).actions,
                         [t.ActionRequest(t.Action_HangUp(), None, None)])
        self.assertEqual(invoke(export(lambda e, c, s: None), ev.unknown(), context()).actions, [])

    def test_policy_decorator_defines_witworld_in_the_module(self):
        module = pytypes.ModuleType("fake_app")
        sys.modules["fake_app"] = module
        try:
            exec("from switchboard_policy import act, policy\n"
                 "@policy\n"
                 "def handle(event, ctx, state):\n"
                 "    return [act.answer()]\n", module.__dict__)
            self.assertIs(module.WitWorld, module.handle.WitWorld)
            self.assertEqual(invoke(module.WitWorld, ev.incoming_call(), context()),
                             t.Decision([t.ActionRequest(t.Action_Answer(), None, None)], None))
            with self.assertRaises(RuntimeError):
                exec("@policy(initial_state={'a': 1})\n"
                     "def other(event, ctx, state):\n"
                     "    return []\n", module.__dict__)
        finally:
            del sys.modules["fake_app"]


class Events(unittest.TestCase):
    def test_a_short_name_for_every_event(self):
        cases = set(typing.get_args(t.Event))
        named = {v for k, v in vars(events).items() if not k.startswith("_") and v in cases}
        self.assertEqual(named, cases)
        for case in cases:
            self.assertIs(getattr(events, case.__name__.removeprefix("Event_")), case)

    def test_name(self):
        self.assertEqual(events.name(ev.incoming_call()), "incoming_call")
        self.assertEqual(events.name(ev.silence()), "recognize_failed")

    def test_operation_context_and_result(self):
        self.assertEqual(events.operation_context(ev.pressed(D.ONE)), "menu")
        self.assertEqual(events.result(ev.silence()).sub_code, 8510)
        self.assertEqual(events.operation_context(ev.call_connected()), "ivr")
        self.assertIsNone(events.operation_context(ev.incoming_call()))
        self.assertIsNone(events.info(ev.unknown()))
        failed = t.Event_ActionFailed(t.ActionFailed(0, "transfer", "transfer", 403, "x", "y"))
        self.assertEqual(events.operation_context(failed), "transfer")
        self.assertEqual(events.info(ev.transfer_accepted()), info("transfer"))

    def test_keys(self):
        self.assertEqual(keys(list(D)), "0123456789ABCD#*")
        self.assertEqual(events.key(D.POUND), "#")


class ContextAndLog(unittest.TestCase):
    def setUp(self):
        LOG.clear()

    def test_context(self):
        ctx = Context(context({"agent_phone": "+1555", "lang": "fr"}))
        self.assertEqual(ctx.config("agent_phone"), "+1555")
        self.assertIsNone(ctx.config("missing"))
        self.assertEqual(ctx.config("missing", "x"), "x")
        self.assertEqual(ctx.settings, {"agent_phone": "+1555", "lang": "fr"})
        self.assertEqual(ctx.caller(), phone(CALLER))
        self.assertEqual(ctx.tenant_id, "acme")
        self.assertEqual(ctx.call.server_call_id, "server-1")

    def test_log_levels_and_formatting(self):
        log.trace("a")
        log.debug("b %s", 1)
        log.info("c %d%%", 50)
        log.warn("d")
        log.warning("e")
        log.error(ValueError("f"))
        self.assertEqual(LOG, [("trace", "a"), ("debug", "b 1"), ("info", "c 50%"),
                               ("warn", "d"), ("warn", "e"), ("error", "f")])


class WarmUp(unittest.TestCase):
    """`warm_up`: the handler run on made-up events before the snapshot (build.sh)."""

    def setUp(self):
        LOG.clear()

    def module(self, source: str) -> pytypes.ModuleType:
        module = pytypes.ModuleType("warm_app")
        sys.modules["warm_app"] = module
        self.addCleanup(sys.modules.pop, "warm_app", None)
        exec("from switchboard_policy import act, events, log, policy, PluginError\n" + source,
             module.__dict__)
        return module

    def test_a_call_chains_the_state_drops_logs_and_ignores_errors(self):
        seen = []
        module = self.module(
            "@policy(initial_state={'n': 0}, warm_up=True)\n"
            "def handle(event, ctx, state):\n"
            "    seen.append((events.name(event), state['n'], ctx.tenant_id))\n"
            "    state['n'] += 1\n"
            "    log.info('not for the host')\n"
            "    if isinstance(event, events.RecognizeFailed):\n"
            "        raise PluginError('x', 'a made-up event may not suit')\n"
            "    if isinstance(event, events.CallTransferFailed):\n"
            "        raise KeyError('a bug')\n"
            "    return [act.answer()]\n")
        module.seen = seen
        self.assertIs(warm.prepare(module), module.WitWorld)
        # Three times over the same call, each from its first event.
        self.assertEqual(len(seen), 21)
        self.assertEqual(seen[:7], seen[7:14])
        self.assertEqual(seen[:7], seen[14:])
        kinds = [kind for kind, _, _ in seen[:7]]
        self.assertEqual(kinds, ["incoming_call", "call_connected", "recognize_completed",
                                 "recognize_failed", "call_transfer_failed",
                                 "play_completed", "call_disconnected"])
        # The state goes on from each decision; an event that raised changed nothing.
        self.assertEqual([n for _, n, _ in seen[:7]], [0, 1, 2, 3, 3, 3, 4])
        self.assertEqual({tenant for _, _, tenant in seen}, {"warm-up"})
        self.assertEqual(LOG, [])
        log.info("logged again after it")
        self.assertEqual(LOG, [("info", "logged again after it")])

    def test_only_when_asked_and_only_the_events_given(self):
        seen = []
        module = self.module("@policy\n"
                             "def handle(event, ctx, state):\n"
                             "    seen.append(event)\n")
        module.seen = seen
        warm.prepare(module)
        self.assertEqual(seen, [])
        module = self.module("@policy(warm_up=[events.CallConnected(None)] * 2)\n"
                             "def handle(event, ctx, state):\n"
                             "    seen.append(events.name(event))\n")
        module.seen = seen
        self.assertEqual(warm.run(module.WitWorld, module.WitWorld.warm_up, rounds=1), 2)
        self.assertEqual(seen, ["call_connected"] * 2)

    def test_what_the_snapshot_holds_is_frozen(self):
        module = self.module("@policy\n"
                             "def handle(event, ctx, state):\n"
                             "    return []\n")
        gc.unfreeze()
        self.addCleanup(gc.unfreeze)
        kept = [object()]  # a container alive before the snapshot
        warm.prepare(module)
        self.assertGreater(gc.get_freeze_count(), 0)
        self.assertFalse(any(o is kept for o in gc.get_objects()))
        # What is made afterwards is tracked (and collected) as usual.
        made = [object()]
        self.assertTrue(any(o is made for o in gc.get_objects()))

    def test_bad_warm_up_and_no_policy_are_refused(self):
        with self.assertRaisesRegex(TypeError, "warm_up must be True, False or a list of events"):
            export(lambda e, c, s: None, warm_up=["call-connected"])
        with self.assertRaisesRegex(RuntimeError, "defines no WitWorld"):
            warm.prepare(pytypes.ModuleType("empty_app"))


if __name__ == "__main__":
    unittest.main()
