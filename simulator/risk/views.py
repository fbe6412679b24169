"""Read models the REST layer renders: balance, positions, risk, limits, fees, parameters.

Integer units throughout (micro-dollars, ticks, 1/100 contracts); ratios and rates the wire
shows as JSON numbers are floats here. MECHANICS.md 2.2, 2.3, 3.1, 3.3, 3.5, 7.

Assumption: maintenance margin is the sum of per-position MM with no offsets (MECHANICS 9 #6),
so every position's margin is attributable and `is_portfolio` is false.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from simulator.core.config import ExchangeConfig
from simulator.core.money import RATE_SCALE
from simulator.model.market_data import MarketData
from simulator.model.risk import market_usage, position_liquidation_price, position_risk
from simulator.ports import Accounts

__all__ = [
    "AccountReader",
    "BalanceView",
    "FeeTierRate",
    "NotionalLimitView",
    "PositionView",
    "RiskPositionView",
    "RiskView",
    "SubaccountBalance",
    "balance",
    "fee_tier_rates",
    "fee_tiers",
    "notional_risk_limit",
    "positions",
    "risk",
    "risk_parameters",
]


class AccountReader(Accounts, Protocol):
    """What these read models need of the exchange: accounts, markets and settings."""

    @property
    def config(self) -> ExchangeConfig: ...

    @property
    def markets(self) -> dict[str, MarketData]: ...


# Tier schedule (MECHANICS 7, CFTC filing 2026-06-24): (tier, taker bps x 10, maker bps x 10)
_TIERS = (
    (0, 120, 50),
    (1, 100, 40),
    (2, 80, 32),
    (3, 60, 24),
    (4, 50, 20),
    (5, 40, 16),
    (6, 35, 14),
    (7, 32, 12),
    (8, 30, 10),
    (9, 28, 8),
    (10, 26, 6),
)


@dataclass(frozen=True, slots=True)
class SubaccountBalance:
    """MarginSubaccountBalance."""

    subaccount: int
    position_value: int
    account_equity: int
    maintenance_margin: int
    initial_margin: int
    resting_orders_margin: int
    available_balance: int


@dataclass(frozen=True, slots=True)
class BalanceView:
    """GetMarginBalanceResponse: `settled_funds` is the cash of all subaccounts."""

    subaccount_balances: list[SubaccountBalance]
    settled_funds: int


def balance(exchange: AccountReader, user_id: str, compute_available: bool = False) -> BalanceView:
    """Per-subaccount balances; resting-order margin and available only when asked.

    Deviation: nothing; Kalshi documents both as 0 without `compute_available_balance`.
    The available balance is floored at 0 for display (MECHANICS 9 #25).
    """
    user = exchange.user(user_id)
    rows = []
    settled = 0
    for number in sorted(user.subaccounts):
        r = exchange.subaccount_risk(user_id, number)
        settled += r.cash
        rows.append(
            SubaccountBalance(
                subaccount=number,
                position_value=r.position_value,
                account_equity=r.equity,
                maintenance_margin=r.maintenance_margin,
                initial_margin=r.initial_margin,
                resting_orders_margin=r.resting_orders_margin if compute_available else 0,
                available_balance=max(0, r.available) if compute_available else 0,
            )
        )
    return BalanceView(rows, settled)


@dataclass(frozen=True, slots=True)
class PositionView:
    """MarginPosition (`entry_price` in micro-dollars per contract)."""

    subaccount: int
    market_ticker: str
    position: int
    entry_price: int
    unrealized_pnl: int
    margin_used: int | None
    fees: int
    roe: float | None
    is_portfolio: bool


def positions(
    exchange: AccountReader, user_id: str, subaccount: int | None = None, ticker: str | None = None
) -> list[PositionView]:
    """Open positions, by subaccount then ticker."""
    user = exchange.user(user_id)
    views = []
    for number in sorted(user.subaccounts):
        if subaccount is not None and number != subaccount:
            continue
        sub = user.subaccounts[number]
        for market, pos in sorted(sub.positions.items()):
            if not pos.qty or (ticker is not None and market != ticker):
                continue
            spec = exchange.markets[market].market.spec
            r = position_risk(spec, pos, exchange.mark(market))
            mm = r.maintenance_margin
            views.append(
                PositionView(
                    subaccount=number,
                    market_ticker=market,
                    position=pos.qty,
                    entry_price=pos.entry_price_micros() or 0,
                    unrealized_pnl=r.unrealized,
                    margin_used=mm,
                    fees=pos.fees,
                    roe=r.unrealized / mm * 100 if mm else None,
                    is_portfolio=False,
                )
            )
    return views


@dataclass(frozen=True, slots=True)
class RiskPositionView:
    """MarginRiskPosition (`estimated_liquidation_price` in ticks)."""

    subaccount: int
    market_ticker: str
    position: int
    mark_price: int
    position_notional: int
    maintenance_margin_required: int | None
    position_leverage: float | None
    estimated_liquidation_price: int | None
    is_portfolio: bool


@dataclass(frozen=True, slots=True)
class RiskView:
    """GetMarginRiskResponse."""

    account_leverage: float | None
    total_position_notional: int
    total_maintenance_margin: int
    positions: list[RiskPositionView]


def risk(exchange: AccountReader, user_id: str, subaccount: int | None = None) -> RiskView:
    """Notional, MM, leverage and estimated liquidation price per position.

    The liquidation price treats the position alone against the subaccount's cash plus the
    other positions' unrealized PnL at current marks (`risk.position_liquidation_price`).
    """
    user = exchange.user(user_id)
    rows = []
    total_notional = total_mm = 0
    for number in sorted(user.subaccounts):
        if subaccount is not None and number != subaccount:
            continue
        sub = user.subaccounts[number]
        held = {t: p for t, p in sorted(sub.positions.items()) if p.qty}
        for market, pos in held.items():
            mark = exchange.mark(market)
            spec = exchange.markets[market].market.spec
            r = position_risk(spec, pos, mark)
            liq = position_liquidation_price(spec, sub, market, exchange.mark)
            total_notional += r.notional
            total_mm += r.maintenance_margin
            rows.append(
                RiskPositionView(
                    subaccount=number,
                    market_ticker=market,
                    position=pos.qty,
                    mark_price=mark,
                    position_notional=r.notional,
                    maintenance_margin_required=r.maintenance_margin,
                    position_leverage=(
                        r.notional / r.maintenance_margin if r.maintenance_margin else None
                    ),
                    estimated_liquidation_price=liq,
                    is_portfolio=False,
                )
            )
    leverage = total_notional / total_mm if total_mm else None
    return RiskView(leverage, total_notional, total_mm, rows)


@dataclass(frozen=True, slots=True)
class NotionalLimitView:
    """NotionalRiskLimitResponse (usage of every subaccount together, per market)."""

    default_notional_value_risk_limit: int
    notional_value_risk_limits_by_market_ticker: dict[str, int]
    total_current_usage: int
    current_usage_by_market_ticker: dict[str, int]
    member_notional_value_risk_limit: int | None
    effective_account_notional_value_risk_limit: int | None


def notional_risk_limit(exchange: AccountReader, user_id: str) -> NotionalLimitView:
    """Limits and current usage: max(long + bids, short + asks) per market (MECHANICS 3.5)."""
    user = exchange.user(user_id)
    usage: dict[str, int] = {}
    for sub in user.subaccounts.values():
        for market, pos in sub.positions.items():
            if pos.is_empty:
                continue
            usage[market] = usage.get(market, 0) + market_usage(pos, exchange.mark(market))
    overrides = {
        t: exchange.markets[t].market.spec.notional_risk_limit
        for t in exchange.markets
        if exchange.markets[t].market.spec.notional_risk_limit is not None
    }
    by_market: dict[str, int] = {t: v for t, v in overrides.items() if v is not None}
    by_market.update(user.notional_limit_overrides)
    member = user.member_notional_limit
    return NotionalLimitView(
        default_notional_value_risk_limit=exchange.config.default_notional_limit,
        notional_value_risk_limits_by_market_ticker=dict(sorted(by_market.items())),
        total_current_usage=sum(usage.values()),
        current_usage_by_market_ticker=dict(sorted(usage.items())),
        member_notional_value_risk_limit=member,
        effective_account_notional_value_risk_limit=member,
    )


def fee_tiers(exchange: AccountReader, user_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """(maker, taker) fee rates per market for a user (GetMarginFeeTiersResponse)."""
    exchange.user(user_id)
    enabled = exchange.config.fees_enabled
    maker = {
        t: (d.market.spec.maker_fee_rate / RATE_SCALE if enabled else 0.0)
        for t, d in exchange.markets.items()
    }
    taker = {
        t: (d.market.spec.taker_fee_rate / RATE_SCALE if enabled else 0.0)
        for t, d in exchange.markets.items()
    }
    return maker, taker


@dataclass(frozen=True, slots=True)
class FeeTierRate:
    """MarginFeeTierRate."""

    fee_schedule: str
    tier: int
    maker_fee_rate: float
    taker_fee_rate: float


def fee_tier_rates(exchange: AccountReader) -> list[FeeTierRate]:
    """The fee schedule's tiers, entry tier first (MECHANICS 7, secondary source)."""
    schedule = exchange.config.fee_schedule
    return [
        FeeTierRate(schedule, tier, maker / 100_000, taker / 100_000)
        for tier, taker, maker in _TIERS
    ]


def risk_parameters(exchange: AccountReader) -> tuple[float, float, dict[str, float]]:
    """(liquidation threshold, queue-entry threshold, IM multiplier per ticker)."""
    cfg = exchange.config
    return (
        cfg.liquidation_threshold / RATE_SCALE,
        cfg.queue_threshold / RATE_SCALE,
        {t: d.market.spec.im_multiplier / RATE_SCALE for t, d in exchange.markets.items()},
    )
