"""Reads never change state: every GET of the REST API and the control plane.

The bare scenario, on its markets' random-walk references, starts half a second off the ticker
grid, so right after start its markets have a liquidation mark but no stored settlement mark
and no funding estimate yet, the state in which a read used to store them. After a day more, a
trade has left the rolling 24-hour volume without having been dropped yet, which a read used to
drop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from simulator.server.scenarios import load_scenario
from tests.api import signing, spec
from tests.api.conftest import make_client
from tests.api.in_process import in_process_server
from tests.api.served import Served

BTC = "KXBTCPERP"
START_S = 1_781_481_600
DAY_MS = 86_400_000
IDS = ("order_id", "order_group_id", "subtrader_id", "user_id")
CONTROL_READS = ("/health", "/clock", "/events", "/state", "/state/hash")


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    # the markets' own random-walk feeds (not bare's still ones), so that time moves marks
    scenario = msgspec.structs.replace(
        load_scenario("bare"), start_time="2026-06-15T00:00:00.500Z", feeds={}
    )
    with in_process_server(scenario) as served:
        yield served


def control(server: Served, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = server.control(method, path, **kwargs)
    assert response.status_code in (200, 201), response.text
    return response


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def order(client: httpx.Client, side: str, count: str, cid: str, price: str = "6.2590") -> str:
    body = {
        "ticker": BTC,
        "client_order_id": cid,
        "side": side,
        "count": count,
        "price": price,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    order_id: str = ok(client.post("/margin/orders", json=body))["order_id"]
    return order_id


def activity(server: Served, client: httpx.Client) -> dict[str, str]:
    """A trade, a resting order, a group, an exit trigger, a subaccount and a subtrader."""
    with make_client(server, server.new_user("2000.0000").auth) as other:
        order(client, "ask", "30", "d-1")
        order(other, "bid", "10", "o-1")
    group = ok(client.post("/margin/order_groups/create", json={"contracts_limit": 50}))
    trigger = {"stop_loss_price": "7.0000"}
    ok(client.put(f"/margin/cross/positions/{BTC}/exit_trigger", json=trigger))
    ok(client.post("/portfolio/margin/subaccounts", json={}))
    suffix = {"subtrader_suffix": "desk1", "require_category_cap": False}
    subtrader = ok(client.post("/margin/fcm/subtraders", json=suffix))["subtrader_id"]
    cap = {"subtrader_id": subtrader, "im_cap": "25", "market_ticker": BTC}
    ok(client.put("/margin/fcm/subtraders/risk_controls", json=cap))
    return {
        "order_id": order(client, "bid", "5", "d-2", "6.2000"),
        "order_group_id": group["order_group_id"],
        "subtrader_id": subtrader,
        "user_id": signing.DEMO_USER_ID,
    }


def every_read(ids: dict[str, str], now_s: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(template, path, query) of every GET operation of the spec."""
    window = {"start_ts": now_s - 3_600, "end_ts": now_s}
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/account/limits/perps", {}),
        ("/margin/exchange/status", {}),
        ("/margin/enabled", {}),
        ("/margin/risk_parameters", {}),
        ("/margin/markets", {}),
        ("/margin/markets/orderbooks", {"tickers": f"{BTC},KXETHPERP"}),
        ("/margin/markets/{ticker}", {}),
        ("/margin/markets/{ticker}/orderbook", {"depth": 5}),
        (
            "/margin/markets/{ticker}/candlesticks",
            {**window, "period_interval": 1, "include_latest_before_start": "true"},
        ),
        ("/margin/trades", {"ticker": BTC}),
        ("/margin/orders", {"status": "resting"}),
        ("/margin/orders/{order_id}", {}),
        ("/margin/fcm/orders", {"subtrader_id": ids["user_id"]}),
        ("/margin/order_groups", {}),
        ("/margin/order_groups/{order_group_id}", {}),
        ("/margin/fills", {}),
        ("/margin/positions", {}),
        ("/margin/balance", {"compute_available_balance": "true"}),
        ("/margin/risk", {}),
        ("/margin/notional_risk_limit", {}),
        ("/margin/fee_tiers", {}),
        ("/margin/fee_tier_rates", {}),
        ("/margin/corporate_actions", {}),
        ("/margin/funding_history", {"start_date": "2026-06-14", "end_date": "2026-06-17"}),
        ("/margin/funding_rates/historical", {"ticker": BTC}),
        ("/margin/funding_rates/estimate", {"ticker": BTC}),
        ("/margin/funding_rates/premium_index", {"ticker": BTC, **window}),
        ("/margin/isolated/positions/{ticker}/exit_trigger", {}),
        ("/margin/cross/positions/{ticker}/exit_trigger", {}),
        ("/margin/fcm/subtraders/risk_controls", {"subtrader_id": ids["subtrader_id"]}),
    ]
    return [(t, t.format(ticker=BTC, **ids), query) for t, query in calls]


def test_the_read_list_covers_every_get_of_the_spec() -> None:
    listed = {template for template, _, _ in every_read(dict.fromkeys(IDS, "x"), START_S)}

    assert listed == {t for method, t, _ in spec.operations() if method == "GET"}


@pytest.mark.parametrize("later_ms", [0, DAY_MS + 60_000], ids=["at_start", "a_day_later"])
def test_reads_change_neither_state_nor_what_happens_next(
    fresh: Served, client: httpx.Client, public: httpx.Client, later_ms: int
) -> None:
    ids = activity(fresh, client)
    if later_ms:
        control(fresh, "POST", "/clock/advance", json={"ms": later_ms})
    snapshot = control(fresh, "GET", "/state").json()
    seq = control(fresh, "GET", "/events").json()["last_seq"]
    now_s = control(fresh, "GET", "/clock").json()["now_ms"] // 1000

    for _ in range(2):  # a second round reads whatever the first one could have left behind
        for template, path, query in every_read(ids, now_s):
            ok(client.get(path, params=query))
            if "security" not in spec.operation("GET", template):
                ok(public.get(path, params=query))
        for path in CONTROL_READS:
            control(fresh, "GET", path)
    after_reads = control(fresh, "GET", "/state").json()
    control(fresh, "POST", "/clock/advance", json={"ms": 120_000})
    with_reads = control(fresh, "GET", "/events", params={"after": seq}).json()
    hash_with_reads = control(fresh, "GET", "/state/hash").json()
    control(fresh, "PUT", "/state", json=snapshot)  # the same state, never read
    control(fresh, "POST", "/clock/advance", json={"ms": 120_000})
    without_reads = control(fresh, "GET", "/events", params={"after": seq}).json()

    assert after_reads == snapshot
    assert with_reads["events"], "time moved: marks, tickers or funding should have published"
    assert with_reads == without_reads
    assert hash_with_reads == control(fresh, "GET", "/state/hash").json()
