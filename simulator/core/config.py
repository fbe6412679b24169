"""Exchange-wide settings (MECHANICS.md 12 defaults), fixed when the exchange is built."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.core.money import MONEY_SCALE, RATE_SCALE

__all__ = ["HISTORY_LIMITS", "ExchangeConfig"]


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """Settings a scenario may override.

    Attributes:
        default_notional_limit: per-market notional risk limit in micro-dollars ($5,000,
            the documented example).
        liquidation_threshold, queue_threshold: margin-ratio thresholds (MM / equity) in 1e-12
            units (1.0 and 0.91, prod values).
        fees_enabled: False reproduces the zero-fee launch promotion.
        block_queued_risk_increase: refuse risk-increasing orders while queued (off: the
            queue state has no documented effect).
        mark_interval_ms: liquidation-mark refresh cadence (1 s).
        settlement_window_ms, settlement_refresh_ms: settlement mark TWAP (60 s every 10 s).
        ticker_interval_ms: ticker coalescing (1 message per market per second).
        max_cancel_all: orders cancelled by one cancel-all.
        max_subaccount: highest subaccount number (1-63 besides the primary 0).
        fee_schedule, fee_tier: what fee-tier views report for every account.
        journal_retain: events kept for `events_since`.
        retain_terminal_orders: done (executed or canceled) orders kept per user; resting
            orders are always kept (`simulator.risk.retention`).
        retain_fills: fills kept per user.
        retain_trades: public trades kept per market.
        retain_funding_payments: funding payments kept per user.
        retain_funding_rates: funding rates kept per market.
        retain_candles: candle periods of quote history (the candles' bid, ask and open
            interest) kept per market and period length (1 minute, 1 hour, 1 day), counting
            the periods in which something changed.
        maintenance_window: close the exchange Thursdays 03:00-05:00 America/New_York.
        partial_liquidation: close only what brings the margin ratio under the queue
            threshold instead of the whole position.
    """

    default_notional_limit: int = 5_000 * MONEY_SCALE
    liquidation_threshold: int = RATE_SCALE
    queue_threshold: int = 910_000_000_000
    fees_enabled: bool = True
    block_queued_risk_increase: bool = False
    mark_interval_ms: int = 1_000
    settlement_window_ms: int = 60_000
    settlement_refresh_ms: int = 10_000
    ticker_interval_ms: int = 1_000
    max_cancel_all: int = 10_000
    max_subaccount: int = 63
    fee_schedule: str = "fcm"
    fee_tier: int = 0
    journal_retain: int = 100_000
    retain_terminal_orders: int = 50_000
    retain_fills: int = 50_000
    retain_trades: int = 50_000
    retain_funding_payments: int = 10_000
    retain_funding_rates: int = 10_000
    retain_candles: int = 1_440
    maintenance_window: bool = False
    partial_liquidation: bool = False

    def __post_init__(self) -> None:
        for name in _RETAIN:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive integer, was {value!r}")


HISTORY_LIMITS = (
    "retain_terminal_orders",
    "retain_fills",
    "retain_trades",
    "retain_funding_payments",
    "retain_funding_rates",
    "retain_candles",
)
"""The settings that bound the exchange's histories (the journal's is `journal_retain`)."""
_RETAIN = ("journal_retain", *HISTORY_LIMITS)
