"""WebSocket frames of the margin channels (WEBSOCKET.md §4-§7): events and reads to JSON.

The one mapping module of the WebSocket wire format. Payloads (`msg`) are built from the same
exchange events and read models as REST, so a fill on `fill` is the REST fill with the same
ids, prices and counts, and a book rebuilt from snapshot + deltas is REST's `orderbook`.

A frame is assembled by splicing: the `msg` is encoded once (per channel and market, or per
owner for the owner's copy of a book delta) and each subscriber's frame puts its own `sid` and
`seq` around it (`frame`), so fan-out costs one string join per subscriber.

Mapping of ids: a WS `fill.trade_id` is the REST trade id of the execution (`GET
/margin/markets/trades` and the `trade` channel); a REST fill's `fill_id` has no WS field. Each
execution has one trade id and one fill per side, so each fill maps to exactly one trade.

Assumption: before the first trade the ticker's `price` (and `bid`/`ask` of an empty side) is
`"0.0000"` (a setting, `no_trade_price`); sizes of an empty side are `"0.00"`.
Assumption: a book delta's `last_update_reason`, `client_order_id` and `subaccount` appear only
on the copy sent to the order's owner (§7.1.4); the owner copy leaves out a reason that is
empty (a new resting order). `CloseCancel`/`HaltCancel` are never produced.
Assumption: `user_order.created_ts_ms` is always an integer (kalshi-sdk rejects null).
"""

from __future__ import annotations

from typing import Any

import msgspec

from simulator.core.events import (
    BookDelta,
    FillRecord,
    OrderGroupChanged,
    OrderSnapshot,
    TickerChanged,
    TradeRecord,
)
from simulator.core.money import format_count, format_dollars, format_price, rate_to_float
from simulator.exchange import Exchange
from simulator.model.market_data import MarketData

__all__ = [
    "CHANNELS",
    "EVENT_CONTRACT_CHANNELS",
    "FRAME_TYPES",
    "SEQUENCED",
    "book_delta_msg",
    "book_snapshot_msg",
    "encode",
    "fill_msg",
    "frame",
    "frame_tail",
    "order_group_msg",
    "ticker_msg",
    "ticker_now",
    "trade_msg",
    "user_order_msg",
]

CHANNELS = ("orderbook_delta", "ticker", "trade", "fill", "user_orders", "order_group_updates")
"""The margin channels, in the order of the spec's enum."""

FRAME_TYPES = {
    "orderbook_delta": "orderbook_delta",
    "ticker": "ticker",
    "trade": "trade",
    "fill": "fill",
    "user_orders": "user_order",
    "order_group_updates": "order_group_updates",
}
"""The `type` of a channel's data frames (the book's snapshot is `orderbook_snapshot`)."""

SEQUENCED = frozenset({"orderbook_delta", "trade", "order_group_updates"})
"""Channels whose data frames carry `seq` (§8)."""

EVENT_CONTRACT_CHANNELS = frozenset(
    {
        "market_positions",
        "market_lifecycle_v2",
        "multivariate_market_lifecycle",
        "multivariate",
        "communications",
        "ticker_v2",
        "cfbenchmarks_value",
        "pyth_value",
        "corporate_actions",
    }
)
"""Channels a client may ask for that margin does not serve (error 8), kalshi-sdk's included."""

_encoder = msgspec.json.Encoder()


def encode(value: Any) -> str:
    """Compact JSON text of a payload."""
    return _encoder.encode(value).decode()


def frame(
    kind: str,
    msg: str | None,
    *,
    sid: int | None = None,
    seq: int | None = None,
    command_id: int | None = None,
    sending_ts_ms: int | None = None,
) -> str:
    """One server frame: `type`, then `id`, `sid`, `seq`, the encoded `msg`, `sending_ts_ms`."""
    parts = ['{"type":"', kind, '"']
    if command_id is not None:
        parts += [',"id":', str(command_id)]
    if sid is not None:
        parts += [',"sid":', str(sid)]
    if seq is not None:
        parts += [',"seq":', str(seq)]
    if msg is not None:
        parts += [',"msg":', msg]
    if sending_ts_ms is not None:
        parts += [',"sending_ts_ms":', str(sending_ts_ms)]
    parts.append("}")
    return "".join(parts)


def frame_tail(sending_ts_ms: int | None) -> str:
    """What follows `msg` in a data frame: `sending_ts_ms` if given, and the closing brace."""
    return "}" if sending_ts_ms is None else f',"sending_ts_ms":{sending_ts_ms}}}'


# ------------------------------------------------------------------ orderbook_delta


def book_snapshot_msg(data: MarketData, *, omit_empty: bool = True) -> dict[str, Any]:
    """`orderbook_snapshot.msg`: every level, best first (as REST `orderbook`)."""
    depth = data.book.depth(0, 1)
    out: dict[str, Any] = {"market_ticker": data.ticker}
    for key, levels in (("bid", depth.bids), ("ask", depth.asks)):
        if levels or not omit_empty:
            out[key] = [[format_price(p), format_count(c)] for p, c in levels]
    return out


