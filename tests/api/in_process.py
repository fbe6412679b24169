"""An in-process server for tests: the ASGI app called directly, with no socket and no uvicorn.

One event loop per server runs in a blocking-portal thread (as starlette's `TestClient` does),
so the exchange is only ever driven from that loop (DESIGN 1) and background tasks keep running
between requests. Each request reaches the app with the scope a server would build: the path
decoded once and `raw_path` exactly as sent, which request signatures cover.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.types import ASGIApp

from api.app import create_app
from simulator.server.runtime import ClockMode, Runtime, ServerSettings
from simulator.server.scenarios import Scenario, load_scenario
from tests.api.served import Served

# Never dialled: only the path and headers reach the app. Loopback, because kalshi-sdk refuses
# plain http to any other host; port 9 (discard), so a request that escaped the transport
# would be refused rather than reach a server someone is running.
BASE = "http://127.0.0.1:9"


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport that answers each request by awaiting the app on `portal`."""

    def __init__(self, app: ASGIApp, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app, client=("127.0.0.1", 50_000))
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as bytes, readable from the portal's loop
        status, headers, content = self._portal.call(self._send, request)
        return httpx.Response(status, headers=headers, content=content)

    async def _send(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self._asgi.handle_async_request(request)
        return response.status_code, response.headers.raw, await response.aread()

    def close(self) -> None:
        pass  # clients come and go; the portal lives as long as the server


@contextmanager
def in_process_server(
    scenario: Scenario | None = None,
    *,
    clock_mode: ClockMode = "manual",
    settings: ServerSettings | None = None,
    seed: int | None = None,
) -> Iterator[Served]:
    """Serve a fresh runtime in process until the block exits."""
    runtime = Runtime(
        scenario or load_scenario("default"), clock_mode=clock_mode, settings=settings, seed=seed
    )
    app = create_app(runtime)
    with start_blocking_portal() as portal:
        served = Served(runtime, app, BASE, InProcessTransport(app, portal))
        try:
            yield served
        finally:
            served.close()
