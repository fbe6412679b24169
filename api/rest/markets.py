"""Markets, order books (one and bulk), candlesticks and public trades (all public)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import deps
from api.errors import BadRequestError
from api.responses import json_response
from api.wire import markets as wire
from api.wire.common import parse_bool, split_list
from simulator.model import candles

router = APIRouter()

MarketStatus = Literal["inactive", "active", "closed"]


@router.get("/margin/markets")
async def get_markets(
    exchange: deps.CurrentExchange, status: MarketStatus | None = None
) -> Response:
    markets = [
        wire.market(exchange, data)
        for data in exchange.markets.values()
        if status is None or data.market.status == status
    ]
    return json_response({"markets": markets})


# Declared before /margin/markets/{ticker}, which would otherwise take "orderbooks" as a ticker.
@router.get("/margin/markets/orderbooks")
async def get_orderbooks(exchange: deps.CurrentExchange, tickers: str) -> Response:
    wanted = split_list(tickers)
    if not 1 <= len(wanted) <= wire.MAX_BULK_TICKERS:
        raise BadRequestError(
            f"tickers must name 1 to {wire.MAX_BULK_TICKERS} markets, was {len(wanted)}"
        )
    books = [exchange.market_data(ticker) for ticker in wanted]
    return json_response(
        {"orderbooks": [{"ticker": d.ticker, "orderbook": wire.orderbook(d)} for d in books]}
    )


@router.get("/margin/markets/{ticker}")
async def get_market(ticker: str, exchange: deps.CurrentExchange) -> Response:
    data = exchange.market_data(ticker)
    return json_response({"market": wire.market(exchange, data)})


@router.get("/margin/markets/{ticker}/orderbook")
async def get_orderbook(
    ticker: str,
    exchange: deps.CurrentExchange,
    depth: Annotated[int, Query(ge=0)] = 0,
    aggregation_tick_size: str | None = None,
) -> Response:
    data = exchange.market_data(ticker)
    tick = wire.aggregation_tick(aggregation_tick_size, data.market.spec.tick)
    return json_response({"orderbook": wire.orderbook(data, depth, tick)})


@router.get("/margin/markets/{ticker}/candlesticks")
async def get_candlesticks(
    ticker: str,
    exchange: deps.CurrentExchange,
    start_ts: int,
    end_ts: int,
    period_interval: int,
    include_latest_before_start: str | None = None,
) -> Response:
    include = parse_bool(include_latest_before_start, "include_latest_before_start")
    found = candles.candles(exchange, ticker, start_ts, end_ts, period_interval, include)
    return json_response({"ticker": ticker, "candlesticks": [wire.candlestick(c) for c in found]})


@router.get("/margin/trades")
async def get_trades(
    exchange: deps.CurrentExchange,
    ticker: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    min_ts: int | None = None,
    max_ts: int | None = None,
) -> Response:
    page = wire.trades_page(exchange, ticker or None, limit, cursor, min_ts, max_ts)
    return json_response(page)
