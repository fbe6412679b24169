"""The exchange: accounts, subaccounts, margin, fees, positions, marks, funding, liquidation,
exit triggers, order groups, the clock, ids and events. Built on `matching`; never imports a
transport except in its composition root.

Transports build an `Exchange` from `load_markets()` and a clock, call its commands with
`PlaceOrder`/`AmendOrder`, read `views`, and render the events of `Exchange.journal`.

The names below are imported on first use (PEP 562), so importing a light submodule such as
`simulator.server.pytest_plugin` (loaded by every pytest run where perps-sim is installed) does
not import the whole exchange.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.core.clock import AcceleratedClock, Clock, ManualClock, WallClock, make_clock
    from simulator.core.config import ExchangeConfig
    from simulator.core.errors import RejectError
    from simulator.exchange import Exchange
    from simulator.model.markets import DEFAULT_MARKETS_FILE, MarketSpec, load_markets
    from simulator.model.orders import AmendOrder, OrderResult, PlaceOrder
    from simulator.server.state_hash import state_hash

__all__ = [
    "DEFAULT_MARKETS_FILE",
    "AcceleratedClock",
    "AmendOrder",
    "Clock",
    "Exchange",
    "ExchangeConfig",
    "ManualClock",
    "MarketSpec",
    "OrderResult",
    "PlaceOrder",
    "RejectError",
    "WallClock",
    "load_markets",
    "make_clock",
    "state_hash",
]

_HOMES = {
    "AcceleratedClock": "simulator.core.clock",
    "Clock": "simulator.core.clock",
    "ManualClock": "simulator.core.clock",
    "WallClock": "simulator.core.clock",
    "make_clock": "simulator.core.clock",
    "ExchangeConfig": "simulator.core.config",
    "RejectError": "simulator.core.errors",
    "Exchange": "simulator.exchange",
    "DEFAULT_MARKETS_FILE": "simulator.model.markets",
    "MarketSpec": "simulator.model.markets",
    "load_markets": "simulator.model.markets",
    "AmendOrder": "simulator.model.orders",
    "OrderResult": "simulator.model.orders",
    "PlaceOrder": "simulator.model.orders",
    "state_hash": "simulator.server.state_hash",
}

if not TYPE_CHECKING:  # mypy sees the imports above, and no catch-all module attribute

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module 'simulator' has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
