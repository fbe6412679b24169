"""`pause` faults (`simulator.server.faults`): trading stopped through the exchange's own commands.

A pause is what Kalshi shows when it pauses trading, closes the exchange or halts a market, so
it is made of the same commands as `POST /sim/v1/exchange/status` and
`POST /sim/v1/markets/{ticker}/status` (journaled, in the state hash, replayed by a restart);
the fault is the handle that lifts it. Targets: `"*"` (trading), `"exchange"` (the exchange,
as in maintenance) or a market ticker.
"""

from __future__ import annotations

from simulator.exchange import Exchange
from simulator.server.faults import FaultSpec

__all__ = ["HALT_SOURCE", "REASON", "apply", "lift"]

REASON = "fault"
"""The `reason` of the exchange status change a pause makes."""
HALT_SOURCE = "fault"
"""The halt source of a market a pause made inactive."""


def apply(exchange: Exchange, spec: FaultSpec) -> None:
    """Pause what `spec` targets (an exchange error, e.g. an unknown market, changes nothing)."""
    if spec.target == "*":
        exchange.set_trading_active(False, REASON)
    elif spec.target == "exchange":
        exchange.set_exchange_active(False, REASON)
    else:
        exchange.set_market_status(spec.target, "inactive", [HALT_SOURCE])


def lift(exchange: Exchange, spec: FaultSpec) -> None:
    """Resume what `apply` paused (a market that was closed or removed meanwhile stays)."""
    if spec.target == "*":
        exchange.set_trading_active(True, REASON)
    elif spec.target == "exchange":
        exchange.set_exchange_active(True, REASON)
    else:
        markets = exchange.state.markets
        if spec.target in markets and markets[spec.target].market.status == "inactive":
            exchange.set_market_status(spec.target, "active")
