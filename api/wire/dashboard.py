"""The dashboard's view (`/sim/ui`): the exchange as one JSON document, in the API's own words.

Every part is rendered by the same functions as the REST answer a client gets for it
(`GET /margin/markets/{ticker}`, `.../orderbook`, `.../candlesticks`, `/margin/trades`,
`/margin/funding_rates/estimate`, `/margin/balance`, `/margin/positions`, `/margin/orders`,
`/margin/fills`, `/margin/funding_history`), so what the page shows is what a client reads:
dollar strings, fixed-point counts, RFC 3339 times. Added only where no REST answer has it:
each subaccount's margin ratio (maintenance margin / equity, MECHANICS 3.1) and the
liquidation steps the dashboard's feed has seen (`api.dashboard`).

Sizes are bounded so that the document stays small at any history length: the first
`MAX_ACCOUNTS` users (the rest are counted), the newest `RECENT` trades, fills, funding
payments and liquidation steps, the book to `BOOK_DEPTH` levels a side, and `CANDLES`
one-minute candles.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from api.wire import exchange as exchange_wire
from api.wire import fills as fills_wire
from api.wire import funding as funding_wire
from api.wire import markets as markets_wire
from api.wire import orders as orders_wire
from api.wire import portfolio as portfolio_wire
from api.wire.clock import clock_now
from api.wire.common import rfc3339
from api.wire.faults import fault_view
from simulator.core.events import FundingPaid, LiquidationStep
from simulator.core.money import format_dollars
from simulator.exchange import Exchange
from simulator.model import candles
from simulator.model.market_data import MarketData
from simulator.risk import funding_views, views
from simulator.server.runtime import Runtime

__all__ = ["BOOK_DEPTH", "CANDLES", "MAX_ACCOUNTS", "RECENT", "liquidation_step", "view"]

MAX_ACCOUNTS = 25
RECENT = 20
BOOK_DEPTH = 12
CANDLES = 90
_MINUTE_S = 60


def view(runtime: Runtime, liquidations: Iterable[LiquidationStep] = ()) -> dict[str, Any]:
    """The whole dashboard document."""
    exchange = runtime.exchange
    users = list(exchange.users)
    shown = users[:MAX_ACCOUNTS]
    payments = _recent_payments(exchange, set(shown))
    return {
        "generation": runtime.generation,
        "scenario": runtime.scenario.name,
        "clock": clock_now(runtime) | {"speed": runtime.speed},
        "exchange": exchange_wire.exchange_status(exchange),
        "markets": [_market(exchange, data) for data in exchange.markets.values()],
        "accounts": [_account(exchange, user_id, payments[user_id]) for user_id in shown],
        "accounts_not_shown": len(users) - len(shown),
        "liquidations": [liquidation_step(step) for step in liquidations][-RECENT:][::-1],
        "faults": [fault_view(fault) for fault in runtime.faults.held()],
    }


def _market(exchange: Exchange, data: MarketData) -> dict[str, Any]:
    ticker = data.ticker
    now_s = exchange.now() // 1000
    found = candles.candles(
        exchange, ticker, now_s - CANDLES * _MINUTE_S, now_s + _MINUTE_S, 1, True
    )
    return {
        "market": markets_wire.market(exchange, data),
        "funding": funding_wire.estimate(funding_views.funding_estimate(exchange, ticker)),
        "orderbook": markets_wire.orderbook(data, BOOK_DEPTH),
        "trades": markets_wire.trades_page(exchange, ticker, RECENT, None, None, None)["trades"],
        "candlesticks": [markets_wire.candlestick(candle) for candle in found],
    }


def _account(exchange: Exchange, user_id: str, payments: list[FundingPaid]) -> dict[str, Any]:
    user = exchange.user(user_id)
    ratios = {}
    for number in sorted(user.subaccounts):
        ratio = exchange.subaccount_risk(user_id, number).margin_ratio()
        ratios[str(number)] = None if ratio is None or math.isinf(ratio) else round(ratio, 12)
    fills = fills_wire.fill_page(
        exchange,
        exchange.fill_index.of(user_id),
        exchange.fill_index.dropped(user_id),
        subaccount=None,
        min_ts=None,
        max_ts=None,
        limit=RECENT,
        cursor=None,
    )
    return {
        "user_id": user_id,
        "balance": portfolio_wire.balance(views.balance(exchange, user_id, True)),
        "margin_ratios": ratios,
        "positions": portfolio_wire.positions(views.positions(exchange, user_id, None, None))[
            "positions"
        ],
        "orders": [orders_wire.margin_order(r) for r in exchange.live_orders(user_id)][:RECENT],
        "fills": fills["fills"],
        "funding": [funding_wire.funding_payment(p) for p in reversed(payments)],
    }


def _recent_payments(exchange: Exchange, users: set[str]) -> defaultdict[str, list[FundingPaid]]:
    # one pass over the retained payments, newest first, RECENT per shown user (oldest first)
    found: defaultdict[str, list[FundingPaid]] = defaultdict(list)
    for paid in reversed(exchange.pricing.funding_payments):
        mine = found[paid.user_id] if paid.user_id in users else None
        if mine is not None and len(mine) < RECENT:
            mine.append(paid)
    for mine in found.values():
        mine.reverse()
    return found


def liquidation_step(step: LiquidationStep) -> dict[str, Any]:
    """One step of a liquidation (queued, recovered, started, order, finished, deficit)."""
    return {
        "time": rfc3339(step.ts_ms),
        "user_id": step.user_id,
        "subaccount": step.subaccount,
        "stage": step.stage,
        "equity": format_dollars(step.equity),
        "maintenance_margin": format_dollars(step.maintenance_margin),
        "order_id": step.order_id,
        "ticker": step.ticker,
        "amount": format_dollars(step.amount),
    }
