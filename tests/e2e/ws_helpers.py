"""Helpers for driving kalshi-sdk's `PerpsWebSocket` against a live server (test_sdk_ws.py).

- `perps_ws` opens a `PerpsWebSocket` session on a `LiveServer` and records every raw frame the
  SDK reads (`FrameLog`), so a failing assertion can show what was on the wire.
- `next_item`, `until` and `drain` read the SDK's subscription iterators with a timeout: tests
  wait for frames, never for the wall clock.
- `sdk_book` and `rest_book` put the SDK's local book and REST's book in one comparable shape.

The SDK discards every frame it reads while it waits for a command's reply (WEBSOCKET.md §12.3),
so a test must have received every frame it expects before it sends the next command; the
helpers here only make that convenient.

A few SDK internals are reached on purpose, each in one place here: the SDK's local books
(`PerpsWebSocket._orderbook_mgr`, which has no public getter), the client id of a subscription
(`subscribe_*` return only the iterator, while `unsubscribe` and `update_subscription` take the
client id), and the connection's `recv` (wrapped to record frames).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import rsa
from kalshi.auth import KalshiAuth
from kalshi.perps import AsyncPerpsClient
from kalshi.perps.config import PerpsConfig
from kalshi.perps.models.markets import MarginOrderbook
from kalshi.perps.ws import ConnectionState, PerpsWebSocket
from kalshi.perps.ws.models.control import PerpsErrorResponse
from kalshi.ws.backpressure import MessageQueue
from websockets.exceptions import ConnectionClosed

from tests.api.live import LiveServer

WS_PATH = "/trade-api/ws/v2/margin"
TIMEOUT = 10.0
"""Seconds to wait for one expected frame: generous, only reached when something is wrong."""

T = TypeVar("T")
Levels = tuple[tuple[Decimal, Decimal], ...]


def ws_url(server: LiveServer) -> str:
    return f"ws://127.0.0.1:{server.port}{WS_PATH}"


def perps_config(server: LiveServer) -> PerpsConfig:
    """The SDK pointed at `server`; loopback `ws://`/`http://` needs no `allow_unknown_host`.

    `retry_base_delay` is made small so a reconnect happens within milliseconds instead of up to
    half a second (the SDK sleeps `uniform(0, base * 2**attempt)` before each attempt).
    """
    return PerpsConfig(base_url=server.rest_url, ws_base_url=ws_url(server), retry_base_delay=0.01)


def sdk_auth(key_id: str, key: rsa.RSAPrivateKey) -> KalshiAuth:
    return KalshiAuth(key_id, key)


def rest_client(server: LiveServer, key_id: str, pem: str) -> AsyncPerpsClient:
    return AsyncPerpsClient(key_id=key_id, private_key=pem, base_url=server.rest_url)


@dataclass
class FrameLog:
    """Every raw frame the SDK read (command replies included), and how connections closed."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    states: list[ConnectionState] = field(default_factory=list)
    errors: list[PerpsErrorResponse] = field(default_factory=list)
    streaming: asyncio.Event = field(default_factory=asyncio.Event)

    def of_sid(self, sid: int, since: int = 0) -> list[dict[str, Any]]:
        """Data frames of `sid` logged at index `since` or later (control frames left out)."""
        return [
            f
            for f in self.frames[since:]
            if f.get("sid") == sid and f["type"] not in ("ok", "unsubscribed", "error")
        ]

    def show(self, last: int = 40) -> str:
        """The last frames, one a line, for assertion messages."""
        return "\n".join(json.dumps(f) for f in self.frames[-last:])

    async def on_state(self, old: ConnectionState, new: ConnectionState) -> None:
        self.states.append(new)
        if new is ConnectionState.STREAMING:
            self.streaming.set()

    async def on_error(self, error: PerpsErrorResponse) -> None:
        self.errors.append(error)


def _record(ws: PerpsWebSocket, log: FrameLog) -> None:
    connection = ws._connection
    assert connection is not None
    recv = connection.recv

    async def recording_recv() -> str:
        try:
            raw = await recv()
        except ConnectionClosed as closed:
            log.close_codes.append(closed.rcvd.code if closed.rcvd is not None else None)
            raise
        log.frames.append(json.loads(raw))
        return raw

    # the subscription manager reads through the same connection manager, and a reconnect
    # replaces only the socket inside it, so this sees every frame of the session
    connection.recv = recording_recv  # type: ignore[method-assign]


@asynccontextmanager
async def perps_ws(
    server: LiveServer, key_id: str, key: rsa.RSAPrivateKey
) -> AsyncIterator[tuple[PerpsWebSocket, FrameLog]]:
    """A connected `PerpsWebSocket` session and the log of what it reads."""
    log = FrameLog()
    ws = PerpsWebSocket(
        auth=sdk_auth(key_id, key),
        config=perps_config(server),
        on_state_change=log.on_state,
        on_error=log.on_error,
    )
    async with ws.connect() as session:
        _record(session, log)
        yield session, log


async def next_item(stream: AsyncIterator[T], log: FrameLog, what: str = "frame") -> T:
    """The next item of an SDK iterator (raises what the SDK put there, e.g. a gap error)."""
    try:
        return await asyncio.wait_for(anext(stream), TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"no {what} within {TIMEOUT} s; frames read:\n{log.show()}") from None


async def until(
    stream: AsyncIterator[T], log: FrameLog, done: Callable[[T], bool], what: str
) -> list[T]:
    """Items of `stream` up to and including the first for which `done` is true."""
    seen: list[T] = []
    while True:
        item = await next_item(stream, log, what)
        seen.append(item)
        if done(item):
            return seen


async def settle(
    stream: AsyncIterator[T], log: FrameLog, done: Callable[[], bool], what: str
) -> list[T]:
    """Items of `stream` until `done()` holds (checked before each read, so maybe none)."""
    seen: list[T] = []
    while not done():
        seen.append(await next_item(stream, log, what))
    return seen


async def drain(stream: AsyncIterator[T]) -> list[T]:
    """Everything already queued on an SDK iterator, without waiting for more."""
    assert isinstance(stream, MessageQueue)
    return [await stream.get() for _ in range(stream.qsize())]


def client_id(ws: PerpsWebSocket, stream: AsyncIterator[Any]) -> int:
    """The SDK's durable client id of the subscription behind `stream`."""
    assert ws._sub_mgr is not None
    for cid, sub in ws._sub_mgr.active_subscriptions.items():
        if sub.queue is stream:
            return cid
    raise AssertionError("no active subscription has this iterator")


def server_sid(ws: PerpsWebSocket, stream: AsyncIterator[Any]) -> int | None:
    assert ws._sub_mgr is not None
    sub = ws._sub_mgr.get_subscription(client_id(ws, stream))
    assert sub is not None
    return sub.server_sid


def _levels(book: MarginOrderbook) -> tuple[Levels, Levels]:
    bids = tuple((lv.price, lv.quantity) for lv in book.bids)
    asks = tuple((lv.price, lv.quantity) for lv in book.asks)
    return bids, asks


def sdk_book(ws: PerpsWebSocket, ticker: str) -> tuple[Levels, Levels] | None:
    """The SDK's local book of `ticker` (bids best first, asks best first), None if it has none."""
    manager = ws._orderbook_mgr
    assert manager is not None
    book = manager.get(ticker)
    return None if book is None else _levels(book)


async def rest_book(rest: AsyncPerpsClient, ticker: str) -> tuple[Levels, Levels]:
    """`GET /trade-api/v2/margin/markets/{ticker}/orderbook` (every level) in `sdk_book`'s shape."""
    return _levels(await rest.markets.orderbook(ticker))
