"""A long `POST /sim/v1/clock/advance` leaves the server serving: reads between its slices,
writes after it at the final time, exclusive operations refused with 409.

The app runs in process on one event loop (httpx's ASGI transport), with an advancer whose fake
wall clock keeps every slice at one simulated minute, so an hour takes 60 slices whatever the
machine.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from api.app import create_app
from simulator.core.events import BalanceChanged
from simulator.server.advancer import Advancer
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
BASE = "http://127.0.0.1:9"  # never dialled: the control plane answers loopback names only


def _runtime(scenario: str = "default") -> Runtime:
    steps = itertools.repeat(0.01)  # every reading 10 ms later: slices keep their length
    wall_now = itertools.accumulate(steps, initial=0.0)
    advancer = Advancer(lambda: next(wall_now), first_slice_ms=MINUTE_MS, slice_work_s=0.01)
    return Runtime(load_scenario(scenario), clock_mode="manual", advancer=advancer)


def _serve(runtime: Runtime, test: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url=f"{BASE}/sim/v1") as client:
            await test(client)
        await runtime.advancer.wait()

    asyncio.run(main())


async def _first_slice(runtime: Runtime) -> None:
    plan = runtime.advancer.running
    assert plan is not None
    while plan.reached_ms == plan.start_ms:
        await asyncio.sleep(0)


def test_wait_false_answers_202_with_the_advance_and_the_clock_shows_its_progress():
    runtime = _runtime()
    start = runtime.exchange.now()
    answers: list[dict[str, Any]] = []

    async def test(client: httpx.AsyncClient) -> None:
        accepted = await client.post("/clock/advance", json={"ms": HOUR_MS, "wait": False})
        assert accepted.status_code == 202
        answers.append(accepted.json())
        await _first_slice(runtime)
        answers.append((await client.get("/clock")).json())
        await runtime.advancer.wait()
        answers.append((await client.get("/clock")).json())

    _serve(runtime, test)

    accepted, running, done = answers
    assert accepted["now_ms"] == start
    assert accepted["advance"] == {
        "target_ms": start + HOUR_MS,
        "reached_ms": start,
        "percent": 0.0,
        "eta_ms": None,
    }
    progress = running["advance"]
    assert progress["target_ms"] == start + HOUR_MS
    assert start < progress["reached_ms"] == running["now_ms"] < start + HOUR_MS
    assert 0 < progress["percent"] < 100
    assert progress["eta_ms"] > 0
    assert "lag_ms" not in running  # manual clock
    assert done == {
        "mode": "manual",
        "now_ms": start + HOUR_MS,
        "now": "2026-06-15T01:00:00.000Z",
    }


def test_health_and_reads_answer_between_slices_of_an_advance_that_waits():
    runtime = _runtime()
    start = runtime.exchange.now()
    seen: dict[str, Any] = {}

    async def test(client: httpx.AsyncClient) -> None:
        advance = asyncio.create_task(client.post("/clock/advance", json={"ms": HOUR_MS}))
        while runtime.advancer.running is None:
            await asyncio.sleep(0)
        await _first_slice(runtime)
        health = await client.get("/health")
        events = await client.get("/events", params={"after": 0, "limit": 1})
        seen["health"], seen["events"] = health.status_code, events.status_code
        plan = runtime.advancer.running
        assert plan is not None
        seen["reached_at_health"] = health.json()["now_ms"]
        seen["advance_done_at_health"] = advance.done()
        answer = await advance
        seen["advance"] = (answer.status_code, answer.json())

    _serve(runtime, test)

    assert (seen["health"], seen["events"]) == (200, 200)
    assert not seen["advance_done_at_health"]
    assert start < seen["reached_at_health"] < start + HOUR_MS
    status, clock = seen["advance"]
    assert (status, clock["now_ms"]) == (200, start + HOUR_MS)
    assert "advance" not in clock


def test_writes_during_an_advance_wait_and_run_at_the_final_time():
    runtime = _runtime()
    start = runtime.exchange.now()
    seen: dict[str, Any] = {}

    async def test(client: httpx.AsyncClient) -> None:
        await client.post("/clock/advance", json={"ms": HOUR_MS, "wait": False})
        await _first_slice(runtime)
        deposit = asyncio.create_task(client.post("/users/demo-user/deposit", json={"amount": "5"}))
        user = asyncio.create_task(client.post("/users", json={"user_id": "late"}))
        await client.get("/health")  # a turn of the loop for the writes to reach the gate
        await _first_slice(runtime)
        seen["pending"] = not deposit.done() and not user.done()
        seen["writes"] = runtime.advancer.writes
        seen["deposit"] = (await deposit).status_code
        seen["user"] = (await user).status_code
        seen["running_after"] = runtime.advancer.running

    _serve(runtime, test)

    assert seen["pending"]
    assert seen["writes"] == 0  # waiting at the gate, not running
    assert (seen["deposit"], seen["user"]) == (200, 201)
    assert seen["running_after"] is None
    exchange = runtime.exchange
    deposits = [
        event
        for _, event in exchange.events_since(0, None)
        if isinstance(event, BalanceChanged) and event.reason == "deposit"
    ]
    assert deposits[-1].ts_ms == start + HOUR_MS
    assert deposits[-1].user_id == "demo-user"
    assert [entry[1] for entry in exchange.command_log.entries[-2:]] == ["deposit", "create_user"]
    assert exchange.command_log.entries[-1][0] == start + HOUR_MS


def test_another_advance_a_reset_and_a_state_import_get_409_while_one_runs():
    runtime = _runtime("bare")
    seen: dict[str, Any] = {}

    async def test(client: httpx.AsyncClient) -> None:
        snapshot = (await client.get("/state")).content
        await client.post("/clock/advance", json={"ms": HOUR_MS, "wait": False})
        await _first_slice(runtime)
        seen["hash"] = runtime.state_hash()
        seen["advance"] = await client.post("/clock/advance", json={"ms": 1_000})
        seen["wait_false"] = await client.post("/clock/advance", json={"ms": 1, "wait": False})
        seen["reset"] = await client.post("/reset")
        seen["import"] = await client.put(
            "/state", content=snapshot, headers={"content-type": "application/json"}
        )
        seen["hash_after"] = runtime.state_hash()
        seen["generation"] = runtime.generation

    _serve(runtime, test)

    for name in ("advance", "wait_false", "reset", "import"):
        response = seen[name]
        assert response.status_code == 409, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == "advance_in_progress", name
        assert error["service"] == "exchange"
        assert "GET /sim/v1/clock" in error["message"]
    assert seen["hash_after"] == seen["hash"]  # nothing changed but the slices in between
    assert seen["generation"] == 0
    assert runtime.exchange.now() == runtime.scenario.start_ms + HOUR_MS


def test_rest_order_entry_waits_for_the_advance_too():
    runtime = _runtime()
    start = runtime.exchange.now()
    seen: dict[str, Any] = {}

    async def test(client: httpx.AsyncClient) -> None:
        await client.post("/clock/advance", json={"ms": HOUR_MS, "wait": False})
        await _first_slice(runtime)
        # unsigned: refused with 401, but only after the advance (the gate is before auth)
        order = asyncio.create_task(client.post(f"{BASE}/trade-api/v2/margin/orders", json={}))
        balance = await client.get(f"{BASE}/trade-api/v2/margin/balance")
        seen["read"] = balance.status_code
        seen["pending"] = not order.done()
        seen["order"] = (await order).status_code
        seen["now_at_order"] = runtime.exchange.now()

    _serve(runtime, test)

    assert seen["read"] == 401
    assert seen["pending"]
    assert seen["order"] == 401
    assert seen["now_at_order"] == start + HOUR_MS


def test_a_running_clock_reports_its_lag_and_cannot_be_advanced():
    runtime = Runtime(load_scenario("default"), clock_mode="accelerated", speed=1_000.0)
    seen: dict[str, Any] = {}

    async def test(client: httpx.AsyncClient) -> None:
        seen["clock"] = (await client.get("/clock")).json()
        seen["advance"] = await client.post("/clock/advance", json={"ms": 1_000, "wait": False})

    _serve(runtime, test)

    clock = seen["clock"]
    assert clock["mode"] == "accelerated"
    assert isinstance(clock["lag_ms"], int)
    assert clock["lag_ms"] >= 0  # no driver runs here: timers fall due unfired
    assert "advance" not in clock
    assert seen["advance"].status_code == 409
    assert seen["advance"].json()["error"]["code"] == "clock_not_manual"


def test_to_ms_moves_the_clock_to_that_instant_as_the_span_to_it_would():
    runtime = _runtime()
    start = runtime.exchange.now()
    by_span = _runtime()

    async def test(client: httpx.AsyncClient) -> None:
        moved = await client.post("/clock/advance", json={"to_ms": start + HOUR_MS + 250})
        assert moved.status_code == 200
        assert moved.json()["now_ms"] == start + HOUR_MS + 250
        same = await client.post("/clock/advance", json={"to_ms": start + HOUR_MS + 250})
        assert same.json()["now_ms"] == start + HOUR_MS + 250  # already there: a no-op
        started = await client.post(
            "/clock/advance", json={"to_ms": start + 2 * HOUR_MS, "wait": False}
        )
        assert started.status_code == 202
        assert started.json()["advance"]["target_ms"] == start + 2 * HOUR_MS

    _serve(runtime, test)

    async def span(client: httpx.AsyncClient) -> None:
        await client.post("/clock/advance", json={"ms": HOUR_MS + 250})
        await client.post("/clock/advance", json={"ms": HOUR_MS - 250})

    _serve(by_span, span)
    assert runtime.exchange.now() == by_span.exchange.now() == start + 2 * HOUR_MS
    assert runtime.state_hash() == by_span.state_hash()
