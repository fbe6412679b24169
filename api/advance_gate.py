"""The one place REST and control-plane writes wait for a running advance.

`POST /sim/v1/clock/advance` runs in slices on the event loop (`simulator.server.advancer`), so
requests keep being served while it runs. This ASGI middleware wraps the whole app:

- reads (GET, HEAD, OPTIONS) and WebSocket connections pass straight through: they are served
  between slices and see the clock where the advance has got to;
- every other HTTP request changes state (REST order entry, `/sim/v1` users, deposits, prices,
  switches): while an advance runs it waits for its end, then runs at the final time, in the
  order the requests arrived. While one runs, it counts as a write in flight, and an advance
  that starts meanwhile begins its first slice only once no write is in flight, so a write
  never lands between slices;
- the exclusive operations (another advance, a reset, a state import) pass through so that
  their handlers refuse them with 409 `advance_in_progress` (`api.control`).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from simulator.server.advancer import Advancer

__all__ = ["AdvanceGate"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class AdvanceGate:
    """ASGI middleware: state-changing requests wait while an advance runs.

    Args:
        app: The app to wrap.
        advancer: The runtime's advancer (the gate).
        exclusive: `(method, path)` of the requests that are not held (their handlers refuse
            them during an advance).
    """

    def __init__(
        self, app: ASGIApp, advancer: Advancer, exclusive: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.app = app
        self.advancer = advancer
        self.exclusive = frozenset(exclusive)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        if (scope["method"], scope["path"]) in self.exclusive:
            await self.app(scope, receive, send)
            return
        advancer = self.advancer
        if advancer.running is not None:
            await advancer.wait_idle()
        advancer.enter_write()
        try:
            await self.app(scope, receive, send)
        finally:
            advancer.exit_write()
