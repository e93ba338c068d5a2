"""The host's log for this invocation (bounded by the host; the excess is dropped).

    log.info("caller pressed %s", pressed)     # %-style arguments, as in `logging`
    log.warn(f"no agent for {ctx.tenant_id}")
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ._wit import host_log

Level = host_log.Level

__all__ = ["Level", "write", "trace", "debug", "info", "warn", "warning", "error"]

# Set while the policy warms up at build time (`warm.py`), when there is no host to log to.
_muted = False


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """Drops what is logged inside the block."""
    global _muted
    before, _muted = _muted, True
    try:
        yield
    finally:
        _muted = before


def write(level: host_log.Level, message: Any, *args: Any) -> None:
    """Records `message` (formatted with `args`, if any) at `level`."""
    if _muted:
        return
    text = str(message) % args if args else str(message)
    # Looked up at each call, so tests can stand in for the host's import.
    host_log.log(level, text)


def trace(message: Any, *args: Any) -> None:
    write(Level.TRACE, message, *args)


def debug(message: Any, *args: Any) -> None:
    write(Level.DEBUG, message, *args)


def info(message: Any, *args: Any) -> None:
    write(Level.INFO, message, *args)


def warn(message: Any, *args: Any) -> None:
    write(Level.WARN, message, *args)


warning = warn


def error(message: Any, *args: Any) -> None:
    write(Level.ERROR, message, *args)
