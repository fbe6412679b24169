"""Wire mapping of the account resources: positions, balance, risk, limits, fees, transfers.

Read models come from `simulator.risk.views` in integer units; dollars leave as 4-decimal strings
(6 when an amount has a finer part), counts as 2-decimal strings, ratios and rates as numbers.
Transfer amounts arrive as integers: centicents for the intra-exchange transfer, cents for the
subaccount transfer (REST.md (d)).

Deviation: `GET /margin/balance` declares no 400, so a `compute_available_balance` other than
`true` (any case) counts as false instead of being refused.
Assumption: optional, non-nullable response fields (`member_notional_value_risk_limit`,
`effective_account_notional_value_risk_limit`) are left out when unset; nullable ones are null.
Assumption: the only supported exchange shard is 0, and the intra-exchange transfer moves funds
to and from perps subaccount 0, so `source_subaccount` / `destination_subaccount` may only be 0.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

from api.errors import BadRequestError
from simulator.core.money import (
    format_count,
    format_dollars,
    format_price,
    money_from_centicents,
    money_from_cents,
)
from simulator.risk import views

__all__ = [
    "InstanceTransferBody",
    "SubaccountTransferBody",
    "available_flag",
    "balance",
    "check_subaccount",
    "fee_tier_rates",
    "fee_tiers",
    "instance_transfer_amount",
    "notional_risk_limit",
    "positions",
    "risk",
    "subaccount_transfer_amount",
    "transfer_id",
]

MAX_SUBACCOUNT = 63


class InstanceTransferBody(msgspec.Struct, forbid_unknown_fields=True):
    """IntraExchangeInstanceTransferRequest (kalshi-sdk adds the subaccounts and client id)."""

    source: Literal["event_contract", "margined"]
    destination: Literal["event_contract", "margined"]
    amount: int
    source_exchange_shard: int = 0
    destination_exchange_shard: int = 0
    source_subaccount: int | None = None
    destination_subaccount: int | None = None
    client_transfer_id: str | None = None


class SubaccountTransferBody(msgspec.Struct, forbid_unknown_fields=True):
    """ApplySubaccountTransferRequest (`exchange_index` is accepted and ignored)."""

    client_transfer_id: str
    from_subaccount: int
    to_subaccount: int
    amount_cents: int
    exchange_index: int | None = None


def check_subaccount(number: int | None, name: str = "subaccount") -> int | None:
    """A subaccount selector: 0 (primary) to 63, or None for all."""
    if number is not None and not 0 <= number <= MAX_SUBACCOUNT:
        raise BadRequestError(f"{name} must be between 0 and {MAX_SUBACCOUNT}, was {number}")
    return number


def transfer_id(value: str, name: str = "client_transfer_id") -> str:
    """A client transfer id: a UUID string."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise BadRequestError(f"{name} must be a UUID, was {value!r}") from None
    return value


def available_flag(value: str | None) -> bool:
    """`compute_available_balance`: true only for `true` (see the module's Deviation)."""
    return value is not None and value.lower() == "true"


def instance_transfer_amount(body: InstanceTransferBody) -> int:
    """The transfer's amount in micro-dollars, after the shard and subaccount checks."""
    if body.source_exchange_shard or body.destination_exchange_shard:
        raise BadRequestError("only exchange shard 0 is supported")
    if body.source_subaccount not in (None, 0) or body.destination_subaccount not in (None, 0):
        raise BadRequestError("transfers between instances use subaccount 0")
    if body.client_transfer_id is not None:
        transfer_id(body.client_transfer_id)
    if body.amount <= 0:
        raise BadRequestError(f"amount must be positive, was {body.amount}")
    return money_from_centicents(body.amount)


def subaccount_transfer_amount(body: SubaccountTransferBody) -> int:
    """The transfer's amount in micro-dollars, after the id and subaccount checks."""
    transfer_id(body.client_transfer_id)
    check_subaccount(body.from_subaccount, "from_subaccount")
    check_subaccount(body.to_subaccount, "to_subaccount")
    if body.amount_cents <= 0:
        raise BadRequestError(f"amount_cents must be positive, was {body.amount_cents}")
    return money_from_cents(body.amount_cents)


