"""Records of exit triggers and the per-market index their evaluation walks.

Owns the mutable trigger record, the firing instruction, the per-position trigger list and the
per-market structures (sorted bracket thresholds, trailing stops, retries); the immutable view
(`ExitTriggerView`) is published with the events. Only `simulator.trading.exit_triggers`
mutates them; everyone else sees `ExitTriggerView` and `Firing`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Final

from sortedcontainers import SortedKeyList

from simulator.core.events import ExitTriggerView, PositionKey
from simulator.trading import exit_trigger_rules as rules
from simulator.trading.exit_trigger_rules import Kind, Leg, Reason, Side, Status

__all__ = [
    "LIVE_STATUSES",
    "ExitTriggerView",
    "Firing",
    "MarketTriggers",
    "PositionKey",
    "PositionTriggers",
    "TriggerRecord",
]


LIVE_STATUSES: Final = frozenset({"pending_on_entry", "active"})

_Entry = tuple[int, "TriggerRecord", Leg]  # (threshold price, trigger, leg)


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger fired: the exchange must send a reduce-only IOC system order.

    Attributes:
        trigger_id: The trigger; report the outcome with `on_order_result`/`on_order_rejected`.
        key: The position's (owner, subaccount, ticker).
        isolated: Whether the position is isolated.
        leg: "stop_loss" or "take_profit" (trailing stops report "stop_loss").
        side: Order side: "ask" closes a long, "bid" closes a short.
        count: Count to close in 1/100 contract.
    """

    trigger_id: str
    key: PositionKey
    isolated: bool
    leg: Leg
    side: Side
    count: int


@dataclass(slots=True, eq=False)
class PositionTriggers:
    """One position's signed size and its triggers (live and kept terminal ones)."""

    owner: Hashable
    subaccount: int
    ticker: str
    isolated: bool
    position: int = 0
    closing: int = 0
    """Close counts fired and not yet reported."""
    triggers: dict[str, TriggerRecord] = field(default_factory=dict)
    """By id, in creation order."""
    terminal: deque[str] = field(default_factory=deque)
    """Ids of kept terminal triggers, oldest first."""

    @property
    def key(self) -> PositionKey:
        """The (owner, subaccount, ticker) of the position."""
        return (self.owner, self.subaccount, self.ticker)

    def live(self, kind: str | None = None) -> list[TriggerRecord]:
        """The live triggers, of one kind if given, in creation order."""
        return [
            t
            for t in self.triggers.values()
            if t.status in LIVE_STATUSES and (kind is None or t.kind == kind)
        ]


@dataclass(slots=True, eq=False)
class TriggerRecord:
    """The mutable state of one trigger; `direction` is +1 protecting a long, -1 a short."""

    id: str
    book: PositionTriggers
    seq: int
    kind: Kind
    direction: int
    anchored: bool
    status: Status
    stop_loss_price: int | None
    take_profit_price: int | None
    trail_amount: int | None
    trail_bps: int | None
    count: int
    anchor_order_id: str | None
    client_trigger_id: str | None
    created_time_ms: int
    updated_time_ms: int
    status_reason: Reason | None = None
    triggered_leg: Leg | None = None
    triggered_order_id: str | None = None
    watermark_price: int | None = None
    effective_stop_price: int | None = None
    filled_count: int = 0
    outstanding: int = 0
    """Count of the close order in flight."""
    entries: list[tuple[bool, _Entry]] = field(default_factory=list)
    """Threshold entries in the market index, flagged True when in `at_or_below`."""

    def view(self) -> ExitTriggerView:
        """An immutable snapshot for rendering."""
        b = self.book
        return ExitTriggerView(
            self.id, b.owner, b.subaccount, b.ticker, b.isolated, self.kind, self.status,
            self.status_reason, self.triggered_leg, self.triggered_order_id,
            self.anchor_order_id, self.client_trigger_id, self.stop_loss_price,
            self.take_profit_price, self.trail_amount, self.trail_bps, self.watermark_price,
            self.effective_stop_price, self.count, self.filled_count, self.created_time_ms,
            self.updated_time_ms,
        )  # fmt: skip

    def set_watermark(self, watermark: int, now_ms: int) -> None:
        """Move a trailing stop's watermark and recompute its effective stop."""
        self.watermark_price = watermark
        self.effective_stop_price = rules.effective_stop(
            self.direction, watermark, self.trail_amount, self.trail_bps
        )
        self.updated_time_ms = now_ms


