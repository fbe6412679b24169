"""A real server for tests: uvicorn on 127.0.0.1 port 0 in a background thread.

The server thread owns its event loop, so the exchange is only touched there (DESIGN 1); tests
talk to it over the socket. Read-only peeks at `server.runtime` from the test thread are fine
between requests. Most REST tests use `tests.api.in_process` instead; this one is for the tests
of the wire itself (signing over a socket, the README, kalshi-sdk end to end, schemathesis).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from api.app import create_app, server_options
from simulator.server.listeners import listen_tcp
from simulator.server.runtime import ClockMode, Runtime, ServerSettings
from simulator.server.scenarios import Scenario, load_scenario
from tests.api.served import Served

T = TypeVar("T")


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
    with uvicorn_serving(app, **server_options(runtime.settings)) as port:
        live = LiveServer(runtime, port, app)
        try:
            yield live
        finally:
            live.close()


@dataclass(frozen=True)
class Serving(Generic[T]):
    """A uvicorn server running in its own thread: its port, its loop, and its companion."""

    port: int
    loop: asyncio.AbstractEventLoop
    companion: T


@contextmanager
def serving(
    app: ASGIApp,
    companion: Callable[[], AbstractAsyncContextManager[T]] | None = None,
    **options: Any,
) -> Iterator[Serving[T | None]]:
    """Serve any ASGI app with uvicorn on a free 127.0.0.1 port until the block exits.

    `companion` is entered on the server's loop before uvicorn serves and left after (another
    listener sharing the loop, such as the FIX acceptor); what it yields is `companion`.
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
    # kernel queues them until uvicorn accepts): no waiting for start-up; `listen_tcp` gives
    # accepted connections TCP_NODELAY, as the real server has.
    sock = listen_tcp("127.0.0.1", 0)
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[T | None] = concurrent.futures.Future()

    async def serve() -> None:
        async with contextlib.AsyncExitStack() as stack:
            try:
                value = None if companion is None else await stack.enter_async_context(companion())
            except BaseException as exc:
                started.set_exception(exc)
                raise
            started.set_result(value)
            await server.serve(sockets=[sock])

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield Serving(sock.getsockname()[1], loop, started.result(30))
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()
        sock.close()


@contextmanager
def uvicorn_serving(app: ASGIApp, **options: Any) -> Iterator[int]:
    """`serving` without a companion: yields the port."""
    with serving(app, **options) as served:
        yield served.port
