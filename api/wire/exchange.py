"""Exchange-wide resources: status, enabled, risk parameters, API limits."""

from __future__ import annotations

from typing import Any

from simulator.exchange import Exchange
from simulator.risk import views

__all__ = ["exchange_status", "risk_parameters"]


def exchange_status(exchange: Exchange) -> dict[str, Any]:
    return {"exchange_active": exchange.exchange_active, "trading_active": exchange.trading_active}


def risk_parameters(exchange: Exchange) -> dict[str, Any]:
    liquidation, queue, multipliers = views.risk_parameters(exchange)
    return {
        "liquidation_margin_ratio_threshold": liquidation,
        "queue_entry_margin_ratio_threshold": queue,
        "initial_margin_multiplier": multipliers,
    }
