"""The FIX listeners on the server's event loop: bytes in and out, nothing else.

One listener per session type's port (KalshiNR 8228, KalshiDC 8229, KalshiRT 8230, KalshiMD 8233
by default); each accepts every session type, routed by TargetCompID (56), because clients such
as kalshi-sdk use one port for all. Optional TLS with a user-supplied certificate and key.

Per connection: the codec (`fix_acceptor.codec.FrameDecoder`) turns bytes into messages, the
sans-I/O session layer (`fix_acceptor.session.FixSession`) decides what the session does, and
the application layer answers what it delivers (`application.OrderEntry` on KalshiNR/KalshiRT,
`market_data.MarketDataSession` on KalshiMD, `drop_copy.replay` on KalshiDC). This module only
moves bytes, reads the wall clock for the session layer, and runs its timers.

While an advance runs (`simulator.server.advancer`), session messages (Heartbeat, TestRequest,
ResendRequest, Logon, Logout), market data and drop copy are served between its slices, but
order-entry messages (KalshiNR, KalshiRT) are held, in order, per connection and handed to the
application once it has ended, at the final time (rate limits are charged on arrival). A
connection that ends with messages held, or with CancelOrdersOnDisconnect during an advance,
finishes them (and its cancel) after the advance before its session is released.

Durability: with the runtime's `fsync` durability, the messages that answer one read (the
ExecutionReports of the orders in it) are written once the journal has fsynced the commands
they acknowledge (`Runtime.durable`); messages for other causes (a resting order filled by
someone else's command, heartbeats) are not held.

Bounds: `FixSettings.max_sessions_per_key` live sessions per API key; frames above the codec's
cap are dropped; each KalshiRT session keeps at most `SessionSettings.rt_store_messages`
outbound messages for resends. Writes are never refused: what a client has not read yet waits in
its connection's write buffer. A long advance waits between its slices while a connection holds
more than `FixSettings.pace_bytes` there, until half that is left (`simulator.server.pacing`),
so that a dry run's slow reader (KalshiMD books through a week) is not buffered for without
bound; a connection holding more than `FixSettings.max_unsent_bytes` (a client that stopped
reading) is dropped with a warning. The session's timers never wait for the client to read, so
a silent client meets its heartbeat timeout however much it has left unread, a slow reader's
messages are read while its backlog waits (its Heartbeats keep it alive), and the close after a
timeout is an abort when more waits than the transport's high-water mark (a graceful close
would wait for a reader that is not there); a client's own Logout still gets all it was sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable
from typing import Final

from fix_acceptor import drop_copy
from fix_acceptor.application import FixApplication, OrderEntry, SessionKey
from fix_acceptor.codec import DecodeError, FrameDecoder, encode
from fix_acceptor.limits import REJECT_REASON, REJECT_TEXT, FixLimits
from fix_acceptor.market_data import MarketDataFeed, MarketDataSession
from fix_acceptor.message import Message, Tag
from fix_acceptor.session import (
    Close,
    Deliver,
    FixSession,
    LoggedOn,
    Output,
    Send,
    SessionStore,
)
from fix_acceptor.settings import FixSettings, parse_fix_settings
from fix_acceptor.wire import business_reject
from simulator.core.clock import Clock, WallClock
from simulator.core.errors import LimitExceededError
from simulator.risk.keys import VerificationError
from simulator.server.listeners import listen_tcp
from simulator.server.runtime import Runtime

__all__ = ["SESSION_PORTS", "FixServer", "FixSettings", "parse_fix_settings"]

_LOG = logging.getLogger("perps_sim.fix")

SESSION_PORTS: Final = {"KalshiNR": 8228, "KalshiDC": 8229, "KalshiRT": 8230, "KalshiMD": 8233}
"""Default port of each session type (FIX.md §1.1)."""

_READ_BYTES = 65_536
_TICK_S = 0.5


class _Authenticator:
    """The session layer's view of the key registry and of who is logged on."""

    def __init__(self, server: FixServer) -> None:
        self._server = server

    def verify_logon(self, key_id: str, payload: bytes, signature: bytes) -> str | None:
        server = self._server
        runtime = server.runtime
        try:
            if runtime.settings.auth == "open":
                runtime.open_user(key_id)
            else:
                runtime.exchange.key_registry.verify(key_id, payload, signature)
        except VerificationError as exc:
            return f"signature error: {exc.reason.value}"
        except LimitExceededError as exc:
            return str(exc)
        user = runtime.exchange.user_for_key(key_id)
        if user is not None and not server.limits.admit(
            user.user_id, (key_id, "Logon"), "A", server.wall.now_ms()
        ):
            return "rate limit exceeded"
        return None

    def claim(self, key_id: str, session_type: str) -> bool:
        live = self._server.live
        if (key_id, session_type) in live:
            return False
        if sum(1 for k, _ in live if k == key_id) >= self._server.settings.max_sessions_per_key:
            return False
        live.add((key_id, session_type))
        return True

    def release(self, key_id: str, session_type: str) -> None:
        self._server.live.discard((key_id, session_type))


