"""The six margin channels over a real socket (WEBSOCKET.md §5, §7, §8), every frame schema-checked.

Each test opens its own connections on a module-wide live server (manual clock, default
scenario) that is reset first; REST calls go through httpx on the same server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.api.live import LiveServer, live_server
from tests.api.served import NewUser
from tests.api.ws.client import connected

BTC = "KXBTCPERP"
ETH = "KXETHPERP"


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with live_server() as server:
        yield server


_CLIENTS: dict[str, httpx.Client] = {}


@pytest.fixture
def server(live: LiveServer) -> Iterator[LiveServer]:
    live.control("POST", "/reset").raise_for_status()
    yield live
    for client in _CLIENTS.values():
        client.close()
    _CLIENTS.clear()


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


def rest(server: LiveServer, user: NewUser | None = None) -> httpx.Client:
    """One kept-alive client per user (None: unsigned), closed after the test."""
    key = "" if user is None else user.api_key_id
    if key not in _CLIENTS:
        _CLIENTS[key] = server.client(None if user is None else user.auth)
    return _CLIENTS[key]


def order(
    client: httpx.Client, side: str, price: str, count: str = "1", coid: str = "c"
) -> dict[str, Any]:
    body = {
        "ticker": BTC,
        "client_order_id": coid,
        "side": side,
        "count": count,
        "price": price,
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    response = client.post("/margin/orders", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def rest_book(server: LiveServer, ticker: str = BTC) -> dict[str, dict[str, Decimal]]:
    response = rest(server).get(f"/margin/markets/{ticker}/orderbook")
    response.raise_for_status()
    book = response.json()["orderbook"]
    return {
        "bid": {p: Decimal(c) for p, c in book["bids"]},
        "ask": {p: Decimal(c) for p, c in book["asks"]},
    }


def apply(book: dict[str, dict[str, Decimal]], frame: dict[str, Any]) -> None:
    msg = frame["msg"]
    if frame["type"] == "orderbook_snapshot":
        for side in ("bid", "ask"):
            book[side] = {p: Decimal(c) for p, c in msg.get(side, [])}
        return
    level = book[msg["side"]]
    quantity = level.get(msg["price"], Decimal(0)) + Decimal(msg["delta"])
    if quantity > 0:
        level[msg["price"]] = quantity
    else:
        level.pop(msg["price"], None)


def best_ask(server: LiveServer) -> str:
    return min(rest_book(server)["ask"], key=Decimal)


# ------------------------------------------------------------------ orderbook_delta


def test_book_snapshot_then_deltas_rebuild_the_rest_book_and_owner_fields_only_for_owner(
    server: LiveServer,
) -> None:
    alice, bob = server.new_user("100000"), server.new_user("100000")

    async def test() -> None:
        async with connected(server, alice) as mine, connected(server, bob) as theirs:
            sid, frames = await mine.subscribe(
                "orderbook_delta", market_tickers=[BTC], send_initial_snapshot=True
            )
            other_sid, _ = await theirs.subscribe("orderbook_delta", market_ticker=BTC)
            assert (sid, other_sid) == (1, 1)
            assert [f["type"] for f in frames] == ["orderbook_snapshot"]
            assert frames[0]["seq"] == 1
            book: dict[str, dict[str, Decimal]] = {}
            apply(book, frames[0])
            assert book == rest_book(server)

            order(rest(server, alice), "bid", "6.0001", "2", coid="mine-1")
            order(rest(server, alice), "bid", best_ask(server), "1", coid="mine-2")
            deltas = await mine.settle()
            seen = await theirs.settle()
            assert [f["seq"] for f in deltas] == list(range(2, 2 + len(deltas)))
            for frame in deltas:
                apply(book, frame)
            assert book == rest_book(server)
            own = [f["msg"] for f in deltas if "client_order_id" in f["msg"]]
            assert own[0]["client_order_id"] == "mine-1" and own[0]["subaccount"] == 0
            assert all("client_order_id" not in f["msg"] for f in seen)
            assert all("last_update_reason" not in f["msg"] for f in seen)
            assert len(seen) == len(deltas)

    run(test)


def test_get_snapshot_sends_ok_first_then_snapshot_with_id_and_next_seq(
    server: LiveServer,
) -> None:
    alice = server.new_user()

    async def test() -> None:
        async with connected(server, alice) as ws:
            sid, _ = await ws.subscribe("orderbook_delta", market_tickers=[BTC, ETH])
            frames = await ws.command(
                "update_subscription",
                {"action": "get_snapshot", "sids": [sid], "market_tickers": [BTC]},
                command_id=40,
            )
            assert [f["type"] for f in frames] == ["ok", "orderbook_snapshot"]
            assert frames[0]["id"] == 40 and frames[0]["seq"] == 2  # latest, not consumed
            assert frames[1]["id"] == 40 and frames[1]["seq"] == 3
            assert frames[1]["msg"]["market_ticker"] == BTC

    run(test)


def test_add_and_delete_markets_ack_the_full_list_and_snapshot_the_added(
    server: LiveServer,
) -> None:
    alice = server.new_user()

    async def test() -> None:
        async with connected(server, alice) as ws:
            sid, _ = await ws.subscribe("orderbook_delta", market_ticker=BTC)
            frames = await ws.command(
                "update_subscription",
                {"action": "add_markets", "sid": sid, "market_tickers": [ETH]},
            )
            assert frames[0]["type"] == "ok"
            assert frames[0]["msg"] == {"market_tickers": [BTC, ETH]}
            assert frames[1]["type"] == "orderbook_snapshot" and frames[1]["seq"] == 2
            assert frames[1]["msg"]["market_ticker"] == ETH
            frames = await ws.command(
                "update_subscription",
                {"action": "delete_markets", "sids": [sid], "market_ticker": BTC},
            )
            assert frames == [
                {
                    "type": "ok",
                    "id": 3,
                    "sid": sid,
                    "seq": 2,
                    "msg": {"market_tickers": [ETH]},
                    "sending_ts_ms": frames[0]["sending_ts_ms"],
                }
            ]
            order(rest(server, alice), "bid", "6.0001", coid="gone")
            assert await ws.settle() == []  # BTC no longer delivered

    run(test)


# ------------------------------------------------------------------ trade, fill, user_orders


def test_trade_fill_and_user_order_frames_match_rest(server: LiveServer) -> None:
    alice, bob = server.new_user("100000"), server.new_user("100000")

    async def test() -> None:
        async with connected(server, alice) as ws, connected(server, bob) as other:
            trade_sid, _ = await ws.subscribe("trade")
            fill_sid, _ = await ws.subscribe("fill")
            orders_sid, _ = await ws.subscribe("user_orders", market_tickers=[BTC])
            await other.subscribe("fill")
            await other.subscribe("user_orders")
            created = order(rest(server, alice), "bid", best_ask(server), "3", coid="take")
            frames = await ws.settle()
            by_type: dict[str, list[dict[str, Any]]] = {}
            for frame in frames:
                by_type.setdefault(frame["type"], []).append(frame)
            trades = by_type["trade"]
            assert [t["seq"] for t in trades] == list(range(1, len(trades) + 1))
            assert all(t["sid"] == trade_sid for t in trades)
            rest_trades = rest(server).get("/margin/trades", params={"ticker": BTC}).json()
            rest_ids = {t["trade_id"] for t in rest_trades["trades"]}
            fills = by_type["fill"]
            assert fills and all(f["sid"] == fill_sid for f in fills)
            assert {f["msg"]["trade_id"] for f in fills} == {t["msg"]["trade_id"] for t in trades}
            assert {f["msg"]["trade_id"] for f in fills} <= rest_ids
            rest_fills = rest(server, alice).get("/margin/fills").json()["fills"]
            assert sorted(Decimal(f["count"]) for f in rest_fills) == sorted(
                Decimal(f["msg"]["count"]) for f in fills
            )
            assert all(f["msg"]["order_id"] == created["order_id"] for f in fills)
            assert all(f["msg"]["is_taker"] and f["msg"]["side"] == "bid" for f in fills)
            updates = by_type["user_order"]
            assert all(u["sid"] == orders_sid for u in updates)
            last = updates[-1]["msg"]
            rest_order = rest(server, alice).get(f"/margin/orders/{created['order_id']}").json()
            assert last["fill_count"] == rest_order["order"]["fill_count"]
            assert last["remaining_count"] == rest_order["order"]["remaining_count"]
            assert last["client_order_id"] == "take" and isinstance(last["created_ts_ms"], int)
            assert await other.settle() == []  # bob sees none of alice's fills or orders

    run(test)


def test_order_group_updates_are_private_and_sequenced(server: LiveServer) -> None:
    alice, bob = server.new_user(), server.new_user()

    async def test() -> None:
        async with connected(server, alice) as ws, connected(server, bob) as other:
            sid, _ = await ws.subscribe("order_group_updates")
            await other.subscribe("order_group_updates")
            response = rest(server, alice).post(
                "/margin/order_groups/create", json={"contracts_limit": 5}
            )
            assert response.status_code == 201, response.text
            group_id = response.json()["order_group_id"]
            frames = await ws.settle()
            assert [(f["type"], f["sid"], f["seq"]) for f in frames] == [
                ("order_group_updates", sid, 1)
            ]
            assert frames[0]["msg"]["event_type"] == "created"
            assert frames[0]["msg"]["order_group_id"] == group_id
            assert frames[0]["msg"]["contracts_limit_fp"] == "5.00"
            assert await other.settle() == []

    run(test)


# ------------------------------------------------------------------ ticker


def test_ticker_initial_snapshot_and_at_most_one_per_market_per_second(
    server: LiveServer,
) -> None:
    alice = server.new_user("100000")

    async def test() -> None:
        async with connected(server, alice) as ws:
            sid, frames = await ws.subscribe(
                "ticker", market_tickers=[BTC], send_initial_snapshot=True
            )
            assert [(f["type"], f["msg"]["market_ticker"]) for f in frames] == [("ticker", BTC)]
            assert frames[0]["msg"]["price"] == "0.0000"  # no trade yet
            for _ in range(3):
                order(rest(server, alice), "bid", best_ask(server), "1", coid="t")
            server.control("POST", "/clock/advance", json={"ms": 3_000}).raise_for_status()
            frames = await ws.settle()
            stamps = [f["msg"]["ts_ms"] for f in frames]
            assert frames and all(f["sid"] == sid for f in frames)
            assert len(stamps) == len({s // 1000 for s in stamps})
            last = frames[-1]["msg"]
            assert last["price"] != "0.0000" and last["last_trade_size_fp"] == "1.00"
            assert set(last["funding_rate"]) == {"rate", "next_funding_time_ms", "ts_ms"}

    run(test)


# ------------------------------------------------------------------ control frames


def test_sids_count_per_connection_and_unsubscribe_and_list(server: LiveServer) -> None:
    alice = server.new_user()

    async def test() -> None:
        async with connected(server, alice) as ws:
            frames = await ws.command("subscribe", {"channels": ["trade", "fill"]}, command_id=7)
            assert [(f["type"], f["id"], f["msg"]["sid"]) for f in frames] == [
                ("subscribed", 7, 1),
                ("subscribed", 7, 2),
            ]
            (reply,) = await ws.command("list_subscriptions", command_id=8)
            assert (reply["type"], reply["id"]) == ("ok", 8)
            assert reply["msg"] == [{"channel": "trade", "sid": 1}, {"channel": "fill", "sid": 2}]
            frames = await ws.command("unsubscribe", {"sids": [1, 2]}, command_id=10)
            assert [(f["type"], f["id"], f["sid"], f["seq"]) for f in frames] == [
                ("unsubscribed", 10, 1, 1),
                ("unsubscribed", 10, 2, 1),
            ]
        async with connected(server, alice) as again:
            sid, _ = await again.subscribe("trade")
            assert sid == 1

    run(test)


@pytest.mark.parametrize("replacement", ["reset", "import"])
def test_reset_and_state_import_close_every_connection_with_1012(
    server: LiveServer, replacement: str
) -> None:
    alice = server.new_user()

    async def test() -> None:
        async with connected(server, alice) as ws:
            await ws.subscribe("trade")
            if replacement == "reset":
                server.control("POST", "/reset").raise_for_status()
            else:
                state = server.control("GET", "/state").json()
                server.control("PUT", "/state", json=state).raise_for_status()
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012

    run(test)
