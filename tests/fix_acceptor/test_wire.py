"""`fix_acceptor.wire`, `drop_copy` and `market_data` on an exchange, without sockets.

Requests parse to the same commands REST builds, and the reports rendered from an order's
events follow FIX.md §3.6: New, Trade with cumulative quantities, Replaced, Canceled with the
cancel's ClOrdID, Rejected with the exchange's Text and OrdRejReason.
"""

from __future__ import annotations

from typing import Any

import pytest

from fix_acceptor import drop_copy, wire
from fix_acceptor.codec import parse_timestamp
from fix_acceptor.market_data import MarketDataFeed
from fix_acceptor.message import Message, Tag
from matching import SelfTradePrevention, Side, TimeInForce
from simulator.core.errors import RejectError
from simulator.core.events import FillExecuted, OrderUpdated
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

BTC = "KXBTCPERP"


def order(**fields: Any) -> Message:
    base = {
        Tag.MsgType: "D",
        Tag.ClOrdID: "c1",
        Tag.OrderQty: "3",
        Tag.OrdType: "2",
        Tag.Price: "6.2600",
        Tag.Side: "1",
        Tag.Symbol: BTC,
    }
    base.update({getattr(Tag, k): v for k, v in fields.items()})
    return Message([(t, v) for t, v in base.items() if v is not None])


def test_new_order_single_maps_every_field_to_the_place_command() -> None:
    message = order(
        TimeInForce="3",
        ExecInst="E",
        SelfTradePreventionType="2",
        AllocAccount="3",
        SecondaryClOrdID="g-1",
        CancelOrderOnPause="Y",
        Price="6.26",
    )

    command = wire.place_command(message, 0)

    assert command == PlaceOrder(
        ticker=BTC,
        side=Side.BID,
        price=62600,
        count=300,
        client_order_id="c1",
        time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
        self_trade_prevention=SelfTradePrevention.MAKER,
        reduce_only=True,
        subaccount=3,
        order_group_id="g-1",
        cancel_order_on_pause=True,
    )


def test_day_and_gtd_orders_get_an_expiry() -> None:
    day = wire.place_command(order(TimeInForce="0"), 1_781_481_600_000)  # 2026-06-15 00:00Z
    assert day.expiration_ms == parse_timestamp("20260615-03:59:59.999")  # 14th, 23:59:59.999 ET
    gtd = wire.place_command(order(TimeInForce="6", ExpireTime="20260620-12:00:00.000"), 0)
    assert gtd.expiration_ms == parse_timestamp("20260620-12:00:00.000")


@pytest.mark.parametrize(
    ("fields", "tag", "reason"),
    [
        ({"ClOrdID": None}, Tag.ClOrdID, 1),
        ({"Price": "six"}, Tag.Price, 6),
        ({"Price": "6.26001"}, Tag.Price, 6),
        ({"OrderQty": "x"}, Tag.OrderQty, 6),
        ({"Side": "7"}, Tag.Side, 5),
        ({"OrdType": "1"}, Tag.OrdType, 5),
        ({"TimeInForce": "9"}, Tag.TimeInForce, 5),
        ({"TimeInForce": "6"}, Tag.ExpireTime, 1),
        ({"AllocAccount": "64"}, Tag.AllocAccount, 5),
    ],
)
def test_malformed_fields_are_field_errors(fields: dict[str, Any], tag: int, reason: int) -> None:
    with pytest.raises(wire.FieldError) as error:
        wire.place_command(order(**fields), 0)
    assert (error.value.tag, error.value.reason) == (tag, reason)


def _exchange() -> tuple[Exchange, str]:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    exchange = runtime.exchange
    return exchange, exchange.create_user(balance=10**12).user_id


def _reports(exchange: Exchange, user: str, after: int, reports: wire.Reports) -> list[Message]:
    out = []
    for seq, event in exchange.journal.since(after):
        report = None
        if isinstance(event, OrderUpdated) and event.order.user_id == user:
            report = reports.order_updated(
                seq, event.order, event.created, event.previous_client_order_id
            )
        elif isinstance(event, FillExecuted) and event.fill.user_id == user:
            report = reports.fill(seq, event.fill, exchange.orders[event.fill.order_id].snapshot())
        if report is not None:
            out.append(report)
    return out


def _summary(report: Message) -> tuple[str | None, ...]:
    tags = (
        Tag.ExecType,
        Tag.OrdStatus,
        Tag.ClOrdID,
        Tag.OrigClOrdID,
        Tag.LeavesQty,
        Tag.CumQty,
        Tag.Text,
    )
    return tuple(report.get(t) for t in tags)


