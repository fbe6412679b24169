"""Markets, order books, candlesticks and public trades as Kalshi's JSON (MarginMarket, ...).

Assumption: `leverage_estimate` is the estimate at the smallest notional of
`leverage_estimates` ("1000"), and the side-specific maps fall back to the common one (the same
curves margin uses).
Assumption: `bid`/`ask` (with `bid_size_fp`/`ask_size_fp`), `price` and the three `TickerPrice`
objects are left out while the market has no such value (none of them is nullable).
Assumption: a market `schedule` in the market file is rendered with its `is_open`,
`next_close_ts` and `next_open_ts` (is_open defaults to the market being active); markets
without one trade 24/7 and show null.
Assumption: the open-interest notional is valued at the liquidation mark, like the ticker.
Assumption: a ticker the spec gives no 404 for (trades) is 400 `invalid_parameters` when unknown.
Assumption: trades come newest first; `min_ts` and `max_ts` are inclusive whole seconds; the
cursor names the last trade returned, so trades arriving between pages never repeat one (its
index counts the trades retention dropped, so drops between pages do not move it either).
"""

from __future__ import annotations

import base64
import binascii
import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from typing import Any

from api.errors import BadRequestError
from api.wire.common import rfc3339
from simulator.core.events import TradeRecord
from simulator.core.money import (
    WireFormatError,
    format_count,
    format_dollars,
    format_price,
    parse_dollars,
    parse_price,
    rate_to_float,
)
from simulator.exchange import Exchange
from simulator.model.candles import Candle, Ohlc
from simulator.model.history import History
from simulator.model.market_data import MarketData

__all__ = [
    "MAX_BULK_TICKERS",
    "aggregation_tick",
    "candlestick",
    "market",
    "orderbook",
    "trades_page",
]

MAX_BULK_TICKERS = 100
_CONTRACT_SIZE_SCALE = 1_000_000


def market(exchange: Exchange, data: MarketData) -> dict[str, Any]:
    """MarginMarket."""
    spec = data.market.spec
    estimates = spec.leverage_estimates
    out: dict[str, Any] = {
        "ticker": data.ticker,
        "title": spec.title,
        "status": data.market.status,
        "contract_size": _contract_size(spec.contract_size),
        "underlying_multiplier": spec.underlying_multiplier,
        "tick_size": format_price(spec.tick),
        "fractional_trading_enabled": spec.fractional_trading_enabled,
        "schedule": _schedule(spec.schedule, data.market.status),
        "exchange_index": spec.exchange_index,
        "market_version": data.market.market_version,
        "funding_deadband": rate_to_float(spec.funding.deadband),
        "funding_cap": rate_to_float(spec.funding.cap),
        "funding_limit_unit": spec.funding.limit_unit,
        "funding_invalid_premium_handling": spec.funding.invalid_premium_handling,
        "halt_sources": list(data.market.halt_sources),
        "leverage_estimate": estimates[min(estimates, key=_notional)] if estimates else None,
        "leverage_estimates": dict(estimates),
        "long_leverage_estimates": dict(spec.long_leverage_estimates or estimates),
        "short_leverage_estimates": dict(spec.short_leverage_estimates or estimates),
    }
    if data.last_price is not None:
        out["price"] = format_price(data.last_price)
    out["volume"] = format_count(data.volume)
    out["volume_notional_value_dollars"] = format_dollars(data.volume_notional)
    out["open_interest"] = format_count(data.open_interest)
    out["open_interest_notional_value_dollars"] = format_dollars(
        data.open_interest * (data.mark or 0)
    )
    volume_24h, volume_24h_notional = data.volume_24h_at(exchange.now())
    out["volume_24h"] = format_count(volume_24h)
    out["volume_24h_notional_value_dollars"] = format_dollars(volume_24h_notional)
    best_bid, best_ask = data.book.best_bid(), data.book.best_ask()
    if best_bid is not None:
        out["bid"] = format_price(best_bid[0])
        out["bid_size_fp"] = format_count(best_bid[1])
    if best_ask is not None:
        out["ask"] = format_price(best_ask[0])
        out["ask_size_fp"] = format_count(best_ask[1])
    settlement = exchange.pricing.peek_settlement_mark(data)
    if settlement is not None:
        out["settlement_mark_price"] = _ticker_price(settlement)
    if data.mark is not None:
        out["liquidation_mark_price"] = _ticker_price((data.mark, data.mark_ts_ms))
    if data.reference is not None:
        out["reference_price"] = _ticker_price(data.reference)
    if spec.asset_class:
        out["asset_class"] = spec.asset_class
    if spec.product_metadata is not None:
        out["product_metadata"] = spec.product_metadata
    return out


def _notional(key: str) -> float:
    try:
        return float(key)
    except ValueError:
        return float("inf")


def _contract_size(text: str) -> str:
    # 6 decimals on the wire ("0.000100")
    micros = parse_dollars(text)
    return f"{micros // _CONTRACT_SIZE_SCALE}.{micros % _CONTRACT_SIZE_SCALE:06d}"


def _schedule(schedule: dict[str, Any] | None, status: str) -> dict[str, Any] | None:
    if schedule is None:
        return None
    return {
        "is_open": bool(schedule.get("is_open", status == "active")),
        "next_close_ts": schedule.get("next_close_ts"),
        "next_open_ts": schedule.get("next_open_ts"),
    }


