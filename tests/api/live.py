"""A real server for tests: uvicorn on 127.0.0.1 port 0 in a background thread.

The server thread owns its event loop, so the exchange is only touched there (DESIGN 1); tests
talk to it over the socket. Read-only peeks at `server.runtime` from the test thread are fine
between requests. Most REST tests use `tests.api.in_process` instead; this one is for the tests
of the wire itself (signing over a socket, the README, kalshi-sdk end to end, schemathesis).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from api.app import create_app
from api.ws.endpoint import uvicorn_options
from simulator.server.runtime import ClockMode, Runtime, ServerSettings
from simulator.server.scenarios import Scenario, load_scenario
from tests.api.served import Served


class LiveServer(Served):
    """A `Served` on a real socket: requests go through httpx's default transport."""

    def __init__(self, runtime: Runtime, port: int, app: FastAPI) -> None:
        super().__init__(runtime, app, f"http://127.0.0.1:{port}", None)
        self.port = port


@contextmanager
def live_server(
    scenario: Scenario | None = None,
    *,
    clock_mode: ClockMode = "manual",
    settings: ServerSettings | None = None,
    seed: int | None = None,
) -> Iterator[LiveServer]:
    """Serve a fresh runtime until the block exits."""
    runtime = Runtime(
        scenario or load_scenario("default"), clock_mode=clock_mode, settings=settings, seed=seed
    )
    app = create_app(runtime)
    with uvicorn_serving(app, **uvicorn_options(runtime.settings.ws)) as port:
        live = LiveServer(runtime, port, app)
        try:
            yield live
        finally:
            live.close()


@contextmanager
def uvicorn_serving(app: ASGIApp, **options: Any) -> Iterator[int]:
    """Serve any ASGI app with uvicorn on a free 127.0.0.1 port (yielded) until the block exits.

    `options` go to `uvicorn.Config` (the WebSocket limits and pings, say).
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        access_log=False,
        **options,
    )
    server = uvicorn.Server(config)
    # The socket listens before the thread starts, so clients can connect at once (the
    # kernel queues them until uvicorn accepts): no waiting for start-up.
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
    # and without it every response written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(server.serve(sockets=[sock]),), daemon=True
    )
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()
        sock.close()
