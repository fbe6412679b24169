"""Time travel on a served `perps-sim serve --clock manual` over real sockets: a long advance in
the background, health answered while it runs, a write that waits for it, then the end.

The server is a subprocess started by the pytest plugin's `PerpsSim` (the same command a user
runs); the clients are httpx over TCP.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from simulator.server.pytest_plugin import ControlPlaneError, PerpsSim, ServerConfig
from tests.api.ws.frames import check

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


def test_a_slow_websocket_reader_paces_an_advance_instead_of_being_dropped(tmp_path: Path):
    # a send-queue bound of 5,000 frames against a simulated hour of three books and tickers
    # (about 36,000 frames, made faster than this client reads: it checks each frame against its
    # schema); without pacing the connection is ended with error 25 and close code 1013
    args = ("--auth", "open", "--ws", "send_queue_frames=5000")
    with PerpsSim.start(ServerConfig(scenario="default", args=args), workdir=tmp_path) as sim:
        received, expected = asyncio.run(_read_an_advance_slowly(sim, 40 * 60_000))

    assert received == expected
    assert expected["orderbook_delta"] > 15_000  # far past the bound


async def _read_an_advance_slowly(sim: PerpsSim, ms: int) -> tuple[Counter[str], Counter[str]]:
    markets = ["KXBTCPERP", "KXETHPERP", "KXSOLPERP"]
    headers = {"KALSHI-ACCESS-KEY": "slow-reader"}  # --auth open
    async with websockets.connect(sim.ws_url, additional_headers=headers) as ws:

        async def frame() -> dict[str, Any]:
            parsed: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 60))
            check(parsed)
            return parsed

        params = {"channels": ["orderbook_delta", "ticker"], "market_tickers": markets}
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": params}))
        opening = [(await frame())["type"] for _ in range(5)]
        assert sorted(opening) == ["orderbook_snapshot"] * 3 + ["subscribed"] * 2
        mark = sim.control("GET", "/events?after=0&limit=1")["last_seq"]
        advance = asyncio.create_task(asyncio.to_thread(sim.advance, ms))
        received: Counter[str] = Counter()
        expected: Counter[str] | None = None
        while expected is None or received != expected:
            received[(await frame())["type"]] += 1  # a close (error 25, 1013) raises here
            if expected is None and advance.done():
                await advance
                page = sim.control("GET", f"/events?after={mark}&limit=100000")
                assert not page["truncated"]
                kinds = {"BookDelta": "orderbook_delta", "TickerChanged": "ticker"}
                expected = Counter(
                    kinds[e["event"]["type"]] for e in page["events"] if e["event"]["type"] in kinds
                )
        return received, expected
