"""Time travel on a served `perps-sim serve --clock manual` over real sockets: a long advance in
the background, health answered while it runs, a write that waits for it, then the end.

The server is a subprocess started by the pytest plugin's `PerpsSim` (the same command a user
runs); the clients are httpx over TCP.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.server.pytest_plugin import ControlPlaneError, PerpsSim, ServerConfig

HOUR_MS = 3_600_000


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[PerpsSim]:
    with PerpsSim.start(ServerConfig(scenario="default"), workdir=tmp_path) as server:
        yield server


def test_a_background_advance_leaves_the_server_answering_and_then_completes(sim: PerpsSim):
    start = sim.clock()["now_ms"]
    target = start + 4 * HOUR_MS  # a second or more of work for the default scenario

    accepted = sim.advance(4 * HOUR_MS, wait=False)
    with httpx.Client(timeout=60, trust_env=False) as other:  # a second connection
        health = other.get(f"{sim.control_url}/health")
        clock = other.get(f"{sim.control_url}/clock").json()
        with pytest.raises(ControlPlaneError) as refused:
            sim.reset()
        # a write waits at the gate for the end of the advance, then runs at the final time
        deposit = other.post(f"{sim.control_url}/users/demo-user/deposit", json={"amount": "1"})
    after = sim.wait_for_advance()  # idle by now: at once

    assert accepted["advance"]["target_ms"] == target
    assert health.status_code == 200
    assert start <= health.json()["now_ms"] < target  # answered mid-advance
    assert clock["advance"]["target_ms"] == target
    assert clock["advance"]["reached_ms"] == clock["now_ms"] < target
    assert refused.value.status_code == 409
    assert "advance_in_progress" in refused.value.body
    assert deposit.status_code == 200
    assert after == {
        "mode": "manual",
        "now_ms": target,
        "now": "2026-06-15T04:00:00.000Z",
    }
    events = sim.control("GET", "/events?after=0&limit=1")
    last = sim.control("GET", f"/events?after={events['last_seq'] - 1}")["events"][-1]["event"]
    assert (last["type"], last["reason"], last["ts_ms"]) == ("BalanceChanged", "deposit", target)
