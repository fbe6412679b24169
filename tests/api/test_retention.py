"""REST reads of what retention dropped: unknown like any other order, and cursors keep their place.

The server's scenario keeps 4 done orders and 4 fills per user and 4 trades per market.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from simulator.server.scenarios import load_scenario
from tests.api.in_process import in_process_server
from tests.api.served import Served
from tests.api.test_orders import error_code, new_user, place

LIMITS = {"retain_terminal_orders": 4, "retain_fills": 4, "retain_trades": 4}


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    scenario = msgspec.structs.replace(load_scenario("bare"), config=LIMITS)
    with in_process_server(scenario) as served:
        yield served


@pytest.fixture
def other(fresh: Served) -> Iterator[httpx.Client]:
    with new_user(fresh) as c:
        yield c


def sweep(server: Served) -> None:
    # what the exchange does by itself once enough has built up, done now
    server.runtime.exchange.retention.sweep()


def ioc(client: httpx.Client, cid: str, **fields: Any) -> str:
    order = place(client, client_order_id=cid, time_in_force="immediate_or_cancel", **fields)
    order_id: str = order["order_id"]
    return order_id


def pages(client: httpx.Client, path: str, key: str, field: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [item[field] for item in body[key]], body["cursor"]


def test_a_dropped_order_reads_as_unknown(fresh: Served, client: httpx.Client) -> None:
    first = ioc(client, "o0")
    for i in range(1, 6):
        ioc(client, f"o{i}")
    sweep(fresh)

    response = client.get(f"/margin/orders/{first}")

    assert (response.status_code, error_code(response)) == (404, "not_found")
    cancel = client.delete(f"/margin/orders/{first}")
    assert cancel.status_code == 404


def test_an_order_cursor_keeps_its_place_when_older_orders_are_dropped(
    fresh: Served, client: httpx.Client
) -> None:
    place(client, client_order_id="rest", price="6.0000")  # resting: never dropped
    for i in range(4):
        ioc(client, f"o{i}")
    first, cursor = pages(client, "/margin/orders", "orders", "client_order_id", limit=2)
    for i in range(4, 8):
        ioc(client, f"o{i}")
    sweep(fresh)

    rest, end = pages(client, "/margin/orders", "orders", "client_order_id", cursor=cursor)
    newest, _ = pages(client, "/margin/orders", "orders", "client_order_id")

    assert first == ["o3", "o2"]
    assert (rest, end) == (["rest"], "")  # o1 and o0 were done longest ago: dropped
    assert newest == ["o7", "o6", "o5", "o4", "rest"]


def test_a_fill_cursor_keeps_its_place_when_older_fills_are_dropped(
    fresh: Served, client: httpx.Client, other: httpx.Client
) -> None:
    def trade(n: int) -> None:
        place(client, client_order_id=f"bid-{n}", count="1")
        ioc(other, f"ask-{n}", side="ask", count="1")

    for n in range(3):
        trade(n)
    first, cursor = pages(client, "/margin/fills", "fills", "order_id", limit=1)
    second, cursor = pages(client, "/margin/fills", "fills", "order_id", limit=1, cursor=cursor)
    for n in range(3, 6):
        trade(n)
    sweep(fresh)

    rest, end = pages(client, "/margin/fills", "fills", "order_id", cursor=cursor)
    kept, _ = pages(client, "/margin/fills", "fills", "order_id")

    assert len(kept) == 4
    assert rest == [] and end == ""  # the first fill was dropped
    assert first not in (second, rest)


def test_a_trade_cursor_keeps_its_place_when_older_trades_are_dropped(
    fresh: Served, client: httpx.Client, other: httpx.Client
) -> None:
    for n in range(6):
        place(client, client_order_id=f"bid-{n}", count="1")
        ioc(other, f"ask-{n}", side="ask", count="1")
    ids, cursor = pages(client, "/margin/trades", "trades", "trade_id", limit=2)
    sweep(fresh)  # the 4 newest trades are left

    rest, end = pages(client, "/margin/trades", "trades", "trade_id", cursor=cursor, limit=10)
    kept, _ = pages(client, "/margin/trades", "trades", "trade_id", limit=10)

    assert kept[:2] == ids and len(kept) == 4
    assert (rest, end) == (kept[2:], "")
