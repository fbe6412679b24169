"""kalshi-sdk 22.4.0 `PerpsWebSocket` against a live server, end to end, on all six channels.

The SDK connects over a real socket to `/trade-api/ws/v2/margin` (signed handshake), and REST
calls go through the SDK's `AsyncPerpsClient`. Frames are awaited on the SDK's own iterators
with a timeout; nothing sleeps on the wall clock. The SDK throws away every frame it reads while
it waits for a command's reply (WEBSOCKET.md §12.3), so each test receives all the frames it
expects before it sends the next command (for instance: the snapshot after a subscribe to
`orderbook_delta`, before the next subscribe).

- the local book the SDK builds from snapshot + deltas equals REST's orderbook, with no gap;
- `update_subscription` add_markets / delete_markets / get_snapshot;
- trade, ticker, fill, user_orders and order_group_updates, parsed into the SDK's models and
  compared with REST;
- privacy of fill and user_orders between two users;
- unsubscribe and list_subscriptions;
- reconnect after `POST /sim/v1/reset` (close code 1012): resubscribed, fresh snapshot, sids
  from 1 again;
- a handshake with a wrong key is refused; `corporate_actions` gets error 8.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from kalshi.errors import KalshiConnectionError, KalshiSubscriptionError
from kalshi.perps import AsyncPerpsClient
from kalshi.perps.models.orders import CreateMarginOrderResponse
from kalshi.perps.ws import PerpsWebSocket
from kalshi.perps.ws.models import (
    MarginFillMessage,
    MarginOrderbookDeltaMessage,
    MarginOrderbookSnapshotMessage,
    MarginTickerMessage,
    MarginTradeMessage,
    MarginUserOrderMessage,
    OrderGroupUpdatesMessage,
)
from websockets.exceptions import InvalidStatus

from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.api.live import LiveServer, live_server
from tests.api.served import NewUser
from tests.e2e.ws_helpers import (
    FrameLog,
    client_id,
    drain,
    next_item,
    perps_config,
    perps_ws,
    rest_book,
    rest_client,
    sdk_auth,
    sdk_book,
    server_sid,
    settle,
    until,
)

BTC = "KXBTCPERP"
ETH = "KXETHPERP"
DEMO_USER = signing.DEMO_USER_ID

BookFrame = MarginOrderbookSnapshotMessage | MarginOrderbookDeltaMessage

# What the SDK logs when it drops a frame it cannot use: a test must never cause one.
_DROPPED = (
    "Failed to parse",
    "Unknown message type",
    "no snapshot yet",
    "Sequence gap",
    "Sequence reset",
    "Orphan subscribed",
)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with live_server(load_scenario("bare")) as live:
        yield live


@pytest.fixture
def fresh(server: LiveServer) -> LiveServer:
    server.control("POST", "/reset").raise_for_status()
    return server


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def sdk_dropped(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("kalshi") and any(d in r.getMessage() for d in _DROPPED)
    ]


def demo_rest(server: LiveServer) -> AsyncPerpsClient:
    pem = (signing.FIXTURES / "keys" / "demo_private.pem").read_text()
    return rest_client(server, signing.DEMO_KEY_ID, pem)


def user_rest(server: LiveServer, user: NewUser) -> AsyncPerpsClient:
    return rest_client(server, user.api_key_id, user.private_key_pem)


def demo_ws(server: LiveServer) -> AbstractAsyncContextManager[tuple[PerpsWebSocket, FrameLog]]:
    return perps_ws(server, signing.DEMO_KEY_ID, signing.demo_private_key())


def user_ws(
    server: LiveServer, user: NewUser
) -> AbstractAsyncContextManager[tuple[PerpsWebSocket, FrameLog]]:
    return perps_ws(server, user.api_key_id, user.key)


async def place(
    rest: AsyncPerpsClient,
    ticker: str,
    side: str,
    count: str,
    price: str,
    *,
    tif: str = "good_till_canceled",
    client_order_id: str | None = None,
    **extra: Any,
) -> CreateMarginOrderResponse:
    return await rest.orders.create(  # type: ignore[call-overload,no-any-return]
        ticker=ticker,
        client_order_id=client_order_id or str(uuid.uuid4()),
        side=side,
        count=count,
        price=price,
        time_in_force=tif,
        self_trade_prevention_type="taker_at_cross",
        **extra,
    )


async def subscribe_book(
    ws: PerpsWebSocket, log: FrameLog, tickers: list[str]
) -> AsyncIterator[BookFrame]:
    """Subscribe to `orderbook_delta` and wait for its snapshots (the stream is then quiet)."""
    book = await ws.subscribe_orderbook_delta(tickers=tickers)
    for ticker in tickers:
        snapshot = await next_item(book, log, f"snapshot of {ticker}")
        assert isinstance(snapshot, MarginOrderbookSnapshotMessage), snapshot
        assert snapshot.msg.market_ticker == ticker
    return book


async def book_settles(
    ws: PerpsWebSocket,
    log: FrameLog,
    book: AsyncIterator[BookFrame],
    rest: AsyncPerpsClient,
    *tickers: str,
) -> list[BookFrame]:
    """Read book frames until the SDK's book of each ticker equals REST's (read once, now).

    The SDK applies a frame to its book before it queues it on the iterator, so the book can be
    right before the iterator has yielded the frames: those queued already are read too.
    """
    expected = {t: await rest_book(rest, t) for t in tickers}
    frames = await settle(
        book,
        log,
        lambda: all(sdk_book(ws, t) == expected[t] for t in tickers),
        f"book frames making the SDK's book {expected}",
    )
    frames += await drain(book)
    for t in tickers:
        assert sdk_book(ws, t) == expected[t]
    return frames


def ms(when: datetime | None) -> int | None:
    return None if when is None else round(when.timestamp() * 1000)


def seqs(log: FrameLog, sid: int) -> list[int]:
    return [f["seq"] for f in log.of_sid(sid)]


# ------------------------------------------------------------------ 1. the book


def test_orderbook_matches_rest(fresh: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with (
            demo_rest(fresh) as alice,
            user_rest(fresh, bob) as bobs,
            demo_ws(fresh) as (ws, log),
        ):
            book = await subscribe_book(ws, log, [BTC])
            assert sdk_book(ws, BTC) == await rest_book(alice, BTC) == ((), ())

            spare = await place(alice, BTC, "bid", "5", "6.2400")
            await book_settles(ws, log, book, alice, BTC)
            steps: list[Callable[[], Awaitable[object]]] = [
                lambda: place(alice, BTC, "bid", "10", "6.2500"),
                lambda: place(bobs, BTC, "ask", "3", "6.2700"),
                lambda: place(bobs, BTC, "ask", "2", "6.2800"),
                # crosses: takes 4 of Alice's 10 at 6.2500
                lambda: place(bobs, BTC, "ask", "4", "6.2500", tif="immediate_or_cancel"),
                # crosses: takes Bob's 3 at 6.2700 and rests 2 at 6.2700
                lambda: place(alice, BTC, "bid", "5", "6.2700"),
                lambda: alice.orders.cancel(spare.order_id),
            ]
            for step in steps:
                await step()
                await book_settles(ws, log, book, alice, BTC)

            bids, asks = await rest_book(alice, BTC)
            assert bids == ((Decimal("6.2700"), Decimal(2)), (Decimal("6.2500"), Decimal(6)))
            assert asks == ((Decimal("6.2800"), Decimal(2)),)
            sid = server_sid(ws, book)
            assert sid == 1
            numbers = seqs(log, sid)
            assert numbers == list(range(1, len(numbers) + 1)), log.show()
            # Alice's own copy of the delta of her bid hit by Bob carries the reason
            own = [
                f["msg"]
                for f in log.of_sid(sid)
                if f["type"] == "orderbook_delta" and "last_update_reason" in f["msg"]
            ]
            assert {m["last_update_reason"] for m in own} >= {"Trade"}, log.show()

    run(scenario())
    assert sdk_dropped(caplog) == []


# ------------------------------------------------------------------ 2. update_subscription


def test_add_delete_markets_and_get_snapshot(
    fresh: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with demo_rest(fresh) as alice, demo_ws(fresh) as (ws, log):
            book = await subscribe_book(ws, log, [BTC])
            cid = client_id(ws, book)

            # ETH is not subscribed yet: the first frame after both orders is BTC's delta
            await place(alice, ETH, "bid", "2", "3.0000")
            await place(alice, BTC, "bid", "1", "6.2000")
            (delta,) = await until(
                book, log, lambda f: isinstance(f, MarginOrderbookDeltaMessage), "BTC delta"
            )
            assert delta.msg.market_ticker == BTC, log.show()

            # add_markets: ok with every market, then a snapshot of the added one
            mark = len(log.frames)
            await ws.update_subscription(cid, "add_markets", market_tickers=[ETH])
            (snapshot,) = await until(
                book, log, lambda f: isinstance(f, MarginOrderbookSnapshotMessage), "ETH snapshot"
            )
            assert isinstance(snapshot, MarginOrderbookSnapshotMessage)
            assert snapshot.msg.market_ticker == ETH
            assert snapshot.msg.bid == {Decimal("3.0000"): Decimal(2)}
            assert sdk_book(ws, ETH) == await rest_book(alice, ETH)
            ack = log.frames[mark]
            assert ack["type"] == "ok" and ack["msg"]["market_tickers"] == [BTC, ETH], ack
            await place(alice, ETH, "ask", "1", "3.1000")
            await book_settles(ws, log, book, alice, BTC, ETH)

            # get_snapshot (ok first, then the snapshot with the command's id): applied
            mark = len(log.frames)
            await ws.update_subscription(cid, "get_snapshot", market_tickers=[BTC])
            (snapshot,) = await until(
                book, log, lambda f: isinstance(f, MarginOrderbookSnapshotMessage), "BTC snapshot"
            )
            assert isinstance(snapshot, MarginOrderbookSnapshotMessage)
            ack = log.frames[mark]
            assert ack["type"] == "ok", log.show()
            assert snapshot.id == ack["id"] and snapshot.msg.market_ticker == BTC
            assert sdk_book(ws, BTC) == await rest_book(alice, BTC)

            # delete_markets, scalar-sid form: ETH changes are no longer sent
            mark = len(log.frames)
            await ws.update_subscription_single_sid(cid, "delete_markets", market_tickers=[ETH])
            assert log.frames[mark]["msg"]["market_tickers"] == [BTC], log.show()
            await place(alice, ETH, "bid", "1", "2.9000")
            await place(alice, BTC, "bid", "1", "6.1000")
            (delta,) = await until(
                book, log, lambda f: isinstance(f, MarginOrderbookDeltaMessage), "BTC delta"
            )
            assert delta.msg.market_ticker == BTC, log.show()
            assert sdk_book(ws, BTC) == await rest_book(alice, BTC)
            sid = server_sid(ws, book)
            assert sid is not None
            numbers = seqs(log, sid)
            assert numbers == list(range(1, len(numbers) + 1)), log.show()
            # the SDK keeps the update for a resubscribe after a reconnect
            assert ws._sub_mgr is not None
            sub = ws._sub_mgr.get_subscription(cid)
            assert sub is not None and sub.params["market_tickers"] == [BTC]

    run(scenario())
    assert sdk_dropped(caplog) == []


# ------------------------------------------------------------------ 3. the other five channels


def test_trade_ticker_fill_user_orders_order_groups(
    fresh: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with (
            demo_rest(fresh) as alice,
            user_rest(fresh, bob) as bobs,
            demo_ws(fresh) as (ws, log),
        ):
            trades = await ws.subscribe_trade()
            tickers = await ws.subscribe_ticker(tickers=[BTC])
            fills = await ws.subscribe_fill()
            orders = await ws.subscribe_user_orders()
            groups = await ws.subscribe_order_group()

            # order groups: created, then limit_updated, seq 1 and 2
            group = await alice.order_groups.create(contracts_limit=10)
            gid = group.order_group_id
            created = await next_item(groups, log, "order group created")
            await alice.order_groups.update_limit(gid, contracts_limit=20)
            updated = await next_item(groups, log, "order group limit_updated")
            assert isinstance(created, OrderGroupUpdatesMessage)
            assert isinstance(updated, OrderGroupUpdatesMessage)
            assert (created.msg.event_type, created.msg.order_group_id) == ("created", gid)
            assert created.msg.contracts_limit == Decimal(10)
            assert (updated.msg.event_type, updated.msg.order_group_id) == ("limit_updated", gid)
            assert updated.msg.contracts_limit == Decimal(20)
            assert (created.seq, updated.seq) == (1, 2)

            # user_orders: a new resting order, as REST GET order has it
            resting = await place(
                alice, BTC, "bid", "10", "6.2500", client_order_id="alice-bid", order_group_id=gid
            )
            placed = await next_item(orders, log, "user_order of the new order")
            assert isinstance(placed, MarginUserOrderMessage)
            await same_order(alice, placed, resting.order_id)
            assert (placed.msg.fill_count, placed.msg.remaining_count) == (Decimal(0), Decimal(10))
            assert placed.msg.order_group_id == gid

            # Bob sells 4 into it: a trade, Alice's fill, and the order's update
            await place(bobs, BTC, "ask", "4", "6.2500", tif="immediate_or_cancel")
            trade = await next_item(trades, log, "trade")
            fill = await next_item(fills, log, "fill")
            changed = await next_item(orders, log, "user_order after the fill")
            assert isinstance(trade, MarginTradeMessage)
            assert isinstance(fill, MarginFillMessage)
            assert isinstance(changed, MarginUserOrderMessage)

            (rest_trade,) = (await alice.portfolio.trades(ticker=BTC)).items
            assert trade.msg.trade_id == rest_trade.trade_id
            assert (trade.msg.market_ticker, trade.msg.taker_side) == (BTC, "ask")
            assert (trade.msg.price, trade.msg.count) == (rest_trade.price, rest_trade.count)
            assert (trade.msg.price, trade.msg.count) == (Decimal("6.2500"), Decimal(4))
            assert trade.msg.ts_ms == ms(rest_trade.created_time)
            assert trade.seq == 1

            (rest_fill,) = (await alice.portfolio.fills()).items
            assert fill.msg.trade_id == rest_trade.trade_id
            assert fill.msg.order_id == rest_fill.order_id == resting.order_id
            assert fill.msg.client_order_id == "alice-bid"
            assert (fill.msg.side, fill.msg.is_taker) == (rest_fill.side, rest_fill.is_taker)
            assert (fill.msg.side, fill.msg.is_taker) == ("bid", False)
            assert (fill.msg.price, fill.msg.count) == (rest_fill.price, rest_fill.count)
            assert fill.msg.fee_cost == rest_fill.fees
            assert fill.msg.post_position == Decimal(4)
            assert fill.msg.market_ticker == rest_fill.ticker == BTC
            assert fill.msg.ts_ms == ms(rest_fill.created_time)
            assert fill.msg.order_source == "user"

            await same_order(alice, changed, resting.order_id)
            assert (changed.msg.fill_count, changed.msg.remaining_count) == (Decimal(4), Decimal(6))

            # ticker: published when the clock moves on
            fresh.control("POST", "/clock/advance", json={"ms": 1000}).raise_for_status()
            (tick,) = await until(
                tickers, log, lambda t: t.msg.market_ticker == BTC, "ticker of BTC"
            )
            assert isinstance(tick, MarginTickerMessage)
            market = await alice.markets.get(BTC)
            assert (tick.msg.price, tick.msg.last_trade_size) == (Decimal("6.2500"), Decimal(4))
            assert (tick.msg.bid, tick.msg.bid_size) == (Decimal("6.2500"), Decimal(6))
            assert (tick.msg.price, tick.msg.bid, tick.msg.bid_size) == (
                market.price,
                market.bid,
                market.bid_size,
            )
            assert (tick.msg.volume, tick.msg.open_interest) == (
                market.volume,
                market.open_interest,
            )
            assert tick.msg.volume == tick.msg.open_interest == Decimal(4)
            assert tick.msg.funding_rate is not None
            assert market.liquidation_mark_price is not None
            assert tick.msg.liquidation_mark_price is not None
            assert tick.msg.liquidation_mark_price.price == market.liquidation_mark_price.price

            # nothing else arrived on the unsequenced channels
            assert await drain(trades) == [] and await drain(fills) == []
            assert await drain(orders) == [] and await drain(groups) == []

    run(scenario())
    assert sdk_dropped(caplog) == []


async def same_order(rest: AsyncPerpsClient, frame: MarginUserOrderMessage, order_id: str) -> None:
    """A `user_order` frame agrees with REST `GET /margin/orders/{order_id}`."""
    order = await rest.orders.get(order_id)
    msg = frame.msg
    assert msg.order_id == order.order_id == order_id
    assert (msg.user_id, msg.client_order_id, msg.ticker, msg.side) == (
        order.user_id,
        order.client_order_id,
        order.ticker,
        order.side,
    )
    assert (msg.price, msg.fill_count, msg.remaining_count) == (
        order.price,
        order.fill_count,
        order.remaining_count,
    )
    assert (msg.self_trade_prevention_type, msg.order_group_id) == (
        order.self_trade_prevention_type,
        order.order_group_id,
    )
    assert msg.order_source == order.order_source == "user"
    assert msg.created_ts_ms == ms(order.created_time)
    assert msg.last_updated_ts_ms == ms(order.last_update_time)
    assert (msg.model_extra or {}).get("last_update_reason", "") == order.last_update_reason


# ------------------------------------------------------------------ 4. privacy


def test_private_channels_carry_only_the_users_own_data(
    fresh: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with (
            demo_rest(fresh) as alice,
            user_rest(fresh, bob) as bobs,
            demo_ws(fresh) as (alice_ws, alice_log),
            user_ws(fresh, bob) as (bob_ws, bob_log),
        ):
            alice_fills = await alice_ws.subscribe_fill()
            alice_orders = await alice_ws.subscribe_user_orders()
            bob_fills = await bob_ws.subscribe_fill()
            bob_orders = await bob_ws.subscribe_user_orders()

            alice_ids: set[str] = set()
            bob_ids: set[str] = set()
            alice_ids.add(
                (await place(alice, BTC, "bid", "10", "6.2500", client_order_id="a-1")).order_id
            )
            bob_ids.add(
                (
                    await place(
                        bobs,
                        BTC,
                        "ask",
                        "4",
                        "6.2500",
                        tif="immediate_or_cancel",
                        client_order_id="b-1",
                    )
                ).order_id
            )
            bob_ids.add(
                (await place(bobs, ETH, "ask", "3", "3.5000", client_order_id="b-2")).order_id
            )
            # one last order each, after everything else: once a user's connection has it,
            # every frame sent to that user before it has been read
            alice_ids.add(
                (await place(alice, ETH, "bid", "1", "3.0000", client_order_id="a-end")).order_id
            )
            bob_ids.add(
                (await place(bobs, ETH, "ask", "1", "3.9000", client_order_id="b-end")).order_id
            )

            def last(cid: str) -> Any:
                return lambda f: f.msg.client_order_id == cid

            seen_alice = await until(alice_orders, alice_log, last("a-end"), "Alice's last order")
            seen_bob = await until(bob_orders, bob_log, last("b-end"), "Bob's last order")
            fills_alice = await drain(alice_fills)
            fills_bob = await drain(bob_fills)

            assert {f.msg.user_id for f in seen_alice} == {DEMO_USER}
            assert {f.msg.order_id for f in seen_alice} == alice_ids
            assert {f.msg.user_id for f in seen_bob} == {bob.user_id}
            assert {f.msg.order_id for f in seen_bob} == bob_ids
            (fill_a,) = fills_alice
            (fill_b,) = fills_bob
            assert isinstance(fill_a, MarginFillMessage) and isinstance(fill_b, MarginFillMessage)
            assert fill_a.msg.order_id in alice_ids and fill_b.msg.order_id in bob_ids
            assert fill_a.msg.trade_id == fill_b.msg.trade_id
            assert (fill_a.msg.side, fill_a.msg.is_taker) == ("bid", False)
            assert (fill_b.msg.side, fill_b.msg.is_taker) == ("ask", True)
            assert (fill_a.msg.post_position, fill_b.msg.post_position) == (Decimal(4), Decimal(-4))

            # nothing on either wire names the other user or the other's orders
            bob_wire = bob_log.show(len(bob_log.frames))
            alice_wire = alice_log.show(len(alice_log.frames))
            for secret in (DEMO_USER, *alice_ids, "a-1", "a-end"):
                assert secret not in bob_wire, secret
            for secret in (bob.user_id, *bob_ids, "b-1", "b-2", "b-end"):
                assert secret not in alice_wire, secret

    run(scenario())
    assert sdk_dropped(caplog) == []


# ------------------------------------------------------------------ 5. unsubscribe, list


def test_unsubscribe_and_list_subscriptions(
    fresh: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with (
            demo_rest(fresh) as alice,
            user_rest(fresh, bob) as bobs,
            demo_ws(fresh) as (ws, log),
        ):
            trades = await ws.subscribe_trade()
            fills = await ws.subscribe_fill()
            book = await subscribe_book(ws, log, [BTC])
            listed = await ws.list_subscriptions()
            assert [(s.channel, s.sid) for s in listed] == [
                ("trade", 1),
                ("fill", 2),
                ("orderbook_delta", 3),
            ]

            mark = len(log.frames)
            await ws.unsubscribe(client_id(ws, trades))
            assert log.frames[mark] == {
                "type": "unsubscribed",
                "id": log.frames[mark]["id"],
                "sid": 1,
                "seq": 1,
                "sending_ts_ms": log.frames[mark]["sending_ts_ms"],
            }, log.show()
            with pytest.raises(StopAsyncIteration):
                await next_item(trades, log, "end of the trade iterator")
            listed = await ws.list_subscriptions()
            assert [(s.channel, s.sid) for s in listed] == [("fill", 2), ("orderbook_delta", 3)]

            # a trade: Alice's fill still comes, the trade does not
            mark = len(log.frames)
            await place(alice, BTC, "bid", "10", "6.2500")
            await place(bobs, BTC, "ask", "4", "6.2500", tif="immediate_or_cancel")
            await place(alice, BTC, "bid", "1", "6.0000")  # the last frame on this connection
            await until(
                book,
                log,
                lambda f: (
                    isinstance(f, MarginOrderbookDeltaMessage) and f.msg.price == Decimal("6.0000")
                ),
                "the last delta",
            )
            fill = await next_item(fills, log, "fill")
            assert isinstance(fill, MarginFillMessage) and fill.msg.count == Decimal(4)
            assert log.of_sid(1, since=mark) == [], log.show()
            assert sdk_book(ws, BTC) == await rest_book(alice, BTC)

            # unsubscribing the book drops the SDK's local copy
            await ws.unsubscribe(client_id(ws, book))
            assert sdk_book(ws, BTC) is None
            listed = await ws.list_subscriptions()
            assert [(s.channel, s.sid) for s in listed] == [("fill", 2)]

    run(scenario())
    assert sdk_dropped(caplog) == []


# ------------------------------------------------------------------ 6. reconnect


def test_reset_closes_with_1012_and_the_sdk_reconnects(
    fresh: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with demo_rest(fresh) as alice, demo_ws(fresh) as (ws, log):
            book = await subscribe_book(ws, log, [BTC])
            orders = await ws.subscribe_user_orders()
            fills = await ws.subscribe_fill()
            await place(alice, BTC, "bid", "10", "6.2500")
            await next_item(orders, log, "user_order")
            await book_settles(ws, log, book, alice, BTC)
            assert sdk_book(ws, BTC) == (((Decimal("6.2500"), Decimal(10)),), ())

            first = len(log.frames)
            fresh.control("POST", "/reset").raise_for_status()
            try:
                await asyncio.wait_for(log.streaming.wait(), 10)
            except TimeoutError:
                raise AssertionError(f"no reconnect; frames:\n{log.show()}") from None
            assert log.close_codes == [1012], log.close_codes

            # resubscribed in the same order: sids from 1 again, and a fresh (empty) snapshot
            snapshot = await next_item(book, log, "snapshot after the reconnect")
            assert isinstance(snapshot, MarginOrderbookSnapshotMessage), snapshot
            assert (snapshot.sid, snapshot.seq, snapshot.msg.market_ticker) == (1, 1, BTC)
            assert sdk_book(ws, BTC) == await rest_book(alice, BTC) == ((), ())
            replies = [f for f in log.frames[first:] if f["type"] == "subscribed"]
            assert [(f["msg"]["channel"], f["msg"]["sid"]) for f in replies] == [
                ("orderbook_delta", 1),
                ("user_orders", 2),
                ("fill", 3),
            ]
            listed = await ws.list_subscriptions()
            assert [(s.channel, s.sid) for s in listed] == [
                ("orderbook_delta", 1),
                ("user_orders", 2),
                ("fill", 3),
            ]

            # the same iterators go on working on the new connection
            placed = await place(alice, BTC, "ask", "2", "6.3000")
            frame = await next_item(orders, log, "user_order after the reconnect")
            assert isinstance(frame, MarginUserOrderMessage)
            assert frame.msg.order_id == placed.order_id
            await book_settles(ws, log, book, alice, BTC)
            assert await drain(fills) == []

    run(scenario())
    assert sdk_dropped(caplog) == []


# ------------------------------------------------------------------ 7, 8. refusals


def test_wrong_key_cannot_connect(fresh: LiveServer) -> None:
    async def attempt(key_id: str, n: int) -> None:
        ws = PerpsWebSocket(
            auth=sdk_auth(key_id, signing.fixed_private_key(n)), config=perps_config(fresh)
        )
        with pytest.raises(KalshiConnectionError) as refused:
            async with ws.connect():
                pytest.fail("connected with a wrong key")
        assert str(refused.value) == "WebSocket connection failed: /trade-api/ws/v2/margin"
        cause = refused.value.__cause__
        assert isinstance(cause, InvalidStatus), repr(cause)
        assert cause.response.status_code == 401

    async def scenario() -> None:
        await attempt(signing.DEMO_KEY_ID, 1)  # the demo key id, signed with another key
        await attempt(str(uuid.uuid4()), 1)  # a key id nobody has

    run(scenario())


def test_corporate_actions_is_an_unknown_channel(
    fresh: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with demo_ws(fresh) as (ws, log):
            with pytest.raises(KalshiSubscriptionError) as refused:
                await ws.subscribe("corporate_actions")
            assert refused.value.error_code == 8
            assert str(refused.value).startswith("Unknown channel name"), str(refused.value)
            assert log.frames[-1]["type"] == "error"
            assert log.frames[-1]["msg"] == {"code": 8, "msg": "Unknown channel name"}
            # the session is still usable, and no sid was used up
            assert await ws.list_subscriptions() == []
            await ws.subscribe_trade()
            assert [(s.channel, s.sid) for s in await ws.list_subscriptions()] == [("trade", 1)]

    run(scenario())
    assert sdk_dropped(caplog) == []
