"""The reference IVR (ivr/app.py) through its export class, as the host calls it: the
decisions of shared/scenarios/ivr.md, the same as host/src/native.rs and the Rust
plugin make (state bytes included)."""

import unittest

from support import LOG, PY, context, ev, invoke, load_app, run, t, want

D = t.DtmfTone
app = load_app(PY / "ivr" / "app.py", "ivr_app")
World = app.WitWorld


def decide(event, state=None, config=None):
    return invoke(World, event, context(config, state or b""))


class IvrDecisions(unittest.TestCase):
    def setUp(self):
        LOG.clear()

    def expect(self, outcome, actions, state=None):
        self.assertIsInstance(outcome, t.Decision, f"expected a decision, got {outcome!r}")
        self.assertEqual(outcome.actions, actions)
        self.assertEqual(outcome.state, None if state is None else state.encode())

    def test_answers_and_stores_the_initial_state_as_the_rust_sdk_does(self):
        self.expect(decide(ev.incoming_call()), [want.answer()], '{"retries":0}')

    def test_offers_the_menu_again_or_ends_the_call_when_an_outcome_is_unknown(self):
        def unknown(action, context, code="outcome-unknown"):
            return t.Event_ActionFailed(t.ActionFailed(0, action, context, None, code, ""))

        self.expect(decide(unknown("recognize", "menu"), '{"retries":0}'), [want.menu()])
        self.expect(decide(unknown("play", "goodbye"), '{"retries":0}'), [want.terminate()])
        self.expect(decide(unknown("play", "goodbye", "8522"), '{"retries":0}'), [])

    def test_offers_the_menu_when_the_call_connects(self):
        self.expect(decide(ev.call_connected(), '{"retries":0}'), [want.menu()])

    def test_transfers_to_the_agent_on_1(self):
        self.expect(decide(ev.pressed(D.ONE), '{"retries":0}'), [want.transfer()])

    def test_uses_the_configured_agent_number(self):
        outcome = decide(ev.pressed(D.ONE), config={"agent_phone": "+15550002222"})
        self.expect(outcome, [want.transfer("+15550002222")], '{"retries":0}')

    def test_repeats_the_menu_on_2_without_counting_a_retry(self):
        self.expect(decide(ev.pressed(D.TWO), '{"retries":1}'), [want.menu()])

    def test_says_goodbye_on_3(self):
        self.expect(decide(ev.pressed(D.THREE), '{"retries":0}'), [want.goodbye()])

    def test_treats_another_key_as_a_failure_and_logs_it(self):
        self.expect(decide(ev.pressed(D.NINE), '{"retries":0}'), [want.menu()], '{"retries":1}')
        self.assertEqual(LOG, [("info", 'unexpected input "9"; treated as a failure')])

    def test_treats_several_keys_speech_and_silence_as_failures(self):
        for event in (ev.pressed(D.ONE, D.TWO), ev.spoke("sales"), ev.silence()):
            with self.subTest(event=type(event).__name__):
                self.expect(decide(event, '{"retries":1}'), [want.menu()], '{"retries":2}')

    def test_says_goodbye_after_two_retries(self):
        self.expect(decide(ev.silence(), '{"retries":2}'), [want.goodbye()])

    def test_apologises_when_the_transfer_fails(self):
        self.expect(decide(ev.transfer_failed(), '{"retries":0}'), [want.sorry()])

    def test_ends_the_call_after_goodbye_or_the_apology_only(self):
        state = '{"retries":0}'
        self.expect(decide(ev.play_completed("goodbye"), state), [want.terminate()])
        self.expect(decide(ev.play_completed("sorry"), state), [want.terminate()])
        self.expect(decide(ev.play_completed("menu"), state), [])
        self.expect(decide(ev.play_completed(None), state), [])

    def test_does_nothing_for_other_events(self):
        for event in (ev.transfer_accepted(), ev.call_disconnected(),
                      ev.recognize_canceled(), ev.unknown()):
            with self.subTest(event=type(event).__name__):
                self.expect(decide(event, '{"retries":0}'), [])

    def test_fails_with_config_when_the_tenant_has_no_agent_phone(self):
        self.assertEqual(
            decide(ev.pressed(D.ONE), '{"retries":0}', config={}),
            t.PluginError("config", "tenant config has no `agent_phone` to transfer to"))

    def test_fails_with_bad_state_on_a_state_that_is_not_json(self):
        outcome = decide(ev.silence(), "not json")
        self.assertIsInstance(outcome, t.PluginError)
        self.assertEqual(outcome.code, "bad-state")

    def test_reads_a_state_written_with_spaces(self):
        self.expect(decide(ev.silence(), '{ "retries": 1 }'), [want.menu()], '{"retries":2}')


class CallerScripts(unittest.TestCase):
    """The simulator's caller scripts (ivr.md), state carried from event to event."""

    def setUp(self):
        LOG.clear()

    def script(self, events):
        outcomes = run(World, events)
        for o in outcomes:
            self.assertIsInstance(o, t.Decision, repr(o))
        return [o.actions for o in outcomes]

    def test_press_1(self):
        self.assertEqual(
            self.script([ev.incoming_call(), ev.call_connected(), ev.pressed(D.ONE),
                         ev.transfer_accepted(), ev.call_disconnected()]),
            [[want.answer()], [want.menu()], [want.transfer()], [], []])

    def test_press_2_then_3(self):
        self.assertEqual(
            self.script([ev.incoming_call(), ev.call_connected(), ev.pressed(D.TWO),
                         ev.pressed(D.THREE), ev.play_completed("goodbye"),
                         ev.call_disconnected()]),
            [[want.answer()], [want.menu()], [want.menu()], [want.goodbye()],
             [want.terminate()], []])

    def test_silent_two_retries_then_goodbye(self):
        outcomes = run(World, [
            ev.incoming_call(), ev.call_connected(), ev.silence(), ev.silence(), ev.silence(),
            ev.play_completed("goodbye"), ev.call_disconnected()])
        self.assertEqual(
            [o.actions for o in outcomes],
            [[want.answer()], [want.menu()], [want.menu()], [want.menu()], [want.goodbye()],
             [want.terminate()], []])
        self.assertEqual(
            [o.state for o in outcomes],
            [b'{"retries":0}', None, b'{"retries":1}', b'{"retries":2}', None, None, None])

    def test_agent_busy(self):
        self.assertEqual(
            self.script([ev.incoming_call(), ev.call_connected(), ev.pressed(D.ONE),
                         ev.transfer_failed(), ev.play_completed("sorry"),
                         ev.call_disconnected()]),
            [[want.answer()], [want.menu()], [want.transfer()], [want.sorry()],
             [want.terminate()], []])

    def test_caller_hangs_up(self):
        self.assertEqual(
            self.script([ev.incoming_call(), ev.call_connected(), ev.recognize_canceled(),
                         ev.call_disconnected()]),
            [[want.answer()], [want.menu()], [], []])
        self.assertEqual(LOG, [])


if __name__ == "__main__":
    unittest.main()