def _ticker_price(value: tuple[int, int]) -> dict[str, Any]:
    return {"price": format_price(value[0]), "ts_ms": value[1]}


# ---------------------------------------------------------------- order books


def aggregation_tick(text: str | None, market_tick: int) -> int:
    """The bucket of `aggregation_tick_size` in ticks: a positive multiple of the market's."""
    if text is None or text == "":
        return market_tick
    try:
        tick = parse_price(text)
    except WireFormatError:
        raise BadRequestError(
            f"aggregation_tick_size must be a dollar amount, was {text!r}"
        ) from None
    if tick <= 0 or tick % market_tick:
        raise BadRequestError(
            "aggregation_tick_size must be a positive multiple of the tick size "
            f"{format_price(market_tick)}, was {text!r}"
        )
    return tick


def orderbook(data: MarketData, depth: int = 0, tick: int = 1) -> dict[str, Any]:
    """MarginOrderbookCount: `[price, count]` levels, best first."""
    snapshot = data.book.depth(depth, tick)
    return {
        "bids": [[format_price(p), format_count(c)] for p, c in snapshot.bids],
        "asks": [[format_price(p), format_count(c)] for p, c in snapshot.asks],
    }


# ---------------------------------------------------------------- candlesticks


def candlestick(candle: Candle) -> dict[str, Any]:
    """MarginMarketCandlestick."""
    return {
        "end_period_ts": candle.end_ms // 1000,
        "bid": _ohlc(candle.bid),
        "ask": _ohlc(candle.ask),
        "price": {
            "open": _price(candle.open),
            "low": _price(candle.low),
            "high": _price(candle.high),
            "close": _price(candle.close),
            "mean": None if candle.mean is None else format_dollars(candle.mean),
            "previous": _price(candle.previous),
        },
        "volume": format_count(candle.volume),
        "volume_notional_value_dollars": format_dollars(candle.volume_notional),
        "open_interest": format_count(candle.open_interest),
        "open_interest_notional_value_dollars": format_dollars(candle.open_interest_notional),
    }


def _ohlc(value: Ohlc) -> dict[str, str]:
    return {
        "open": format_price(value.open),
        "low": format_price(value.low),
        "high": format_price(value.high),
        "close": format_price(value.close),
    }


def _price(ticks: int | None) -> str | None:
    return None if ticks is None else format_price(ticks)


# --------------------------------------------------------------------- trades

_Key = tuple[int, str, int]  # (-ts_ms, ticker, -index): ascending = newest first


def trades_page(
    exchange: Exchange,
    ticker: str | None,
    limit: int,
    cursor: str | None,
    min_ts: int | None,
    max_ts: int | None,
) -> dict[str, Any]:
    """GetMarginTradesResponse: one page of public trades, newest first."""
    if ticker is not None and ticker not in exchange.trades:
        raise BadRequestError(f"unknown market ticker {ticker!r}")
    after = _decode_cursor(cursor) if cursor else None
    tickers = [ticker] if ticker is not None else sorted(exchange.trades)
    streams = [_newest_first(t, exchange.trades[t], after, min_ts, max_ts) for t in tickers]
    page: list[tuple[_Key, TradeRecord]] = []
    for item in heapq.merge(*streams):
        page.append(item)
        if len(page) > limit:
            break
    more = len(page) > limit
    page = page[:limit]
    next_cursor = _encode_cursor(page[-1][0]) if more and page else ""
    return {"trades": [_trade(trade) for _, trade in page], "cursor": next_cursor}


def _newest_first(
    ticker: str,
    trades: History[TradeRecord],
    after: _Key | None,
    min_ts: int | None,
    max_ts: int | None,
) -> Iterator[tuple[_Key, TradeRecord]]:
    # the ticker's trades (ascending by time) that sort after the cursor, newest first; a
    # cursor's index counts the trades retention dropped (`History.dropped`)
    dropped = trades.dropped
    lo = 0 if min_ts is None else bisect_left(trades, min_ts * 1000, key=_ts)
    hi = len(trades) if max_ts is None else bisect_left(trades, (max_ts + 1) * 1000, key=_ts)
    if after is not None:
        ts = -after[0]
        first_same = bisect_left(trades, ts, key=_ts)
        past_same = bisect_right(trades, ts, key=_ts)
        if ticker > after[1]:
            hi = min(hi, past_same)
        elif ticker == after[1]:
            hi = min(hi, max(first_same, min(past_same, max(-after[2] - dropped, 0))))
        else:
            hi = min(hi, first_same)
    for index in range(hi - 1, lo - 1, -1):
        trade = trades[index]
        yield (-trade.ts_ms, ticker, -(index + dropped)), trade


def _ts(trade: TradeRecord) -> int:
    return trade.ts_ms


def _trade(trade: TradeRecord) -> dict[str, Any]:
    return {
        "trade_id": trade.trade_id,
        "ticker": trade.ticker,
        "count": format_count(trade.count),
        "price": format_price(trade.price),
        "created_time": rfc3339(trade.ts_ms),
        "taker_side": str(trade.taker_side),
    }


def _encode_cursor(key: _Key) -> str:
    raw = f"{-key[0]}:{-key[2]}:{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> _Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts_text, index_text, ticker = raw.split(":", 2)
        if not (ts_text.isdigit() and index_text.isdigit() and ticker):
            raise ValueError(raw)
        return -int(ts_text), ticker, -int(index_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestError(f"invalid cursor {cursor!r}") from None
