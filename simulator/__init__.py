"""The exchange: accounts, subaccounts, margin, fees, positions, marks, funding, liquidation,
exit triggers, order groups, the clock, ids and events. Built on `matching`; never imports a
transport except in its composition root.

Transports build an `Exchange` from `load_markets()` and a clock, call its commands with
`PlaceOrder`/`AmendOrder`, read `views`, and render the events of `Exchange.journal`.
"""

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
