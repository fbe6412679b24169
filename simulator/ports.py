"""The narrow interfaces components call each other through (`typing.Protocol` ports).

A component is built with the exchange's state and effects (`simulator.state`) and the ports it
needs, so what it may do is visible in its constructor and it never holds the `Exchange`
facade. The facade (which implements `Accounts` and `OrderEntry`) and the components wire them
together in `simulator.exchange`.

Must not import the exchange facade or any component.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from matching import Event as BookEvent
from matching import Reason, Side
from simulator.core.commands import CommandBoundary
from simulator.core.events import ExitTriggerView
from simulator.model.ledger import Subaccount, User
from simulator.model.market_data import MarketData
from simulator.model.orders import OrderRecord, OrderResult
from simulator.model.risk import SubaccountRisk
from simulator.state import Effects, ExchangeState

__all__ = [
    "Accounts",
    "BookEvents",
    "Desk",
    "GroupLedger",
    "Holders",
    "MarkListener",
    "MarketRenamer",
    "OrderEntry",
    "OrderWatcher",
    "Resampler",
    "TriggerScopes",
    "Wiring",
]


class Accounts(Protocol):
    """Accounts and their risk at the current marks (MECHANICS 2-3)."""

    def user(self, user_id: str) -> User: ...

    def subaccount(self, user_id: str, number: int) -> Subaccount: ...

    def market_data(self, ticker: str) -> MarketData: ...

    def mark(self, ticker: str) -> int: ...

    def subaccount_risk(self, user_id: str, number: int) -> SubaccountRisk: ...

    def available(self, user_id: str, number: int) -> int: ...

    def available_in(self, sub: Subaccount) -> int: ...

    def notional_limit(self, user: User, ticker: str) -> int: ...


class BookEvents(Protocol):
    """Applies what a book command did to orders, positions and cash, and publishes it."""

    def apply_book_events(
        self,
        data: MarketData,
        events: list[BookEvent],
        *,
        previous_client_order_id: str | None = None,
    ) -> None: ...


class OrderEntry(BookEvents, Protocol):
    """Orders the exchange itself places or cancels (liquidation, triggers, groups, limits)."""

    def place_system_order(
        self,
        user_id: str,
        subaccount: int,
        ticker: str,
        side: Side,
        count: int,
        reason: str,
        trigger_id: str | None = None,
    ) -> OrderResult | None: ...

    def cancel_orders(self, records: Iterable[OrderRecord], reason: Reason) -> None: ...

    def live_orders(self, user_id: str) -> list[OrderRecord]: ...


class MarkListener(Protocol):
    """Told when a market's liquidation mark moved (margin checks, exit triggers)."""

    def mark_moved(self, data: MarketData) -> None: ...


class GroupLedger(Protocol):
    """The order groups' side of executions: fills count toward limits, done orders leave."""

    def record_fill(self, group_id: str, count: int, ts_ms: int) -> None: ...

    def remove_order(self, group_id: str, order_id: str) -> None: ...


class OrderWatcher(Protocol):
    """Told when an order fills or leaves the book (exit triggers anchored on orders)."""

    def order_filled(self, record: OrderRecord) -> None: ...

    def order_terminal(self, record: OrderRecord) -> None: ...


class TriggerScopes(Protocol):
    """The exit triggers of positions the exchange closes or settles."""

    def cancel_scope(self, user_id: str, subaccount: int) -> None: ...

    def delete_all(self, user_id: str, subaccount: int, ticker: str) -> list[ExitTriggerView]: ...


class Holders(Protocol):
    """Who holds each market, and its open interest (kept by executions)."""

    def update_open_interest(self, data: MarketData, before: int, after: int) -> None: ...

    def track_holder(self, ticker: str, key: tuple[str, int], qty: int) -> None: ...


class Resampler(Protocol):
    """Resamples a market's marks at once (its reference just changed)."""

    def sample_now(self, data: MarketData) -> None: ...


class MarketRenamer(Protocol):
    """Renames a market everywhere it is keyed by ticker (a ticker-change corporate action)."""

    def rename_market(self, old: str, new: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a component with commands is built with.

    Attributes:
        state: The exchange's tables.
        effects: What the running command reads as its instant, publishes and leaves behind.
        boundary: The command boundary its `@command` methods run through.
        accounts: Accounts and their risk.
        entry: Orders the exchange places or cancels itself.
    """

    state: ExchangeState
    effects: Effects
    boundary: CommandBoundary
    accounts: Accounts
    entry: OrderEntry


class Desk:
    """Base of the components with commands: order groups, exit triggers, FCM, corporate actions."""

    def __init__(self, wiring: Wiring) -> None:
        self._state = wiring.state
        self._fx = wiring.effects
        self._boundary = wiring.boundary
        self._accounts = wiring.accounts
        self._entry = wiring.entry
