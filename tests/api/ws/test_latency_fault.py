"""`ws_latency` faults: a matching data frame holds the connection's frames back, in order.

Time is a stand-in wall clock and a recorded sleep, so what is checked is how long the writer
is told to wait and that nothing leaves before, never a measured delay.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from types import SimpleNamespace

import pytest

from api.ws.endpoint import _Writer
from api.ws.hub import Hub
from matching import Side
from simulator.core.money import MONEY_SCALE
from simulator.model.orders import PlaceOrder
from simulator.server.faults import FaultSpec
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario


def _order(n: int) -> PlaceOrder:
    return PlaceOrder(
        ticker="KXBTCPERP",
        side=Side.BID,
        count=100,
        price=10_000 + n,
        client_order_id=f"lat-{n}",
    )


@pytest.mark.parametrize(("channel", "held"), [("orderbook_delta", 250), ("trade", 0), (None, 250)])
def test_a_matching_frame_holds_the_connection_for_the_latency(
    channel: str | None, held: int
) -> None:
    async def run() -> tuple[int, int, list[str]]:
        runtime = Runtime(load_scenario("bare"), clock_mode="manual")
        runtime.exchange.deposit("demo-user", 10_000 * MONEY_SCALE)
        runtime.add_fault(FaultSpec(kind="ws_latency", latency_ms=250, channel=channel))
        hub = Hub(runtime)
        session = hub.open("demo-user", "key-1")
        wall = [1_000_000]
        session._wall_ms = lambda: wall[0]
        session.receive_text(
            json.dumps(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": ["orderbook_delta"], "market_tickers": ["KXBTCPERP"]},
                }
            )
        )
        assert session.held_ms() == 0  # a command reply is not a data frame
        runtime.exchange.place_order("demo-user", _order(1))
        hub.pump()
        first = session.held_ms()
        wall[0] += 100
        later = session.held_ms()
        kinds = [json.loads(t)["type"] for t in session.outbox]
        await hub.aclose()
        return first, later, kinds

    first, later, kinds = asyncio.run(run())
    assert first == held
    assert later == max(held - 100, 0)
    assert kinds[-1] == "orderbook_delta"


def test_the_writer_waits_out_the_hold_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    hold = [250]
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        log.append(f"sleep {seconds}")
        hold[0] = 0
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    runtime = SimpleNamespace(faults=[], journal_pending=False)
    socket = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(runtime=runtime)))

    async def send(message: dict[str, str]) -> None:
        log.append("sent " + message["text"])

    socket.send = send

    async def run() -> None:
        writer = _Writer(socket, None)  # type: ignore[arg-type]
        session = SimpleNamespace(
            outbox=deque(), close_code=None, user_id="u1", held_ms=lambda: hold[0]
        )
        writer.session = session  # type: ignore[assignment]

        def direct(texts: list[str]) -> bool:
            log.append("direct")
            return True

        writer.direct = direct
        task = asyncio.get_running_loop().create_task(writer.run())
        session.outbox.extend(["a", "b"])
        writer.flush()
        for _ in range(5):
            await real_sleep(0)
        task.cancel()

    asyncio.run(run())
    assert log == ["sleep 0.25", "sent a", "sent b"]
