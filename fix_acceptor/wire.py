"""The FIX application wire format (FIX.md §3): requests to exchange commands, events to reports.

The one mapping module of FIX application messages. Requests (NewOrderSingle D,
OrderCancelReplaceRequest G, OrderCancelRequest F, OrderGroupRequest UOG) become the same
exchange commands REST uses; ExecutionReports (8) are renderings of the same `OrderUpdated` and
`FillExecuted` events, so FIX, REST and the WebSocket can never disagree.

Units on the wire: prices in dollars (UseDollars is always on, up to 4 decimals in, 4 out),
quantities in contracts (whole contracts in, 2 decimals out), times UTC with milliseconds from
the simulated clock (TransactTime 60 and every exchange time; SendingTime 52 is the session's,
from the wall clock).

ExecID (17) is `<event time ms>;<journal seq>`: unique, and ordered like the events, which the
drop copy's BeginExecID/EndExecID ranges rely on.

Assumption: a fill is reported as one `F` report per fill event, with OrdStatus 1 or 2 from the
order's cumulative quantity; the order update that follows a fill adds no report. A new order
that fills at once gets its New (`0`) report first.
Assumption: cancels the exchange makes with no reason of their own (an IOC/FOK remainder, an
order-group trigger, a pause) carry Text `IMMEDIATE_OR_CANCELLED` / `FOK_INSUFFICIENT_VOLUME`
for IOC/FOK orders, `ORDER_GROUP_CANCEL` for orders in a group, and no Text otherwise.
Assumption: the Replaced report carries OrdStatus `5` (the margin status list).
Assumption: a partly filled IOC always gets a cancel report of its own, as EnableIocCancelReport
(21007=Y) asks; the docs do not say how such an order ends without it, and a client that reads
LeavesQty (151) of the last fill would think the order still open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from fix_acceptor.codec import parse_timestamp, timestamp
from fix_acceptor.message import Field, Message, Tag
from matching import Reason, SelfTradePrevention, Side, TimeInForce
from simulator.core.events import FillRecord, OrderSnapshot
from simulator.core.money import (
    COUNT_SCALE,
    format_count,
    format_dollars,
    format_price,
    parse_count,
    parse_price,
    round_half_even,
)
from simulator.model.orders import AmendOrder, PlaceOrder

__all__ = [
    "FieldError",
    "OrderContext",
    "Reports",
    "amend_command",
    "business_reject",
    "place_command",
]

Fields = Mapping[int, str]
"""A request's fields by tag (`Message.index`)."""

_SIDES = {"1": Side.BID, "2": Side.ASK}
_SIDE_CODES = {Side.BID: "1", Side.ASK: "2"}
_STP = {"1": SelfTradePrevention.TAKER_AT_CROSS, "2": SelfTradePrevention.MAKER}
_STP_VALUE_CODES: dict[str | None, str] = {v.value: k for k, v in _STP.items()}  # by enum value
_EASTERN = ZoneInfo("America/New_York")
_CANCEL_TEXT = {
    Reason.SELF_TRADE_CANCEL: "SELF_CROSS_ATTEMPT",
    Reason.POST_ONLY_CROSS_CANCEL: "POST_ONLY_CROSS",
    Reason.REDUCE_ONLY_CANCEL: "REDUCE_ONLY",
    Reason.MARGIN_CANCEL: "INSUFFICIENT_BALANCE",
}


class FieldError(Exception):
    """A request field that is missing or malformed: the session answers with Reject (35=3).

    Args:
        tag: The field (RefTagID 371).
        reason: SessionRejectReason (373): 1 required tag missing, 5 value incorrect, 6 incorrect
            data format.
        text: Text (58).
    """

    def __init__(self, tag: int, reason: int, text: str) -> None:
        super().__init__(text)
        self.tag = tag
        self.reason = reason
        self.text = text


def _required(fields: Fields, tag: int) -> str:
    value = fields.get(tag)
    if not value:
        raise FieldError(tag, 1, f"Required tag missing: {tag}")
    return value


