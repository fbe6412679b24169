"""The acceptor over real sockets under garbage: clean errors only, and it keeps serving.

Random bytes, truncated and mutated Logons, oversized frames and a valid session that turns to
garbage; after each, a fresh connection still logs on, and nothing raised inside the server
(an exception escaping a connection handler is logged by asyncio at ERROR level).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fix_acceptor import codec
from fix_acceptor.message import Message
from fix_acceptor.server import FixServer
from simulator.core.clock import WallClock
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api import signing

KEY_ID = signing.DEMO_KEY_ID


def logon(seq: int = 1) -> bytes:
    sending = codec.timestamp(WallClock().now_ms())
    pre = "\x01".join([sending, "A", str(seq), KEY_ID, "KalshiNR"]).encode()
    signature = base64.b64encode(
        signing.demo_private_key().sign(
            pre, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
        )
    ).decode()
    message = Message(
        [
            (35, "A"),
            (49, KEY_ID),
            (56, "KalshiNR"),
            (34, str(seq)),
            (52, sending),
            (98, "0"),
            (108, "30"),
            (95, str(len(signature))),
            (96, signature),
            (141, "Y"),
            (1137, "9"),
        ]
    )
    return codec.encode(message)


async def _first_reply(port: int, payload: bytes) -> list[Message]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    decoder = codec.FrameDecoder()
    found: list[Message] = []
    try:
        while not found:
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            found = [m for m in decoder.feed(data) if isinstance(m, Message)]
    finally:
        writer.close()
        await writer.wait_closed()
    return found


def _garbage() -> list[bytes]:
    rng = random.Random(20261203)
    frame = logon()
    blobs = [rng.randbytes(rng.randint(1, 5000)) for _ in range(20)]
    for _ in range(20):
        mutated = bytearray(frame)
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        blobs.append(bytes(mutated))
    blobs += [frame[:n] for n in (1, 10, 50, len(frame) - 1)]
    blobs.append(b"8=FIXT.1.1\x019=99999999\x01" + b"x" * 70_000)
    blobs.append(b"\x01" * 10_000 + b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01")
    blobs.append(frame + rng.randbytes(3000))  # a valid Logon, then garbage
    return blobs


def test_garbage_gets_clean_errors_and_the_acceptor_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")

    async def run() -> None:
        server = FixServer(runtime)
        port = (await server.start("127.0.0.1", {"KalshiNR": 0}))["KalshiNR"]
        try:
            for blob in _garbage():
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(blob)
                await writer.drain()
                writer.write_eof()
                # the acceptor answers (a Logout) or closes; it never hangs on garbage
                while await asyncio.wait_for(reader.read(65536), 10):
                    pass
                writer.close()
                await writer.wait_closed()
            (reply,) = await _first_reply(port, logon())
            assert (reply.msg_type, reply.get(49), reply.get(34)) == ("A", "KalshiNR", "1")
        finally:
            await server.close()

    with caplog.at_level(logging.ERROR):
        asyncio.run(run())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_garbled_first_frame_never_uses_a_sequence_number() -> None:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")

    async def run() -> list[Message]:
        server = FixServer(runtime)
        port = (await server.start("127.0.0.1", {"KalshiNR": 0}))["KalshiNR"]
        try:
            bad = bytearray(logon())
            bad[-3] = ord("9") if bad[-3] != ord("9") else ord("8")  # wrong CheckSum
            return await _first_reply(port, bytes(bad) + b"garbage" + logon())
        finally:
            await server.close()

    (reply,) = asyncio.run(run())
    assert (reply.msg_type, reply.get(34)) == ("A", "1")  # the dropped frame was not counted


def test_reports_queued_for_an_absent_rt_client_do_not_outlive_a_reset() -> None:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    server = FixServer(runtime)
    key = (KEY_ID, "KalshiRT")
    store = server.store(key)
    store.next_out_seq = 7
    store.queue(Message([(35, "8"), (37, "old-order")]))
    assert server.store(key).queued == 1  # the same exchange: kept

    runtime.reset()

    assert server.store(key).queued == 0
    assert server.store(key).next_out_seq == 7  # the session's numbering carries on


def test_a_report_that_fails_to_render_costs_only_itself(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # imported here: both helpers import this module
    from fix_acceptor import application
    from tests.fix_acceptor.logged_on import logged_on
    from tests.fix_acceptor.test_limits import _order

    render = application._updated

    def broken_for_boom(seq: int, event: Any, reports: Any) -> Message | None:
        order = event.order
        if order.client_order_id == "boom" and order.remaining_count == 0:
            raise RuntimeError("a rendering bug")
        return render(seq, event, reports)

    monkeypatch.setattr(application, "_updated", broken_for_boom)
    mass_cancel = Message(
        [
            (35, "q"),
            (49, KEY_ID),
            (56, "KalshiNR"),
            (34, "4"),
            (52, codec.timestamp(WallClock().now_ms())),
            (11, "mass-1"),
            (530, "6"),
        ]
    )

    async def run() -> list[tuple[str, str | None, str | None]]:
        runtime = Runtime(load_scenario("bare"), clock_mode="manual")
        async with logged_on(runtime) as session:
            session.writer.write(_order(2, "boom") + _order(3, "fine"))
            for _ in range(2):
                assert (await session.replies.next()).get(150) == "0"
            # one command, one batch of events: both cancels
            session.writer.write(codec.encode(mass_cancel))
            seen: list[tuple[str, str | None, str | None]] = []
            while not any(kind == "8" and cl == "fine" for kind, cl, _ in seen):
                reply = await session.replies.next()
                seen.append((reply.msg_type, reply.get(11), reply.get(150)))
            return seen

    seen = asyncio.run(run())
    assert ("8", "fine", "4") in seen and all(cl != "boom" for _, cl, _ in seen)
    assert "the FIX reports of event" in caplog.text and "a rendering bug" in caplog.text
