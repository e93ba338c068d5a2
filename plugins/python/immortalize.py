#!/usr/bin/env python3
"""Makes the objects a Python policy's snapshot holds immortal, in the built component.

    immortalize.py COMPONENT.wasm           patch it in place, say what was done
    immortalize.py --check COMPONENT.wasm   change nothing; fail unless every listed
                                            object is immortal

componentize-py keeps the interpreter's memory as it is after the app's import: data
segments of the component's main module, which every instance maps copy-on-write.
CPython writes an object's reference count each time code takes or drops a reference
to it, so an event that only reads a module's functions, constants and names still
makes the instance copy every page they sit on. CPython leaves the count of an
*immortal* object alone (PEP 683). ``switchboard_policy.warm.settle`` (run by
``build.sh`` before the snapshot) leaves a record of every object the snapshot holds
and keeps them alive; this finds the record in the data segments and gives each listed
object the immortal count, in place: the same number of bytes, so nothing else in the
component moves.

Only what can be checked is changed: the record must pass its checksum, CPython's
version must be one whose immortal count is known here, and every listed address must
hold a live object's count (non-zero, inside the data). Anything else stops with the
reason, and the component is left as it was.

Standard library only: it runs with any Python 3.
"""

from __future__ import annotations

import argparse
import binascii
import bisect
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

#: Must match ``switchboard_policy.warm.RECORD_MAGIC`` (a test checks that it does).
RECORD_MAGIC = b"switchboard-snapshot-objects\x00v1\x00"
HEADER = struct.Struct("<4I")  # hexversion, address width, count, CRC-32 of the addresses

#: CPython's immortal reference counts for 32-bit builds, by (major, minor): the value
#: an immortal object gets, and the least a count can be and still be immortal
#: (Include/refcount.h: `_Py_IMMORTAL_INITIAL_REFCNT`, `_Py_IMMORTAL_MINIMUM_REFCNT`).
IMMORTAL = {
    (3, 14): (5 << 28, 1 << 30),
}


class Refused(Exception):
    """The component cannot be patched; the message says why."""


@dataclass(frozen=True)
class Segment:
    """An active data segment: where it goes in linear memory, and where its bytes are
    in the file."""

    address: int
    offset: int
    length: int


def _leb(buf: bytes, pos: int, signed: bool = False) -> tuple[int, int]:
    """The LEB128 number at `pos`, and the position after it."""
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if signed and byte & 0x40:
                result -= 1 << shift
            return result, pos


def _sections(buf: bytes, start: int, end: int):
    """(id, start, end) of each section of the module or component at buf[start:end]."""
    if buf[start:start + 4] != b"\0asm":
        raise Refused(f"no WebAssembly header at byte {start}")
    pos = start + 8
    while pos < end:
        section = buf[pos]
        size, pos = _leb(buf, pos + 1)
        yield section, pos, pos + size
        pos += size