def _price(fields: Fields, tag: int = Tag.Price) -> int:
    try:
        return parse_price(_required(fields, tag))
    except ValueError:
        raise FieldError(tag, 6, f"Incorrect data format for value: {tag}") from None


def _quantity(fields: Fields, tag: int = Tag.OrderQty) -> int:
    try:
        return parse_count(_required(fields, tag))
    except ValueError:
        raise FieldError(tag, 6, f"Incorrect data format for value: {tag}") from None


def _side(fields: Fields) -> Side:
    side = _SIDES.get(_required(fields, Tag.Side))
    if side is None:
        raise FieldError(Tag.Side, 5, "Value is incorrect (out of range) for this tag: 54")
    return side


def _subaccount(fields: Fields) -> int:
    text = fields.get(Tag.AllocAccount)
    if text is None:
        return 0
    if not text.isdigit() or int(text) > 63:
        raise FieldError(Tag.AllocAccount, 5, "Value is incorrect (out of range) for this tag: 79")
    return int(text)


def _expiry(fields: Fields, now_ms: int, tif_code: str) -> int | None:
    if tif_code == "0":  # Day: ends 11:59:59.999 pm Eastern
        moment = datetime.fromtimestamp(now_ms / 1000, _EASTERN)
        end = datetime.combine(moment.date(), time(23, 59, 59, 999_000), _EASTERN)
        return int(end.astimezone(UTC).timestamp() * 1000)
    if tif_code == "6":
        text = _required(fields, Tag.ExpireTime)
        try:
            return parse_timestamp(text)
        except ValueError:
            raise FieldError(Tag.ExpireTime, 6, "Incorrect data format for value: 126") from None
    return None


_TIFS = {
    "0": TimeInForce.GOOD_TILL_CANCELED,
    "1": TimeInForce.GOOD_TILL_CANCELED,
    "6": TimeInForce.GOOD_TILL_CANCELED,
    "3": TimeInForce.IMMEDIATE_OR_CANCEL,
    "4": TimeInForce.FILL_OR_KILL,
}
# ExecInst (18): space-separated flags; the usual values looked up at once
_EXEC_INST = {"": (False, False), "6": (True, False), "E": (False, True), "6 E": (True, True)}


def _exec_inst(text: str) -> tuple[bool, bool]:
    """(post only, reduce only) of ExecInst (18)."""
    known = _EXEC_INST.get(text)
    if known is not None:
        return known
    flags = text.split()
    if any(flag not in ("6", "E") for flag in flags):
        raise FieldError(Tag.ExecInst, 5, "Value is incorrect (out of range) for this tag: 18")
    return "6" in flags, "E" in flags


def place_command(message: Message, now_ms: int) -> PlaceOrder:
    """The exchange command of a NewOrderSingle (35=D).

    Raises:
        FieldError: A field is missing or malformed (the exchange's own checks come later).
    """
    fields = message.index()
    if _required(fields, Tag.OrdType) != "2":
        raise FieldError(Tag.OrdType, 5, "Value is incorrect (out of range) for this tag: 40")
    tif_code = fields.get(Tag.TimeInForce) or "1"
    tif = _TIFS.get(tif_code)
    if tif is None:
        raise FieldError(Tag.TimeInForce, 5, "Value is incorrect (out of range) for this tag: 59")
    post_only, reduce_only = _exec_inst(fields.get(Tag.ExecInst) or "")
    stp = _STP.get(fields.get(Tag.SelfTradePreventionType) or "1")
    if stp is None:
        raise FieldError(
            Tag.SelfTradePreventionType, 5, "Value is incorrect (out of range) for this tag: 2964"
        )
    return PlaceOrder(
        ticker=_required(fields, Tag.Symbol),
        side=_side(fields),
        price=_price(fields),
        count=_quantity(fields),
        client_order_id=_required(fields, Tag.ClOrdID),
        time_in_force=tif,
        self_trade_prevention=stp,
        post_only=post_only,
        reduce_only=reduce_only,
        expiration_ms=_expiry(fields, now_ms, tif_code) if tif_code in ("0", "6") else None,
        cancel_order_on_pause=fields.get(Tag.CancelOrderOnPause) == "Y",
        subaccount=_subaccount(fields),
        order_group_id=fields.get(Tag.SecondaryClOrdID) or fields.get(Tag.OrderGroupID),
    )


