"""FIX during a sliced advance: session messages answered between slices, order entry held
and applied after the advance at the final time, over a real socket."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from fix_acceptor import codec
from fix_acceptor.message import Message
from fix_acceptor.settings import FixSettings
from simulator.core.clock import WallClock
from simulator.server.advancer import Advancer
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.fix_acceptor.logged_on import logged_on
from tests.fix_acceptor.test_limits import _order
from tests.fix_acceptor.test_server import KEY_ID

HOUR_MS = 3_600_000


def _test_request(seq: int, test_id: str) -> bytes:
    message = Message(
        [
            (35, "1"),
            (49, KEY_ID),
            (56, "KalshiNR"),
            (34, str(seq)),
            (52, codec.timestamp(WallClock().now_ms())),
            (112, test_id),
        ]
    )
    return codec.encode(message)


@pytest.mark.parametrize("durability", ["memory", "fsync"])
def test_order_entry_waits_for_the_advance_while_test_requests_are_answered(
    durability: str, tmp_path: Path
):
    wall = itertools.accumulate(itertools.repeat(0.01), initial=0.0)
    advancer = Advancer(lambda: next(wall), first_slice_ms=60_000, slice_work_s=0.01)
    if durability == "fsync":  # the held orders' reports wait for their fsync too
        runtime = Runtime(
            load_scenario("default"),
            clock_mode="manual",
            advancer=advancer,
            state_dir=tmp_path,
            durability="fsync",
        )
    else:
        runtime = Runtime(load_scenario("default"), clock_mode="manual", advancer=advancer)
    start = runtime.exchange.now()
    seen: dict[str, object] = {}

    async def run() -> None:
        async with logged_on(runtime) as session:
            writer, replies = session.writer, session.replies
            plan = advancer.start(runtime.exchange, HOUR_MS)
            writer.write(_order(2, "held-1") + _test_request(3, "ping-1"))
            heartbeat = await replies.next()
            seen["heartbeat"] = (heartbeat.msg_type, heartbeat.get(112))
            seen["running_at_heartbeat"] = advancer.running is plan and not plan.done
            seen["held_during"] = ("demo-user", "held-1") not in runtime.exchange.live_client_ids
            report = await replies.next()
            seen["report"] = (report.msg_type, report.get(11), report.get(150))
            seen["transact_time"] = report.get(60)
            seen["running_at_report"] = advancer.running

    asyncio.run(run())
    runtime.close()

    assert seen["heartbeat"] == ("0", "ping-1")
    assert seen["running_at_heartbeat"]
    assert seen["held_during"]
    assert ("demo-user", "held-1") in runtime.exchange.live_client_ids  # resting after it
    assert seen["report"] == ("8", "held-1", "0")
    assert seen["running_at_report"] is None
    assert seen["transact_time"] == codec.timestamp(start + HOUR_MS)


def test_past_max_held_messages_an_order_is_refused_while_the_advance_runs():
    wall = itertools.accumulate(itertools.repeat(0.01), initial=0.0)
    advancer = Advancer(lambda: next(wall), first_slice_ms=60_000, slice_work_s=0.01)
    runtime = Runtime(load_scenario("default"), clock_mode="manual", advancer=advancer)
    replies_seen: list[tuple[str, str | None, str | None]] = []

    async def run() -> None:
        async with logged_on(runtime, FixSettings(max_held_messages=2)) as session:
            advancer.start(runtime.exchange, HOUR_MS)
            session.writer.write(_order(2, "h-1") + _order(3, "h-2") + _order(4, "h-3"))
            for _ in range(3):
                reply = await session.replies.next()
                replies_seen.append(
                    (reply.msg_type, reply.get(11) or reply.get(379), reply.get(380))
                )
                if reply.msg_type == "j":
                    assert advancer.running is not None  # refused at once, not after it
                    assert reply.get(58) == "an advance is running and 2 messages wait for it"

    asyncio.run(run())
    assert replies_seen == [("j", "h-3", "4"), ("8", "h-1", None), ("8", "h-2", None)]
    assert ("demo-user", "h-3") not in runtime.exchange.live_client_ids
