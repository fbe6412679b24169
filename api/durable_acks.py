"""REST acknowledgements after the journal's fsync (`--durability fsync`).

With `fsync` durability (`simulator.server.journal`), `create_app` wraps the app in
`DurableAcks`: a response does not start until every command journaled so far is fsynced
(`Runtime.durable`, group commit: concurrent requests share one fsync). A request that
journaled nothing and found nothing pending goes straight through. With `flush` durability (the
default) the wrapper is not installed at all.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.server.runtime import Runtime

__all__ = ["DurableAcks"]


class DurableAcks:
    """Pure ASGI middleware: holds `http.response.start` until `runtime.durable()`."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        runtime = self.runtime

        async def send_when_durable(message: Message) -> None:
            if message["type"] == "http.response.start" and runtime.journal_pending:
                await runtime.durable()
            await send(message)

        await self.app(scope, receive, send_when_durable)
