"""Exit triggers: take-profit / stop-loss brackets and trailing stops on perps positions.

Owns every trigger record, its lifecycle (pending_on_entry -> active -> filled | failed |
canceled) and its evaluation against the liquidation mark (MECHANICS §8.1, openapi
ExitTrigger). Pure bookkeeping: no I/O, no clock, no orders. The exchange calls the commands
(`set_cross`, `set_isolated`, `update`, `delete`, `delete_all`, `list`), reports what happened
(`on_mark`, `on_position`, `on_order_result`, `on_order_rejected`, `on_anchor_fill`,
`on_anchor_terminal`, `cancel_for_liquidation`) and places the reduce-only system orders
(`order_reason = take_profit_stop_loss`) that the returned `Firing`s describe. Request rules
and price arithmetic live in `simulator.trading.exit_trigger_rules`, the records and the per-market
evaluation index in `simulator.trading.exit_trigger_records`.

A position is `(owner, subaccount, ticker)` plus an isolated flag; cross and isolated positions
on one ticker are separate. The exchange keeps the positions here current through
`on_position` and `on_order_result`; a set command also records the `position` it is given.

Assumption: a replacing set (no count, anchor or client id) cancels the position's
whole-position trigger of that kind (`user_canceled`) and creates a new one with a new id.
Assumption: `list` returns live triggers ("Live triggers on the position"); with
`include_terminal` it adds the terminal ones kept since the position last opened (at most
`terminal_retention` per position, oldest dropped first).
Assumption: bracket counts fit the position when the remaining counts of its live fixed-count
brackets add up to at most |position|; a trailing stop's count must be at most |position|.
Assumption: a trailing watermark starts at the market's liquidation mark when it is set (the
set command notes it), else at the first mark after creation.
Assumption: when both legs cross on one mark the stop loss fires. A fired trigger drops its
other leg (MECHANICS: "cancel the sibling leg"); after a partial fill with the position still
open it re-fires the same leg on the next mark whatever the price ("retry next tick").
Assumption: the close counts fired for one position never exceed |position| minus closes still
outstanding; a crossed trigger that gets nothing waits for the next mark.
Assumption: an anchored trigger protects the side its anchor opens (`anchor_side`); its count
is the anchor's cumulative fill; once it has closed all it covers while the anchor is live it
returns to pending_on_entry (openapi: pending_on_entry "can follow active").
Assumption: a flat position cancels live triggers (`position_closed`) except pending ones; a
sign flip cancels those protecting the old side (`position_flipped`); a trigger with an order
outstanding is settled by `on_order_result` instead.
Assumption: liquidation pre-empts triggers through `cancel_for_liquidation`, which cancels with
`position_closed` (the reason enum has nothing closer). The exchange calls it when liquidation
of a scope starts, before evaluating triggers on that tick.
Assumption: the exchange resolves `anchor_order_id` and passes `anchor_side=None` when the order
is unknown to it, which is refused `anchor_order_unavailable` (409, "safe to retry").
Assumption: status `unknown` is never produced; terminal triggers cannot be updated or deleted
(404).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Hashable, Iterable

from simulator.core.errors import (
    AnchorOrderUnavailableError,
    ExitTriggerNotFoundError,
    IdempotencyKeyUsedError,
    InvalidParametersError,
)
from simulator.trading import exit_trigger_rules as rules
from simulator.trading.exit_trigger_records import (
    LIVE_STATUSES,
    ExitTriggerView,
    Firing,
    MarketTriggers,
    PositionKey,
    PositionTriggers,
    TriggerRecord,
)
from simulator.trading.exit_trigger_rules import (
    Kind,
    Leg,
    Legs,
    Reason,
    Side,
    Sizing,
    Status,
    TriggerTerms,
)

__all__ = [
    "ExitTriggerView",
    "ExitTriggers",
    "Firing",
    "Kind",
    "Leg",
    "PositionKey",
    "Reason",
    "Side",
    "Status",
    "TriggerTerms",
]

_BookKey = tuple[Hashable, int, str, bool]
_Views = builtins.list[ExitTriggerView]


def _views(triggers: Iterable[TriggerRecord]) -> _Views:
    return [t.view() for t in dict.fromkeys(triggers)]


class ExitTriggers:
    """Every exit trigger of the exchange, indexed by position and by market.

    Args:
        id_factory: Returns a fresh trigger id; called once per created trigger, never for a
            rejected command.
        terminal_retention: Terminal triggers kept per position for `list(include_terminal=True)`.
    """

    def __init__(self, id_factory: Callable[[], str], *, terminal_retention: int = 100) -> None:
        self._new_id = id_factory
        self._retention = terminal_retention
        self._seq = 0
        self._books: dict[_BookKey, PositionTriggers] = {}
        self._scopes: dict[tuple[Hashable, int], builtins.list[PositionTriggers]] = {}
        self._markets: dict[str, MarketTriggers] = {}
        self._by_id: dict[str, TriggerRecord] = {}
        self._by_anchor: dict[str, dict[str, TriggerRecord]] = {}
        self._client_ids: dict[Hashable, set[str]] = {}

    # Commands. Each validates everything before it changes anything.

    def set_cross(
        self,
        key: PositionKey,
        terms: TriggerTerms,
        *,
        anchor_side: Side | None = None,
        anchor_filled: int = 0,
        position: int,
        liquidation_price: int | None = None,
        now_ms: int,
    ) -> _Views:
        """Set a trigger on a cross position (PUT /margin/cross/positions/{ticker}/exit_trigger).

        Without count/anchor the request replaces the position's whole-position trigger of that
        kind; with either it appends one, and `client_trigger_id` is then required and
        single-use per owner.

        Args:
            key: The position.
            terms: The request's legs and sizing as sent.
            anchor_side: Side of the anchor order; None when the exchange cannot find it live.
            anchor_filled: The anchor's cumulative fill so far.
            position: The current signed position.
            liquidation_price: Estimated liquidation price, None when there is none.
            now_ms: Current time.

        Returns:
            Every trigger the command changed (a replaced one is canceled), the new one last.

        Raises:
            InvalidParametersError: Malformed legs, sizing or client id.
            InvalidOrderError: Count not whole contracts or not fitting; no open position.
            IdempotencyKeyUsedError: `client_trigger_id` already used by this owner.
            AnchorOrderUnavailableError: `anchor_side` is None for an anchored request.
            StopLossPastLiquidationError: Stop at or beyond the liquidation price.
            LimitExceededError: More than 20 brackets or 1 trailing stop on the position.
        """
        legs = rules.validate_legs(terms)
        sizing = rules.validate_sizing(legs.kind, terms)
        if sizing.client_trigger_id in self._client_ids.get(key[0], ()):
            raise IdempotencyKeyUsedError(details=f"client_trigger_id {sizing.client_trigger_id}")
        if sizing.anchor_order_id is None:
            direction = rules.require_open_position(position)
        elif anchor_side is None:
            raise AnchorOrderUnavailableError(details=f"anchor_order_id {sizing.anchor_order_id}")
        else:
            direction = rules.direction_of_side(anchor_side)
        rules.check_stop_loss(direction, legs.stop_loss_price, liquidation_price)
        book = self._books.get((*key, False))
        live = book.live(legs.kind) if book is not None else []
        replaced = None if sizing.append else _whole_position(live)
        if replaced is None:
            rules.check_room(legs.kind, len(live))
        if sizing.count:
            fixed = [t for t in live if t.kind == "bracket" and t.count and not t.anchored]
            used = sum(t.count - t.filled_count for t in fixed)
            rules.check_fit(legs.kind, sizing.count, used, position)
        return self._store(
            (*key, False), legs, sizing, direction, replaced, anchor_filled, position, now_ms
        )

    def set_isolated(
        self,
        key: PositionKey,
        terms: TriggerTerms,
        *,
        position: int,
        liquidation_price: int | None = None,
        now_ms: int,
    ) -> _Views:
        """Set the trigger of an isolated position; it always closes the position in full.

        Same leg rules as `set_cross`; always replaces the position's trigger of that kind.

        Returns:
            Every trigger the command changed (a replaced one is canceled), the new one last.

        Raises:
            InvalidParametersError: Malformed legs, or a count, anchor or client id.
            InvalidOrderError: No open position.
            StopLossPastLiquidationError: Stop at or beyond the liquidation price.
        """
        rules.require_no_sizing(terms, "an isolated position")
        legs = rules.validate_legs(terms)
        direction = rules.require_open_position(position)
        rules.check_stop_loss(direction, legs.stop_loss_price, liquidation_price)
        book = self._books.get((*key, True))
        replaced = _whole_position(book.live(legs.kind)) if book is not None else None
        sizing = Sizing(append=False, count=0, anchor_order_id=None, client_trigger_id=None)
        return self._store((*key, True), legs, sizing, direction, replaced, 0, position, now_ms)

    def update(
        self,
        key: PositionKey,
        trigger_id: str,
        terms: TriggerTerms,
        *,
        liquidation_price: int | None = None,
        now_ms: int,
    ) -> ExitTriggerView:
        """Change a live cross bracket's legs; an omitted leg is cleared.

        Args:
            key: The position.
            trigger_id: The bracket to change.
            terms: The new legs (kind "bracket"; no sizing).
            liquidation_price: Estimated liquidation price, None when there is none.
            now_ms: Current time.

        Raises:
            ExitTriggerNotFoundError: No live cross trigger with that id on the position.
            InvalidParametersError: Not a bracket, no leg, a non-positive price, or sizing.
            StopLossPastLiquidationError: Stop at or beyond the liquidation price.
        """
        t = self._live(key, False, trigger_id)
        if t.kind != "bracket":
            raise InvalidParametersError("only brackets can be updated by id")
        rules.require_no_sizing(terms, "an update")
        legs = rules.validate_legs(terms)
        rules.check_stop_loss(t.direction, legs.stop_loss_price, liquidation_price)
        evaluated = bool(t.entries)  # else pending or already fired
        if evaluated:
            self._unindex(t)
        t.stop_loss_price, t.take_profit_price = legs.stop_loss_price, legs.take_profit_price
        t.updated_time_ms = now_ms
        if evaluated:
            self._market(t.book.ticker).add(t, now_ms)
        return t.view()

    def delete(self, key: PositionKey, trigger_id: str, *, now_ms: int) -> ExitTriggerView:
        """Cancel one live cross trigger (`user_canceled`).

        Raises:
            ExitTriggerNotFoundError: No live cross trigger with that id on the position.
        """
        t = self._live(key, False, trigger_id)
        self._finish(t, "canceled", "user_canceled", now_ms)
        return t.view()

    def delete_all(
        self, key: PositionKey, *, now_ms: int, kind: str | None = None, isolated: bool = False
    ) -> _Views:
        """Cancel every live trigger of the position, or of one kind; idempotent.

        Returns:
            The canceled triggers in creation order.
        """
        book = self._books.get((*key, isolated))
        doomed = book.live(kind) if book is not None else []
        for t in doomed:
            self._finish(t, "canceled", "user_canceled", now_ms)
        return _views(doomed)

    def list(
        self,
        key: PositionKey,
        *,
        kind: str | None = None,
        isolated: bool = False,
        include_terminal: bool = False,
    ) -> _Views:
        """The position's live triggers (and kept terminal ones if asked), oldest first."""
        book = self._books.get((*key, isolated))
        if book is None:
            return []
        if not include_terminal:
            return _views(book.live(kind))
        return _views(t for t in book.triggers.values() if kind is None or t.kind == kind)

    def rename_market(self, old: str, new: str) -> None:
        """Move every trigger of market `old` to ticker `new` (a corporate ticker change)."""
        if old in self._markets:
            self._markets[new] = self._markets.pop(old)
        for book_key in [k for k in self._books if k[2] == old]:
            book = self._books.pop(book_key)
            book.ticker = new
            self._books[(book_key[0], book_key[1], new, book_key[3])] = book

    def get(self, trigger_id: str) -> ExitTriggerView | None:
        """A live or kept terminal trigger by id."""
        t = self._by_id.get(trigger_id)
        return None if t is None else t.view()

    # Events from the exchange.

    def note_mark(self, ticker: str, mark: int | None) -> None:
        """Record the market's current liquidation mark without evaluating anything.

        Marks reach the triggers only while some exist, so the one kept may be old or missing;
        a set command notes the current one first, for the watermark of a new trailing stop.
        """
        if mark is not None:
            self._market(ticker).mark = mark

    def on_mark(self, ticker: str, mark: int, now_ms: int) -> builtins.list[Firing]:
        """Evaluate the market's triggers against a new liquidation mark.

        Only crossed bracket thresholds are visited (sorted per market); active trailing stops
        and partially filled triggers awaiting their retry are scanned.

        Returns:
            The firings in trigger creation order; each fired trigger stays active with
            `triggered_leg` set and does not fire again until its order is reported.
        """
        firings = []
        for t, leg in self._market(ticker).crossed(mark, now_ms):
            firing = self._fire(t, leg, now_ms)
            if firing is not None:
                firings.append(firing)
        return firings

    def on_order_result(
        self,
        trigger_id: str,
        order_id: str,
        filled_count: int,
        position_after: int,
        now_ms: int,
    ) -> _Views:
        """Settle a fired trigger's order once it is done (IOC filled and/or cancelled).

        Args:
            trigger_id: The fired trigger.
            order_id: The system order's id.
            filled_count: What this order filled, 1/100 contract.
            position_after: The signed position after the order.
            now_ms: Current time.

        Returns:
            The trigger, then any trigger the position change canceled.

        Raises:
            ExitTriggerNotFoundError: Unknown trigger id.
        """
        t = self._settle(trigger_id)
        book = t.book
        t.triggered_order_id = order_id
        t.filled_count += filled_count
        t.updated_time_ms = now_ms
        if t.status in LIVE_STATUSES:
            closed = position_after * t.direction <= 0
            if closed or (t.count > 0 and t.filled_count >= t.count):
                if t.anchor_order_id is not None:
                    t.status = "pending_on_entry"
                else:
                    self._finish(t, "filled", None, now_ms)
            else:
                self._markets[book.ticker].retry[t.id] = t
        return _views([t, *self._apply_position(book, position_after, now_ms)])

    def on_order_rejected(
        self, trigger_id: str, now_ms: int, *, order_id: str | None = None
    ) -> _Views:
        """A fired trigger's order was rejected: the trigger fails (`order_rejected`).

        Raises:
            ExitTriggerNotFoundError: Unknown trigger id.
        """
        t = self._settle(trigger_id)
        if order_id is not None:
            t.triggered_order_id = order_id
        t.updated_time_ms = now_ms
        if t.status in LIVE_STATUSES:
            self._finish(t, "failed", "order_rejected", now_ms)
        return [t.view()]

    def on_position(
        self, key: PositionKey, position: int, now_ms: int, *, isolated: bool = False
    ) -> _Views:
        """Record a position change; cancel triggers on close or flip.

        Returns:
            The triggers canceled (`position_closed` / `position_flipped`).
        """
        book = self._books.get((*key, isolated))
        if book is None:
            if position == 0:
                return []
            book = self._book((*key, isolated))
        return _views(self._apply_position(book, position, now_ms))

    def on_anchor_fill(self, anchor_order_id: str, cumulative_filled: int, now_ms: int) -> _Views:
        """An anchor order filled further: its triggers' counts follow, pending ones activate.

        Returns:
            The triggers that changed.
        """
        changed = []
        for t in list(self._by_anchor.get(anchor_order_id, {}).values()):
            if cumulative_filled <= t.count:
                continue
            t.count = cumulative_filled
            t.updated_time_ms = now_ms
            if t.status == "pending_on_entry" and t.outstanding == 0:
                self._activate(t, now_ms)
            changed.append(t)
        return _views(changed)

    def on_anchor_terminal(self, anchor_order_id: str, now_ms: int) -> _Views:
        """An anchor order is done: clear it; never filled -> canceled `entry_not_filled`.

        A pending trigger that already closed everything it covered becomes filled.

        Returns:
            The triggers that changed.
        """
        triggers = list(self._by_anchor.pop(anchor_order_id, {}).values())
        for t in triggers:
            t.anchor_order_id = None
            t.updated_time_ms = now_ms
            if t.count == 0:
                self._finish(t, "canceled", "entry_not_filled", now_ms)
            elif t.status == "pending_on_entry":
                self._finish(t, "filled", None, now_ms)
        return _views(triggers)

    def cancel_for_liquidation(
        self,
        owner: Hashable,
        subaccount: int,
        *,
        now_ms: int,
        isolated_ticker: str | None = None,
    ) -> _Views:
        """Cancel the live triggers of a scope entering liquidation (`position_closed`).

        Args:
            owner: The user.
            subaccount: The subaccount.
            now_ms: Current time.
            isolated_ticker: None for every cross position of the subaccount, else the
                isolated position on that ticker.
        """
        if isolated_ticker is None:
            books = [b for b in self._scopes.get((owner, subaccount), []) if not b.isolated]
        else:
            book = self._books.get((owner, subaccount, isolated_ticker, True))
            books = [] if book is None else [book]
        doomed = [t for b in books for t in b.live()]
        for t in doomed:
            self._finish(t, "canceled", "position_closed", now_ms)
        return _views(doomed)

    # Internals.

    def _store(
        self,
        book_key: _BookKey,
        legs: Legs,
        sizing: Sizing,
        direction: int,
        replaced: TriggerRecord | None,
        anchor_filled: int,
        position: int,
        now_ms: int,
    ) -> _Views:
        book = self._book(book_key)
        # The exchange's position is the truth; catch up on a change not yet reported.
        changed = self._apply_position(book, position, now_ms)
        if replaced is not None and replaced.status in LIVE_STATUSES:
            self._finish(replaced, "canceled", "user_canceled", now_ms)
            changed.append(replaced)
        self._seq += 1
        anchored = sizing.anchor_order_id is not None
        t = TriggerRecord(
            id=self._new_id(),
            book=book,
            seq=self._seq,
            kind=legs.kind,
            direction=direction,
            anchored=anchored,
            status="pending_on_entry" if anchored else "active",
            stop_loss_price=legs.stop_loss_price,
            take_profit_price=legs.take_profit_price,
            trail_amount=legs.trail_amount,
            trail_bps=legs.trail_bps,
            count=max(anchor_filled, 0) if anchored else sizing.count,
            anchor_order_id=sizing.anchor_order_id,
            client_trigger_id=sizing.client_trigger_id,
            created_time_ms=now_ms,
            updated_time_ms=now_ms,
        )
        book.triggers[t.id] = t
        self._by_id[t.id] = t
        if sizing.client_trigger_id is not None:
            self._client_ids.setdefault(book.owner, set()).add(sizing.client_trigger_id)
        if sizing.anchor_order_id is not None:
            self._by_anchor.setdefault(sizing.anchor_order_id, {})[t.id] = t
        if not anchored or t.count > 0:
            self._activate(t, now_ms)
        changed.append(t)
        return _views(changed)

    def _book(self, book_key: _BookKey) -> PositionTriggers:
        book = self._books.get(book_key)
        if book is None:
            owner, subaccount, ticker, isolated = book_key
            book = self._books[book_key] = PositionTriggers(owner, subaccount, ticker, isolated)
            self._scopes.setdefault((owner, subaccount), []).append(book)
        return book

    def _market(self, ticker: str) -> MarketTriggers:
        market = self._markets.get(ticker)
        if market is None:
            market = self._markets[ticker] = MarketTriggers()
        return market

    def _known(self, trigger_id: str) -> TriggerRecord:
        t = self._by_id.get(trigger_id)
        if t is None:
            raise ExitTriggerNotFoundError(details=f"trigger_id {trigger_id}")
        return t

    def _settle(self, trigger_id: str) -> TriggerRecord:
        # The fired order is done: release its count; drop a forgotten trigger for good.
        t = self._known(trigger_id)
        t.book.closing -= t.outstanding
        t.outstanding = 0
        if t.book.triggers.get(trigger_id) is not t:
            del self._by_id[trigger_id]
        return t

    def _live(self, key: PositionKey, isolated: bool, trigger_id: str) -> TriggerRecord:
        book = self._books.get((*key, isolated))
        t = book.triggers.get(trigger_id) if book is not None else None
        if t is None or t.status not in LIVE_STATUSES:
            raise ExitTriggerNotFoundError(details=f"trigger_id {trigger_id}")
        return t

    def _activate(self, t: TriggerRecord, now_ms: int) -> None:
        t.status = "active"
        t.triggered_leg = None
        self._market(t.book.ticker).add(t, now_ms)

    def _unindex(self, t: TriggerRecord) -> None:
        self._market(t.book.ticker).discard(t)

    def _fire(self, t: TriggerRecord, leg: Leg, now_ms: int) -> Firing | None:
        book = t.book
        if book.position * t.direction <= 0:
            return None
        available = abs(book.position) - book.closing
        quantity = available if t.count == 0 else min(t.count - t.filled_count, available)
        if quantity <= 0:
            return None
        self._unindex(t)
        t.triggered_leg = leg
        t.outstanding = quantity
        t.updated_time_ms = now_ms
        book.closing += quantity
        return Firing(
            t.id,
            book.key,
            book.isolated,
            leg,
            rules.close_side(t.direction),
            quantity,
        )

    def _finish(self, t: TriggerRecord, status: Status, reason: Reason | None, now_ms: int) -> None:
        self._unindex(t)
        t.status = status
        t.status_reason = reason
        t.updated_time_ms = now_ms
        if t.anchor_order_id is not None:
            self._by_anchor.get(t.anchor_order_id, {}).pop(t.id, None)
        book = t.book
        book.terminal.append(t.id)
        while len(book.terminal) > self._retention:
            self._forget(book, book.terminal.popleft())

    def _forget(self, book: PositionTriggers, trigger_id: str) -> None:
        t = book.triggers.pop(trigger_id)
        if t.outstanding == 0:  # else kept until its order is reported
            del self._by_id[trigger_id]

    def _apply_position(
        self, book: PositionTriggers, position: int, now_ms: int
    ) -> builtins.list[TriggerRecord]:
        previous, book.position = book.position, position
        if previous == position:
            return []
        if previous == 0:
            # A new position starts a new trigger history.
            while book.terminal:
                self._forget(book, book.terminal.popleft())
        if position == 0:
            reason: Reason = "position_closed"
            doomed = [t for t in book.live() if t.status == "active" and t.outstanding == 0]
        elif previous * position < 0:
            reason = "position_flipped"
            direction = 1 if position > 0 else -1
            doomed = [t for t in book.live() if t.direction != direction and t.outstanding == 0]
        else:
            return []
        for t in doomed:
            self._finish(t, "canceled", reason, now_ms)
        return doomed


def _whole_position(live: builtins.list[TriggerRecord]) -> TriggerRecord | None:
    # The trigger a replacing set targets: the one not created by an appending request.
    return next((t for t in live if t.client_trigger_id is None), None)
