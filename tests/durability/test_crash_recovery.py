"""`kill -9` under load: nothing acknowledged is lost, nothing unacknowledged is half there.

Each round starts `perps-sim serve --state-dir D` (the `bare` scenario, a wall clock, so the
journal also carries the clock driver's timer runs) as a subprocess, then drives it at once
from three clients: REST orders (httpx, signed), control-plane deposits, and FIX orders
(kalshi-sdk's `MarginFixClient` on KalshiNR), with a WebSocket client subscribed to the order
book meanwhile. After a seeded number of acknowledgements the server is killed with SIGKILL
in the middle of that traffic, restarted on the same directory, and checked:

- every REST order answered 201 and every FIX order answered with a New ExecutionReport is
  there, with the same id, client order id, price and count;
- every deposit answered 200 is in the balance, and at most the deposits that were in flight
  at the kill are there besides (a command is applied whole or not at all);
- no order exists that no client sent;
- a second restart replays to the same state hash (recovery is deterministic).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from kalshi.fix.auth import FixSigner
from kalshi.fix.codec import RawMessage
from kalshi.fix.config import FixConfig, FixEnvironment
from kalshi.fix.enums import Side, TimeInForce
from kalshi.fix.messages.order_entry import NewOrderSingle
from kalshi.perps.fix import MarginFixClient
from websockets.asyncio.client import connect

from benchmarks.served import Served, serve_subprocess
from simulator.core.clock import WallClock
from tests.api import signing

BTC = "KXBTCPERP"
ROUNDS = 3
DEPOSIT = 1  # dollars per deposit


@contextmanager
def _server(state_dir: Path) -> Iterator[Served]:
    # a small --snapshot-every: kills land during and around snapshots and segment switches
    args = ["--scenario", "bare", "--clock", "wall", "--state-dir", str(state_dir)]
    args += ["--snapshot-every", "7"]
    with serve_subprocess(args, prefix="crash-") as served:
        yield served


def _control(served: Served) -> httpx.Client:
    return httpx.Client(base_url=served.urls["control_url"], timeout=30)


def _new_user(served: Served, n: int) -> tuple[str, str]:
    with _control(served) as control:
        body = {"balance": "100000.0000", "public_key_pem": signing.fixed_public_pem(n)}
        created = control.post("/users", json=body)
        assert created.status_code == 201, created.text
        user = created.json()
    return user["user_id"], user["api_key_id"]


class Load:
    """The three clients, their acknowledgements, and what was in flight."""

    def __init__(self, served: Served, user_id: str, key_id: str, n: int, seed: int) -> None:
        self.served = served
        self.user_id = user_id
        self.key_id = key_id
        self.n = n
        self.rng = random.Random(seed)
        self.rest_orders: dict[str, tuple[str, str, str]] = {}  # order_id -> (cl, price, count)
        self.fix_orders: dict[str, str] = {}  # cl_ord_id -> order_id
        self.sent_cl_ids: set[str] = set()
        self.deposits_acked = 0
        self.deposits_sent = 0
        self.acks = 0

    async def rest_loop(self, stop: asyncio.Event) -> None:
        auth = signing.KalshiAuth(self.key_id, signing.fixed_private_key(self.n))
        async with httpx.AsyncClient(
            base_url=self.served.urls["rest_url"], auth=auth, timeout=30
        ) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                cl = f"rest-{i}"
                price = f"6.{self.rng.randrange(100):02d}00"  # bids under the index: they rest
                body = {
                    "ticker": BTC,
                    "client_order_id": cl,
                    "side": "bid",
                    "count": "1.00",
                    "price": price,
                    "time_in_force": "good_till_canceled",
                    "self_trade_prevention_type": "taker_at_cross",
                }
                self.sent_cl_ids.add(cl)
                try:
                    response = await client.post("/margin/orders", json=body)
                except httpx.TransportError:
                    return
                assert response.status_code == 201, response.text
                self.rest_orders[response.json()["order_id"]] = (cl, price, "1.00")
                self.acks += 1

    async def deposit_loop(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.served.urls["control_url"], timeout=30) as c:
            while not stop.is_set():
                self.deposits_sent += 1
                try:
                    response = await c.post(
                        f"/users/{self.user_id}/deposit", json={"amount": f"{DEPOSIT}.0000"}
                    )
                except httpx.TransportError:
                    return
                assert response.status_code == 200, response.text
                self.deposits_acked += 1
                self.acks += 1

    async def fix_loop(self, stop: asyncio.Event) -> None:
        fix = self.served.urls["fix"]
        config = FixConfig.margin(
            FixEnvironment.DEMO,
            host="127.0.0.1",
            port=fix["ports"]["KalshiNR"],
            use_tls=False,
            max_retries=0,
        )
        client = MarginFixClient(
            FixSigner(self.key_id, signing.fixed_private_key(self.n)), config=config
        )
        news: asyncio.Queue[RawMessage] = asyncio.Queue()

        async def on_message(raw: RawMessage) -> None:
            if raw.msg_type == "8" and raw.get(150) == "0":
                await news.put(raw)

        session = client.order_entry(on_message=on_message)
        await session.start()
        try:
            for i in range(10_000):
                if stop.is_set():
                    return
                cl = f"fix-{i}"
                self.sent_cl_ids.add(cl)
                price = Decimal(f"5.{self.rng.randrange(90, 100)}")
                await session.send(
                    NewOrderSingle(
                        cl_ord_id=cl,
                        order_qty=Decimal(1),
                        price=price,
                        side=Side.BUY_YES,
                        symbol=BTC,
                        time_in_force=TimeInForce.GTC,
                    )
                )
                raw = await news.get()
                assert raw.get(11) == cl
                self.fix_orders[cl] = str(raw.get(37))
                self.acks += 1
        finally:
            with suppress(Exception):
                await asyncio.wait_for(session.close(), 2)

    async def ws_loop(self, stop: asyncio.Event) -> None:
        url = self.served.urls["ws_url"]
        ts = WallClock().now_ms()
        path = "/trade-api/ws/v2/margin"
        key = signing.fixed_private_key(self.n)
        headers = signing.headers(self.key_id, key, "GET", path, ts)
        async with connect(url, additional_headers=headers) as ws:
            subscribe = {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"]}}
            await ws.send(json.dumps(subscribe))
            while not stop.is_set():
                await ws.recv()


async def _drive(load: Load, kill_after: int) -> None:
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(loop(stop))
        for loop in (load.rest_loop, load.deposit_loop, load.fix_loop, load.ws_loop)
    ]
    try:
        while load.acks < kill_after:
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            await asyncio.sleep(0.005)
        load.served.process.send_signal(signal.SIGKILL)  # mid-traffic: requests in flight
        load.served.process.wait()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _orders(served: Served, key_id: str, n: int) -> dict[str, dict[str, Any]]:
    auth = signing.KalshiAuth(key_id, signing.fixed_private_key(n))
    found: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=served.urls["rest_url"], auth=auth, timeout=30) as client:
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            body = client.get("/margin/orders", params=params).json()
            for order in body["orders"]:
                found[order["order_id"]] = order
            cursor = body.get("cursor")
            if not cursor:
                return found


def _equity(served: Served, key_id: str, n: int) -> Decimal:
    auth = signing.KalshiAuth(key_id, signing.fixed_private_key(n))
    with httpx.Client(base_url=served.urls["rest_url"], auth=auth, timeout=30) as client:
        balance = client.get("/margin/balance").json()
    (primary,) = [b for b in balance["subaccount_balances"] if b["subaccount"] == 0]
    return Decimal(primary["account_equity"])


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path, round_: int) -> None:
    state_dir = tmp_path / "state"
    n = 3 + round_
    kill_after = 20 + random.Random(round_).randrange(60)
    with _server(state_dir) as served:
        user_id, key_id = _new_user(served, n)
        start = _equity(served, key_id, n)
        load = Load(served, user_id, key_id, n, seed=round_)
        asyncio.run(_drive(load, kill_after))
    assert load.acks >= kill_after

    with _server(state_dir) as served:
        orders = _orders(served, key_id, n)
        deposited = _equity(served, key_id, n) - start
    for order_id, (cl, price, count) in load.rest_orders.items():
        order = orders.get(order_id)
        assert order is not None, f"acknowledged REST order {cl} lost"
        assert (order["client_order_id"], order["price"], order["remaining_count"]) == (
            cl,
            price,
            count,
        ), order
    by_cl = {order["client_order_id"]: order for order in orders.values()}
    for cl, order_id in load.fix_orders.items():
        assert cl in by_cl, f"acknowledged FIX order {cl} lost"
        assert by_cl[cl]["order_id"] == order_id
    assert set(by_cl) <= load.sent_cl_ids  # nothing that no client sent
    # whole deposits only: every acknowledged one, at most the ones in flight besides
    assert deposited == int(deposited)
    assert load.deposits_acked <= deposited / DEPOSIT <= load.deposits_sent

    with _server(state_dir) as served:  # and the recovered journal recovers again, the same
        assert _orders(served, key_id, n) == orders


def test_kill_9_during_an_advance_restarts_at_the_last_slice_reached(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    args = ["--scenario", "default", "--clock", "manual", "--state-dir", str(state_dir)]
    day_ms = 24 * 3_600_000
    with serve_subprocess(args, prefix="crash-") as served, _control(served) as control:
        start_ms = control.get("/clock").json()["now_ms"]
        accepted = control.post("/clock/advance", json={"ms": day_ms, "wait": False})
        assert accepted.status_code == 202, accepted.text
        reached = start_ms
        while reached == start_ms:  # until a slice has been applied (each is journaled)
            reached = control.get("/clock").json()["advance"]["reached_ms"]
        served.process.send_signal(signal.SIGKILL)
        served.process.wait()

    with serve_subprocess(args, prefix="crash-") as served, _control(served) as control:
        clock = control.get("/clock").json()
        hash_ = control.get("/state/hash").json()["state_hash"]
    assert "advance" not in clock  # not resumed
    assert reached <= clock["now_ms"] < start_ms + day_ms
    with serve_subprocess(args, prefix="crash-") as served, _control(served) as control:
        assert control.get("/clock").json()["now_ms"] == clock["now_ms"]
        assert control.get("/state/hash").json()["state_hash"] == hash_