def _threshold_key(entry: _Entry) -> tuple[int, int]:
    return (entry[0], entry[1].seq)


def _threshold_list() -> SortedKeyList[_Entry, tuple[int, int]]:
    return SortedKeyList(key=_threshold_key)


@dataclass(slots=True, eq=False)
class MarketTriggers:
    """The evaluation index of one market's active, not yet fired triggers.

    Bracket thresholds sit in two lists sorted by (price, creation seq): `at_or_below` holds
    the legs hit when the mark falls to them (long stop loss, short take profit),
    `at_or_above` those hit when it rises to them (long take profit, short stop loss). A mark
    update visits only crossed entries. Trailing stops and retries are scanned.
    """

    mark: int | None = None
    at_or_below: SortedKeyList[_Entry, tuple[int, int]] = field(default_factory=_threshold_list)
    at_or_above: SortedKeyList[_Entry, tuple[int, int]] = field(default_factory=_threshold_list)
    trailing: dict[str, TriggerRecord] = field(default_factory=dict)
    retry: dict[str, TriggerRecord] = field(default_factory=dict)
    """Partially filled triggers with the position still open: re-fire on the next mark."""

    def add(self, t: TriggerRecord, now_ms: int) -> None:
        """Start evaluating an active trigger."""
        if t.kind == "trailing":
            if t.watermark_price is None and self.mark is not None:
                t.set_watermark(self.mark, now_ms)
            self.trailing[t.id] = t
            return
        legs: tuple[tuple[Leg, int | None], ...] = (
            ("stop_loss", t.stop_loss_price),
            ("take_profit", t.take_profit_price),
        )
        for leg, price in legs:
            if price is not None:
                below = (leg == "stop_loss") == (t.direction > 0)
                entry: _Entry = (price, t, leg)
                (self.at_or_below if below else self.at_or_above).add(entry)
                t.entries.append((below, entry))

    def discard(self, t: TriggerRecord) -> None:
        """Stop evaluating a trigger (fired, pending or terminal)."""
        for below, entry in t.entries:
            (self.at_or_below if below else self.at_or_above).remove(entry)
        t.entries.clear()
        self.trailing.pop(t.id, None)
        self.retry.pop(t.id, None)

    def crossed(self, mark: int, now_ms: int) -> list[tuple[TriggerRecord, Leg]]:
        """Record a new mark and return the triggers it fires, in creation order.

        Ratchets the trailing watermarks first. When both legs of a bracket cross, the stop
        loss wins. Retries come back with their triggered leg.
        """
        self.mark = mark
        hits: dict[str, tuple[TriggerRecord, Leg]] = {}
        for t in self.retry.values():
            if t.triggered_leg is not None:
                hits[t.id] = (t, t.triggered_leg)
        # Creation seqs start at 1, so (price, 0) sorts before every entry at that price.
        below = self.at_or_below.irange_key(min_key=(mark, 0))
        above = self.at_or_above.irange_key(max_key=(mark + 1, 0), inclusive=(True, False))
        for _, t, leg in [*below, *above]:
            if t.id not in hits or leg == "stop_loss":
                hits[t.id] = (t, leg)
        for t in self.trailing.values():
            watermark = rules.favourable(t.direction, t.watermark_price, mark)
            if watermark != t.watermark_price:
                t.set_watermark(watermark, now_ms)
            stop = t.effective_stop_price
            if stop is not None and rules.stop_crossed(t.direction, stop, mark):
                hits[t.id] = (t, "stop_loss")
        return sorted(hits.values(), key=lambda hit: hit[0].seq)
