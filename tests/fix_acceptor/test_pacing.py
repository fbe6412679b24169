"""A long advance waits for a FIX client that reads market data slowly (`FixSettings.pace_bytes`)
instead of buffering for it without bound, over a real socket; and what the client gets does
not change."""

from __future__ import annotations

import asyncio
import base64
import itertools
import socket
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fix_acceptor import codec
from fix_acceptor.message import Message
from fix_acceptor.server import FixServer, FixSettings
from simulator.core.clock import WallClock
from simulator.server.advancer import Advancer
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.fix_acceptor.logged_on import Reader

KEY_ID = signing.DEMO_KEY_ID
HOUR_MS = 3_600_000
PACE_BYTES = 65_536
SYMBOLS = ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"]
_VOLATILE = {9, 10, 34, 52}  # length, checksum, MsgSeqNum, SendingTime: the rest must not change


def _md(seq: int, msg_type: str, *fields: tuple[int, str]) -> bytes:
    header = [(35, msg_type), (49, KEY_ID), (56, "KalshiMD"), (34, str(seq))]
    return codec.encode(Message([*header, (52, codec.timestamp(WallClock().now_ms())), *fields]))


def _logon() -> bytes:
    sending = codec.timestamp(WallClock().now_ms())
    signed = "\x01".join([sending, "A", "1", KEY_ID, "KalshiMD"]).encode()
    signature = base64.b64encode(
        signing.demo_private_key().sign(
            signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
    ).decode()
    fields = [(35, "A"), (49, KEY_ID), (56, "KalshiMD"), (34, "1"), (52, sending), (98, "0")]
    fields += [(108, "30"), (95, str(len(signature))), (96, signature), (141, "Y"), (1137, "9")]
    return codec.encode(Message(fields))


@dataclass
class _Run:
    messages: list[Message]  # everything after the subscription's snapshots
    peak_bytes: int  # the fullest the connection's write buffer was between two slices
    paced_s: float


def _serve_a_late_reader(pace_bytes: int) -> _Run:
    """Advance `default` 1 h while a KalshiMD client subscribed to three books reads nothing
    until the advance waits for it (or has ended), then everything."""
    wall = itertools.accumulate(itertools.repeat(0.01), initial=0.0)
    advancer = Advancer(lambda: next(wall), first_slice_ms=60_000, slice_work_s=0.01)
    runtime = Runtime(load_scenario("default"), clock_mode="manual", advancer=advancer)
    server = FixServer(runtime, FixSettings(pace_bytes=pace_bytes))
    peaks: list[int] = []
    looked_at: list[int] = []
    waiting = asyncio.Event()

    def watch() -> float:  # a pacing source that only looks: called between slices
        peaks.append(server.unsent_bytes())
        now = runtime.exchange.now()
        if looked_at and looked_at[-1] == now:
            waiting.set()  # asked again with no slice in between: the advance is waiting
        looked_at.append(now)
        return 0.0

    async def run() -> _Run:
        port = (await server.start("127.0.0.1", {"KalshiMD": 0}))["KalshiMD"]
        client = socket.socket()
        # small kernel buffers, so that what the client leaves unread stays with the server
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4_096)
        client.connect(("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=client)
        replies = Reader(reader)
        messages: list[Message] = []

        async def read_all() -> None:  # up to the Heartbeat that answers the last TestRequest
            while (message := await replies.next()).get(112) != "end":
                messages.append(message)

        try:
            writer.write(_logon())
            assert (await replies.next()).msg_type == "A"
            (connection,) = server._connections
            sock = connection.writer.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4_096)
            subscribe = [(262, "books"), (263, "1"), (146, "3"), *((55, s) for s in SYMBOLS)]
            writer.write(_md(2, "V", *subscribe))
            for _ in SYMBOLS:
                assert (await replies.next()).msg_type == "W"
            unwatch = advancer.pacer.add(watch)
            plan = advancer.start(runtime.exchange, HOUR_MS)
            ended = asyncio.ensure_future(advancer.wait_idle())
            paused = asyncio.ensure_future(waiting.wait())
            await asyncio.wait([ended, paused], return_when=asyncio.FIRST_COMPLETED)
            reading = asyncio.ensure_future(read_all())
            await ended
            paused.cancel()
            unwatch()
            writer.write(_md(3, "1", (112, "end")))
            await reading
            writer.write(_md(4, "5"))  # Logout: the acceptor answers and closes
            assert (await replies.next()).msg_type == "5"
            assert await reader.read() == b""
            return _Run(messages, max(peaks), plan.paced_s)
        finally:
            writer.close()
            await writer.wait_closed()
            await server.close()

    try:
        return asyncio.run(run())
    finally:
        runtime.close()


def _content(messages: list[Message]) -> list[list[tuple[int, str]]]:
    return [[f for f in m.fields if f[0] not in _VOLATILE] for m in messages]


def test_a_slow_market_data_reader_paces_the_advance_and_gets_what_it_would_have():
    paced = _serve_a_late_reader(PACE_BYTES)
    unpaced = _serve_a_late_reader(0)  # 0: FIX does not pace

    # unpaced, the server buffers the hour's market data for the client that does not read
    assert unpaced.paced_s == 0
    assert unpaced.peak_bytes > 8 * PACE_BYTES
    # paced, the advance waited for it once it held `pace_bytes`: one slice's output over it
    assert paced.paced_s > 0
    assert paced.peak_bytes < 2 * PACE_BYTES
    # the same messages either way, in sequence
    assert len(paced.messages) > 100  # each X: a run of book changes
    assert {m.msg_type for m in paced.messages} == {"X"}
    assert _content(paced.messages) == _content(unpaced.messages)
    for run in (paced, unpaced):
        seqs = [int(m.get(34) or 0) for m in run.messages]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@pytest.mark.parametrize("pace_bytes", [0, PACE_BYTES])
def test_the_acceptor_registers_with_the_pacer_only_when_it_paces(pace_bytes: int):
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    server = FixServer(runtime, FixSettings(pace_bytes=pace_bytes))
    pacer = runtime.advancer.pacer
    sources: list[int] = []

    async def run() -> None:
        await server.start("127.0.0.1", {"KalshiNR": 0})
        sources.append(len(pacer._sources))
        assert server.unsent_bytes() == 0 and pacer.fullest() == 0.0
        await server.close()
        sources.append(len(pacer._sources))

    asyncio.run(run())
    runtime.close()
    assert sources == ([1, 0] if pace_bytes else [0, 0])
