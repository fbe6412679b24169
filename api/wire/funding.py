"""Funding payments, rates, the live estimate, the premium index and corporate actions as JSON.

Assumption: `start_date`/`end_date` cover whole UTC days, both inclusive (funding times from
00:00 of the first day to 24:00 of the last, exclusive).
Assumption: a ticker on the public funding reads (rates, estimate, premium index), whose
declared errors have no 404, is 400 `invalid_parameters` when unknown; funding history and
corporate actions filter by it as given (their records keep a ticker a market later left).
Assumption: the premium index window is `[start_ts, end_ts)` (end exclusive, as the spec says),
at most 3,600 seconds; seconds not yet reached are left out.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from api.errors import BadRequestError
from api.wire.common import rfc3339
from simulator.core.events import FundingPaid
from simulator.core.money import (
    format_count,
    format_dollars,
    format_price,
    format_rate,
    rate_to_float,
)
from simulator.exchange import Exchange
from simulator.lifecycle.corporate_actions import CorporateAction
from simulator.model.market_data import FundingRecord
from simulator.risk.funding_views import FundingEstimate

__all__ = [
    "MAX_PREMIUM_WINDOW_S",
    "corporate_action",
    "date_range_ms",
    "estimate",
    "funding_payment",
    "funding_rate",
    "known_ticker",
    "premium_point",
]

MAX_PREMIUM_WINDOW_S = 3_600
_DAY_MS = 86_400_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def known_ticker(exchange: Exchange, ticker: str) -> str:
    """`ticker` if it names a market, else 400 `invalid_parameters`."""
    if ticker not in exchange.markets:
        raise BadRequestError(f"unknown market ticker {ticker!r}")
    return ticker


def date_range_ms(start_date: str, end_date: str) -> tuple[int, int]:
    """Inclusive UTC dates `YYYY-MM-DD` as `[start, end)` epoch milliseconds."""
    start = _day_ms(start_date, "start_date")
    end = _day_ms(end_date, "end_date")
    if end < start:
        raise BadRequestError(
            f"end_date must not be before start_date, was {end_date} < {start_date}"
        )
    return start, end + _DAY_MS


def _day_ms(text: str, name: str) -> int:
    try:
        if _DATE.match(text) is None:
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"{name} must be a date YYYY-MM-DD, was {text!r}") from None
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return int(moment.timestamp()) * 1000


def funding_payment(paid: FundingPaid) -> dict[str, Any]:
    """MarginFundingHistoryEntry."""
    return {
        "market_ticker": paid.ticker,
        "funding_time": rfc3339(paid.funding_time_ms),
        "funding_rate": rate_to_float(paid.rate),
        "mark_price": format_price(paid.mark_price),
        "funding_amount": format_dollars(paid.amount),
        "quantity": format_count(paid.quantity),
        "subaccount_number": paid.subaccount,
    }


def funding_rate(record: FundingRecord) -> dict[str, Any]:
    """MarginFundingRate."""
    return {
        "market_ticker": record.ticker,
        "funding_time": rfc3339(record.funding_time_ms),
        "funding_rate": rate_to_float(record.rate),
        "mark_price": format_price(record.mark_price),
    }


def estimate(value: FundingEstimate) -> dict[str, Any]:
    """GetMarginFundingRateEstimateResponse (unwrapped); premium fields only when measured."""
    out: dict[str, Any] = {
        "market_ticker": value.ticker,
        "computed_time": rfc3339(value.computed_ms),
        "funding_rate": rate_to_float(value.funding_rate),
    }
    if value.mark_price is not None:
        out["mark_price"] = format_price(value.mark_price)
    out["next_funding_time"] = rfc3339(value.next_funding_ms)
    if value.premium_index is not None and value.premium_index_ms is not None:
        out["premium_index"] = format_rate(value.premium_index)
        out["premium_index_ts"] = rfc3339(value.premium_index_ms)
    return out


def premium_point(point: tuple[int, int]) -> dict[str, Any]:
    """MarginPremiumIndexPoint."""
    second, premium = point
    return {"second_ts": rfc3339(second * 1000), "premium_index": format_rate(premium)}


def corporate_action(action: CorporateAction) -> dict[str, Any]:
    """MarginCorporateAction with its one terms object (none once cancelled)."""
    out: dict[str, Any] = {
        "id": action.id,
        "market_id": action.market_id,
        "market_ticker": action.market_ticker,
        "type": action.type,
        "status": action.status,
        "updated_ts": rfc3339(action.updated_ms),
    }
    if action.execution_ms is not None:
        out["execution_time"] = rfc3339(action.execution_ms)
    if action.cash is not None:
        cash: dict[str, Any] = {}
        if action.cash.cash_per_share is not None:
            cash["cash_per_share"] = format_dollars(action.cash.cash_per_share)
        cash["cash_per_contract"] = format_dollars(action.cash.cash_per_contract)
        cash["ex_date"] = action.cash.ex_date
        out["cash"] = cash
    if action.split is not None:
        out["split"] = {
            "ratio_old": str(action.split.ratio_old),
            "ratio_new": str(action.split.ratio_new),
            "ex_date": action.split.ex_date,
        }
    if action.final_settlement is not None:
        terms = action.final_settlement
        settlement: dict[str, Any] = {"reason": terms.reason}
        if terms.settlement_price_per_share is not None:
            settlement["settlement_price_per_share"] = format_price(
                terms.settlement_price_per_share
            )
        settlement["settlement_price_per_contract"] = format_price(
            terms.settlement_price_per_contract
        )
        out["final_settlement"] = settlement
    if action.ticker_change is not None:
        out["ticker_change"] = {
            "old_ticker": action.ticker_change.old_ticker,
            "new_ticker": action.ticker_change.new_ticker,
        }
    return out
