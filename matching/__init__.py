"""Price-time order books: pure, synchronous, no I/O, no clock, no money.

Prices are integer ticks (1 tick = $0.0001), counts integers in 1/100 contract. Owners and
order ids are opaque keys the caller chooses. Every command returns the events it caused.
"""

from matching.book import KEEP, OrderBook
from matching.books import OrderBooks
from matching.depth import Depth
from matching.enums import Reason, SelfTradePrevention, Side, TimeInForce
from matching.errors import (
    BookInvariantError,
    DuplicateOrderError,
    InvalidOrderError,
    MatchingError,
    OrderNotFoundError,
    UnknownMarketError,
)
from matching.events import Event, Fill, LevelChange, OrderUpdate
from matching.orders import Order, OrderId, Owner

__all__ = [
    "KEEP",
    "BookInvariantError",
    "Depth",
    "DuplicateOrderError",
    "Event",
    "Fill",
    "InvalidOrderError",
    "LevelChange",
    "MatchingError",
    "Order",
    "OrderBook",
    "OrderBooks",
    "OrderId",
    "OrderNotFoundError",
    "OrderUpdate",
    "Owner",
    "Reason",
    "SelfTradePrevention",
    "Side",
    "TimeInForce",
    "UnknownMarketError",
]