class FixServer:
    """The acceptor: listeners, connections, and the application state they share."""

    def __init__(
        self,
        runtime: Runtime,
        settings: FixSettings | None = None,
        wall_clock: Clock | None = None,  # the real time; tests pass a fake
    ) -> None:
        self.runtime = runtime
        self.settings = settings or FixSettings()
        self.wall = wall_clock or WallClock()
        self.live: set[SessionKey] = set()
        self.stores: dict[SessionKey, SessionStore] = {}
        self._generations: dict[SessionKey, int] = {}
        self.application = FixApplication(runtime, self._offline)
        self.market_data = MarketDataFeed(
            runtime,
            self.settings.max_md_symbols,
            last_update_time=self.settings.md_last_update_time,
        )
        self.auth = _Authenticator(self)
        self.limits = FixLimits(lambda: runtime.rate_limiter)
        self._servers: list[asyncio.Server] = []
        self._connections: set[_Connection] = set()
        self._unpace: Callable[[], None] | None = None

    def store(self, key: SessionKey) -> SessionStore:
        """The KalshiRT store of a key (created on first use; kept across reconnects).

        Reports queued for a client that was away are dropped once the exchange they came from
        was replaced (reset, state import): they describe orders that no longer exist. The
        session's sequence numbers carry on.
        """
        store = self.stores.get(key)
        if store is None:
            store = SessionStore()
            self.stores[key] = store
        generation = self.runtime.generation
        if self._generations.get(key) != generation:
            store.take_queued()
            self._generations[key] = generation
        return store

    def _offline(self, key: SessionKey, report: Message) -> None:
        self.store(key).queue(report)

    async def start(
        self, host: str, ports: dict[str, int], tls: ssl.SSLContext | None = None
    ) -> dict[str, int]:
        """Listen on `ports` (0 = a free port); returns the ports bound, by session type."""
        bound: dict[str, int] = {}
        for session_type, port in ports.items():
            sock = listen_tcp(host, port)
            server = await asyncio.start_server(self._accept, sock=sock, ssl=tls)
            self._servers.append(server)
            bound[session_type] = sock.getsockname()[1]
        if self.settings.pace_bytes > 0 and self._unpace is None:
            self._unpace = self.runtime.advancer.pacer.add(self.backlog)
        return bound

    def backlog(self) -> float:
        """The fullest connection's write buffer as the pacer reads it: its `high` at
        `pace_bytes`, so a long advance waits from there down to `pace_bytes x low / high`
        (half, with the default thresholds)."""
        high = self.runtime.advancer.pacer.high
        return self.unsent_bytes() * high / self.settings.pace_bytes

    def unsent_bytes(self) -> int:
        """The most bytes any connection has in its write buffer (written, not yet sent)."""
        return max(
            (c.writer.transport.get_write_buffer_size() for c in self._connections), default=0
        )

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._unpace is not None:
            self._unpace()
            self._unpace = None
        for server in self._servers:
            server.close()
        for connection in list(self._connections):
            connection.abort()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        await self.application.aclose()
        await self.market_data.aclose()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)


