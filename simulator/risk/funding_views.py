"""Read models of funding (MECHANICS.md 5.4): user payments, market rates, estimate, premium.

Reads only: nothing here changes the exchange (the estimate is not cached, a first settlement
mark is not stored).

Integer units: money micro-dollars, prices ticks, rates and premiums 1e-12, times epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from simulator.core import errors
from simulator.core.events import FundingPaid
from simulator.model.ledger import User
from simulator.model.market_data import FundingRecord, MarketData
from simulator.pricing.desk import Pricing

__all__ = [
    "FundingEstimate",
    "FundingReader",
    "funding_estimate",
    "funding_history",
    "historical_rates",
    "premium_index",
]


class FundingReader(Protocol):
    """What these read models need of the exchange: users, markets, time and pricing."""

    @property
    def markets(self) -> dict[str, MarketData]: ...

    @property
    def pricing(self) -> Pricing: ...

    def user(self, user_id: str) -> User: ...

    def market_data(self, ticker: str) -> MarketData: ...

    def now(self) -> int: ...


_MAX_PREMIUM_WINDOW_S = 3_600


def funding_history(
    exchange: FundingReader,
    user_id: str,
    start_ms: int,
    end_ms: int,
    ticker: str | None = None,
    subaccount: int | None = None,
) -> list[FundingPaid]:
    """A user's funding payments with `start_ms <= funding time < end_ms`, oldest first."""
    exchange.user(user_id)
    return [
        p
        for p in exchange.pricing.funding_payments
        if p.user_id == user_id
        and start_ms <= p.funding_time_ms < end_ms
        and (ticker is None or p.ticker == ticker)
        and (subaccount is None or p.subaccount == subaccount)
    ]


def historical_rates(
    exchange: FundingReader,
    ticker: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[FundingRecord]:
    """Every market's (or one market's) funding rates, zero rates included, oldest first."""
    if ticker is not None:
        exchange.market_data(ticker)
    rows = [
        record
        for data in exchange.markets.values()
        if ticker is None or data.ticker == ticker
        for record in data.funding_history
        if (start_ms is None or record.funding_time_ms >= start_ms)
        and (end_ms is None or record.funding_time_ms <= end_ms)
    ]
    return sorted(rows, key=lambda r: (r.funding_time_ms, r.ticker))


@dataclass(frozen=True, slots=True)
class FundingEstimate:
    """GetMarginFundingRateEstimateResponse in integer units."""

    ticker: str
    computed_ms: int
    funding_rate: int
    mark_price: int | None
    next_funding_ms: int
    premium_index: int | None
    premium_index_ms: int | None


def funding_estimate(exchange: FundingReader, ticker: str) -> FundingEstimate:
    """The live estimate of the next funding rate (after deadband and cap)."""
    data = exchange.market_data(ticker)
    rate, computed = exchange.pricing.peek_funding_estimate(data)
    mark = exchange.pricing.peek_settlement_mark(data)
    last = data.premium.last_point(exchange.now())
    return FundingEstimate(
        ticker=ticker,
        computed_ms=computed,
        funding_rate=rate,
        mark_price=mark[0] if mark else None,
        next_funding_ms=exchange.pricing.next_funding_ms(data),
        premium_index=last[1] if last else None,
        premium_index_ms=last[0] * 1000 if last else None,
    )


def premium_index(
    exchange: FundingReader, ticker: str, start_s: int, end_s: int
) -> list[tuple[int, int]]:
    """Per-second premium points `(second, premium)` for at most one hour; 0 when invalid."""
    data = exchange.market_data(ticker)
    if end_s < start_s:
        raise errors.InvalidParametersError("end_ts must not be before start_ts")
    if end_s - start_s > _MAX_PREMIUM_WINDOW_S:
        raise errors.InvalidParametersError("the window may span at most one hour")
    last_second = exchange.now() // 1000
    points = data.premium.points(start_s, min(end_s, last_second))
    return [(second, value or 0) for second, value in points]