def amend_command(message: Message, record_price: int, now_ms: int) -> AmendOrder:
    """The exchange command of an OrderCancelReplaceRequest (35=G); 44 omitted keeps the price.

    Raises:
        FieldError: A field is missing or malformed.
    """
    fields = message.index()
    price = _price(fields) if fields.get(Tag.Price) else record_price
    tif_code = fields.get(Tag.TimeInForce)
    expiration: int | None = None
    if tif_code is not None:
        if tif_code not in ("0", "1", "6"):
            raise FieldError(
                Tag.TimeInForce, 5, "Value is incorrect (out of range) for this tag: 59"
            )
        expiration = _expiry(fields, now_ms, tif_code) or 0
    return AmendOrder(
        ticker=_required(fields, Tag.Symbol),
        side=_side(fields),
        price=price,
        count=_quantity(fields),
        client_order_id=_required(fields, Tag.OrigClOrdID),
        updated_client_order_id=_required(fields, Tag.ClOrdID),
        expiration_ms=expiration,
        subaccount=_subaccount(fields),
    )


def business_reject(message: Message, ref_seq: int, reason: int, text: str) -> Message:
    """BusinessMessageReject (35=j) of `message` (its MsgSeqNum `ref_seq`), FIX.md §3.8.

    379 (BusinessRejectRefID) is the request's ClOrdID when it has one.
    """
    reply = Message(
        [(Tag.MsgType, "j"), (Tag.RefSeqNum, str(ref_seq)), (Tag.RefMsgType, message.msg_type)]
    )
    ref_id = message.get(Tag.ClOrdID)
    if ref_id:
        reply.append(Tag.BusinessRejectRefID, ref_id)
    reply.append(Tag.BusinessRejectReason, str(reason))
    reply.append(Tag.Text, text)
    return reply


# ------------------------------------------------------------------ execution reports


@dataclass
class OrderContext:
    """What the reports of one order need beyond its events."""

    cum: int = 0
    value: int = 0
    count: int = 0
    pending_cancel: str | None = None  # ClOrdID of a cancel request in flight
    reported_new: bool = False