def book_delta_msg(event: BookDelta, *, own: bool) -> dict[str, Any]:
    """`orderbook_delta.msg`; `own` adds the owner-only fields."""
    out: dict[str, Any] = {
        "market_ticker": event.ticker,
        "price": format_price(event.price),
        "delta": format_count(event.delta),
        "side": event.side.value,
    }
    if own:
        if event.reason.value:
            out["last_update_reason"] = event.reason.value
        if event.client_order_id:
            out["client_order_id"] = event.client_order_id
        if event.subaccount is not None:
            out["subaccount"] = event.subaccount
    out["ts_ms"] = event.ts_ms
    return out


# ------------------------------------------------------------------ ticker


def _price_at(value: tuple[int, int]) -> dict[str, Any]:
    return {"price": format_price(value[0]), "ts_ms": value[1]}


def ticker_msg(event: TickerChanged, *, no_trade_price: str = "0.0000") -> dict[str, Any]:
    """`ticker.msg` of a ticker event (published, or `PricingDesk.peek_ticker`'s)."""
    out: dict[str, Any] = {
        "market_ticker": event.ticker,
        "price": no_trade_price if event.price is None else format_price(event.price),
        "bid": no_trade_price if event.bid is None else format_price(event.bid),
        "ask": no_trade_price if event.ask is None else format_price(event.ask),
        "bid_size_fp": format_count(event.bid_size),
        "ask_size_fp": format_count(event.ask_size),
        "last_trade_size_fp": format_count(event.last_trade_size),
        "volume": format_count(event.volume),
        "volume_notional_value_dollars": format_dollars(event.volume_notional),
        "volume_24h": format_count(event.volume_24h),
        "volume_24h_notional_value_dollars": format_dollars(event.volume_24h_notional),
        "open_interest": format_count(event.open_interest),
        "open_interest_notional_value_dollars": format_dollars(event.open_interest_notional),
    }
    for key, value in (
        ("reference_price", event.reference_price),
        ("settlement_mark_price", event.settlement_mark_price),
        ("liquidation_mark_price", event.liquidation_mark_price),
    ):
        if value is not None:
            out[key] = _price_at(value)
    out["funding_rate"] = {
        "rate": rate_to_float(event.funding_rate),
        "next_funding_time_ms": event.next_funding_time_ms,
        "ts_ms": event.funding_rate_ts_ms,
    }
    out["ts_ms"] = event.ts_ms
    return out


def ticker_now(
    exchange: Exchange, data: MarketData, *, no_trade_price: str = "0.0000"
) -> dict[str, Any]:
    """`ticker.msg` of the market as it is now (`send_initial_snapshot`); changes nothing."""
    return ticker_msg(exchange.pricing.peek_ticker(data), no_trade_price=no_trade_price)


# ------------------------------------------------------------------ trade, fill, orders


def trade_msg(trade: TradeRecord) -> dict[str, Any]:
    """`trade.msg`: the REST trade of the execution."""
    return {
        "trade_id": trade.trade_id,
        "market_ticker": trade.ticker,
        "price": format_price(trade.price),
        "count": format_count(trade.count),
        "taker_side": trade.taker_side.value,
        "ts_ms": trade.ts_ms,
    }


def fill_msg(fill: FillRecord) -> dict[str, Any]:
    """`fill.msg`: one side of an execution, as REST's MarginFill with `trade_id`."""
    out: dict[str, Any] = {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
    }
    if fill.client_order_id:
        out["client_order_id"] = fill.client_order_id
    out.update(
        {
            "market_ticker": fill.ticker,
            "is_taker": fill.is_taker,
            "side": fill.side.value,
            "ts_ms": fill.ts_ms,
            "price": format_price(fill.price),
            "count": format_count(fill.count),
            "fee_cost": format_dollars(fill.fee),
            "post_position": format_count(fill.post_position),
            "subaccount": fill.subaccount,
            "order_source": fill.order_source,
        }
    )
    return out


def user_order_msg(order: OrderSnapshot) -> dict[str, Any]:
    """`user_order.msg`: the order after the change (no `status`; §7.5)."""
    out: dict[str, Any] = {
        "order_id": order.order_id,
        "user_id": order.user_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "side": order.side.value,
        "price": format_price(order.price),
        "fill_count": format_count(order.fill_count),
        "remaining_count": format_count(order.remaining_count),
    }
    if order.self_trade_prevention_type is not None:
        out["self_trade_prevention_type"] = order.self_trade_prevention_type
    if order.order_group_id is not None:
        out["order_group_id"] = order.order_group_id
    if order.expiration_ms is not None:
        out["expiration_ts_ms"] = order.expiration_ms
    out["created_ts_ms"] = order.created_ms
    out["last_updated_ts_ms"] = order.last_update_ms
    if order.last_update_reason.value:
        out["last_update_reason"] = order.last_update_reason.value
    out["subaccount_number"] = order.subaccount
    out["order_source"] = order.order_source
    return out


_LIMITED = frozenset({"created", "limit_updated"})


def order_group_msg(event: OrderGroupChanged) -> dict[str, Any]:
    """`order_group_updates.msg`; the limit only on `created` and `limit_updated`."""
    out: dict[str, Any] = {"event_type": event.action, "order_group_id": event.order_group_id}
    if event.action in _LIMITED:
        out["contracts_limit_fp"] = format_count(event.contracts_limit)
    out["ts_ms"] = event.ts_ms
    return out
