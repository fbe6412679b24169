"""The exchange's tables (`ExchangeState`) and what the running command does to them (`Effects`).

Components (order entry, executions, pricing, liquidation, order groups, exit triggers,
corporate actions, the FCM desk, read models) are handed the state, the effects and the
narrow ports they call (`simulator.ports`), never the `Exchange` facade: what a component
reads and writes is visible in its constructor.

Must not import the exchange facade or any component.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.core.clock import Clock, ManualClock, Timers
from simulator.core.config import ExchangeConfig
from simulator.core.events import Event, FillRecord, Journal, TradeRecord
from simulator.core.ids import IdSource
from simulator.model.history import History
from simulator.model.ledger import User
from simulator.model.market_data import MarketData
from simulator.model.orders import OrderRecord

__all__ = ["AccountKey", "Effects", "ExchangeState"]

AccountKey = tuple[str, int]
"""(user id, subaccount number)."""


@dataclass(slots=True, eq=False)
class ExchangeState:
    """Every table of one exchange.

    Attributes:
        config: The scenario's exchange settings.
        ids: The seeded source of ids and random choices.
        timers: The keyed timer queue on the simulated clock.
        users: Users by id (accounts, subaccounts, positions, keys).
        keys: API key id -> user id.
        orders: Every order accepted, in creation order (but the done ones retention dropped:
            `simulator.risk.retention`).
        live_client_ids: (user id, client order id) -> order id of each resting order.
        fills: Every fill (both sides of each execution), oldest first (but those retention
            dropped).
        trades: Public trades per market, oldest first (the newest `retain_trades`).
        markets: Live market data by ticker, in the scenario's order.
        holders: Per market, the subaccounts with a nonzero position, in the order they opened.
        exchange_active: False while the exchange is closed (maintenance).
        trading_active: False while trading is paused.
        house_cash: Fees and funding residue the exchange holds.
        waterfall_deficit: Losses beyond bankrupt accounts' cash, covered by the house.
    """

    config: ExchangeConfig
    ids: IdSource
    timers: Timers = field(default_factory=Timers)
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    live_client_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    fills: list[FillRecord] = field(default_factory=list)
    trades: dict[str, History[TradeRecord]] = field(default_factory=dict)
    markets: dict[str, MarketData] = field(default_factory=dict)
    holders: dict[str, dict[AccountKey, None]] = field(default_factory=dict)
    exchange_active: bool = True
    trading_active: bool = True
    house_cash: int = 0
    waterfall_deficit: int = 0


class Effects:
    """What the running command reads as its instant, publishes, and leaves for follow-ups.

    Attributes:
        clock: The clock the exchange runs on (the runtime may swap it between commands).
        held: The instant a firing timer holds the exchange at, or None (`now` reads the
            clock).
        journal: Where events are published.
        touched: Subaccounts to check for margin and exit triggers after this command.
        dirty_books: Markets whose book changed: resampled after this command.
    """

    __slots__ = ("clock", "dirty_books", "held", "journal", "touched")

    def __init__(self, clock: Clock, journal: Journal) -> None:
        self.clock = clock
        self.held: int | None = None
        self.journal = journal
        self.touched: dict[AccountKey, None] = {}
        self.dirty_books: dict[str, None] = {}

    def __getstate__(self) -> dict[str, Any]:
        # the clock is the runtime's (a wall clock cannot be pickled): a snapshot keeps its
        # instant and comes back on a manual clock there, which the restorer swaps
        return {
            "now_ms": self.now(),
            "held": self.held,
            "journal": self.journal,
            "touched": self.touched,
            "dirty_books": self.dirty_books,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.clock = ManualClock(state["now_ms"])
        self.held = state["held"]
        self.journal = state["journal"]
        self.touched = state["touched"]
        self.dirty_books = state["dirty_books"]

    def now(self) -> int:
        """The simulated instant the running command (or firing timer) acts at, in epoch ms."""
        held = self.held
        return self.clock.now_ms() if held is None else held

    def emit(self, event: Event) -> int:
        """Publish an event; returns its journal seq."""
        return self.journal.append(event)

    def touch(self, key: AccountKey) -> None:
        """Mark a subaccount for a margin check and trigger update after this command."""
        self.touched[key] = None

    def book_dirty(self, ticker: str) -> None:
        """Mark a market's book changed: it is resampled after this command."""
        self.dirty_books[ticker] = None
