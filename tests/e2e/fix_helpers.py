"""A live server with the FIX acceptor, and kalshi-sdk FIX sessions driven against it.

- `fix_live_server` serves one `Runtime` with BOTH the REST/WebSocket app (uvicorn) and the FIX
  acceptor (`fix_acceptor.server.FixServer`), on one event loop in a background thread, as
  `perps-sim serve` does: the exchange is only ever touched on that loop. The acceptor listens
  on one port, which takes every session type (routed by TargetCompID 56), as the SDK's `port`
  override applies to every session.
- `FixLiveServer.until` waits, without polling, for a condition on the server's side (checked
  on the server's loop each time a FIX session is claimed or released), e.g. that the acceptor
  has seen a dropped connection before the test goes on.
- `Tap` is a TCP proxy between a client and the acceptor: it records every frame in both
  directions (parsed with the SDK's codec, not the acceptor's), can hold back what the server
  sends (the frames are recorded, never delivered: "lost on the wire") and can cut every
  connection at once (a network drop: no Logout).
- `sdk_session` opens a kalshi-sdk 22.4.0 `MarginFixClient` session (NR, RT, DC or MD) through
  a `Tap`; `FixLink.next` / `expect` read its application messages with a timeout, and every
  message read is decoded with `kalshi.fix.messages.dispatch.decode_app_message_strict`: a
  frame the SDK cannot decode fails the test as a server bug.

Tests wait for frames, never for the wall clock; `TIMEOUT` is only reached when something is
wrong, and the failure then shows the frames the tap saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from kalshi.fix.auth import FixSigner
from kalshi.fix.codec import FixParser, RawMessage
from kalshi.fix.config import FixConfig, FixEnvironment
from kalshi.fix.errors import FixDecodeError
from kalshi.fix.messages.base import FixMessage
from kalshi.fix.messages.dispatch import decode_app_message_strict
from kalshi.fix.messages.drop_copy import EventResendComplete, EventResendRequest
from kalshi.fix.messages.order_entry import ExecutionReport
from kalshi.fix.session import FixSession, FixSessionState
from kalshi.perps.fix import MarginFixClient

from api.app import create_app, server_options
from fix_acceptor.server import FixServer
from fix_acceptor.settings import FixSettings
from simulator.server.runtime import ClockMode, Runtime, ServerSettings
from simulator.server.scenarios import Scenario, load_scenario
from tests.api.live import LiveServer, serving
from tests.api.served import NewUser

TIMEOUT = 10.0
"""Seconds to wait for one expected frame or server-side condition (only reached on failure)."""

SESSION_TYPES = {"NR": "KalshiNR", "RT": "KalshiRT", "DC": "KalshiDC", "MD": "KalshiMD"}

T = TypeVar("T")


# ------------------------------------------------------------------ the server


class _Watched:
    """The acceptor's authenticator, wrapped so that claims and releases wake `until`."""

    def __init__(self, inner: Any, changed: Callable[[], None]) -> None:
        self._inner = inner
        self._changed = changed

    def verify_logon(self, key_id: str, payload: bytes, signature: bytes) -> str | None:
        result: str | None = self._inner.verify_logon(key_id, payload, signature)
        return result

    def claim(self, key_id: str, session_type: str) -> bool:
        claimed: bool = self._inner.claim(key_id, session_type)
        self._changed()
        return claimed

    def release(self, key_id: str, session_type: str) -> None:
        self._inner.release(key_id, session_type)
        self._changed()


