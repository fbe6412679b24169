"""Immutable events the exchange publishes, and the journal every subscriber reads from.

Transports render these (REST reads, WebSocket channels, FIX ExecutionReports, drop copy,
market data), so they can never disagree. They hold only scalars, enums, tuples and frozen
views, never containers that could form cycles, so they opt out of garbage-collector tracking
(`gc=False`): the journal keeps millions of them. Money is micro-dollars, prices ticks, counts 1/100
contracts, rates 1e-12, times epoch milliseconds. Each event is numbered by the journal.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from matching import Reason, Side

__all__ = [
    "BalanceChanged",
    "BookDelta",
    "Event",
    "ExchangeChanged",
    "ExitTriggerChanged",
    "ExitTriggerView",
    "FillExecuted",
    "FillRecord",
    "FundingPaid",
    "FundingRateSet",
    "Journal",
    "LiquidationStep",
    "MarketChanged",
    "OrderGroupChanged",
    "OrderSnapshot",
    "OrderUpdated",
    "PositionKey",
    "TickerChanged",
    "TradeExecuted",
    "TradeRecord",
    "TriggerKind",
    "TriggerLeg",
    "TriggerReason",
    "TriggerSide",
    "TriggerStatus",
]


TriggerKind = Literal["bracket", "trailing"]
TriggerStatus = Literal["pending_on_entry", "active", "filled", "failed", "canceled", "unknown"]
TriggerLeg = Literal["stop_loss", "take_profit"]
TriggerReason = Literal[
    "user_canceled", "position_closed", "entry_not_filled", "order_rejected", "position_flipped"
]
TriggerSide = Literal["bid", "ask"]

PositionKey = tuple[Hashable, int, str]
"""(owner, subaccount, ticker) of a position."""


@dataclass(frozen=True, slots=True)
class ExitTriggerView:
    """Immutable snapshot of one trigger: the openapi ExitTrigger plus its position scope.

    Prices in ticks, counts in 1/100 contract (`count` 0 = whole position, or an anchored
    trigger whose anchor has not filled yet), times in epoch ms.
    """

    id: str
    owner: Hashable
    subaccount: int
    ticker: str
    isolated: bool
    kind: TriggerKind
    status: TriggerStatus
    status_reason: TriggerReason | None
    triggered_leg: TriggerLeg | None
    triggered_order_id: str | None
    anchor_order_id: str | None
    client_trigger_id: str | None
    stop_loss_price: int | None
    take_profit_price: int | None
    trail_amount: int | None
    trail_bps: int | None
    watermark_price: int | None
    effective_stop_price: int | None
    count: int
    filled_count: int
    created_time_ms: int
    updated_time_ms: int

    @property
    def key(self) -> PositionKey:
        """The (owner, subaccount, ticker) of the protected position."""
        return (self.owner, self.subaccount, self.ticker)


class OrderSnapshot(msgspec.Struct, frozen=True, gc=False):
    """An order as it stands after a change (every MarginOrder field, in integer units)."""

    order_id: str
    user_id: str
    subaccount: int
    ticker: str
    client_order_id: str
    side: Side
    price: int
    count: int
    fill_count: int
    remaining_count: int
    time_in_force: str
    post_only: bool
    reduce_only: bool
    self_trade_prevention_type: str | None
    expiration_ms: int | None
    created_ms: int
    last_update_ms: int
    last_update_reason: Reason
    cancel_order_on_pause: bool
    order_group_id: str | None
    order_source: str
    order_reason: str | None
    fill_value: int
    fees: int


class FillRecord(msgspec.Struct, frozen=True, gc=False):
    """One side of one execution (MarginFill), with the position after it."""

    fill_id: str
    trade_id: str
    order_id: str
    client_order_id: str
    user_id: str
    subaccount: int
    ticker: str
    side: Side
    price: int
    count: int
    is_taker: bool
    fee: int
    entry_price: int | None
    realized_pnl: int
    post_position: int
    order_source: str
    ts_ms: int


class TradeRecord(msgspec.Struct, frozen=True, gc=False):
    """A public trade (MarginTrade)."""

    trade_id: str
    ticker: str
    price: int
    count: int
    taker_side: Side
    ts_ms: int


class OrderUpdated(msgspec.Struct, frozen=True, gc=False, tag=True, omit_defaults=True):
    """An order was created or changed.

    Attributes:
        previous_client_order_id: The order's client order id before this change, when an
            amend replaced it (FIX OrigClOrdID (41)); None otherwise.
    """

    ts_ms: int
    order: OrderSnapshot
    created: bool
    previous_client_order_id: str | None = None


class FillExecuted(msgspec.Struct, frozen=True, gc=False, tag=True):
    ts_ms: int
    fill: FillRecord


class TradeExecuted(msgspec.Struct, frozen=True, gc=False, tag=True):
    ts_ms: int
    trade: TradeRecord


class BookDelta(msgspec.Struct, frozen=True, gc=False, tag=True):
    """A price level changed by `delta` to `count`; own-order fields set when one order did it."""

    ts_ms: int
    ticker: str
    side: Side
    price: int
    delta: int
    count: int
    reason: Reason
    order_id: str | None
    user_id: str | None
    subaccount: int | None
    client_order_id: str | None


class TickerChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    """Coalesced market summary (at most one per market per second)."""

    ts_ms: int
    ticker: str
    price: int | None
    bid: int | None
    bid_size: int
    ask: int | None
    ask_size: int
    volume: int
    volume_notional: int
    volume_24h: int
    volume_24h_notional: int
    open_interest: int
    open_interest_notional: int
    reference_price: tuple[int, int] | None
    liquidation_mark_price: tuple[int, int] | None
    settlement_mark_price: tuple[int, int] | None
    funding_rate: int
    next_funding_time_ms: int
    funding_rate_ts_ms: int
    last_trade_size: int = 0


class FundingRateSet(msgspec.Struct, frozen=True, gc=False, tag=True):
    ts_ms: int
    ticker: str
    funding_time_ms: int
    rate: int
    mark_price: int


class FundingPaid(msgspec.Struct, frozen=True, gc=False, tag=True):
    ts_ms: int
    user_id: str
    subaccount: int
    ticker: str
    funding_time_ms: int
    rate: int
    mark_price: int
    quantity: int
    amount: int


class LiquidationStep(msgspec.Struct, frozen=True, gc=False, tag=True):
    """`stage`: queued, recovered, started, order, finished, deficit."""

    ts_ms: int
    user_id: str
    subaccount: int
    stage: str
    equity: int
    maintenance_margin: int
    order_id: str | None = None
    ticker: str | None = None
    amount: int = 0


class BalanceChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    """Cash moved outside trading (fills carry their own cash effect: realized PnL - fee)."""

    ts_ms: int
    user_id: str
    subaccount: int
    delta: int
    cash: int
    reason: str


class OrderGroupChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    """`action`: created, triggered, reset, deleted, limit_updated."""

    ts_ms: int
    user_id: str
    subaccount: int
    order_group_id: str
    action: str
    contracts_limit: int


class ExitTriggerChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    """An exit trigger was created, changed, fired, cancelled or deleted."""

    ts_ms: int
    user_id: str
    subaccount: int
    trigger: ExitTriggerView


class ExchangeChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    """The exchange opened or closed (maintenance), or trading paused or resumed."""

    ts_ms: int
    exchange_active: bool
    trading_active: bool
    reason: str


class MarketChanged(msgspec.Struct, frozen=True, gc=False, tag=True):
    ts_ms: int
    ticker: str
    status: str
    market_version: int
    halt_sources: tuple[str, ...]
    reason: str


Event = (
    OrderUpdated
    | FillExecuted
    | TradeExecuted
    | BookDelta
    | TickerChanged
    | FundingRateSet
    | FundingPaid
    | LiquidationStep
    | BalanceChanged
    | OrderGroupChanged
    | ExitTriggerChanged
    | MarketChanged
    | ExchangeChanged
)


class Journal:
    """Numbered log of every event the exchange published.

    Each event gets the next seq. `retain` bounds memory (an event takes well under 1 kB): once
    a quarter more have built up, the oldest are dropped from `since` (seq keeps counting).
    While a command runs with subscribers on the bus, its events are also collected into a
    batch (`start_batch`/`end_batch`) that the command boundary delivers once it completes.
    """

    def __init__(self, retain: int = 100_000) -> None:
        self._events: list[Event] = []
        self._first_seq = 1
        self._retain = retain
        self._limit = retain + retain // 4 + 1  # the size that triggers a drop
        self._batch: list[tuple[int, Event]] | None = None

    @property
    def last_seq(self) -> int:
        return self._first_seq + len(self._events) - 1

    @property
    def first_seq(self) -> int:
        """The seq of the oldest retained event (`last_seq + 1` while none is)."""
        return self._first_seq

    def dropped_after(self, after: int) -> bool:
        """Whether some event with seq > `after` is no longer retained (`since` skips it)."""
        return after + 1 < self._first_seq

    def append(self, event: Event) -> int:
        events = self._events
        events.append(event)
        size = len(events)
        seq = self._first_seq + size - 1
        batch = self._batch
        if batch is not None:
            batch.append((seq, event))
        if size > self._limit:
            drop = size - self._retain
            del events[:drop]
            self._first_seq += drop
        return seq

    def start_batch(self, collect: bool) -> int:
        """Start collecting the events of a command (if `collect`); returns the current seq."""
        self._batch = [] if collect else None
        return self.last_seq

    def end_batch(self) -> list[tuple[int, Event]]:
        """The events collected since `start_batch` (empty if it did not collect)."""
        batch = self._batch
        self._batch = None
        return batch or []

    def since(self, after: int = 0, limit: int | None = None) -> list[tuple[int, Event]]:
        """Events with seq > `after` (those still retained), oldest first."""
        start = max(after + 1 - self._first_seq, 0)
        stop = None if limit is None else start + limit
        return [(self._first_seq + i + start, e) for i, e in enumerate(self._events[start:stop])]

    def events_after(self, after: int) -> list[Event]:
        """The events of `since(after)` without their seqs (what a command's result reads)."""
        return self._events[max(after + 1 - self._first_seq, 0) :]

    # A snapshot (`simulator.server.state_pickle`) holds the retained events as one msgpack
    # blob, compressed: the bulk of a snapshot's objects, pickled each, took most of its time
    # and memory. The events come back equal (frozen structs), not shared with the records
    # that also hold them.
    def __getstate__(self) -> dict[str, Any]:
        return {
            "events": zlib.compress(msgspec.msgpack.encode(self._events), 1),
            "first_seq": self._first_seq,
            "retain": self._retain,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        inflate = zlib.decompressobj()
        packed = inflate.decompress(state["events"], _MAX_PACKED_EVENTS)
        if inflate.unconsumed_tail or not inflate.eof:
            raise ValueError("the journal's events are damaged or too large")
        retain: int = state["retain"]
        self._events = msgspec.msgpack.decode(packed, type=list[Event])
        self._first_seq = state["first_seq"]
        self._retain = retain
        self._limit = retain + retain // 4 + 1
        self._batch = None


_MAX_PACKED_EVENTS = 1 << 30  # bytes of a snapshot's events once inflated (a bound, not a size)