def test_a_partly_filled_order_is_new_then_traded_then_replaced_then_canceled() -> None:
    exchange, user = _exchange()
    reports = wire.Reports()
    start = exchange.journal.last_seq
    # 300 contracts at the best ask 6.2600, where 250 rest: 250 fill, 50 rest
    result = exchange.place_order(user, wire.place_command(order(OrderQty="300"), 0))
    order_id = result.order.order_id
    amend = order(MsgType="G", ClOrdID="c2", OrigClOrdID="c1", OrderQty="400", Price="6.2500")
    exchange.amend_order(user, order_id, wire.amend_command(amend, 62600, 0))
    reports.expect_cancel(order_id, "c3")
    exchange.cancel_order(user, order_id)

    out = _reports(exchange, user, start, reports)

    assert [_summary(r) for r in out] == [
        ("0", "0", "c1", None, "300.00", "0.00", None),
        ("F", "1", "c1", None, "50.00", "250.00", None),
        ("5", "5", "c2", "c1", "150.00", "250.00", None),
        ("4", "4", "c3", "c2", "0.00", "250.00", None),
    ]
    trade = out[1]
    fill = next(f for f in exchange.fills if f.order_id == order_id)
    assert trade.get(Tag.TrdMatchID) == fill.trade_id
    assert (trade.get(Tag.LastPx), trade.get(Tag.LastQty)) == ("6.2600", "250.00")
    assert trade.get(Tag.AggressorIndicator) == "Y"
    assert trade.get(Tag.AvgPx) == "6.2600"
    assert all(r.get(Tag.ExecID) for r in out)
    assert len({r.get(Tag.ExecID) for r in out}) == len(out)


def test_preserve_original_order_qty_keeps_38_at_the_order_quantity() -> None:
    exchange, user = _exchange()
    start = exchange.journal.last_seq
    result = exchange.place_order(user, wire.place_command(order(OrderQty="300"), 0))
    exchange.cancel_order(user, result.order.order_id)
    kept = _reports(exchange, user, start, wire.Reports(preserve_order_qty=True))
    default = _reports(exchange, user, start, wire.Reports())

    # 250 filled at once, 50 rested, then the 50 were cancelled (21008, FIX.md §3.6)
    assert [(r.get(Tag.ExecType), r.get(Tag.OrderQty)) for r in kept] == [
        ("0", "300.00"),
        ("F", "300.00"),
        ("4", "300.00"),
    ]
    assert [r.get(Tag.OrderQty) for r in default] == ["300.00", "300.00", "250.00"]


def test_an_ioc_remainder_is_canceled_with_its_text() -> None:
    exchange, user = _exchange()
    start = exchange.journal.last_seq
    exchange.place_order(user, wire.place_command(order(TimeInForce="3", OrderQty="300"), 0))

    out = _reports(exchange, user, start, wire.Reports())

    assert [_summary(r)[:2] for r in out] == [("0", "0"), ("F", "1"), ("4", "4")]
    assert out[-1].get(Tag.Text) == "IMMEDIATE_OR_CANCELLED"


def test_a_refused_order_gets_a_rejected_report_with_text_and_reason() -> None:
    exchange, user = _exchange()
    command = wire.place_command(order(Symbol="NOPE"), 0)
    with pytest.raises(RejectError) as refused:
        exchange.place_order(user, command)

    report = wire.Reports().rejected(command, refused.value.fix_text, refused.value.fix_reason, 0)

    assert _summary(report)[:3] == ("8", "8", "c1")
    assert (report.get(Tag.Text), report.get(Tag.OrdRejReason)) == ("MARKET_NOT_FOUND", "1")


def test_drop_copy_replays_a_range_of_reports_then_u2() -> None:
    exchange, user = _exchange()
    start = exchange.journal.last_seq
    exchange.place_order(user, wire.place_command(order(ClOrdID="a", Price="6.0000"), 0))
    exchange.place_order(user, wire.place_command(order(ClOrdID="b", Price="6.0001"), 0))
    live = _reports(exchange, user, start, wire.Reports())
    begin = live[1].get(Tag.ExecID) or ""

    replay = drop_copy.replay(exchange, user, Message([(35, "U1"), (Tag.BeginExecID, begin)]), 7)

    assert replay[:-1] == live[1:]
    assert replay[-1] == Message([(35, "U2"), (Tag.RefSeqNum, "7"), (Tag.ResendEventCount, "1")])
    too_far = Message([(35, "U1"), (Tag.BeginExecID, begin), (Tag.EndExecID, "0;99999999")])
    (reject,) = drop_copy.replay(exchange, user, too_far, 8)
    assert (reject.msg_type, reject.get(Tag.EventResendRejectReason)) == ("U3", "4")
    (bad,) = drop_copy.replay(exchange, user, Message([(35, "U1"), (Tag.BeginExecID, "x")]), 9)
    assert bad.get(Tag.EventResendRejectReason) == "2"


def test_market_data_snapshot_lists_every_level_and_unknown_symbols_are_empty() -> None:
    runtime = Runtime(load_scenario("default"), clock_mode="manual")
    feed = MarketDataFeed(runtime)
    book = runtime.exchange.markets[BTC].book.depth(0, 1)

    snapshot = feed.snapshot(BTC)
    unknown = feed.snapshot("NOPE")

    assert snapshot.get(Tag.NoMDEntries) == str(len(book.bids) + len(book.asks))
    assert snapshot.get_all(Tag.MDEntryType) == ["0"] * len(book.bids) + ["1"] * len(book.asks)
    assert unknown == Message([(35, "W"), (Tag.Symbol, "NOPE"), (Tag.NoMDEntries, "0")])