@dataclass
class Reports:
    """ExecutionReport bodies from one user's order and fill events, in event order.

    Args:
        use_expired_status: 21012: expiry cancels as 150=C / 39=C instead of 4.
        preserve_order_qty: 21008: OrderQty (38) is the order's quantity in every report, not
            LeavesQty + CumQty (which shrinks when the order is cancelled or decreased).
        cancel_ids: Order id -> ClOrdID of the OrderCancelRequest (F) that cancelled it, from
            any session: the cancel's report carries that 11 (and 41 = the order's) on every
            session and in the drop copy, not only on the session that sent the F.
    """

    use_expired_status: bool = False
    preserve_order_qty: bool = False
    orders: dict[str, OrderContext] = field(default_factory=dict)
    cancel_ids: Mapping[str, str] = field(default_factory=dict)

    def _context(self, order_id: str) -> OrderContext:
        ctx = self.orders.get(order_id)
        if ctx is None:
            ctx = self.orders[order_id] = OrderContext()
        return ctx

    def expect_cancel(self, order_id: str, cl_ord_id: str) -> None:
        """The next cancel of `order_id` answers the F request `cl_ord_id`."""
        self._context(order_id).pending_cancel = cl_ord_id

    def order_updated(
        self, seq: int, order: OrderSnapshot, created: bool, previous_cl_ord_id: str | None
    ) -> Message | None:
        """The report of an order update, or None when it adds nothing (a fill's update).

        An order's context is dropped with its last update (nothing left: filled, cancelled,
        expired or refused), which follows its last fill, so `orders` holds live orders only.
        """
        report = self._order_report(seq, order, created, previous_cl_ord_id)
        if order.remaining_count == 0:
            self.orders.pop(order.order_id, None)
        return report

    def _order_report(
        self, seq: int, order: OrderSnapshot, created: bool, previous_cl_ord_id: str | None
    ) -> Message | None:
        ctx = self._context(order.order_id)
        ctx.cum, ctx.value, ctx.count = order.fill_count, order.fill_value, order.count
        reason = order.last_update_reason
        if created:
            ctx.reported_new = True
            if order.remaining_count > 0:
                return self._report(seq, order, "0", "0")
            # refused at placement with nothing left (post-only cross, ...): a cancel below
        if reason is Reason.TRADE and (
            order.remaining_count > 0 or order.fill_count >= order.count
        ):
            return None  # the fill's report said it (an IOC/FOK remainder ends below)
        if order.remaining_count > 0:
            if reason in (Reason.AMEND, Reason.DECREASE):
                return self._report(seq, order, "5", "5", orig=previous_cl_ord_id)
            return None
        if order.fill_count >= order.count:
            return None  # filled: the fill's report said so
        text = self._cancel_text(order)
        if reason is Reason.EXPIRY_CANCEL and self.use_expired_status:
            return self._report(seq, order, "C", "C", text=text)
        cl_ord_id = order.client_order_id
        orig = None
        cancel_id = ctx.pending_cancel or self.cancel_ids.get(order.order_id)
        if cancel_id is not None and reason is Reason.DECREASE:
            cl_ord_id, orig = cancel_id, order.client_order_id
            ctx.pending_cancel = None
        return self._report(seq, order, "4", "4", text=text, cl_ord_id=cl_ord_id, orig=orig)

    def fill(self, seq: int, fill: FillRecord, order: OrderSnapshot | None) -> Message:
        """The Trade (150=F) report of one fill of one of the user's orders."""
        ctx = self._context(fill.order_id)
        ctx.cum += fill.count
        ctx.value += fill.count * fill.price
        total = ctx.count or (order.count if order is not None else fill.count)
        leaves = max(total - ctx.cum, 0)
        status = "2" if leaves == 0 else "1"
        fields: list[Field] = [
            (Tag.OrderID, fill.order_id),
            (Tag.ClOrdID, fill.client_order_id),
            (Tag.ExecID, f"{fill.ts_ms};{seq}"),
            (Tag.ExecType, "F"),
            (Tag.OrdStatus, status),
            (Tag.Side, _SIDE_CODES[fill.side]),
            (Tag.Symbol, fill.ticker),
            (Tag.OrderQty, format_count(total)),
        ]
        if order is not None:
            fields.append((Tag.Price, format_price(order.price)))
        fields += [
            (Tag.LeavesQty, format_count(leaves)),
            (Tag.CumQty, format_count(ctx.cum)),
            (Tag.AvgPx, _average(ctx.value, ctx.cum)),
            (Tag.LastPx, format_price(fill.price)),
            (Tag.LastQty, format_count(fill.count)),
            (Tag.LastMkt, "0"),
            (Tag.TransactTime, timestamp(fill.ts_ms)),
            (Tag.ClearingBusinessDate, _business_date(fill.ts_ms)),
            (Tag.AllocAccount, str(fill.subaccount)),
            (Tag.LongQty, format_count(max(fill.post_position, 0))),
            (Tag.ShortQty, format_count(max(-fill.post_position, 0))),
            (Tag.NoMiscFees, "1"),
            (Tag.MiscFeeAmt, format_dollars(fill.fee)),
            (Tag.MiscFeeCurr, "USD"),
            (Tag.MiscFeeType, "4"),
            (Tag.MiscFeeBasis, "0"),
            (Tag.TrdMatchID, fill.trade_id),
            (Tag.AggressorIndicator, "Y" if fill.is_taker else "N"),
        ]
        return _message(fields)

    def rejected(self, command: PlaceOrder, text: str, reason: int, now_ms: int) -> Message:
        """The Rejected (150=8) report of a new order the exchange refused."""
        fields: list[Field] = [
            (Tag.OrderID, "NONE"),
            (Tag.ClOrdID, command.client_order_id),
            (Tag.ExecID, "-1;-1"),
            (Tag.ExecType, "8"),
            (Tag.OrdStatus, "8"),
            (Tag.Side, _SIDE_CODES[command.side]),
            (Tag.Symbol, command.ticker),
            (Tag.OrderQty, format_count(command.count)),
            (Tag.Price, format_price(command.price)),
            (Tag.LeavesQty, format_count(0)),
            (Tag.CumQty, format_count(0)),
            (Tag.AvgPx, "0"),
            (Tag.TransactTime, timestamp(now_ms)),
            (Tag.Text, text),
            (Tag.OrdRejReason, str(reason)),
        ]
        return _message(fields)

    def _cancel_text(self, order: OrderSnapshot) -> str | None:
        reason = order.last_update_reason
        if reason is Reason.SELF_TRADE_CANCEL:
            stp = order.self_trade_prevention_type
            return (
                "MAKER_CANCEL_FOR_SELF_TRADE_PREVENTION"
                if stp == SelfTradePrevention.MAKER.value
                else "TAKER_CANCEL_FOR_SELF_TRADE_PREVENTION"
            )
        if reason in _CANCEL_TEXT:
            return _CANCEL_TEXT[reason]
        if reason in (Reason.NONE, Reason.TRADE):
            if order.time_in_force == TimeInForce.IMMEDIATE_OR_CANCEL.value:
                return "IMMEDIATE_OR_CANCELLED"
            if order.time_in_force == TimeInForce.FILL_OR_KILL.value:
                return "FOK_INSUFFICIENT_VOLUME"
            if order.order_group_id is not None:
                return "ORDER_GROUP_CANCEL"
        return None

    def _report(
        self,
        seq: int,
        order: OrderSnapshot,
        exec_type: str,
        status: str,
        *,
        text: str | None = None,
        cl_ord_id: str | None = None,
        orig: str | None = None,
    ) -> Message:
        fields: list[Field] = [
            (Tag.MsgType, "8"),
            (Tag.OrderID, order.order_id),
            (Tag.ClOrdID, cl_ord_id or order.client_order_id),
        ]
        if orig:
            fields.append((Tag.OrigClOrdID, orig))
        remaining, filled = order.remaining_count, order.fill_count
        fields += [
            (Tag.ExecID, f"{order.last_update_ms};{seq}"),
            (Tag.ExecType, exec_type),
            (Tag.OrdStatus, status),
            (Tag.Side, _SIDE_CODES[order.side]),
            (Tag.Symbol, order.ticker),
            (Tag.OrderQty, _count(order.count if self.preserve_order_qty else remaining + filled)),
            (Tag.Price, format_price(order.price)),
            (Tag.LeavesQty, _count(remaining)),
            (Tag.CumQty, _count(filled)),
            (Tag.AvgPx, _average(order.fill_value, filled)),
            (Tag.TransactTime, timestamp(order.last_update_ms)),
        ]
        if exec_type == "5":
            fields.append((Tag.TimeInForce, "6" if order.expiration_ms is not None else "1"))
        if order.expiration_ms is not None:
            fields.append((Tag.ExpireTime, timestamp(order.expiration_ms)))
        fields.append((Tag.AllocAccount, str(order.subaccount)))
        stp_code = _STP_VALUE_CODES.get(order.self_trade_prevention_type)
        if stp_code is not None:
            fields.append((Tag.SelfTradePreventionType, stp_code))
        if text:
            fields.append((Tag.Text, text))
        return Message(fields)


@lru_cache(maxsize=1024)
def _count(centi: int) -> str:
    """`format_count`, remembered: reports repeat a few quantities (0, 1, the order's size)."""
    return format_count(centi)


def _message(fields: list[Field]) -> Message:
    return Message([(Tag.MsgType, "8"), *fields])


def _average(value: int, count: int) -> str:
    if count <= 0:
        return "0"
    return format_dollars(round_half_even(value * 100, count))


def _business_date(ts_ms: int) -> str:
    # the margin trading day runs from 16:00 ET the day before (inclusive) to 16:00 ET
    moment = datetime.fromtimestamp(ts_ms / 1000, _EASTERN)
    if moment.hour >= 16:
        moment += timedelta(days=1)
    return moment.strftime("%Y%m%d")


assert COUNT_SCALE == 100  # quantities are rendered with 2 decimals