class _Connection:
    """One TCP connection: feeds bytes to the codec and session, writes what they produce."""

    def __init__(
        self, server: FixServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.session = FixSession(server.settings.session, server.auth, server.store)
        self.closing = False
        self.entry: OrderEntry | None = None
        self.md: MarketDataSession | None = None
        self.user_id: str | None = None
        self._batch: list[bytes] | None = None
        self._batch_ms = 0  # the wall clock when the read being handled arrived
        self._held: deque[tuple[Message, int]] = deque()  # order entry during an advance
        self._release: asyncio.Task[None] | None = None
        self._answering = asyncio.Lock()  # one batch at a time: a read's or the held messages'
        # fsync durability: messages (fills of resting orders, drop copy, market data) written
        # outside a read's batch while the journal owes an fsync, sent in order after it
        self._deferred: list[bytes] | None = None
        self._deferring: asyncio.Task[None] | None = None
        self._close_after_deferred = False
        self._unresponsive = False  # closing after a heartbeat or Logon timeout
        self._held_until = 0.0  # a fix_latency fault: nothing is written before this loop time

    def now(self) -> int:
        """The wall clock for the session layer: one reading per read batch (ms resolution)."""
        if self._batch is not None:
            return self._batch_ms
        return self.server.wall.now_ms()

    def abort(self) -> None:
        self.closing = True
        self.writer.transport.abort()

    async def run(self) -> None:
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            while not self.closing:
                try:
                    data = await self.reader.read(_READ_BYTES)
                except (ConnectionError, OSError):
                    break
                if not data:
                    break
                # everything the messages of one read produce goes out in one write
                async with self._answering:
                    self._batch_ms = now = self.server.wall.now_ms()
                    self._batch = []
                    try:
                        for item in self.decoder.feed(data):
                            if self.closing:
                                break
                            if type(item) is Message:
                                self._apply(self.session.receive(item, now))
                            elif isinstance(item, DecodeError):
                                self._apply(self.session.receive_error(item.reason, now))
                                if item.fatal:
                                    self.closing = True
                    except BaseException:
                        self._flush()
                        raise
                    await self._durable_flush()
                # no wait here for the client to read what it was sent: its next messages (a
                # Heartbeat among them) are read meanwhile, so a slow reader is not taken for a
                # silent one; `max_unsent_bytes` bounds what it leaves unread
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._finish_held()
            self._apply(self.session.connection_lost(self.now()))
            self._detach()
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _finish_held(self) -> None:
        # what this connection's order entry still owes the exchange runs after the advance:
        # its held messages, then (by `_detach`) CancelOrdersOnDisconnect
        advancer = self.server.runtime.advancer
        entry = self.entry
        try:
            if self._release is not None:
                await self._release
            if entry is not None and entry.cancel_on_disconnect:
                await advancer.wait_idle()
        except asyncio.CancelledError:
            if self._release is not None:
                self._release.cancel()
            raise

    def _hold(self, message: Message, ref_seq: int) -> None:
        self._held.append((message, ref_seq))
        if self._release is None:
            self._release = asyncio.get_running_loop().create_task(self._release_held())

    async def _release_held(self) -> None:
        # the held messages are answered like a read: in one batch, after their fsync
        advancer = self.server.runtime.advancer
        try:
            while self._held:
                await advancer.wait_idle()
                async with self._answering:
                    if advancer.running is not None:
                        continue  # another advance started while the last read was answered
                    self._batch_ms = self.server.wall.now_ms()
                    self._batch = []
                    try:
                        # no await in here: the held messages run back to back at the final time
                        while self._held and self.entry is not None:
                            message, ref_seq = self._held.popleft()
                            self.entry.handle(message, ref_seq)
                            self.server.application.pump()
                    except BaseException:
                        self._flush()
                        raise
                    await self._durable_flush()
                if self.entry is None:
                    self._held.clear()
                await self._drain()
        finally:
            self._release = None

    async def _durable_flush(self) -> None:
        if self.server.runtime.journal_pending:
            # fsync durability: what answers a read waits for its commands' fsync
            await self.server.runtime.durable()
        self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, None
        if batch and not self.writer.is_closing():
            if self._deferred is not None or self._held_s() > 0:
                self._defer(batch)  # behind what waits: sequence order kept
            else:
                self.writer.write(b"".join(batch))
                self._check_unsent()

    def _write(self, data: bytes) -> None:
        # a message outside a read's batch: at once, or after the fsync its commands owe
        runtime = self.server.runtime
        if self._deferred is None and not runtime.journal_pending and self._held_s() <= 0:
            self.writer.write(data)
            self._check_unsent()
            return
        self._defer([data])

    def _check_unsent(self) -> None:
        # a client that stopped reading: its connection goes before what it has not read
        # grows without bound (`FixSettings.max_unsent_bytes`)
        limit = self.server.settings.max_unsent_bytes
        if not limit:
            return
        unsent = self.writer.transport.get_write_buffer_size()
        if unsent > limit and not self.closing:
            logon = self.session.logon
            _LOG.warning(
                "FIX connection of %s dropped: %s bytes written to it and not read, more than "
                "max_unsent_bytes (%s); a client that stopped reading",
                "a client not logged on"
                if logon is None
                else f"key {logon.key_id} ({logon.session_type})",
                f"{unsent:,}",
                f"{limit:,}",
            )
            self.abort()

    def _held_s(self) -> float:
        return self._held_until - asyncio.get_running_loop().time() if self._held_until else 0.0

    def _defer(self, data: list[bytes]) -> None:
        if self._deferred is None:
            self._deferred = []
            self._deferring = asyncio.get_running_loop().create_task(self._write_deferred())
        self._deferred.extend(data)

    async def _write_deferred(self) -> None:
        runtime = self.server.runtime
        try:
            while (held := self._held_s()) > 0:  # an injected latency
                await asyncio.sleep(held)
            while runtime.journal_pending:
                await runtime.durable()
        finally:
            deferred, self._deferred = self._deferred or [], None
            self._deferring = None
            if not self.writer.is_closing():
                self.writer.write(b"".join(deferred))
                self._check_unsent()
                if self._close_after_deferred:
                    self._close()

    def _close(self) -> None:
        # after what is written; but a client that went silent with more waiting than the
        # transport's high-water mark may never take it (the close would never complete, and
        # the connection and its subscriptions would stay): then at once
        transport = self.writer.transport
        backed_up = transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]
        if self._unresponsive and backed_up:
            self.abort()
        else:
            self.writer.close()

    async def _drain(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.drain()

    async def _tick(self) -> None:
        # never waits for the client to read: a client that stopped reading still meets its
        # heartbeat timeout (waiting on `drain` here kept its timers from ever running)
        while not self.closing:
            await asyncio.sleep(_TICK_S)
            self._apply(self.session.tick(self.now()))

    def send_application(self, message: Message) -> None:
        """An application message for the client (numbered and stamped by the session)."""
        if self.closing:
            return
        faults = self.server.runtime.faults
        if len(faults) and self.user_id is not None:
            drop, gap = faults.fix(self.user_id)
            if drop:  # an injected disconnect: the connection just goes, no Logout
                self.abort()
                return
            if gap:
                self.session.skip_out_seq(gap)
            latency = faults.fix_latency(self.user_id)
            if latency:
                until = asyncio.get_running_loop().time() + latency / 1000
                self._held_until = max(self._held_until, until)
        self._apply(self.session.send_application(message, self.now()))

    def _apply(self, outputs: list[Output]) -> None:
        for output in outputs:
            if type(output) is Send:
                if self._batch is not None:
                    self._batch.append(encode(output.message))
                elif not self.writer.is_closing():
                    self._write(encode(output.message))
            elif type(output) is Deliver:
                self._deliver(output.message)
            elif isinstance(output, LoggedOn):
                self._attach(output)
            elif isinstance(output, Close):
                self._flush()
                self.closing = True
                _LOG.debug("closing FIX connection: %s", output.reason)
                if output.unresponsive:
                    self._unresponsive = True
                if self._deferred is not None:
                    self._close_after_deferred = True
                elif not self.writer.is_closing():
                    self._close()

    def _attach(self, output: LoggedOn) -> None:
        logon = output.logon
        runtime = self.server.runtime
        user = runtime.exchange.user_for_key(logon.key_id)
        if user is None:  # open auth made it at verification; verify mode has a user
            self._apply([Close("unknown key")])
            return
        self.user_id = user.user_id
        key = (logon.key_id, logon.session_type)
        if logon.session_type in ("KalshiNR", "KalshiRT"):
            self.entry = self.server.application.open(
                key,
                user.user_id,
                self.send_application,
                listener=logon.listener,
                cancel_on_disconnect=logon.cancel_on_disconnect,
                use_expired_status=logon.use_expired_status,
                preserve_order_qty=logon.preserve_order_qty,
            )
        elif logon.session_type == "KalshiMD":
            self.md = self.server.market_data.open(self.send_application)

    def _detach(self) -> None:
        if self.entry is not None:
            self.server.application.close(self.entry)
            self.entry = None
        if self.md is not None:
            self.server.market_data.close(self.md)
            self.md = None

    def _deliver(self, message: Message) -> None:
        ref_seq = int(message.get(Tag.MsgSeqNum) or 0)
        if not self._admitted(message):
            self._business_reject(message, ref_seq, REJECT_REASON, REJECT_TEXT)
        elif self.entry is not None:
            if self._held or self.server.runtime.advancer.running is not None:
                if len(self._held) >= self.server.settings.max_held_messages:
                    text = f"an advance is running and {len(self._held):,} messages wait for it"
                    self._business_reject(message, ref_seq, 4, text)
                    return
                self._hold(message, ref_seq)  # an advance runs: after it, in order
                return
            self.entry.handle(message, ref_seq)
            # the command's reports now, before the next request's answers: replies keep the
            # order of the requests, and no event-loop turn separates a request from its report
            self.server.application.pump()
        elif self.md is not None:
            self.md.handle(message, ref_seq)
        elif message.msg_type == "U1" and self.user_id is not None:
            for reply in drop_copy.replay(
                self.server.runtime.exchange,
                self.user_id,
                message,
                ref_seq,
                self.server.application.cancel_ids,
            ):
                self.send_application(reply)
        else:
            self._business_reject(message, ref_seq, 3, "Unsupported Message Type")

    def _admitted(self, message: Message) -> bool:
        """The user's rate limits allow `message` (`fix_acceptor.limits`)."""
        logon = self.session.logon
        if self.user_id is None or logon is None:
            return True
        session = (logon.key_id, logon.session_type)
        return self.server.limits.admit(self.user_id, session, message.msg_type, self.now())

    def _business_reject(self, message: Message, ref_seq: int, reason: int, text: str) -> None:
        self.send_application(business_reject(message, ref_seq, reason, text))


Listener = Callable[[], None]