def core_modules(buf: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The byte ranges of the core modules in a component (nested ones too), or of the
    module itself when `buf` is a core module."""
    end = len(buf) if end is None else end
    if buf[start + 4:start + 8] == b"\x01\x00\x00\x00":  # a core module's version
        return [(start, end)]
    found = []
    for section, body, body_end in _sections(buf, start, end):
        if section == 1:  # core module
            found.append((body, body_end))
        elif section == 4:  # component
            found.extend(core_modules(buf, body, body_end))
    return found


def data_segments(buf: bytes, start: int, end: int) -> list[Segment]:
    """The module's active data segments into memory 0 at constant addresses, by
    address."""
    segments = []
    for section, body, _ in _sections(buf, start, end):
        if section != 11:
            continue
        count, pos = _leb(buf, body)
        for _ in range(count):
            flags, pos = _leb(buf, pos)
            memory = 0
            if flags == 2:
                memory, pos = _leb(buf, pos)
            address = None
            if flags in (0, 2):
                opcode = buf[pos]
                if opcode == 0x41:  # i32.const: the place is known
                    address, pos = _leb(buf, pos + 1, signed=True)
                elif opcode == 0x23:  # global.get: it is not (an imported base)
                    _, pos = _leb(buf, pos + 1)
                else:
                    raise Refused(f"a data segment's offset starts with opcode {opcode:#x}, "
                                  "not read here")
                if buf[pos] != 0x0B:
                    raise Refused("a data segment's offset is not a single instruction")
                pos += 1
            elif flags != 1:  # 1: passive, no offset
                raise Refused(f"a data segment with flags {flags}")
            length, pos = _leb(buf, pos)
            if address is not None and memory == 0:
                segments.append(Segment(address & 0xFFFFFFFF, pos, length))
            pos += length
    segments.sort(key=lambda s: s.address)
    for before, after in zip(segments, segments[1:]):
        if before.address + before.length > after.address:
            raise Refused(f"data segments overlap at address {after.address:#x}")
    return segments


class Memory:
    """A module's data segments, read and written by linear-memory address."""

    def __init__(self, buf: bytearray, segments: list[Segment]):
        self.buf = buf
        self.segments = segments
        self._starts = [s.address for s in segments]

    def _offset(self, address: int, size: int) -> int | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i < 0:
            return None
        s = self.segments[i]
        if address + size > s.address + s.length:
            return None
        return s.offset + address - s.address

    def u32(self, address: int) -> int | None:
        offset = self._offset(address, 4)
        return None if offset is None else struct.unpack_from("<I", self.buf, offset)[0]

    def set_u32(self, address: int, value: int) -> None:
        offset = self._offset(address, 4)
        assert offset is not None, "checked by the caller"
        struct.pack_into("<I", self.buf, offset, value)

    def find_all(self, needle: bytes):
        """Addresses where `needle` lies whole inside one segment."""
        for s in self.segments:
            data = self.buf[s.offset:s.offset + s.length]
            at = data.find(needle)
            while at >= 0:
                yield s.address + at
                at = data.find(needle, at + 1)

    def read(self, address: int, size: int) -> bytes | None:
        offset = self._offset(address, size)
        return None if offset is None else bytes(self.buf[offset:offset + size])


@dataclass(frozen=True)
class Record:
    version: tuple[int, int]
    addresses: tuple[int, ...]


def find_record(memory: Memory) -> Record | None:
    """The record ``settle`` left in this memory, if any; refused if it is damaged or
    not unique."""
    found = []
    for at in memory.find_all(RECORD_MAGIC):
        header = memory.read(at + len(RECORD_MAGIC), HEADER.size)
        if header is None:
            continue
        hexversion, width, count, crc = HEADER.unpack(header)
        if width != 4:
            continue  # not a record of a 32-bit build: another copy of the magic
        addresses = memory.read(at + len(RECORD_MAGIC) + HEADER.size, 4 * count)
        if addresses is None or binascii.crc32(addresses) != crc:
            continue
        found.append(Record(((hexversion >> 24) & 0xFF, (hexversion >> 16) & 0xFF),
                            struct.unpack(f"<{count}I", addresses)))
    if len(found) > 1:
        raise Refused(f"{len(found)} records of the snapshot's objects; expected one")
    return found[0] if found else None


@dataclass(frozen=True)
class Outcome:
    listed: int
    made_immortal: int
    already: int


def immortalize(buf: bytearray, check_only: bool = False) -> Outcome:
    """Gives every object the component's record lists CPython's immortal count, in
    `buf` (unless `check_only`). Nothing is written unless every address checks out."""
    located = []
    for start, end in core_modules(buf):
        memory = Memory(buf, data_segments(buf, start, end))
        record = find_record(memory)
        if record is not None:
            located.append((memory, record))
    if not located:
        raise Refused(
            "no record of the snapshot's objects: was the component built by "
            "plugins/python/build.sh, with switchboard_policy.warm.prepare run at import?")
    if len(located) > 1:
        raise Refused("records of the snapshot's objects in more than one module")
    memory, record = located[0]
    if record.version not in IMMORTAL:
        known = ", ".join(f"{a}.{b}" for a, b in IMMORTAL)
        raise Refused(f"CPython {record.version[0]}.{record.version[1]}: its immortal "
                      f"reference count is not known here (known: {known})")
    value, minimum = IMMORTAL[record.version]
    mortal = []
    for address in record.addresses:
        count = memory.u32(address)
        if count is None or count == 0:
            raise Refused(f"listed address {address:#x} holds no live object in the "
                          "snapshot's data")
        if count < minimum:
            mortal.append(address)
    if not check_only:
        for address in mortal:
            memory.set_u32(address, value)
    listed = len(record.addresses)
    return Outcome(listed, 0 if check_only else len(mortal), listed - len(mortal))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("component", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="change nothing; fail unless every listed object is immortal")
    args = parser.parse_args(argv)
    try:
        buf = bytearray(args.component.read_bytes())
        outcome = immortalize(buf, check_only=args.check)
    except (OSError, Refused) as e:
        print(f"immortalize: {args.component}: {e}", file=sys.stderr)
        return 1
    if args.check:
        mortal = outcome.listed - outcome.already
        print(f"immortalize: {args.component}: {outcome.already} of {outcome.listed} "
              f"listed objects immortal")
        return 1 if mortal else 0
    tmp = args.component.with_name(args.component.name + ".immortal")
    tmp.write_bytes(buf)
    tmp.replace(args.component)
    print(f"immortalize: {args.component}: {outcome.made_immortal} objects made immortal "
          f"({outcome.already} of the {outcome.listed} listed already were)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
