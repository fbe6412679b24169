"""A FIX client that stops reading: its backlog is bounded and its heartbeat timeout still runs.

A KalshiMD session subscribes to the default books and then reads nothing more while the
exchange advances (its socket buffers are made small, so the acceptor's write buffer fills
soon). Past `max_unsent_bytes` the connection is dropped with a warning; without a limit, a
client that also stopped sending is dropped by its heartbeat timeout, which used to wait behind
the unread bytes forever (the connection, and the memory of what it had not read, stayed). A
client that still sends (a slow reader) is read meanwhile: its Heartbeats keep it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fix_acceptor import codec
from fix_acceptor import server as fix_server
from fix_acceptor.message import Message
from fix_acceptor.server import FixServer
from fix_acceptor.settings import FixSettings
from simulator.core.clock import ManualClock, WallClock
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api import signing

KEY_ID = signing.DEMO_KEY_ID
SYMBOLS = ("KXBTCPERP", "KXETHPERP", "KXSOLPERP")
SMALL_BUFFER = 4_096  # bytes of kernel socket buffer on each side


def _logon(sending_ms: int, heartbeat_s: int) -> bytes:
    sending = codec.timestamp(sending_ms)
    pre = "\x01".join([sending, "A", "1", KEY_ID, "KalshiMD"]).encode()
    signature = base64.b64encode(
        signing.demo_private_key().sign(
            pre, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
    ).decode()
    header = [(35, "A"), (49, KEY_ID), (56, "KalshiMD"), (34, "1"), (52, sending)]
    body = [(98, "0"), (108, str(heartbeat_s)), (95, str(len(signature))), (96, signature)]
    return codec.encode(Message([*header, *body, (141, "Y"), (1137, "9")]))


def _session_message(msg_type: str, seq: int, sending_ms: int) -> bytes:
    header = [(35, msg_type), (49, KEY_ID), (56, "KalshiMD"), (34, str(seq))]
    return codec.encode(Message([*header, (52, codec.timestamp(sending_ms))]))


def _subscribe(sending_ms: int) -> bytes:
    header = [(35, "V"), (49, KEY_ID), (56, "KalshiMD"), (34, "2")]
    request = [(262, "md-1"), (263, "1"), (264, "0"), (146, str(len(SYMBOLS)))]
    symbols = [(55, symbol) for symbol in SYMBOLS]
    sending = (52, codec.timestamp(sending_ms))
    return codec.encode(Message([*header, sending, *request, *symbols]))


async def _until(done: Callable[[], bool], what: str, step: Callable[[], None]) -> None:
    # run `step` (the exchange moving on) and yield to the server until `done`, a bounded
    # number of times: the test waits for what the server does, not for wall time
    for _ in range(2_000):
        if done():
            return
        step()
        await asyncio.sleep(0.01)
    raise AssertionError(f"not {what}")


@asynccontextmanager
async def _stalled(
    settings: FixSettings, wall: ManualClock | None = None, heartbeat_s: int = 30
) -> AsyncIterator[tuple[FixServer, Runtime, asyncio.StreamReader, asyncio.StreamWriter]]:
    """An MD session on the default books that has stopped reading after its Logon reply
    (the client side's reader and writer: it may still send, and read again)."""
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    server = FixServer(runtime, settings, wall_clock=wall)
    port = (await server.start("127.0.0.1", {"KalshiMD": 0}))["KalshiMD"]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    client.connect(("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=client)
    now = (wall or WallClock()).now_ms()
    try:
        writer.write(_logon(now, heartbeat_s))
        assert b"\x0135=A\x01" in await asyncio.wait_for(reader.read(4_096), 30)
        (connection,) = server._connections
        accepted = connection.writer.transport.get_extra_info("socket")
        accepted.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        writer.write(_subscribe(now))
        await writer.drain()
        yield server, runtime, reader, writer  # from here on the client reads nothing
    finally:
        writer.close()
        await server.close()


def _advance(runtime: Runtime) -> Callable[[], None]:
    def advance() -> None:
        runtime.exchange.advance(60_000)

    return advance


async def _backed_up(server: FixServer, runtime: Runtime) -> Any:
    """The stalled connection, once more waits unsent than its transport's high-water mark."""
    (connection,) = server._connections
    transport = connection.writer.transport
    high = transport.get_write_buffer_limits()[1]
    await _until(lambda: transport.get_write_buffer_size() > high, "backed up", _advance(runtime))
    return connection


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The acceptor's wall clock, moved by the test; its timers checked every 10 ms."""
    monkeypatch.setattr(fix_server, "_TICK_S", 0.01)
    return ManualClock(WallClock().now_ms())


def test_a_client_that_stops_reading_is_dropped_past_max_unsent_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = FixSettings(max_unsent_bytes=200_000, pace_bytes=0)

    async def scenario() -> None:
        async with _stalled(settings) as (server, runtime, _, _):
            await _until(lambda: not server._connections, "dropped", _advance(runtime))
            assert server.unsent_bytes() == 0
            assert not server.live  # the session was released

    with caplog.at_level(logging.WARNING, logger="perps_sim.fix"):
        asyncio.run(scenario())
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "perps_sim.fix"]
    assert warning.startswith(f"FIX connection of key {KEY_ID} (KalshiMD) dropped: ")
    assert "more than max_unsent_bytes (200,000); a client that stopped reading" in warning


def test_a_silent_client_is_timed_out_even_while_what_it_has_not_read_waits(
    wall: ManualClock,
) -> None:
    settings = FixSettings(max_unsent_bytes=0, pace_bytes=0)  # no limit: only the timeout

    async def scenario() -> None:
        async with _stalled(settings, wall, heartbeat_s=3) as (server, runtime, _, _):
            connection = await _backed_up(server, runtime)
            # silent for 3 s x 1.5: a TestRequest; 3 s more: Logout and the connection goes
            wall.set(wall.now_ms() + 5_000)
            sent = lambda: connection.session._test_request is not None  # noqa: E731
            await _until(sent, "sent a TestRequest", lambda: None)
            wall.set(wall.now_ms() + 4_000)
            await _until(lambda: not server._connections, "timed out", lambda: None)
            assert not server.live

    asyncio.run(scenario())


def test_a_client_that_reads_slowly_is_read_meanwhile_and_its_heartbeats_keep_it(
    wall: ManualClock,
) -> None:
    settings = FixSettings(max_unsent_bytes=0, pace_bytes=0)

    async def scenario() -> None:
        async with _stalled(settings, wall, heartbeat_s=3) as (server, runtime, _, client):
            connection = await _backed_up(server, runtime)
            # 10 s of its backlog waiting (the timeout is 7.5 s), a Heartbeat every 2 s
            for seq in range(3, 8):
                wall.set(wall.now_ms() + 2_000)
                client.write(_session_message("0", seq, wall.now_ms()))
                read = lambda: connection.session._last_received_ms == wall.now_ms()  # noqa: E731
                await _until(read, f"read Heartbeat {seq}", lambda: None)
            assert connection in server._connections
            assert connection.session._test_request is None

    asyncio.run(scenario())


def test_a_client_that_logs_out_behind_its_backlog_gets_all_of_it_then_the_logout(
    wall: ManualClock,
) -> None:
    settings = FixSettings(max_unsent_bytes=0, pace_bytes=0)
    received: list[Message] = []

    async def scenario() -> None:
        async with _stalled(settings, wall) as (server, runtime, reader, writer):
            await _backed_up(server, runtime)
            writer.write(_session_message("5", 3, wall.now_ms()))  # Logout, then read it all
            decoder = codec.FrameDecoder()
            while data := await asyncio.wait_for(reader.read(65_536), 30):
                received.extend(m for m in decoder.feed(data) if isinstance(m, Message))

    asyncio.run(scenario())
    assert received[-1].msg_type == "5"  # the acceptor's Logout, after every W and X
    assert {m.msg_type for m in received[:-1]} <= {"W", "X"}