def positions(rows: list[views.PositionView]) -> dict[str, Any]:
    """GetMarginPositionsResponse."""
    return {
        "positions": [
            {
                "subaccount": row.subaccount,
                "market_ticker": row.market_ticker,
                "position": format_count(row.position),
                "entry_price": format_dollars(row.entry_price),
                "unrealized_pnl": format_dollars(row.unrealized_pnl),
                "margin_used": None if row.margin_used is None else format_dollars(row.margin_used),
                "fees": format_dollars(row.fees),
                "roe": row.roe,
                "is_portfolio": row.is_portfolio,
            }
            for row in rows
        ]
    }


def balance(view: views.BalanceView) -> dict[str, Any]:
    """GetMarginBalanceResponse."""
    return {
        "subaccount_balances": [
            {
                "subaccount": row.subaccount,
                "position_value": format_dollars(row.position_value),
                "account_equity": format_dollars(row.account_equity),
                "maintenance_margin": format_dollars(row.maintenance_margin),
                "initial_margin": format_dollars(row.initial_margin),
                "resting_orders_margin": format_dollars(row.resting_orders_margin),
                "available_balance": format_dollars(row.available_balance),
            }
            for row in view.subaccount_balances
        ],
        "settled_funds": format_dollars(view.settled_funds),
    }


def _optional_dollars(value: int | None) -> str | None:
    return None if value is None else format_dollars(value)


def risk(view: views.RiskView) -> dict[str, Any]:
    """GetMarginRiskResponse."""
    return {
        "account_leverage": view.account_leverage,
        "total_position_notional": format_dollars(view.total_position_notional),
        "total_maintenance_margin": format_dollars(view.total_maintenance_margin),
        "positions": [
            {
                "subaccount": row.subaccount,
                "market_ticker": row.market_ticker,
                "position": format_count(row.position),
                "mark_price": format_price(row.mark_price),
                "position_notional": format_dollars(row.position_notional),
                "maintenance_margin_required": _optional_dollars(row.maintenance_margin_required),
                "position_leverage": row.position_leverage,
                "estimated_liquidation_price": (
                    None
                    if row.estimated_liquidation_price is None
                    else format_price(row.estimated_liquidation_price)
                ),
                "is_portfolio": row.is_portfolio,
            }
            for row in view.positions
        ],
    }


def notional_risk_limit(view: views.NotionalLimitView) -> dict[str, Any]:
    """NotionalRiskLimitResponse."""
    body: dict[str, Any] = {
        "default_notional_value_risk_limit": format_dollars(view.default_notional_value_risk_limit),
        "notional_value_risk_limits_by_market_ticker": {
            ticker: format_dollars(limit)
            for ticker, limit in view.notional_value_risk_limits_by_market_ticker.items()
        },
        "total_current_usage": format_dollars(view.total_current_usage),
        "current_usage_by_market_ticker": {
            ticker: format_dollars(usage)
            for ticker, usage in view.current_usage_by_market_ticker.items()
        },
    }
    if view.member_notional_value_risk_limit is not None:
        body["member_notional_value_risk_limit"] = format_dollars(
            view.member_notional_value_risk_limit
        )
    if view.effective_account_notional_value_risk_limit is not None:
        body["effective_account_notional_value_risk_limit"] = format_dollars(
            view.effective_account_notional_value_risk_limit
        )
    return body


def fee_tiers(maker: dict[str, float], taker: dict[str, float]) -> dict[str, Any]:
    """GetMarginFeeTiersResponse."""
    return {"maker_fee_rates": maker, "taker_fee_rates": taker}


def fee_tier_rates(rows: list[views.FeeTierRate]) -> dict[str, Any]:
    """GetMarginFeeTierRatesResponse."""
    return {
        "fee_tier_rates": [
            {
                "fee_schedule": row.fee_schedule,
                "tier": row.tier,
                "maker_fee_rate": row.maker_fee_rate,
                "taker_fee_rate": row.taker_fee_rate,
            }
            for row in rows
        ]
    }
