"""The dashboard: the page at `/sim/ui`, its view at `/sim/v1/ui/view` and its live feed.

- `GET /sim/ui` (and `/sim/ui/`) is the page, `GET /sim/ui/assets/{name}` its script and style
  (`api/ui/`, shipped in the package; no build step, nothing from a CDN). They hold no data and
  need no token; only the `Host` check of the control plane applies.
- `GET /sim/v1/ui/view` is the whole view (`api.wire.dashboard.view`), behind the control
  plane's guard (`api.control_guard`) like every `/sim/v1` route.
- `WS /sim/v1/ui/feed` is the page's one WebSocket: the view on connect, then again after each
  batch of the exchange's events and whenever the clock, the faults or an advance's progress
  moved (at most `MAX_PUSHES_PER_S` a second), and `{"type": "reset"}` first when the exchange
  was reset or replaced. It is
  guarded like the control plane; a browser cannot put a header on a WebSocket, so the token
  may come as `?token=` instead of `Authorization: Bearer`. The page reads the token from its
  own URL (`/sim/ui?token=...`) and sends it both ways.

The feed (`DashboardFeed`) is one subscriber on the runtime's bus for every page (a
`simulator.core.bus.Feed`, started by the first page): it wakes the connections and notes
resets. The liquidation steps shown are read from the exchange's event journal (which keeps
the newest events, `GET /sim/v1/events`), scanned from where the last view left off, so the
steps before the first page was opened are shown too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from importlib import resources
from typing import Any

import msgspec
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from api import deps
from api.control_guard import check
from api.errors import ApiError
from api.responses import json_response
from api.wire.dashboard import RECENT, view
from simulator.core.bus import Feed, Item, Reset
from simulator.core.events import LiquidationStep
from simulator.server.runtime import Runtime

__all__ = ["MAX_PUSHES_PER_S", "DashboardFeed", "feed_router", "page_router", "view_router"]

MAX_PUSHES_PER_S = 5
_IDLE_CHECK_S = 0.5  # how often a quiet page checks the clock and the faults
_ASSETS = {"app.js": "text/javascript", "style.css": "text/css", "index.html": "text/html"}

page_router = APIRouter(include_in_schema=False)
view_router = APIRouter(include_in_schema=False)  # under /sim/v1, behind the guard
feed_router = APIRouter(include_in_schema=False)  # under /sim/v1, guarded by the endpoint


class DashboardFeed:
    """What the pages share: the liquidation steps seen and a wake-up for each connection."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.liquidations: deque[LiquidationStep] = deque(maxlen=RECENT)
        self.resets = 0
        self._scanned = (-1, 0)  # (runtime generation, last journal seq read)
        self._listeners: set[asyncio.Event] = set()
        self._feed = Feed(runtime.bus, self._deliver, None, "dashboard")

    def start(self) -> None:
        """Subscribe (on the running loop); a no-op when started."""
        self._feed.start()

    async def aclose(self) -> None:
        await self._feed.aclose()

    def pump(self) -> None:
        """Take what the bus delivered now, without waiting for the feed's task."""
        self._feed.pump()

    def listen(self) -> asyncio.Event:
        event = asyncio.Event()
        self._listeners.add(event)
        return event

    def forget(self, event: asyncio.Event) -> None:
        self._listeners.discard(event)

    def _deliver(self, items: list[Item]) -> None:
        self.resets += sum(1 for item in items if isinstance(item, Reset))
        for event in self._listeners:
            event.set()

    def document(self) -> dict[str, Any]:
        """The view, with the liquidation steps journaled since the last one."""
        runtime = self.runtime
        generation, after = self._scanned
        if generation != runtime.generation:
            self.liquidations.clear()
            after = 0
        journal = runtime.exchange.journal
        for _, event in runtime.exchange.events_since(after, None):
            if type(event) is LiquidationStep:
                self.liquidations.append(event)
        self._scanned = (runtime.generation, journal.last_seq)
        return view(runtime, self.liquidations)


class _NoSuchAsset(ApiError):
    status = 404
    code = "not_found"


def _asset(name: str) -> Response:
    media = _ASSETS.get(name)
    if media is None:
        raise _NoSuchAsset(f"no dashboard asset {name!r}")
    body = resources.files("api.ui").joinpath(name).read_bytes()
    return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})


def _host_only(request: Request) -> None:
    # the page and its assets hold no data: the Host check only (DNS rebinding), no token
    settings = request.app.state.runtime.settings
    check(request, token=None, allowed_hosts=settings.allowed_hosts)


@page_router.get("/sim/ui")
@page_router.get("/sim/ui/")
async def page(request: Request) -> Response:
    _host_only(request)
    return _asset("index.html")


@page_router.get("/sim/ui/assets/{name}")
async def asset(name: str, request: Request) -> Response:
    _host_only(request)
    return _asset(name)


@view_router.get("/ui/view")
async def dashboard_view(request: Request, runtime: deps.CurrentRuntime) -> Response:
    dashboard: DashboardFeed = request.app.state.dashboard
    dashboard.start()
    dashboard.pump()
    return json_response(dashboard.document())


@feed_router.websocket("/ui/feed")
async def dashboard_feed(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    settings = runtime.settings
    token = settings.control_token
    if token is not None and websocket.query_params.get("token") == token:
        token = None  # the browser's way: the token in the URL
    try:
        check(websocket, token=token, allowed_hosts=settings.allowed_hosts)
    except ApiError as exc:
        await websocket.close(1008, exc.code)
        return
    dashboard: DashboardFeed = websocket.app.state.dashboard
    dashboard.start()
    await websocket.accept()
    wake = dashboard.listen()
    reader = asyncio.get_running_loop().create_task(_read_until_closed(websocket))
    try:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # the page left
            await _push(websocket, dashboard, wake, reader)
    finally:
        dashboard.forget(wake)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


async def _read_until_closed(websocket: WebSocket) -> None:
    # the page sends nothing; reading notices the close (and drops anything sent)
    message = await websocket.receive()
    while message["type"] != "websocket.disconnect":
        message = await websocket.receive()


def _signature(runtime: Runtime) -> tuple[Any, ...]:
    # what changes without an event: the clock (an advance with nothing due), faults, a reset
    exchange = runtime.exchange
    faults = tuple((f.fault_id, f.applied) for f in runtime.faults.held())
    running = runtime.advancer.running
    progress = None if running is None else running.progress(runtime.advancer.wall())
    return (runtime.generation, exchange.now(), exchange.journal.last_seq, faults, progress)


async def _push(
    websocket: WebSocket, dashboard: DashboardFeed, wake: asyncio.Event, reader: asyncio.Task[None]
) -> None:
    encoder = msgspec.json.Encoder()
    resets = dashboard.resets
    runtime = dashboard.runtime
    sent: tuple[Any, ...] | None = None
    while not reader.done():
        dashboard.pump()
        wake.clear()
        signature = _signature(runtime)
        if signature != sent:
            if dashboard.resets != resets:
                resets = dashboard.resets
                await websocket.send_text('{"type":"reset"}')
            text = encoder.encode({"type": "view", "view": dashboard.document()}).decode()
            await websocket.send_text(text)
            sent = signature
        await asyncio.sleep(1 / MAX_PUSHES_PER_S)  # coalesce bursts; notice a quiet clock move
        if _signature(runtime) == sent:
            waiting = asyncio.ensure_future(wake.wait())
            await asyncio.wait({waiting, reader}, timeout=_IDLE_CHECK_S)
            waiting.cancel()
