"""immortalize.py: the record settle() leaves, found in a component's data segments, and
the listed objects' reference counts made immortal; what it refuses to touch."""

import binascii
import importlib.util
import io
import struct
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from support import PY, ROOT

from switchboard_policy import warm

_spec = importlib.util.spec_from_file_location("immortalize", PY / "immortalize.py")
immortalize = importlib.util.module_from_spec(_spec)
sys.modules["immortalize"] = immortalize  # dataclasses look their module up
_spec.loader.exec_module(immortalize)

PY_3_14 = 0x030E00F0
IMMORTAL = 5 << 28


def uleb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def section(kind, body):
    return bytes([kind]) + uleb(len(body)) + body


def module(segments):
    """A core module of active data segments: (address, bytes), or (None, bytes) for one
    placed by an imported global."""
    body = bytearray(uleb(len(segments)))
    for address, data in segments:
        offset = b"\x23\x00" if address is None else b"\x41" + sleb(address)
        body += b"\x00" + offset + b"\x0b" + uleb(len(data)) + data
    custom = section(0, uleb(4) + b"name")  # a section the reader skips
    return b"\0asm\x01\0\0\0" + custom + section(11, bytes(body))


def component(*modules):
    """A component holding the core modules, the last one in a nested component."""
    *outer, last = modules
    inner = b"\0asm\x0d\0\x01\0" + section(1, last)
    return b"\0asm\x0d\0\x01\0" + b"".join(section(1, m) for m in outer) + section(4, inner)


def record(addresses, version=PY_3_14, width=4):
    packed = struct.pack(f"<{len(addresses)}I", *addresses)
    return (warm.RECORD_MAGIC
            + struct.pack("<4I", version, width, len(addresses), binascii.crc32(packed))
            + packed)


def obj(refcount, type_address=0x1000):
    """An object's header as CPython lays it out on wasm32, and a field."""
    return struct.pack("<III", refcount, type_address, 42)


def counts(buf, addresses):
    memory = None
    for start, end in immortalize.core_modules(buf):
        segments = immortalize.data_segments(buf, start, end)
        if segments:
            memory = immortalize.Memory(buf, segments)
    return [memory.u32(a) for a in addresses]


