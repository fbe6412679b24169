"""Orders on the wire: request structs, commands in integer units, and MarginOrder rendering.

Also the pages of `GET /margin/orders`, cut from the exchange's per-user order index
(`simulator.risk.indexes.OrderIndex`) without scanning every order the exchange ever saw.

Assumption: `status` filters take Kalshi's usual values `resting`, `executed` and `canceled`
(`simulator.risk.indexes.OrderStatus` says which orders each one lists).
Assumption: lists are newest first; `min_ts` / `max_ts` (Unix seconds, both inclusive) bound
the creation time.
Assumption: a body decimal that is not a number is 400 `invalid_parameters`; a number with
too many decimals is 400 `invalid_order` ("invalid dollar precision", MECHANICS 1.3).
Assumption: unknown request-body fields are refused with 400 `invalid_parameters`.
Assumption: `average_fill_price` and `average_fee_paid` are per contract (volume-weighted),
to the micro-dollar, and only present when the command filled something.
Assumption: a rejection whose status the operation does not declare (e.g. an unknown market
or subaccount on create, 404) is answered 400 with the rejection's own code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import msgspec

from api.errors import BadRequestError
from api.wire.common import rfc3339
from api.wire.pages import decode_cursor, page, time_bounds
from matching import SelfTradePrevention, Side, TimeInForce
from simulator.core.errors import InvalidOrderError
from simulator.core.money import (
    WireFormatError,
    format_count,
    format_dollars,
    format_price,
    parse_count,
    parse_price,
    round_half_even,
)
from simulator.exchange import Exchange
from simulator.model.orders import AmendOrder, OrderRecord, OrderResult, PlaceOrder
from simulator.risk.indexes import OrderStatus, order_status

__all__ = [
    "AmendBody",
    "CreateOrderBody",
    "DecreaseBody",
    "amend_command",
    "amend_response",
    "cancel_response",
    "check_id",
    "create_response",
    "decrease_amounts",
    "decrease_response",
    "fcm_order_owner",
    "margin_order",
    "order_page",
    "parse_count_field",
    "parse_price_field",
    "place_command",
]


NonNegative = Annotated[int, msgspec.Meta(ge=0)]
_MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant RFC 3339 can show
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
STATUSES = tuple(OrderStatus)


# ------------------------------------------------------------------ bodies


class CreateOrderBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """CreateMarginOrderRequest."""

    client_order_id: str
    side: Side
    count: str
    price: str
    time_in_force: TimeInForce
    self_trade_prevention_type: SelfTradePrevention
    ticker: str | None = None
    market_id: str | None = None
    expiration_time: int | None = None
    post_only: bool | None = None
    cancel_order_on_pause: bool | None = None
    reduce_only: bool | None = None
    subaccount: NonNegative | None = None
    order_group_id: str | None = None
    market_version: int | None = None


class AmendBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """AmendMarginOrderRequest (with the SDK's `expiration_time` and `market_id`)."""

    ticker: str
    side: Side
    price: str
    count: str
    client_order_id: str | None = None
    updated_client_order_id: str | None = None
    expiration_time: NonNegative | None = None
    market_id: str | None = None


class DecreaseBody(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """DecreaseMarginOrderRequest: exactly one of the two (the exchange checks)."""

    reduce_by: str | None = None
    reduce_to: str | None = None


# ----------------------------------------------------------------- parsing


def _decimal(text: str, name: str, parse: Callable[[str], int]) -> int:
    if len(text) > 40 or _NUMBER.fullmatch(text) is None:
        raise BadRequestError(f"{name} must be a decimal string, was {text!r}")
    try:
        return parse(text)
    except WireFormatError:
        raise InvalidOrderError(details=f"invalid {name} precision: {text!r}") from None


def parse_price_field(text: str, name: str = "price") -> int:
    """A request price (0-4 decimals) in ticks."""
    return _decimal(text, name, parse_price)


def parse_count_field(text: str, name: str = "count") -> int:
    """A request count (0-2 decimals) in 1/100 contracts."""
    return _decimal(text, name, parse_count)


def _expiration_ms(seconds: int) -> int:
    if seconds > _MAX_SECONDS:
        raise BadRequestError(f"expiration_time is out of range, was {seconds}")
    return seconds * 1000


def check_id(value: str, name: str) -> str:
    """A UUID-shaped id from a path, or 400 `invalid_parameters`."""
    if _ID.fullmatch(value) is None:
        raise BadRequestError(f"{name} is malformed, was {value!r}")
    return value


def _ticker(exchange: Exchange, ticker: str | None, market_id: str | None) -> str:
    if ticker:
        return ticker
    if market_id:
        check_id(market_id, "market_id")
        data = exchange.market_by_id(market_id)
        return market_id if data is None else data.ticker  # the exchange reports an unknown id
    raise BadRequestError("ticker or market_id is required")


def place_command(body: CreateOrderBody, exchange: Exchange) -> PlaceOrder:
    """The exchange command of a create request (prices, counts and times converted)."""
    expiration = body.expiration_time
    return PlaceOrder(
        ticker=_ticker(exchange, body.ticker, body.market_id),
        side=body.side,
        price=parse_price_field(body.price),
        count=parse_count_field(body.count),
        client_order_id=body.client_order_id,
        time_in_force=body.time_in_force,
        self_trade_prevention=body.self_trade_prevention_type,
        post_only=body.post_only is True,
        reduce_only=body.reduce_only is True,
        expiration_ms=None if expiration is None else _expiration_ms(expiration),
        cancel_order_on_pause=body.cancel_order_on_pause is True,
        subaccount=body.subaccount or 0,
        order_group_id=body.order_group_id,
        market_version=body.market_version or 0,
    )


def amend_command(body: AmendBody, subaccount: int) -> AmendOrder:
    """The exchange command of an amend request (`expiration_time` 0 clears the expiry)."""
    expiration = body.expiration_time
    return AmendOrder(
        ticker=body.ticker,
        side=body.side,
        price=parse_price_field(body.price),
        count=parse_count_field(body.count),
        client_order_id=body.client_order_id,
        updated_client_order_id=body.updated_client_order_id,
        expiration_ms=None if expiration is None else _expiration_ms(expiration),
        subaccount=subaccount,
    )


def decrease_amounts(body: DecreaseBody) -> tuple[int | None, int | None]:
    """(reduce_by, reduce_to) in 1/100 contracts."""
    by, to = body.reduce_by, body.reduce_to
    return (
        None if by is None else parse_count_field(by, "reduce_by"),
        None if to is None else parse_count_field(to, "reduce_to"),
    )


def fcm_order_owner(exchange: Exchange, fcm_user_id: str, subtrader_id: str) -> str:
    """The user whose orders an FCM lists: itself, or one of its subtraders."""
    if subtrader_id != fcm_user_id:
        exchange.fcm.subtrader(fcm_user_id, subtrader_id)
    return subtrader_id


# --------------------------------------------------------------- rendering


def _averages(out: dict[str, Any], filled: int, value: int, fees: int) -> None:
    # value: micro-dollar-contracts / 100 (count x ticks); per contract = value * 100 / filled
    out["average_fill_price"] = format_dollars(round_half_even(value * 100, filled))
    out["average_fee_paid"] = format_dollars(round_half_even(fees * 100, filled))


def create_response(result: OrderResult) -> dict[str, Any]:
    """CreateMarginOrderResponse."""
    order = result.order
    out: dict[str, Any] = {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "fill_count": format_count(result.fill_count),
        "remaining_count": format_count(order.remaining_count),
    }
    if result.fill_count:
        _averages(out, result.fill_count, result.fill_value, result.fees)
    return out


def amend_response(result: OrderResult) -> dict[str, Any]:
    """AmendMarginOrderResponse: the fill keys are null when the amend filled nothing."""
    order = result.order
    out: dict[str, Any] = {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "remaining_count": format_count(order.remaining_count),
        "fill_count": None,
        "average_fill_price": None,
        "average_fee_paid": None,
    }
    if result.fill_count:
        out["fill_count"] = format_count(result.fill_count)
        _averages(out, result.fill_count, result.fill_value, result.fees)
    return out


def cancel_response(record: OrderRecord, reduced: int) -> dict[str, Any]:
    """CancelMarginOrderResponse: `reduced_by` is the resting count the cancel removed."""
    return {
        "order_id": record.order_id,
        "client_order_id": record.client_order_id,
        "reduced_by": format_count(reduced),
    }


def decrease_response(record: OrderRecord) -> dict[str, Any]:
    """DecreaseMarginOrderResponse."""
    return {
        "order_id": record.order_id,
        "client_order_id": record.client_order_id,
        "remaining_count": format_count(record.remaining),
    }


def margin_order(record: OrderRecord) -> dict[str, Any]:
    """MarginOrder."""
    expiration = record.expiration_ms
    out: dict[str, Any] = {
        "order_id": record.order_id,
        "user_id": record.user_id,
        "client_order_id": record.client_order_id,
        "ticker": record.ticker,
        "side": record.side.value,
        "last_update_reason": record.last_update_reason.value,
        "price": format_price(record.price),
        "fill_count": format_count(record.fill_count),
        "remaining_count": format_count(record.remaining),
        "expiration_time": None if expiration is None else rfc3339(expiration),
        "created_time": rfc3339(record.created_ms),
        "last_update_time": rfc3339(record.last_update_ms),
        "self_trade_prevention_type": record.self_trade_prevention.value,
        "cancel_order_on_pause": record.cancel_order_on_pause,
        "order_source": record.order_source,
    }
    if record.order_group_id is not None:
        out["order_group_id"] = record.order_group_id
    if record.order_reason is not None:
        out["order_reason"] = record.order_reason
    return out


def order_page(
    records: list[OrderRecord],
    numbers: Sequence[int],
    upper: int,
    *,
    ticker: str | None,
    status: str | None,
    subaccount: int | None,
    min_ts: int | None,
    max_ts: int | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """GetMarginOrdersResponse for one page of a user's orders.

    `numbers` are the orders' numbers and `upper` the next one (`OrderIndex.numbers`, `count`).
    """
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"status must be one of {', '.join(STATUSES)}, was {status!r}")
    size = len(records)
    lo, hi = time_bounds(lambda i: records[i].created_ms, size, min_ts, max_ts)
    start = min(decode_cursor(cursor, "orders", size, numbers, upper), hi)
    keep: Callable[[OrderRecord], bool] | None = None
    if ticker or status or subaccount is not None:

        def keep(record: OrderRecord) -> bool:
            return (
                (not ticker or record.ticker == ticker)
                and (subaccount is None or record.subaccount == subaccount)
                and (status is None or order_status(record) == status)
            )

    found, next_cursor = page(records, start, lo, limit, keep, "orders", numbers)
    return {"orders": [margin_order(record) for record in found], "cursor": next_cursor}
