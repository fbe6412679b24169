"""`fix_latency` faults over a real socket: an application message is held back, and what
follows it on the connection waits behind it, so sequence numbers still arrive in order."""

from __future__ import annotations

import asyncio

import pytest

from simulator.server.faults import FaultSpec
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from tests.fix_acceptor.logged_on import logged_on
from tests.fix_acceptor.test_limits import _order


def test_held_reports_arrive_late_and_in_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    seen: dict[str, object] = {}

    async def run() -> None:
        async with logged_on(runtime) as session:
            writer, replies = session.writer, session.replies
            fault = runtime.add_fault(
                FaultSpec(kind="fix_latency", target="demo-user", latency_ms=40, count=1)
            )
            waits.clear()
            writer.write(b"".join(_order(n, f"slow-{n}") for n in (2, 3, 4)))
            reports = [await replies.next() for _ in range(3)]
            seen["reports"] = [(r.msg_type, r.get(11), int(r.get(34) or 0)) for r in reports]
            seen["applied"] = fault.applied

    asyncio.run(run())
    assert seen["reports"] == [("8", "slow-2", 2), ("8", "slow-3", 3), ("8", "slow-4", 4)]
    assert seen["applied"] == 1
    assert any(0 < wait <= 0.04 for wait in waits), waits  # the writer waited out the hold