class Immortalize(unittest.TestCase):
    def snapshot(self, **kw):
        """Objects at 0x100 (count 3), 0x10c (count 1, in another segment), 0x200
        (already immortal); the record at 0x400."""
        objects = [0x100, 0x200, 0x30C]
        return bytearray(component(
            module([]),
            module([(0x100, obj(3)), (0x200, obj(IMMORTAL + 7)), (0x300, b"\x07" * 12 + obj(1)),
                    (0x400, record(objects, **kw)), (None, b"placed elsewhere")]))), objects

    def test_listed_objects_become_immortal_and_nothing_else_changes(self):
        buf, objects = self.snapshot()
        before = bytes(buf)
        outcome = immortalize.immortalize(buf)
        self.assertEqual(outcome, immortalize.Outcome(listed=3, made_immortal=2, already=1))
        self.assertEqual(counts(buf, objects), [IMMORTAL, IMMORTAL + 7, IMMORTAL])
        changed = [i for i, (a, b) in enumerate(zip(before, buf)) if a != b]
        self.assertEqual(len(buf), len(before))
        self.assertLessEqual(len(changed), 8)  # two counts of four bytes
        # Again: nothing left to do.
        self.assertEqual(immortalize.immortalize(buf),
                         immortalize.Outcome(listed=3, made_immortal=0, already=3))

    def test_check_changes_nothing(self):
        buf, objects = self.snapshot()
        before = bytes(buf)
        self.assertEqual(immortalize.immortalize(buf, check_only=True),
                         immortalize.Outcome(listed=3, made_immortal=0, already=1))
        self.assertEqual(bytes(buf), before)

    def test_a_core_module_alone(self):
        buf = bytearray(module([(0x10, obj(2)), (0x40, record([0x10]))]))
        immortalize.immortalize(buf)
        self.assertEqual(counts(buf, [0x10]), [IMMORTAL])

    def test_refusals_name_what_did_not_hold(self):
        def refused(buf, pattern):
            before = bytes(buf)
            with self.assertRaisesRegex(immortalize.Refused, pattern):
                immortalize.immortalize(buf)
            self.assertEqual(bytes(buf), before, "a refused component is left as it was")

        refused(bytearray(component(module([(0, b"no record here")]))),
                "no record of the snapshot's objects")
        damaged = bytearray(module([(0x10, obj(2)), (0x40, record([0x10]))]))
        damaged[-1] ^= 1  # an address no longer matches the checksum
        refused(damaged, "no record of the snapshot's objects")
        refused(bytearray(module([(0x40, record([0x10], version=0x030D00F0))])),
                r"CPython 3\.13: its immortal reference count is not known here \(known: 3\.14\)")
        # A listed object outside the data, or one whose count is zero (freed).
        refused(bytearray(module([(0x10, obj(2)), (0x40, record([0x10, 0x9000]))])),
                "listed address 0x9000 holds no live object")
        refused(bytearray(module([(0x10, obj(0)), (0x40, record([0x10]))])),
                "listed address 0x10 holds no live object")
        # A header split between two segments cannot be written in place.
        refused(bytearray(module([(0x10, b"\x02\x00"), (0x14, b"\x00\x10"),
                                  (0x40, record([0x10]))])),
                "listed address 0x10 holds no live object")
        refused(bytearray(component(module([(0x40, record([0x10]))]),
                                    module([(0x40, record([0x10]))]))),
                "more than one module")
        refused(bytearray(module([(0x40, record([0x10])), (0x80, record([0x10]))])),
                "2 records")
        refused(bytearray(module([(0x10, b"x" * 8), (0x14, b"y")])), "overlap at address 0x14")
        refused(bytearray(b"\0asm\x01\0\0\0" + section(11, b"\x01\x00\x42\x00\x0b\x00")),
                "opcode 0x42")
        refused(bytearray(b"not wasm at all"), "no WebAssembly header")

    def test_a_record_of_64_bit_addresses_is_not_this_ones(self):
        buf = bytearray(module([(0x40, record([0x10], width=8))]))
        with self.assertRaisesRegex(immortalize.Refused, "no record"):
            immortalize.immortalize(buf)

    def test_the_magic_is_the_sdks(self):
        self.assertEqual(immortalize.RECORD_MAGIC, warm.RECORD_MAGIC)

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "policy.wasm"
            buf, objects = self.snapshot()
            path.write_bytes(buf)
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                self.assertEqual(immortalize.main(["--check", str(path)]), 1)
                self.assertEqual(immortalize.main([str(path)]), 0)
                self.assertEqual(immortalize.main(["--check", str(path)]), 0)
            self.assertIn("1 of 3 listed objects immortal", out.getvalue())
            self.assertIn("2 objects made immortal (1 of the 3 listed already were)",
                          out.getvalue())
            self.assertIn("3 of 3 listed objects immortal", out.getvalue())
            self.assertEqual(counts(bytearray(path.read_bytes()), objects),
                             [IMMORTAL, IMMORTAL + 7, IMMORTAL])
            self.assertEqual([p.name for p in Path(tmp).iterdir()], ["policy.wasm"])
            with redirect_stderr(err):
                self.assertEqual(immortalize.main([str(Path(tmp) / "missing.wasm")]), 1)
            self.assertIn("missing.wasm", err.getvalue())

    def test_the_reference_ivr_as_built(self):
        built = ROOT / "target" / "wasm32-wasip2" / "guest" / "ivr_py.wasm"
        if not built.exists():
            self.skipTest(f"{built} is not built (make guests builds it)")
        result = subprocess.run([sys.executable, str(PY / "immortalize.py"), "--check", str(built)],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        listed = int(result.stdout.split(" of ")[1].split()[0])
        self.assertGreater(listed, 10_000, result.stdout)


class Listing(unittest.TestCase):
    def test_settle_lists_and_holds_what_the_snapshot_holds(self):
        import gc
        import types as pytypes

        app = pytypes.ModuleType("listed_app")
        app.name = "".join(["made ", "at run time"])  # not a constant of any code object
        app.table = {"key": (1.5, app.name)}
        gc.unfreeze()
        self.addCleanup(gc.unfreeze)
        gc.collect()  # which untracks a tuple of atoms: its float is then two steps away
        self.assertFalse(gc.is_tracked(app.table["key"]))
        sys.modules["listed_app"] = app
        self.addCleanup(sys.modules.pop, "listed_app", None)
        warm.settle()
        data, objects = warm._HELD
        magic = warm.RECORD_MAGIC
        self.assertTrue(data.startswith(magic))
        version, width, count, crc = struct.unpack_from("<4I", data, len(magic))
        self.assertEqual(version, sys.hexversion)
        self.assertEqual(width, struct.calcsize("P"))
        addresses = data[len(magic) + 16:]
        self.assertEqual(binascii.crc32(addresses), crc)
        self.assertEqual(len(addresses), count * width)
        listed = set(struct.unpack(f"<{count}{'I' if width == 4 else 'Q'}", addresses))
        self.assertEqual(listed, {id(o) for o in objects})
        # Tracked containers, and what only they refer to (untracked: a string, a float,
        # a tuple of them), transitively.
        for o in (app, app.__dict__, app.table, app.table["key"], app.name,
                  app.table["key"][0]):
            self.assertIn(id(o), listed, repr(o))
        if hasattr(sys, "_is_immortal"):  # CPython 3.14: what is immortal already is not
            self.assertNotIn(id(None), listed)


if __name__ == "__main__":
    unittest.main()
