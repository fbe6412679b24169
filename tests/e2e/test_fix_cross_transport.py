"""One exchange, three transports: what FIX does shows on REST and the WebSocket, and back.

- An order entered, filled, replaced and cancelled over FIX (kalshi-sdk `MarginFixClient`) is
  the same order on REST `GET /margin/orders/{id}` and on the WebSocket `user_orders` and
  `fill` channels: same ids, prices and counts; the fill's trade is REST's `/margin/trades`.
- Orders entered, filled, amended and cancelled over REST come back on the drop copy
  (KalshiDC) as the ExecutionReports FIX would have sent.

The WebSocket client (tests/api/ws/client.py) checks every frame against its schema;
`WsClient.settle` returns what the server had queued, which after a FIX report has arrived
includes the frames of the same events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from kalshi.fix.enums import Side, TimeInForce
from kalshi.fix.messages.order_entry import (
    ExecutionReport,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
)

from tests.api.ws.client import connected
from tests.e2e.fix_helpers import (
    FixLiveServer,
    fix_live_server,
    rest,
    rest_order,
    sdk_session,
    sdk_trouble,
)

BTC = "KXBTCPERP"


@pytest.fixture(scope="module")
def server() -> Iterator[FixLiveServer]:
    with fix_live_server() as live:
        yield live


@pytest.fixture
def fresh(server: FixLiveServer) -> FixLiveServer:
    server.control("POST", "/reset").raise_for_status()
    return server


@pytest.fixture(autouse=True)
def sdk_had_no_trouble(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    assert sdk_trouble(caplog.get_records("call")) == []


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f["msg"] for f in frames if f["type"] == kind]


def same_order(report: ExecutionReport, ws: dict[str, Any], rest_order: dict[str, Any]) -> None:
    """The report, the WS user_order and the REST order describe one order state."""
    for view in (ws, rest_order):
        assert view["order_id"] == report.order_id
        assert view["client_order_id"] == report.cl_ord_id
        assert view["ticker"] == report.symbol
        assert view["side"] == {"1": "bid", "2": "ask"}[report.side or ""]
        assert Decimal(view["price"]) == report.price
        assert Decimal(view["remaining_count"]) == report.leaves_qty
        assert Decimal(view["fill_count"]) == report.cum_qty


def test_fix_order_on_rest_and_websocket(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with connected(fresh, alice) as ws, sdk_session(fresh, alice) as nr:
            await ws.subscribe("user_orders")
            await ws.subscribe("fill")

            async def rest_view(order_id: str) -> dict[str, Any]:
                got = await rest(fresh, alice, "GET", f"/margin/orders/{order_id}")
                return dict(got["order"])

            # New
            await nr.send(
                NewOrderSingle(
                    cl_ord_id="x-1",
                    order_qty=Decimal(10),
                    price=Decimal("6.25"),
                    side=Side.BUY_YES,
                    symbol=BTC,
                    time_in_force=TimeInForce.GTC,
                )
            )
            _, new = await nr.expect("8", t150="0")
            assert new.order_id is not None
            (placed,) = of_type(await ws.settle(), "user_order")
            same_order(new, placed, await rest_view(new.order_id))

            # Trade: Bob sells 4 over REST
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="bob-x")
            _, trade = await nr.expect("8", t150="F")
            frames = await ws.settle()
            (fill,) = of_type(frames, "fill")
            (changed,) = of_type(frames, "user_order")
            assert fill["trade_id"] == trade.trd_match_id
            assert (fill["order_id"], fill["client_order_id"]) == (new.order_id, "x-1")
            assert Decimal(fill["price"]) == trade.last_px == Decimal("6.25")
            assert Decimal(fill["count"]) == trade.last_qty == 4
            assert fill["is_taker"] is trade.aggressor_indicator is False
            assert Decimal(fill["fee_cost"]) == trade.misc_fees[0].misc_fee_amt
            assert Decimal(fill["post_position"]) == trade.long_qty == 4
            same_order(trade, changed, await rest_view(new.order_id))
            (rest_trade,) = (await rest(fresh, alice, "GET", "/margin/trades"))["trades"]
            assert rest_trade["trade_id"] == trade.trd_match_id
            (rest_fill,) = (await rest(fresh, alice, "GET", "/margin/fills"))["fills"]
            assert rest_fill["order_id"] == new.order_id
            assert Decimal(rest_fill["count"]) == trade.last_qty

            # Replaced: new price and total count, new client order id
            await nr.send(
                OrderCancelReplaceRequest(
                    cl_ord_id="x-2",
                    orig_cl_ord_id="x-1",
                    order_qty=Decimal(8),
                    price=Decimal("6.24"),
                    side=Side.BUY_YES,
                    symbol=BTC,
                )
            )
            _, replaced = await nr.expect("8", t150="5", t11="x-2", t41="x-1")
            (amended,) = of_type(await ws.settle(), "user_order")
            same_order(replaced, amended, await rest_view(new.order_id))
            assert (replaced.leaves_qty, replaced.cum_qty) == (4, 4)

            # Canceled
            await nr.send(
                OrderCancelRequest(
                    cl_ord_id="x-3", orig_cl_ord_id="x-2", side=Side.BUY_YES, symbol=BTC
                )
            )
            _, canceled = await nr.expect("8", t150="4", t11="x-3", t41="x-2")
            (gone,) = of_type(await ws.settle(), "user_order")
            assert gone["order_id"] == canceled.order_id
            assert (Decimal(gone["remaining_count"]), Decimal(gone["fill_count"])) == (
                Decimal(0),
                Decimal(4),
            )
            assert canceled.leaves_qty == 0 and canceled.cum_qty == 4
            after = await rest_view(new.order_id)
            assert (after["remaining_count"], after["fill_count"]) == ("0.00", "4.00")

    asyncio.run(scenario())


def test_rest_orders_on_the_drop_copy(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        bid = await rest_order(fresh, alice, BTC, "bid", "10", "6.2500", client_order_id="a-1")
        await rest_order(fresh, bob, BTC, "ask", "3", "6.2500", client_order_id="b-1")
        await rest(
            fresh,
            alice,
            "POST",
            f"/margin/orders/{bid['order_id']}/amend",
            json={
                "ticker": BTC,
                "side": "bid",
                "price": "6.2000",
                "count": "9",
                "client_order_id": "a-1",
                "updated_client_order_id": "a-2",
            },
        )
        await rest(fresh, alice, "DELETE", f"/margin/orders/{bid['order_id']}")
        (rest_trade,) = (await rest(fresh, alice, "GET", "/margin/trades"))["trades"]

        async with sdk_session(fresh, alice, "DC") as dc:
            seq, replayed, done = await dc.replay("0;1")
        assert (done.ref_seq_num, done.resend_event_count) == (seq, len(replayed))

        # Alice's order only (Bob's is not hers), in event order
        assert {r.order_id for r in replayed} == {bid["order_id"]}
        summary = [(r.exec_type, r.cl_ord_id, r.price, r.leaves_qty, r.cum_qty) for r in replayed]
        assert summary == [
            ("0", "a-1", Decimal("6.25"), Decimal(10), Decimal(0)),
            ("F", "a-1", Decimal("6.25"), Decimal(7), Decimal(3)),
            ("5", "a-2", Decimal("6.2"), Decimal(6), Decimal(3)),
            ("4", "a-2", Decimal("6.2"), Decimal(0), Decimal(3)),
        ]
        trade = replayed[1]
        assert trade.trd_match_id == rest_trade["trade_id"]
        assert (trade.last_px, trade.last_qty) == (Decimal("6.25"), Decimal(3))
        assert replayed[2].orig_cl_ord_id == "a-1"

    asyncio.run(scenario())


def test_a_rest_client_order_id_beyond_latin1_reaches_fix_as_its_utf8_bytes(
    fresh: FixLiveServer,
) -> None:
    """FIX values are latin-1 bytes; a REST id such as "ордер-1" cannot be. It goes out as its
    UTF-8 bytes (kalshi-sdk reads them latin-1), live to a listener and on the drop copy,
    and the reports of the other orders are not lost with it; echoed back in OrigClOrdID,
    those bytes name the order."""
    alice = fresh.new_user("1000.0000")
    wide = "ордер-1 \U0001f680"
    on_fix = wide.encode("utf-8").decode("latin-1")  # what a latin-1 FIX client reads

    async def scenario() -> None:
        async with sdk_session(
            fresh, alice, "RT", listener_session=True, skip_pending_exec_reports=True
        ) as listener:
            first = await rest_order(fresh, alice, BTC, "bid", "1", "6.0000", client_order_id=wide)
            second = await rest_order(fresh, alice, BTC, "bid", "1", "6.0100", client_order_id="p")
            _, seen = await listener.expect("8", t150="0", t37=first["order_id"])
            assert seen.cl_ord_id == on_fix
            _, seen = await listener.expect("8", t150="0", t11="p", t37=second["order_id"])

        async with sdk_session(fresh, alice, "DC") as dc:
            _, replayed, _ = await dc.replay("0;1")
        assert [r.cl_ord_id for r in replayed] == [on_fix, "p"]

        # a FIX client that echoes those bytes in OrigClOrdID finds the order
        async with sdk_session(fresh, alice, "NR") as nr:
            await nr.send(
                OrderCancelRequest(
                    cl_ord_id="x-1", orig_cl_ord_id=on_fix, side=Side.BUY_YES, symbol=BTC
                )
            )
            await nr.expect("8", t150="4", t11="x-1", t41=on_fix, t37=first["order_id"])
        assert (await rest(fresh, alice, "GET", f"/margin/orders/{first['order_id']}"))["order"][
            "remaining_count"
        ] == "0.00"

    asyncio.run(scenario())
