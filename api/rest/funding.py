"""Funding history, historical rates, the live estimate, the premium index; corporate actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from api import deps
from api.errors import BadRequestError
from api.responses import json_response
from api.wire import funding as wire
from simulator.risk import funding_views

router = APIRouter()


@router.get("/margin/funding_history")
async def get_funding_history(
    caller: deps.Authenticated,
    start_date: str,
    end_date: str,
    ticker: str | None = None,
    subaccount: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    start_ms, end_ms = wire.date_range_ms(start_date, end_date)
    payments = funding_views.funding_history(
        caller.exchange, caller.user_id, start_ms, end_ms, ticker or None, subaccount
    )
    return json_response({"funding_history": [wire.funding_payment(p) for p in payments]})


@router.get("/margin/funding_rates/historical")
async def get_historical_rates(
    exchange: deps.CurrentExchange,
    ticker: str | None = None,
    start_ts: int | None = None,
    end_ts: int | None = None,
) -> Response:
    if ticker:
        wire.known_ticker(exchange, ticker)
    if start_ts is not None and end_ts is not None and end_ts < start_ts:
        raise BadRequestError(f"end_ts must not be before start_ts, was {end_ts} < {start_ts}")
    records = funding_views.historical_rates(
        exchange,
        ticker or None,
        None if start_ts is None else start_ts * 1000,
        None if end_ts is None else end_ts * 1000,
    )
    return json_response({"funding_rates": [wire.funding_rate(r) for r in records]})


@router.get("/margin/funding_rates/estimate")
async def get_funding_estimate(exchange: deps.CurrentExchange, ticker: str) -> Response:
    value = funding_views.funding_estimate(exchange, wire.known_ticker(exchange, ticker))
    return json_response(wire.estimate(value))


@router.get("/margin/funding_rates/premium_index")
async def get_premium_index(
    exchange: deps.CurrentExchange, ticker: str, start_ts: int, end_ts: int
) -> Response:
    wire.known_ticker(exchange, ticker)
    if not start_ts < end_ts <= start_ts + wire.MAX_PREMIUM_WINDOW_S:
        raise BadRequestError(
            f"end_ts must be after start_ts and at most {wire.MAX_PREMIUM_WINDOW_S} s later, "
            f"was start_ts={start_ts} end_ts={end_ts}"
        )
    points = funding_views.premium_index(exchange, ticker, start_ts, end_ts - 1)
    return json_response({"points": [wire.premium_point(p) for p in points]})


@router.get("/margin/corporate_actions")
async def get_corporate_actions(
    exchange: deps.CurrentExchange, ticker: str | None = None, market_id: str | None = None
) -> Response:
    actions = exchange.corporate_actions.list(ticker=ticker or None, market_id=market_id or None)
    return json_response({"corporate_actions": [wire.corporate_action(a) for a in actions]})
