"""The policy in CPython, called as the host calls it (`make test`)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, "{{plugins}}/python/tests")
from support import context, ev, invoke, load_app, t  # noqa: E402

World = load_app(Path(__file__).with_name("app.py"), "app").WitWorld


class Greeter(unittest.TestCase):
    def test_greets_then_hangs_up_when_the_greeting_has_played(self):
        played = invoke(World, ev.call_connected(), context())
        self.assertIsInstance(played, t.Decision)
        self.assertEqual(played.actions[0].operation_context, "greeting")
        done = invoke(World, ev.play_completed("greeting"), context(state=played.state))
        self.assertIsInstance(done.actions[0].action, t.Action_HangUp)


if __name__ == "__main__":
    unittest.main()
