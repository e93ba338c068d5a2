"""What a handler knows besides the event: the tenant, the call, the configuration."""

from __future__ import annotations

from typing import Optional, overload

from ._wit import types as t

__all__ = ["Context"]


class Context:
    """The contract's `context`, with accessors. The raw record is `.raw`; the call's
    state is not here but the handler's `state` argument."""

    __slots__ = ("raw", "_config")

    def __init__(self, raw: t.Context) -> None:
        self.raw = raw
        self._config: Optional[dict[str, str]] = None  # built when first asked for

    def _settings(self) -> dict[str, str]:
        if self._config is None:
            self._config = {entry.key: entry.value for entry in self.raw.config}
        return self._config

    @property
    def tenant_id(self) -> str:
        """The tenant this call belongs to."""
        return self.raw.tenant_id

    @property
    def call(self) -> t.CallSnapshot:
        """What the host knows of the call when the event arrives."""
        return self.raw.call

    @overload
    def config(self, key: str) -> Optional[str]: ...
    @overload
    def config(self, key: str, default: str) -> str: ...

    def config(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """A value of the tenant's configuration (e.g. `agent_phone`), or `default`."""
        return self._settings().get(key, default)

    @property
    def settings(self) -> dict[str, str]:
        """The tenant's whole configuration, as a dict (a copy)."""
        return dict(self._settings())

    def caller(self) -> t.CommunicationIdentifier:
        """The caller: who the call is from."""
        return self.raw.call.from_

    def callee(self) -> t.CommunicationIdentifier:
        """Whom the call is to."""
        return self.raw.call.to

    def __repr__(self) -> str:
        return f"Context(tenant_id={self.tenant_id!r}, call={self.call!r}, config={self._settings()!r})"