class FixLiveServer(LiveServer):
    """A `LiveServer` whose loop also runs a `FixServer` listening on `fix_port`."""

    def __init__(
        self,
        runtime: Runtime,
        port: int,
        app: Any,
        fix: FixServer,
        fix_port: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(runtime, port, app)
        self.fix = fix
        self.fix_port = fix_port
        self.loop = loop
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        fix.auth = _Watched(fix.auth, self._changed)  # type: ignore[assignment]

    def _changed(self) -> None:  # on the server's loop
        for predicate, future in self._waiters:
            if not future.done() and predicate():
                future.set_result(None)
        self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    async def _until(self, predicate: Callable[[], bool]) -> None:  # on the server's loop
        if predicate():
            return
        future: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append((predicate, future))
        await future

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the server's loop (where the exchange lives); blocks the calling thread."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(TIMEOUT)

    async def until(self, predicate: Callable[[], bool], what: str) -> None:
        """Wait until `predicate` (run on the server's loop) holds; re-checked at every FIX
        session claim and release."""
        future = asyncio.run_coroutine_threadsafe(self._until(predicate), self.loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise AssertionError(f"server side: timed out waiting for {what}") from None

    async def released(self, key_id: str, session_type: str) -> None:
        """Wait until the acceptor has released `(key_id, session_type)` (connection gone)."""
        key = (key_id, session_type)
        await self.until(lambda: key not in self.fix.live, f"the end of FIX session {key}")

    async def live(self, key_id: str, session_type: str) -> None:
        key = (key_id, session_type)
        await self.until(lambda: key in self.fix.live, f"FIX session {key} to be live")


@contextmanager
def fix_live_server(
    scenario: Scenario | None = None,
    *,
    clock_mode: ClockMode = "manual",
    settings: ServerSettings | None = None,
    fix_settings: FixSettings | None = None,
) -> Iterator[FixLiveServer]:
    """Serve a fresh runtime over REST/WS and FIX, on one loop in one thread, until the block
    exits."""
    runtime = Runtime(scenario or load_scenario("bare"), clock_mode=clock_mode, settings=settings)
    app = create_app(runtime)

    @asynccontextmanager
    async def acceptor() -> AsyncIterator[tuple[FixServer, int]]:
        fix = FixServer(runtime, fix_settings)
        try:
            ports = await fix.start("127.0.0.1", {"KalshiNR": 0})
            yield fix, ports["KalshiNR"]
        finally:
            await fix.close()

    with serving(app, acceptor, **server_options(runtime.settings)) as served:
        assert served.companion is not None
        fix, fix_port = served.companion
        live = FixLiveServer(runtime, served.port, app, fix, fix_port, served.loop)
        try:
            yield live
        finally:
            live.close()


# ------------------------------------------------------------------ the wire tap


def _frames(parser: FixParser) -> list[RawMessage]:
    out = []
    while (message := parser.get_message()) is not None:
        out.append(message)
    return out


@dataclass
class Tap:
    """A TCP proxy to the acceptor that records every frame (`sent`: client to server,
    `received`: server to client, including those held back)."""

    upstream_port: int
    sent: list[RawMessage] = field(default_factory=list)
    received: list[RawMessage] = field(default_factory=list)
    hold: bool = False
    """While set, what the server sends is recorded but not delivered."""
    port: int = 0
    connections: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [writer, up_writer]
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, self.sent, downstream=False)),
            asyncio.create_task(self._pump(up_reader, writer, self.received, downstream=True)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for task in pumps:
            task.cancel()
        for w in (writer, up_writer):
            w.transport.abort()
        self._tasks.difference_update(pumps)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        log: list[RawMessage],
        *,
        downstream: bool,
    ) -> None:
        parser = FixParser()
        while data := await reader.read(65536):
            parser.append(data)
            frames = _frames(parser)
            if not (downstream and self.hold):
                writer.write(data)
            async with self._changed:
                log.extend(frames)
                self._changed.notify_all()

    def cut(self) -> None:
        """Drop every connection at once, both ways (no Logout, no FIN handshake: RST)."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def wait_received(
        self, predicate: Callable[[RawMessage], bool], what: str, since: int = 0
    ) -> RawMessage:
        """The first frame from the server at index >= `since` for which `predicate` holds."""

        def found() -> RawMessage | None:
            return next((m for m in self.received[since:] if predicate(m)), None)

        async def wait() -> RawMessage:
            async with self._changed:
                await self._changed.wait_for(lambda: found() is not None)
            message = found()
            assert message is not None
            return message

        try:
            return await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no {what}; frames from the server:\n{self.dump()}") from None

    def dump(self) -> str:
        return "\n".join(f"  {m!r}" for m in self.received)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


# ------------------------------------------------------------------ kalshi-sdk sessions


@dataclass
class FixLink:
    """One SDK session, the application messages it delivered, and the tap under it."""

    session: FixSession
    tap: Tap
    key_id: str
    session_type: str
    messages: list[RawMessage] = field(default_factory=list)
    decode_errors: list[tuple[RawMessage, FixDecodeError]] = field(default_factory=list)
    states: list[FixSessionState] = field(default_factory=list)
    read: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def on_message(self, raw: RawMessage) -> None:
        async with self._arrived:
            self.messages.append(raw)
            self._arrived.notify_all()

    async def on_decode_error(self, raw: RawMessage, error: FixDecodeError) -> None:
        self.decode_errors.append((raw, error))

    async def send(self, message: FixMessage) -> int:
        return await self.session.send(message)

    async def next(self, what: str = "an application message") -> tuple[RawMessage, FixMessage]:
        """The next application message the SDK delivered, and the SDK's decoding of it."""

        async def wait() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.messages) > self.read)

        try:
            await asyncio.wait_for(wait(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {what} on {self.session_type}; frames from the server:\n"
                f"{self.tap.dump()}"
            ) from None
        raw = self.messages[self.read]
        self.read += 1
        return raw, decoded(raw)

    async def expect(self, msg_type: str, **tags: str | None) -> tuple[RawMessage, Any]:
        """The next application message, which must be `msg_type` with these tag values
        (keyword `t150="0"` means tag 150 is "0")."""
        raw, model = await self.next(f"35={msg_type} {tags}")
        assert raw.msg_type == msg_type, f"expected 35={msg_type} {tags}, got {raw!r}"
        for name, value in tags.items():
            assert value is not None, f"no value to expect for {name}"
            tag = int(name.removeprefix("t"))
            assert raw.get(tag) == value, f"expected {tag}={value} in {raw!r}"
        return raw, model

    async def replay(
        self, begin_exec_id: str
    ) -> tuple[int, list[ExecutionReport], EventResendComplete]:
        """On a DC session: send U1 from `begin_exec_id`; its MsgSeqNum, the ExecutionReports
        replayed and the closing U2."""
        seq = await self.send(EventResendRequest(begin_exec_id=begin_exec_id))
        replayed: list[ExecutionReport] = []
        while True:
            raw, message = await self.next("the replay")
            if raw.msg_type == "U2":
                assert isinstance(message, EventResendComplete), raw
                return seq, replayed, message
            assert isinstance(message, ExecutionReport), raw
            replayed.append(message)

    def unread(self) -> list[RawMessage]:
        return self.messages[self.read :]


def decoded(raw: RawMessage) -> FixMessage:
    """The SDK's typed model of an application message; a decode failure is a server bug."""
    try:
        model = decode_app_message_strict(raw)
    except FixDecodeError as exc:
        raise AssertionError(f"kalshi-sdk cannot decode {raw!r}: {exc.__cause__!r}") from exc
    assert model is not None, f"kalshi-sdk has no model for {raw!r}"
    return model


def sdk_config(port: int, **options: Any) -> FixConfig:
    """The SDK pointed at a loopback port in plain TCP; reconnects almost at once."""
    options.setdefault("retry_base_delay", 0.001)
    options.setdefault("retry_max_delay", 0.01)
    return FixConfig.margin(
        FixEnvironment.DEMO, host="127.0.0.1", port=port, use_tls=False, **options
    )


@asynccontextmanager
async def sdk_session(
    server: FixLiveServer,
    user: NewUser,
    kind: str = "NR",
    *,
    key: rsa.RSAPrivateKey | None = None,
    tap: Tap | None = None,
    on_state: Callable[[FixSessionState], Awaitable[None]] | None = None,
    **options: Any,
) -> AsyncIterator[FixLink]:
    """A logged-on SDK session of `user` (`kind` NR, RT, DC or MD) through a fresh `Tap`.

    `key` signs the Logon instead of the user's key; `tap` is the tap to use (so that a test
    can read the frames of a session that failed to log on); `on_state` is awaited on every state
    change (the SDK awaits it too, so it can hold the SDK in a state); `options` go to
    `FixConfig.margin`. On exit the session is closed (Logout) and the block waits until the
    acceptor has released the session, so the next session of the key can log on at once.
    """
    tap = tap or Tap(server.fix_port)
    await tap.start()
    client = MarginFixClient(
        FixSigner(user.api_key_id, key or user.key), config=sdk_config(tap.port, **options)
    )
    session_type = SESSION_TYPES[kind]
    link: FixLink

    async def state_changed(old: FixSessionState, new: FixSessionState) -> None:
        link.states.append(new)
        if on_state is not None:
            await on_state(new)

    handlers: dict[str, Any] = {
        "on_state_change": state_changed,
        "on_message": lambda raw: link.on_message(raw),
        "on_decode_error": lambda raw, exc: link.on_decode_error(raw, exc),
    }
    if kind in ("NR", "RT"):
        session = client.order_entry(retransmission=kind == "RT", **handlers)
    elif kind == "DC":
        session = client.drop_copy(**handlers)
    else:
        session = client.market_data(**handlers)
    link = FixLink(session, tap, user.api_key_id, session_type)
    try:
        await session.start()
        try:
            yield link
        finally:
            await session.close()
            await server.released(user.api_key_id, session_type)
        assert link.decode_errors == [], f"kalshi-sdk could not decode {link.decode_errors}"
    finally:
        await tap.close()


async def rest(server: LiveServer, user: NewUser, method: str, path: str, **kwargs: Any) -> Any:
    """A signed REST request of `user` (path relative to /trade-api/v2); the JSON body."""
    async with httpx.AsyncClient(base_url=server.rest_url, auth=user.auth, timeout=30) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def rest_order(
    server: LiveServer,
    user: NewUser,
    ticker: str,
    side: str,
    count: str,
    price: str,
    *,
    client_order_id: str,
    tif: str = "good_till_canceled",
) -> dict[str, Any]:
    """`POST /margin/orders`; the CreateMarginOrderResponse."""
    body = {
        "ticker": ticker,
        "client_order_id": client_order_id,
        "side": side,
        "count": count,
        "price": price,
        "time_in_force": tif,
        "self_trade_prevention_type": "taker_at_cross",
    }
    result: dict[str, Any] = await rest(server, user, "POST", "/margin/orders", json=body)
    return result


def sdk_trouble(records: list[logging.LogRecord]) -> list[str]:
    """What kalshi-sdk logged about frames it dropped, could not decode or could not handle."""
    bad = ("malformed", "failed to decode", "unexpected error", "callback raised", "sequence")
    return [
        r.getMessage()
        for r in records
        if r.name.startswith("kalshi") and any(b in r.getMessage() for b in bad)
    ]
