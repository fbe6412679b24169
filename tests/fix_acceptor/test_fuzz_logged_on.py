"""Bad application messages from a logged-on session: clean answers, no state change.

After a valid Logon, a seeded stream of NewOrderSingle, OrderCancelRequest and
OrderCancelReplaceRequest frames, each well framed (BodyLength and CheckSum right) but with one
field made invalid (a junk quantity, price, side, symbol, time in force or order id), then raw
random bytes. Every one is refused (Reject, BusinessMessageReject, a rejected ExecutionReport or
OrderCancelReject), nothing raised inside the server, the state hash is the one before, and a
fresh connection still logs on.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from fix_acceptor import codec
from fix_acceptor.message import Message
from fix_acceptor.server import FixServer
from simulator.core.clock import WallClock
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.fix_acceptor.test_server import _first_reply, logon

KEY_ID = signing.DEMO_KEY_ID
JUNK = ["", "abc", "-1", "1.2.3", "\x7f", "9" * 30, "0x10"]
MUTABLE = {"D": (38, 44, 54, 55, 59), "F": (37, 55, 54), "G": (37, 38, 44, 55)}
CASES = 150


def _app(msg_type: str, seq: int, body: list[tuple[int, str]]) -> Message:
    header = [
        (35, msg_type),
        (49, KEY_ID),
        (56, "KalshiNR"),
        (34, str(seq)),
        (52, codec.timestamp(WallClock().now_ms())),
    ]
    return Message(header + body)


def _bodies(msg_type: str, n: int) -> list[tuple[int, str]]:
    if msg_type == "D":
        return [(11, f"fz-{n}"), (38, "1"), (44, "6.00"), (54, "1"), (55, "KXBTCPERP"),
                (59, "1"), (40, "2")]  # fmt: skip
    if msg_type == "F":
        return [(11, f"fz-{n}"), (41, "none"), (37, "00000000-0000-0000-0000-000000000000"),
                (55, "KXBTCPERP"), (54, "1")]  # fmt: skip
    return [(11, f"fz-{n}"), (41, "none"), (37, "00000000-0000-0000-0000-000000000000"),
            (38, "2"), (44, "6.01"), (55, "KXBTCPERP"), (54, "1"), (40, "2")]  # fmt: skip


def _cases(rng: random.Random) -> list[tuple[str, list[tuple[int, str]]]]:
    cases = []
    for n in range(CASES):
        msg_type = rng.choice("DFG")
        body = _bodies(msg_type, n)
        tag = rng.choice(MUTABLE[msg_type])
        junk = rng.choice(JUNK)
        cases.append((msg_type, [(t, junk if t == tag else v) for t, v in body]))
    return cases


def test_junk_orders_from_a_logged_on_session_change_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    before = runtime.state_hash()
    rng = random.Random(20261207)

    async def run() -> None:
        server = FixServer(runtime)
        port = (await server.start("127.0.0.1", {"KalshiNR": 0}))["KalshiNR"]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(logon())
            decoder = codec.FrameDecoder()
            answers: list[Message] = []

            async def read_until(count: int) -> None:
                while len(answers) < count:
                    data = await asyncio.wait_for(reader.read(65536), 10)
                    assert data, "the acceptor closed the session"
                    answers.extend(m for m in decoder.feed(data) if isinstance(m, Message))

            await read_until(1)
            assert answers[0].msg_type == "A"
            for seq, (msg_type, body) in enumerate(_cases(rng), start=2):
                writer.write(codec.encode(_app(msg_type, seq, body)))
                await read_until(seq)  # one answer per message, in order
                answer = answers[-1]
                refused = answer.msg_type in ("3", "j", "9") or (
                    answer.msg_type == "8" and answer.get(150) == "8"
                )
                assert refused, (msg_type, body, answer)
            writer.write(rng.randbytes(4000))
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            (reply,) = await _first_reply(port, logon())
            assert reply.msg_type == "A"
        finally:
            await server.close()

    with caplog.at_level(logging.ERROR):
        asyncio.run(run())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert runtime.state_hash() == before
