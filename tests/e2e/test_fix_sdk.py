"""kalshi-sdk 22.4.0 `MarginFixClient` against the FIX acceptor of a live server, end to end.

Every session goes over a real socket through a `Tap` (tests/e2e/fix_helpers.py), which records
the frames both ways; every application message the SDK delivers is decoded with the SDK's
`decode_app_message_strict` (a frame it cannot decode is a server bug). Other users trade over
REST at the same time, so the reports are checked against what REST says of the same orders,
fills and trades.

Covered: order entry on KalshiNR (New, Trade, Replaced, Canceled, OrderCancelReject, Rejected,
mass cancel, order groups, CancelOrdersOnDisconnect), Logon refusals (bad signature, duplicate
session), KalshiRT continuity (reports queued while disconnected, reports lost on the wire and
recovered by the SDK's ResendRequest, a client ResendRequest answered with PossDup resends and
gap fills), drop copy (KalshiDC) and market data (KalshiMD).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from kalshi.fix.codec import RawMessage
from kalshi.fix.enums import Side, TimeInForce
from kalshi.fix.errors import FixLogonError
from kalshi.fix.messages.drop_copy import EventResendRequest
from kalshi.fix.messages.market_data import (
    MarketDataIncrementalRefresh,
    MarketDataRequest,
    MarketDataSnapshotFullRefresh,
)
from kalshi.fix.messages.order_entry import (
    BusinessMessageReject,
    ExecutionReport,
    NewOrderSingle,
    OrderCancelReject,
    OrderCancelReplaceRequest,
    OrderCancelRequest,
    OrderMassCancelReport,
    OrderMassCancelRequest,
)
from kalshi.fix.messages.order_groups import OrderGroupRequest, OrderGroupResponse
from kalshi.fix.messages.session import ResendRequest
from kalshi.fix.session import FixSessionState

from tests.api import signing
from tests.api.served import NewUser
from tests.e2e.fix_helpers import (
    FixLink,
    FixLiveServer,
    Tap,
    fix_live_server,
    rest,
    rest_order,
    sdk_session,
    sdk_trouble,
)

BTC = "KXBTCPERP"
ETH = "KXETHPERP"


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


def run(coro: Any) -> None:
    asyncio.run(coro)


def order(
    cl_ord_id: str,
    side: Side,
    qty: str,
    price: str,
    symbol: str = BTC,
    tif: TimeInForce = TimeInForce.GTC,
    **extra: Any,
) -> NewOrderSingle:
    return NewOrderSingle(
        cl_ord_id=cl_ord_id,
        order_qty=Decimal(qty),
        price=Decimal(price),
        side=side,
        symbol=symbol,
        time_in_force=tif,
        **extra,
    )


BUY, SELL = Side.BUY_YES, Side.SELL_NO


async def get_order(server: FixLiveServer, user: NewUser, order_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await rest(server, user, "GET", f"/margin/orders/{order_id}"))["order"]
    return body


async def resting_ids(server: FixLiveServer, user: NewUser) -> set[str]:
    body = await rest(server, user, "GET", "/margin/orders", params={"status": "resting"})
    return {o["order_id"] for o in body["orders"]}


async def new_order(link: FixLink, message: NewOrderSingle) -> ExecutionReport:
    """Send a resting order; its New report."""
    await link.send(message)
    _, report = await link.expect("8", t150="0", t39="0", t11=message.cl_ord_id)
    assert isinstance(report, ExecutionReport)
    return report


# ------------------------------------------------------------------ order entry (KalshiNR)


def test_logon_new_order_and_trades_match_rest(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice) as nr:
            # the Logon reply: first frame, seq 1, echoing 108, reset and 1137
            (reply,) = nr.tap.received[:1]
            assert reply.msg_type == "A" and reply.seq_num == 1
            assert (reply.get(49), reply.get(56)) == ("KalshiNR", alice.api_key_id)
            assert (reply.get(98), reply.get(108), reply.get(141), reply.get(1137)) == (
                "0",
                "30",
                "Y",
                "9",
            )
            sent_logon = nr.tap.sent[0]
            assert sent_logon.msg_type == "A" and sent_logon.get(141) == "Y"

            # a resting bid: New, as REST has it
            new = await new_order(nr, order("alice-1", BUY, "10", "6.25"))
            assert new.order_id is not None
            assert (new.side, new.symbol, new.price) == ("1", BTC, Decimal("6.25"))
            assert (new.order_qty, new.leaves_qty, new.cum_qty) == (
                Decimal(10),
                Decimal(10),
                Decimal(0),
            )
            resting = await get_order(fresh, alice, new.order_id)
            assert resting["client_order_id"] == "alice-1"
            assert (resting["side"], resting["price"]) == ("bid", "6.2500")
            assert (resting["remaining_count"], resting["fill_count"]) == ("10.00", "0.00")

            # Bob sells 4 into it over REST: Alice's Trade report, the REST fill and trade
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="bob-1")
            _, trade = await nr.expect("8", t150="F", t39="1", t37=new.order_id)
            assert isinstance(trade, ExecutionReport)
            (rest_trade,) = (
                await rest(fresh, bob, "GET", "/margin/trades", params={"ticker": BTC})
            )["trades"]
            (rest_fill,) = (await rest(fresh, alice, "GET", "/margin/fills"))["fills"]
            assert trade.trd_match_id == rest_trade["trade_id"]
            assert trade.last_px == Decimal(rest_trade["price"]) == Decimal(rest_fill["price"])
            assert trade.last_qty == Decimal(rest_trade["count"]) == Decimal(rest_fill["count"])
            assert (trade.last_px, trade.last_qty) == (Decimal("6.25"), Decimal(4))
            assert rest_fill["order_id"] == new.order_id
            assert trade.aggressor_indicator is False and rest_fill["is_taker"] is False
            assert (trade.cum_qty, trade.leaves_qty, trade.avg_px) == (
                Decimal(4),
                Decimal(6),
                Decimal("6.25"),
            )
            assert trade.long_qty == 4 and trade.short_qty == 0
            assert [fee.misc_fee_amt for fee in trade.misc_fees] == [Decimal(rest_fill["fees"])]
            assert trade.cl_ord_id == "alice-1"

            # Alice crosses Bob's resting ask over FIX: her Trade report as the taker
            bob_ask = await rest_order(fresh, bob, BTC, "ask", "3", "6.3000", client_order_id="b2")
            await nr.send(order("alice-2", BUY, "3", "6.30"))
            reports: list[ExecutionReport] = []
            while not reports or reports[-1].exec_type != "F":
                _, report = await nr.next("reports of alice-2")
                assert isinstance(report, ExecutionReport) and report.cl_ord_id == "alice-2"
                reports.append(report)
            taker = reports[-1]
            assert [r.exec_type for r in reports[:-1]] in ([], ["0"]), reports
            assert (taker.ord_status, taker.last_px, taker.last_qty) == (
                "2",
                Decimal("6.3"),
                Decimal(3),
            )
            assert (taker.leaves_qty, taker.cum_qty) == (Decimal(0), Decimal(3))
            assert taker.aggressor_indicator is True
            trades = (await rest(fresh, bob, "GET", "/margin/trades", params={"ticker": BTC}))[
                "trades"
            ]
            assert taker.trd_match_id == trades[0]["trade_id"]  # newest first
            assert (await get_order(fresh, bob, bob_ask["order_id"]))["fill_count"] == "3.00"

        # no 8013: the rest of the bid survives the Logout
        assert new.order_id in await resting_ids(fresh, alice)

    run(scenario())


def test_replace_then_cancel(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice) as nr:
            new = await new_order(nr, order("r-1", BUY, "10", "6.25"))
            assert new.order_id is not None

            await nr.send(
                OrderCancelReplaceRequest(
                    cl_ord_id="r-2",
                    orig_cl_ord_id="r-1",
                    order_id=new.order_id,
                    order_qty=Decimal(8),
                    price=Decimal("6.2"),
                    side=BUY,
                    symbol=BTC,
                )
            )
            _, replaced = await nr.expect("8", t150="5", t11="r-2", t41="r-1")
            assert isinstance(replaced, ExecutionReport)
            assert replaced.order_id == new.order_id
            assert (replaced.price, replaced.order_qty, replaced.leaves_qty) == (
                Decimal("6.2"),
                Decimal(8),
                Decimal(8),
            )
            after = await get_order(fresh, alice, new.order_id)
            assert (after["client_order_id"], after["price"]) == ("r-2", "6.2000")
            assert after["remaining_count"] == "8.00"

            await nr.send(
                OrderCancelRequest(cl_ord_id="r-3", orig_cl_ord_id="r-2", side=BUY, symbol=BTC)
            )
            _, canceled = await nr.expect("8", t150="4", t39="4", t11="r-3", t41="r-2")
            assert isinstance(canceled, ExecutionReport)
            assert (canceled.order_id, canceled.leaves_qty, canceled.cum_qty) == (
                new.order_id,
                Decimal(0),
                Decimal(0),
            )
            assert await resting_ids(fresh, alice) == set()

    run(scenario())


def test_unknown_orders_get_order_cancel_reject(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice) as nr:
            await nr.send(
                OrderCancelRequest(cl_ord_id="c-1", orig_cl_ord_id="nope", side=BUY, symbol=BTC)
            )
            _, reject = await nr.expect("9", t11="c-1", t41="nope", t434="1", t102="1")
            assert isinstance(reject, OrderCancelReject)
            assert reject.text

            await nr.send(
                OrderCancelReplaceRequest(
                    cl_ord_id="c-2",
                    orig_cl_ord_id="nope",
                    order_qty=Decimal(1),
                    price=Decimal("6.25"),
                    side=BUY,
                    symbol=BTC,
                )
            )
            _, reject = await nr.expect("9", t11="c-2", t41="nope", t434="2")
            assert isinstance(reject, OrderCancelReject) and reject.cxl_rej_reason == 1

    run(scenario())


def test_refused_orders_get_rejected_reports(fresh: FixLiveServer) -> None:
    poor = fresh.new_user("0.0100")

    async def scenario() -> None:
        async with sdk_session(fresh, poor) as nr:
            await nr.send(order("x-1", BUY, "10", "6.25", symbol="KXNOPEPERP"))
            _, unknown = await nr.expect("8", t150="8", t39="8", t11="x-1")
            assert isinstance(unknown, ExecutionReport)
            assert (unknown.text, unknown.ord_rej_reason) == ("MARKET_NOT_FOUND", 1)
            assert unknown.symbol == "KXNOPEPERP"

            await nr.send(order("x-2", BUY, "10", "6.25"))
            _, poor_report = await nr.expect("8", t150="8", t39="8", t11="x-2")
            assert isinstance(poor_report, ExecutionReport)
            assert (poor_report.text, poor_report.ord_rej_reason) == ("INSUFFICIENT_BALANCE", 3)
            assert (poor_report.leaves_qty, poor_report.cum_qty) == (Decimal(0), Decimal(0))
            assert await resting_ids(fresh, poor) == set()

    run(scenario())


def test_mass_cancel(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice) as nr:
            first = await new_order(nr, order("m-1", BUY, "2", "6.10"))
            second = await new_order(nr, order("m-2", SELL, "3", "7.10", symbol=ETH))
            await nr.send(OrderMassCancelRequest(cl_ord_id="m-all"))
            _, report = await nr.expect("r", t11="m-all", t531="6")
            assert isinstance(report, OrderMassCancelReport) and report.order_id
            canceled = {}
            for _ in range(2):
                _, er = await nr.expect("8", t150="4", t39="4")
                assert isinstance(er, ExecutionReport)
                canceled[er.order_id] = er.cl_ord_id
            assert canceled == {first.order_id: "m-1", second.order_id: "m-2"}
            assert await resting_ids(fresh, alice) == set()

    run(scenario())


def test_order_groups(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice) as nr:
            await nr.send(OrderGroupRequest.create(contracts_limit=50))
            _, created = await nr.expect("UOH", t20132="50")
            assert isinstance(created, OrderGroupResponse) and created.order_group_id
            gid = created.order_group_id
            group = await rest(fresh, alice, "GET", f"/margin/order_groups/{gid}")
            assert group["contracts_limit_fp"] == "50.00", group

            await nr.send(OrderGroupRequest.update(gid, contracts_limit=20))
            await nr.expect("UOH", t20130=gid, t20132="20")
            group = await rest(fresh, alice, "GET", f"/margin/order_groups/{gid}")
            assert group["contracts_limit_fp"] == "20.00", group

            # orders in the group: 526 (the margin docs) and 20130 (the SDK's helper)
            a = await new_order(nr, order("g-1", BUY, "2", "6.10", secondary_cl_ord_id=gid))
            b = await new_order(nr, order("g-2", BUY, "3", "6.00", order_group_id=gid))
            assert a.order_id is not None and b.order_id is not None
            assert (await get_order(fresh, alice, a.order_id))["order_group_id"] == gid
            assert (await get_order(fresh, alice, b.order_id))["order_group_id"] == gid

            # trigger: the UOH, then each resting order canceled with ORDER_GROUP_CANCEL
            await nr.send(OrderGroupRequest.trigger(gid))
            await nr.expect("UOH", t20130=gid)
            cancels = {}
            for _ in range(2):
                _, er = await nr.expect("8", t150="4", t58="ORDER_GROUP_CANCEL")
                cancels[er.order_id] = er.cl_ord_id
            assert cancels == {a.order_id: "g-1", b.order_id: "g-2"}
            # a triggered group refuses new orders until reset
            await nr.send(order("g-3", BUY, "1", "6.00", order_group_id=gid))
            _, refused = await nr.expect("8", t150="8", t11="g-3")
            assert refused.text == "EXCEEDED_ORDER_GROUP_RISK_LIMIT", refused

            await nr.send(OrderGroupRequest.reset(gid))
            await nr.expect("UOH", t20130=gid)
            await new_order(nr, order("g-4", BUY, "1", "6.00", order_group_id=gid))

            # delete: the UOH and the group's resting order canceled; then it is gone
            await nr.send(OrderGroupRequest.delete(gid))
            await nr.expect("UOH", t20130=gid)
            await nr.expect("8", t150="4", t11="g-4")
            await nr.send(OrderGroupRequest.delete(gid))
            _, gone = await nr.expect("j", t372="UOG")
            assert isinstance(gone, BusinessMessageReject) and gone.text
            assert await resting_ids(fresh, alice) == set()

    run(scenario())


def test_cancel_orders_on_disconnect(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        away = asyncio.Event()
        resume = asyncio.Event()

        async def hold_reconnect(state: FixSessionState) -> None:
            if state is FixSessionState.RECONNECTING:
                away.set()
                await resume.wait()

        async with sdk_session(
            fresh, alice, cancel_orders_on_disconnect=True, on_state=hold_reconnect
        ) as nr:
            assert nr.tap.sent[0].get(8013) == "Y"
            first = await new_order(nr, order("d-1", BUY, "2", "6.10"))
            second = await new_order(nr, order("d-2", SELL, "2", "7.10"))
            assert await resting_ids(fresh, alice) == {first.order_id, second.order_id}
            nr.tap.cut()  # the network drops: no Logout
            await asyncio.wait_for(away.wait(), 10)
            await fresh.released(alice.api_key_id, "KalshiNR")
            assert await resting_ids(fresh, alice) == set()
            resume.set()  # the SDK logs on again (a new NR session: 141=Y, seq 1)
            await fresh.live(alice.api_key_id, "KalshiNR")

    run(scenario())


def test_bad_signature_and_duplicate_session_get_logout(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    stranger_key = signing.fixed_private_key(8)

    async def scenario() -> None:
        tap = Tap(fresh.fix_port)
        with pytest.raises(FixLogonError) as refused:
            async with sdk_session(fresh, alice, key=stranger_key, tap=tap):
                pass
        assert refused.value.reason is not None
        assert refused.value.reason.startswith("signature error"), refused.value.reason
        # nothing but the Logout, at seq 1
        (logout,) = tap.received
        assert (logout.msg_type, logout.seq_num, logout.get(58)) == ("5", 1, refused.value.reason)

        async with sdk_session(fresh, alice) as first:
            tap = Tap(fresh.fix_port)
            with pytest.raises(FixLogonError) as duplicate:
                async with sdk_session(fresh, alice, tap=tap):
                    pass
            assert duplicate.value.reason == "already exists"
            (logout,) = tap.received
            assert (logout.msg_type, logout.seq_num) == ("5", 1)
            # the first session is untouched
            await new_order(first, order("dup-1", BUY, "1", "6.00"))

    run(scenario())


def test_listener_session_sees_every_report_and_cannot_trade(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with (
            sdk_session(fresh, alice, "NR") as nr,
            sdk_session(
                fresh, alice, "RT", listener_session=True, skip_pending_exec_reports=True
            ) as listener,
        ):
            assert (listener.tap.sent[0].get(20126), listener.tap.sent[0].get(21011)) == ("Y", "Y")
            # entered on NR: both sessions get the New, then the Trade
            new = await new_order(nr, order("l-1", BUY, "10", "6.25"))
            _, seen = await listener.expect("8", t150="0", t11="l-1")
            assert (seen.order_id, seen.exec_id) == (new.order_id, new.exec_id)
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="bob-l")
            _, trade = await nr.expect("8", t150="F")
            _, seen = await listener.expect("8", t150="F", t37=new.order_id)
            assert (seen.exec_id, seen.trd_match_id, seen.last_qty) == (
                trade.exec_id,
                trade.trd_match_id,
                4,
            )
            # entered over REST: only the listener hears of it
            over_rest = await rest_order(
                fresh, alice, ETH, "ask", "2", "7.5000", client_order_id="r"
            )
            _, seen = await listener.expect("8", t150="0", t11="r", t37=over_rest["order_id"])
            assert (seen.symbol, seen.side, seen.price) == (ETH, "2", Decimal("7.5"))
            # a cancel sent on NR: the listener's report names the F (11) and the order (41)
            await nr.send(
                OrderCancelRequest(cl_ord_id="l-x", orig_cl_ord_id="l-1", side=BUY, symbol=BTC)
            )
            canceled, _ = await nr.expect("8", t150="4", t11="l-x", t41="l-1")
            seen_raw, _ = await listener.expect("8", t150="4", t37=new.order_id)
            assert body(seen_raw) == body(canceled)
            # a listener cannot trade
            seq = await listener.send(order("l-2", BUY, "1", "6.00"))
            _, refused = await listener.expect("j", t45=str(seq), t372="D")
            assert isinstance(refused, BusinessMessageReject) and refused.text
            await nr.send(
                OrderCancelRequest(cl_ord_id="bar", orig_cl_ord_id="x", side=BUY, symbol=BTC)
            )
            await nr.expect("9", t11="bar")  # a barrier: nothing else reached the NR session
            assert nr.unread() == [] and listener.unread() == []

    run(scenario())


def test_after_a_reset_rest_orders_stay_off_order_entry_sessions(fresh: FixLiveServer) -> None:
    """Order ids are seeded, so after a reset a REST order can get the id of an order that a
    FIX session entered before it: its reports must not go to that session."""

    async def enter_on_fix(user: NewUser) -> str:
        async with sdk_session(fresh, user) as nr:
            report = await new_order(nr, order("before", BUY, "1", "6.00"))
        assert report.order_id is not None
        return report.order_id

    async def enter_on_rest(user: NewUser) -> tuple[str, list[Any]]:
        async with sdk_session(fresh, user) as nr:
            placed = await rest_order(fresh, user, BTC, "bid", "1", "6.0000", client_order_id="r")
            await nr.send(
                OrderCancelRequest(cl_ord_id="bar", orig_cl_ord_id="x", side=BUY, symbol=BTC)
            )
            await nr.expect("9", t11="bar")  # a barrier: what came before it came already
            return placed["order_id"], nr.messages[:-1]

    before = asyncio.run(enter_on_fix(fresh.new_user("1000.0000")))
    fresh.control("POST", "/reset").raise_for_status()
    after, reported = asyncio.run(enter_on_rest(fresh.new_user("1000.0000")))
    assert after == before  # the same seeded id
    assert reported == []


# ------------------------------------------------------------------ KalshiRT


def test_rt_reports_made_while_disconnected_arrive_after_reconnect(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        away = asyncio.Event()
        resume = asyncio.Event()

        async def hold_reconnect(state: FixSessionState) -> None:
            if state is FixSessionState.RECONNECTING:
                away.set()
                await resume.wait()

        async with sdk_session(fresh, alice, "RT", on_state=hold_reconnect) as rt:
            new = await new_order(rt, order("rt-1", BUY, "10", "6.25"))
            seq_before = rt.session.inbound_seq_num
            rt.tap.cut()
            await asyncio.wait_for(away.wait(), 10)
            await fresh.released(alice.api_key_id, "KalshiRT")

            # while Alice is away, Bob fills 4 of her bid over REST
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="bob-rt")
            resume.set()

            _, trade = await rt.expect("8", t150="F", t37=new.order_id)
            assert isinstance(trade, ExecutionReport)
            assert (trade.last_px, trade.last_qty, trade.leaves_qty) == (
                Decimal("6.25"),
                Decimal(4),
                Decimal(6),
            )
            (rest_trade,) = (await rest(fresh, bob, "GET", "/margin/trades"))["trades"]
            assert trade.trd_match_id == rest_trade["trade_id"]

            # it resumed (no reset): the reconnect Logon carried no 141, the reply continued
            # the numbering, and the queued report came right after it
            logons = [m for m in rt.tap.sent if m.msg_type == "A"]
            assert [m.get(141) for m in logons] == ["Y", None]
            replies = [m for m in rt.tap.received if m.msg_type == "A"]
            assert replies[-1].seq_num == seq_before
            assert rt.tap.connections == 2
            assert not any(m.msg_type == "2" for m in rt.tap.sent)  # no gap for the SDK

    run(scenario())


def test_rt_report_lost_on_the_wire_is_resent_on_the_sdks_resend_request(
    fresh: FixLiveServer,
) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        away = asyncio.Event()
        resume = asyncio.Event()

        async def hold_reconnect(state: FixSessionState) -> None:
            if state is FixSessionState.RECONNECTING:
                away.set()
                await resume.wait()

        async with sdk_session(fresh, alice, "RT", on_state=hold_reconnect) as rt:
            new = await new_order(rt, order("rt-2", BUY, "10", "6.25"))
            # the server's next frames never reach the SDK
            rt.tap.hold = True
            mark = len(rt.tap.received)
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="bob-lost")
            lost = await rt.tap.wait_received(
                lambda m: m.msg_type == "8" and m.get(150) == "F", "the Trade report", mark
            )
            assert rt.unread() == []
            rt.tap.cut()
            await asyncio.wait_for(away.wait(), 10)
            await fresh.released(alice.api_key_id, "KalshiRT")
            rt.tap.hold = False
            resume.set()

            # the Logon reply is one seq ahead: the SDK asks for the gap and gets the report
            # again, PossDup, with its original SendingTime and body
            raw, trade = await rt.expect("8", t150="F", t37=new.order_id, t43="Y")
            assert raw.seq_num == lost.seq_num
            assert raw.get(122) == lost.get(52)
            assert body(raw) == body(lost)
            (resend,) = [m for m in rt.tap.sent if m.msg_type == "2"]
            assert (resend.get(7), resend.get(16)) == (str(lost.seq_num), "0")
            assert isinstance(trade, ExecutionReport) and trade.last_qty == 4

            # the session goes on normally
            await new_order(rt, order("rt-3", BUY, "1", "6.00"))

    run(scenario())


def test_rt_resend_request_from_the_client(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice, "RT") as rt:
            first = await new_order(rt, order("rr-1", BUY, "1", "6.00"))
            second = await new_order(rt, order("rr-2", BUY, "1", "6.01"))
            originals = [m for m in rt.tap.received if m.msg_type == "8"]
            assert [m.seq_num for m in originals] == [2, 3]
            mark = len(rt.tap.received)
            await rt.send(ResendRequest(begin_seq_no=1, end_seq_no=0))
            # seq 1 (the Logon reply, a session message) is gap-filled; 2 and 3 are resent
            fill = await rt.tap.wait_received(lambda m: m.msg_type == "4", "a gap fill", mark)
            assert (fill.seq_num, fill.get(43), fill.get(123), fill.get(36)) == (1, "Y", "Y", "2")
            for original in originals:
                again = await rt.tap.wait_received(
                    resend_of(original),
                    f"the resend of seq {original.seq_num}",
                    mark,
                )
                assert again.get(43) == "Y" and again.get(122) == original.get(52)
                assert body(again) == body(original)
            # the SDK drops the duplicates (it has them already) and the session goes on
            await new_order(rt, order("rr-3", BUY, "1", "6.02"))
            assert [m.seq_num for m in rt.messages] == [2, 3, 4]
            assert {first.order_id, second.order_id} <= await resting_ids(fresh, alice)

    run(scenario())


def resend_of(original: RawMessage) -> Callable[[RawMessage], bool]:
    return lambda m: m.seq_num == original.seq_num and m.msg_type == "8"


def body(message: Any) -> list[tuple[int, str]]:
    """The fields after the header (and before the trailer)."""
    header = {8, 9, 10, 34, 35, 43, 49, 52, 56, 97, 122}
    return [(t, v) for t, v in message.pairs if t not in header]


# ------------------------------------------------------------------ KalshiDC


def test_drop_copy_replays_fix_and_rest_reports(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice) as nr:
            new = await new_order(nr, order("dc-1", BUY, "10", "6.25"))
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="bob-dc")
            _, trade = await nr.expect("8", t150="F")
            await nr.send(
                OrderCancelRequest(cl_ord_id="dc-x", orig_cl_ord_id="dc-1", side=BUY, symbol=BTC)
            )
            _, cancel = await nr.expect("8", t150="4", t11="dc-x", t41="dc-1")
            live = [new, trade, cancel]
        # an order placed over REST (no FIX session sees it live)
        over_rest = await rest_order(
            fresh, alice, ETH, "ask", "2", "7.5000", client_order_id="rest"
        )

        async with sdk_session(fresh, alice, "DC") as dc:
            assert new.exec_id is not None
            seq, replayed, done = await dc.replay(new.exec_id)
            assert (done.ref_seq_num, done.resend_event_count) == (seq, len(replayed))
            by_exec = {r.exec_id: r for r in replayed}
            for report in live:
                again = by_exec[report.exec_id]
                assert (again.exec_type, again.order_id, again.cl_ord_id, again.orig_cl_ord_id) == (
                    report.exec_type,
                    report.order_id,
                    report.cl_ord_id,
                    report.orig_cl_ord_id,
                )
                assert (again.leaves_qty, again.cum_qty) == (report.leaves_qty, report.cum_qty)
                assert (again.last_px, again.last_qty, again.trd_match_id) == (
                    report.last_px,
                    report.last_qty,
                    report.trd_match_id,
                )
            (from_rest,) = [r for r in replayed if r.order_id == over_rest["order_id"]]
            assert (from_rest.exec_type, from_rest.cl_ord_id, from_rest.symbol) == (
                "0",
                "rest",
                ETH,
            )
            assert (from_rest.side, from_rest.price, from_rest.order_qty) == (
                "2",
                Decimal("7.5"),
                Decimal(2),
            )
            assert [r.exec_id for r in replayed] == sorted(
                (r.exec_id for r in replayed), key=lambda e: int((e or "").split(";")[1])
            )

            # a malformed BeginExecID: U3 alone
            seq = await dc.send(EventResendRequest(begin_exec_id="garbage"))
            await dc.expect("U3", t45=str(seq))

    run(scenario())


# ------------------------------------------------------------------ KalshiMD


def test_market_data_snapshot_updates_trades_and_unsubscribe(fresh: FixLiveServer) -> None:
    alice = fresh.new_user("1000.0000")
    bob = fresh.new_user("1000.0000")

    async def scenario() -> None:
        async with sdk_session(fresh, alice, "MD") as md:
            await rest_order(fresh, alice, BTC, "bid", "5", "6.2000", client_order_id="md-0")
            await md.send(MarketDataRequest.subscribe([BTC]))
            _, snapshot = await md.expect("W", t55=BTC, t268="1")
            assert isinstance(snapshot, MarketDataSnapshotFullRefresh)
            assert [
                (e.md_entry_type, e.md_entry_px, e.md_entry_size) for e in snapshot.entries
            ] == [("0", Decimal("6.2"), Decimal(5))]

            # a new level: a Change with its size (kalshi-sdk's FixOrderBook drops New)
            await rest_order(fresh, alice, BTC, "bid", "10", "6.2500", client_order_id="md-1")
            _, added = await md.expect("X")
            assert isinstance(added, MarketDataIncrementalRefresh)
            assert [entry_tuple(e) for e in added.entries] == [
                ("1", BTC, "0", Decimal("6.25"), Decimal(10))
            ]

            # a trade, in an X of its own, then the level it took from, in event order
            await rest_order(fresh, bob, BTC, "ask", "4", "6.2500", client_order_id="md-2")
            _, traded = await md.expect("X", t269="2", t2446="2")
            assert [entry_tuple(e) for e in traded.entries] == [
                ("0", BTC, "2", Decimal("6.25"), Decimal(4))
            ]
            _, changed = await md.expect("X")
            assert [entry_tuple(e) for e in changed.entries] == [
                ("1", BTC, "0", Decimal("6.25"), Decimal(6))
            ]

            # an unknown symbol is not refused: an empty snapshot
            await md.send(MarketDataRequest.subscribe(["KXNOPEPERP"]))
            await md.expect("W", t55="KXNOPEPERP", t268="0")

            # unsubscribed: a book change sends nothing, the next snapshot shows it
            await md.send(MarketDataRequest.unsubscribe([BTC]))
            await rest_order(fresh, alice, BTC, "bid", "1", "6.1000", client_order_id="md-3")
            await md.send(MarketDataRequest.snapshot([BTC]))
            _, after = await md.expect("W", t55=BTC, t268="3")
            assert [(e.md_entry_px, e.md_entry_size) for e in after.entries] == [
                (Decimal("6.25"), 6),
                (Decimal("6.2"), 5),
                (Decimal("6.1"), 1),
            ]
            assert md.unread() == []

    run(scenario())


def entry_tuple(entry: Any) -> tuple[str, str, str, Decimal | None, Decimal | None]:
    return (
        entry.md_update_action,
        entry.symbol,
        entry.md_entry_type,
        entry.md_entry_px,
        entry.md_entry_size,
    )
