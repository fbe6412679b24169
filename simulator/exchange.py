"""The exchange: the one command entry point every transport calls.

Commands validate completely before they change anything (a `RejectError` means no change), then
act, publish events to the journal, and run follow-ups (book resampling, order-group cancels,
exit-trigger orders, scheduling margin checks) until the exchange is quiet. Time only moves
through `advance` (manual clock) or `run_due` (wall and accelerated clocks), which fire timers
in timestamp order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import msgspec

from matching import Event as BookEvent
from matching import (
    MatchingError,
    OrderBook,
    Reason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from simulator import errors
from simulator.accounts import AccountCommands
from simulator.clock import Clock, ManualClock, Timers
from simulator.command_log import CommandLog, command
from simulator.config import ExchangeConfig
from simulator.events import (
    Event,
    ExchangeChanged,
    FillRecord,
    Journal,
    MarketChanged,
    OrderUpdated,
    TradeRecord,
)
from simulator.feeds import feed_from_config
from simulator.funding import FundingSettings, PremiumAccumulator
from simulator.funding_schedule import FundingSchedule
from simulator.ids import IdSource
from simulator.indexes import FillIndex, MarketIndex, OrderIndex
from simulator.keys import KeyRegistry
from simulator.ledger import User
from simulator.market_data import MarketData
from simulator.markets import Market, MarketSpec, MarketStatus
from simulator.marks import SettlementMark
from simulator.order_checks import (
    check_count,
    check_kinds,
    check_margin,
    check_notional_limit,
    check_price,
    slippage_cap,
    tradable_market,
)
from simulator.orders import AmendOrder, OrderRecord, OrderResult, PlaceOrder

__all__ = ["Exchange"]

_GTC = TimeInForce.GOOD_TILL_CANCELED
_BID = Side.BID
_NONE = Reason.NONE
AccountKey = tuple[str, int]


class Exchange(AccountCommands):
    """Accounts, markets, order entry and the timers that move prices and funding."""

    def __init__(
        self,
        specs: Iterable[MarketSpec],
        *,
        clock: Clock,
        seed: int = 0,
        config: ExchangeConfig | None = None,
    ) -> None:
        self.config = config or ExchangeConfig()
        self.clock = clock
        self.created_ms = clock.now_ms()
        self.command_log = CommandLog()
        self.timers_fired = 0
        self._held: int | None = None
        self.ids = IdSource(seed)
        self.timers = Timers()
        self.journal = Journal(self.config.journal_retain)
        self.users: dict[str, User] = {}
        self.keys: dict[str, str] = {}
        self.orders: dict[str, OrderRecord] = {}
        self.live_client_ids: dict[tuple[str, str], str] = {}
        self.fills: list[FillRecord] = []
        self.trades: dict[str, list[TradeRecord]] = {}
        self.markets: dict[str, MarketData] = {}
        self.exchange_active = True
        self.trading_active = True
        self.house_cash = 0
        self.waterfall_deficit = 0
        self._holders: dict[str, dict[AccountKey, None]] = {}
        self._touched: dict[AccountKey, None] = {}
        self._book_dirty: dict[str, None] = {}
        self._in_followups = False
        # read models every transport lists and authenticates from
        self.order_index = OrderIndex(self)
        self.fill_index = FillIndex(self)
        self.market_index = MarketIndex(self)
        self.key_registry = KeyRegistry(self)
        # Late imports keep module-level cycles out: these collaborators call back into us.
        from simulator.corporate_actions import CorporateActions
        from simulator.executions import Executions
        from simulator.exit_trigger_bridge import ExitTriggerBridge
        from simulator.fcm import FcmDesk
        from simulator.liquidation import Liquidator
        from simulator.order_group_bridge import OrderGroupBridge
        from simulator.pricing import Pricing

        self.executions = Executions(self)
        self.pricing = Pricing(self)
        self.liquidator = Liquidator(self)
        self.groups = OrderGroupBridge(self)
        self.exit_triggers = ExitTriggerBridge(self)
        self.corporate_actions = CorporateActions(self)
        self.fcm = FcmDesk(self)
        now = clock.now_ms()
        for index, spec in enumerate(specs):
            self._add_market(spec, index, now)
        if self.config.maintenance_window:
            from simulator.maintenance import MaintenanceWindow, arm_maintenance

            arm_maintenance(self, MaintenanceWindow())

    # ------------------------------------------------------------------ setup

    def _add_market(self, spec: MarketSpec, index: int, now: int) -> None:
        reference = dict(spec.reference)
        if reference.get("kind") == "random_walk" and "seed" not in reference:
            reference["seed"] = self.ids.seed * 1_000 + index
        settings = FundingSettings(
            deadband=spec.funding.deadband,
            cap=spec.funding.cap,
            limit_unit=spec.funding.limit_unit,  # type: ignore[arg-type]
            invalid_premium_handling=spec.funding.invalid_premium_handling,  # type: ignore[arg-type]
            weighting=spec.funding.weighting,  # type: ignore[arg-type]
            impact_notional=spec.funding.impact_notional,
            schedule=spec.funding.schedule,
        )
        schedule = FundingSchedule.from_name(spec.funding.schedule)
        market = Market(spec, spec.initial_status, 1, list(spec.initial_halt_sources))
        data = MarketData(
            market=market,
            ticker=spec.ticker,
            book=OrderBook(),
            feed=feed_from_config(reference),
            funding_settings=settings,
            schedule=schedule,
            premium=PremiumAccumulator(),
            settlement=SettlementMark(
                window_ms=self.config.settlement_window_ms,
                refresh_ms=self.config.settlement_refresh_ms,
            ),
            funding_start_ms=schedule.last_at_or_before(now),
        )
        self.markets[spec.ticker] = data
        self.trades[spec.ticker] = []
        self._holders[spec.ticker] = {}
        self.pricing.start(data, now)

    # ------------------------------------------------------------------- time

    def now(self) -> int:
        held = self._held
        return self.clock.now_ms() if held is None else held

    @command("advance")
    def advance(self, ms: int) -> int:
        """Move a manual clock forward by `ms`, firing every due timer in order."""
        if not isinstance(self.clock, ManualClock):
            raise errors.InvalidParametersError("the clock is not manual; it cannot be advanced")
        if ms < 0:
            raise errors.InvalidParametersError(f"ms must not be negative, was {ms}")
        target = self.clock.now_ms() + ms
        while (item := self.timers.pop_due(target)) is not None:
            due, callback = item
            self.timers_fired += 1
            self.clock.set(max(due, self.clock.now_ms()))
            callback(due)
            self.followups()
        self.clock.set(target)
        return target

    @command("run_due", idle_ok=True)
    def run_due(self) -> None:
        """Fire every timer due by the current time (wall and accelerated modes).

        A late timer (the driver slept past it, or a command came first) still fires at its
        own instant, as `advance` does: `now()` reads its due time while it runs.
        """
        now = self.now()
        outer = self._held
        try:
            while (item := self.timers.pop_due(now)) is not None:
                due, callback = item
                self.timers_fired += 1
                self._held = due
                callback(due)
                self.followups()
        finally:
            self._held = outer

    def next_timer(self) -> int | None:
        return self.timers.next_due()

    # ----------------------------------------------------------------- events

    def emit(self, event: Event) -> int:
        return self.journal.append(event)

    def events_since(self, after: int = 0, limit: int | None = None) -> list[tuple[int, Event]]:
        return self.journal.since(after, limit)

    # ----------------------------------------------------------------- orders

    @command("place_order")
    def place_order(self, user_id: str, command: PlaceOrder) -> OrderResult:
        """Validate (MECHANICS 3.4-3.6, in the documented order), then match."""
        self.run_due()
        check_kinds(command)
        user = self.user(user_id)
        sub = self.subaccount(user_id, command.subaccount)
        data = tradable_market(self, command.ticker, command.market_version)
        spec = data.market.spec
        check_price(data, command.side, command.price)
        check_count(spec, command.count)
        tif = command.time_in_force
        if command.reduce_only and tif is _GTC:
            raise errors.InvalidOrderError(
                details="reduce_only can only be used with IoC or FoK orders"
            )
        if command.post_only and tif is not _GTC:
            raise errors.InvalidOrderError(details="post_only requires good_till_canceled")
        expiration = command.expiration_ms
        now = self.now()
        if expiration is not None and expiration <= now:
            raise errors.InvalidOrderError(details="expiration_time must be in the future")
        if not command.client_order_id:
            raise errors.InvalidOrderError(details="client_order_id is required")
        if (user_id, command.client_order_id) in self.live_client_ids:
            raise errors.OrderAlreadyExistsError()
        if command.order_group_id is not None:
            self.groups.check_can_place(user_id, command.subaccount, command.order_group_id)
        pos = sub.position(command.ticker)
        max_fill: int | None = None
        if command.reduce_only:
            closing = pos.qty < 0 if command.side is _BID else pos.qty > 0
            max_fill = abs(pos.qty) if closing else 0
        else:
            check_notional_limit(self, user, command.ticker, command.side, command)
            check_margin(self, user_id, command.subaccount, command.ticker, command)
        record = OrderRecord(
            order_id=self.ids.uuid(),
            user_id=user_id,
            subaccount=command.subaccount,
            ticker=command.ticker,
            client_order_id=command.client_order_id,
            side=command.side,
            price=command.price,
            count=command.count,
            time_in_force=tif,
            post_only=command.post_only,
            reduce_only=command.reduce_only,
            self_trade_prevention=command.self_trade_prevention,
            expiration_ms=expiration if tif is _GTC else None,
            created_ms=now,
            cancel_order_on_pause=command.cancel_order_on_pause,
            order_group_id=command.order_group_id,
            order_source="user",
            order_reason=None,
            last_update_ms=now,
        )
        return self._submit(record, data, max_fill)

    def place_system_order(
        self,
        user_id: str,
        subaccount: int,
        ticker: str,
        side: Side,
        count: int,
        reason: str,
        trigger_id: str | None = None,
    ) -> OrderResult | None:
        """Submit a reduce-only IOC at the slippage cap (liquidation, take-profit/stop-loss).

        Returns None when the market has no price at all to cap the order at.
        """
        data = self.markets[ticker]
        if data.market.status != "active" or not self.trading_active:
            raise errors.TradingPausedError()
        price = slippage_cap(data, side)
        if price is None:
            return None
        sub = self.subaccount(user_id, subaccount)
        pos = sub.position(ticker)
        closing = pos.qty < 0 if side is _BID else pos.qty > 0
        now = self.now()
        record = OrderRecord(
            order_id=self.ids.uuid(),
            user_id=user_id,
            subaccount=subaccount,
            ticker=ticker,
            client_order_id=self.ids.uuid(),
            side=side,
            price=price,
            count=count,
            time_in_force=TimeInForce.IMMEDIATE_OR_CANCEL,
            post_only=False,
            reduce_only=True,
            self_trade_prevention=SelfTradePrevention.TAKER_AT_CROSS,
            expiration_ms=None,
            created_ms=now,
            cancel_order_on_pause=False,
            order_group_id=None,
            order_source="system",
            order_reason=reason,
            last_update_ms=now,
            trigger_id=trigger_id,
        )
        return self._submit(record, data, abs(pos.qty) if closing else 0)

    def _submit(self, record: OrderRecord, data: MarketData, max_fill: int | None) -> OrderResult:
        self.orders[record.order_id] = record
        record.remaining = record.count
        if record.order_group_id is not None:
            self.groups.add_order(record.order_group_id, record.order_id)
        created = record.snapshot()
        self.emit(OrderUpdated(record.created_ms, created, True))
        record.remaining = 0
        events = data.book.place(
            record.order_id,
            record.user_id,
            record.side,
            record.price,
            record.count,
            record.time_in_force,
            post_only=record.post_only,
            stp=record.self_trade_prevention,
            expires_at=record.expiration_ms,
            max_fill=max_fill,
        )
        self.apply_book_events(data, events)
        if record.remaining > 0:
            self.live_client_ids[(record.user_id, record.client_order_id)] = record.order_id
            if record.expiration_ms is not None:
                self.pricing.arm_expiry(data)
        self.followups()
        resting_as_created = (
            record.fill_count == 0
            and record.remaining == record.count
            and record.last_update_reason is _NONE
            and not record.fresh
        )
        if resting_as_created:
            return OrderResult(created, 0, 0, 0)
        return _result(record, (0, 0, 0))

    @command("amend_order")
    def amend_order(self, user_id: str, order_id: str, command: AmendOrder) -> OrderResult:
        """Amend price, total count and/or expiry (count includes what already filled)."""
        self.run_due()
        record = self._own_live_order(user_id, order_id, command.subaccount)
        if command.ticker != record.ticker or command.side is not record.side:
            raise errors.InvalidOrderError(details="ticker and side must match the order")
        if type(command.price) is not int or type(command.count) is not int:
            raise errors.InvalidOrderError(details="price and count must be integers")
        if (
            command.client_order_id is not None
            and command.client_order_id != record.client_order_id
        ):
            raise errors.InvalidOrderError(details="client_order_id does not match the order")
        data = tradable_market(self, record.ticker)
        spec = data.market.spec
        check_price(data, record.side, command.price)
        check_count(spec, command.count)
        if command.count <= record.fill_count:
            raise errors.InvalidOrderError(details="count must exceed the filled count")
        now = self.now()
        expiration: int | Any | None = record.expiration_ms
        if command.expiration_ms is not None:
            if command.expiration_ms == 0:
                expiration = None
            elif command.expiration_ms <= now:
                raise errors.InvalidOrderError(details="expiration_time must be in the future")
            else:
                expiration = command.expiration_ms
        new_client = command.updated_client_order_id
        if (
            new_client
            and new_client != record.client_order_id
            and (user_id, new_client) in self.live_client_ids
        ):
            raise errors.OrderAlreadyExistsError()
        user = self.users[user_id]
        grows = (
            command.count - record.fill_count > record.remaining or command.price != record.price
        )
        if grows:
            check_notional_limit(self, user, record.ticker, record.side, command, record)
            check_margin(self, user_id, record.subaccount, record.ticker, command, record)
        if new_client and new_client != record.client_order_id:
            del self.live_client_ids[(user_id, record.client_order_id)]
            record.client_order_id = new_client
            self.live_client_ids[(user_id, new_client)] = record.order_id
        old_remaining, old_price = record.remaining, record.price
        try:
            events = data.book.amend(
                order_id, price=command.price, count=command.count, expires_at=expiration
            )
        except MatchingError as exc:
            raise errors.InvalidOrderError(details=str(exc)) from exc
        pos = self.users[user_id].subaccounts[record.subaccount].position(record.ticker)
        _unrest(pos, record, old_remaining, old_price)
        record.price = command.price
        record.count = command.count
        record.expiration_ms = expiration
        before = (record.fill_count, record.fill_value, record.fees)
        self.apply_book_events(data, events)
        if expiration is not None:
            self.pricing.arm_expiry(data)
        self.followups()
        return _result(record, before)

    @command("decrease_order")
    def decrease_order(
        self,
        user_id: str,
        order_id: str,
        *,
        reduce_by: int | None = None,
        reduce_to: int | None = None,
        subaccount: int = 0,
    ) -> OrderRecord:
        """Shrink a resting order, keeping its place in the queue."""
        self.run_due()
        record = self._own_live_order(user_id, order_id, subaccount)
        if (reduce_by is None) == (reduce_to is None):
            raise errors.InvalidOrderError(details="give exactly one of reduce_by or reduce_to")
        step = self.markets[record.ticker].market.spec.count_step
        amount = reduce_by if reduce_by is not None else reduce_to
        if type(amount) is not int:
            raise errors.InvalidOrderError(details=f"count must be an integer, was {amount!r}")
        if amount % step:
            raise errors.InvalidOrderError(details="count must be a whole number of contracts")
        if reduce_by is not None and reduce_by <= 0:
            raise errors.InvalidOrderError(details=f"reduce_by must be positive, was {reduce_by}")
        if reduce_to is not None and reduce_to < 0:
            raise errors.InvalidOrderError(details=f"reduce_to must be >= 0, was {reduce_to}")
        data = self.markets[record.ticker]
        try:
            events = data.book.decrease(order_id, reduce_by=reduce_by, reduce_to=reduce_to)
        except MatchingError as exc:
            raise errors.InvalidOrderError(details=str(exc)) from exc
        self.apply_book_events(data, events)
        self.followups()
        return record

    @command("cancel_order")
    def cancel_order(
        self, user_id: str, order_id: str, subaccount: int = 0
    ) -> tuple[OrderRecord, int]:
        """Cancel a resting order; returns it and the count removed (`reduced_by`).

        Assumption: a user cancel reports `last_update_reason` Decrease, matching the cancel
        response's `reduced_by` (Kalshi has no dedicated reason for it).
        """
        self.run_due()
        record = self._own_live_order(user_id, order_id, subaccount)
        reduced = record.remaining
        self.cancel_orders([record], Reason.DECREASE)
        self.followups()
        return record, reduced

    @command("cancel_all")
    def cancel_all(
        self, user_id: str, subaccount: int | None = None, ticker: str | None = None
    ) -> list[str]:
        """Cancel up to `max_cancel_all` resting orders of a user; returns their ids."""
        self.run_due()
        self.user(user_id)
        if ticker is not None and ticker not in self.markets:
            raise errors.MarketNotFoundError(details=ticker)
        chosen = [
            r
            for r in self.live_orders(user_id)
            if (subaccount is None or r.subaccount == subaccount)
            and (ticker is None or r.ticker == ticker)
        ][: self.config.max_cancel_all]
        self.cancel_orders(chosen, Reason.DECREASE)
        self.followups()
        return [r.order_id for r in chosen]

    def cancel_orders(self, records: Iterable[OrderRecord], reason: Reason) -> None:
        """Cancel live orders with a reason (user, margin, pause, group or expiry)."""
        for record in list(records):
            if record.remaining <= 0:
                continue
            data = self.markets[record.ticker]
            self.apply_book_events(data, data.book.cancel(record.order_id, reason))

    def live_orders(self, user_id: str) -> list[OrderRecord]:
        """A user's resting orders in creation order."""
        return [
            self.orders[oid] for (uid, _), oid in self.live_client_ids.items() if uid == user_id
        ]

    def order(self, user_id: str, order_id: str) -> OrderRecord:
        record = self.orders.get(order_id)
        if record is None or record.user_id != user_id:
            raise errors.OrderNotFoundError(details=order_id)
        return record

    def market_by_id(self, market_id: str) -> MarketData | None:
        """The market with this stable id (`MarketIndex`), or None."""
        return self.market_index.get(market_id)

    def _own_live_order(self, user_id: str, order_id: str, subaccount: int) -> OrderRecord:
        record = self.order(user_id, order_id)
        if record.subaccount != subaccount:
            raise errors.OrderNotFoundError(details=order_id)
        if record.remaining <= 0:
            raise errors.OrderNotFoundError(details=f"{order_id} is not resting")
        return record

    # ------------------------------------------------------------ book events

    def apply_book_events(self, data: MarketData, events: list[BookEvent]) -> None:
        """Apply what a book command did to orders, positions and cash, and publish it."""
        self.executions.apply(data, events)

    def holders(self, ticker: str) -> list[AccountKey]:
        """Subaccounts with a nonzero position in a market, in the order they opened."""
        return list(self._holders[ticker])

    def book_dirty(self, ticker: str) -> None:
        """Mark a market's book changed: it is resampled after this command."""
        self._book_dirty[ticker] = None

    # -------------------------------------------------------------- follow-ups

    def followups(self) -> None:
        if self._in_followups:
            return
        self._in_followups = True
        try:
            for _ in range(10_000):
                if self._book_dirty:
                    dirty = list(self._book_dirty)
                    self._book_dirty.clear()
                    for ticker in dirty:
                        self.pricing.book_changed(self.markets[ticker])
                    continue
                if self.groups.pending():
                    self.groups.run_pending()
                    continue
                if self._touched:
                    touched = list(self._touched)
                    self._touched.clear()
                    for key in touched:
                        self.exit_triggers.positions_changed(key)
                        self.liquidator.schedule(key)
                    continue
                if self.exit_triggers.pending():
                    self.exit_triggers.run_pending()
                    continue
                break
        finally:
            self._in_followups = False

    def touch(self, key: AccountKey) -> None:
        """Mark a subaccount for a margin check and trigger update after this command."""
        self._touched[key] = None

    # --------------------------------------------------------------- control

    @command("set_reference_price")
    def set_reference_price(self, ticker: str, price: int) -> None:
        """Set the index of a market now (control plane)."""
        data = self.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        if type(price) is not int or price <= 0:
            raise errors.InvalidParametersError(f"price must be positive, was {price}")
        self.run_due()
        data.feed.set_price(self.now(), price)
        self.pricing.sample_now(data)
        self.followups()

    @command("set_market_status")
    def set_market_status(
        self, ticker: str, status: MarketStatus, halt_sources: list[str] | None = None
    ) -> None:
        """Open, pause (inactive) or close a market; pausing cancels `cancel_order_on_pause`."""
        data = self.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        if status not in ("inactive", "active", "closed"):
            raise errors.InvalidParametersError(f"unknown market status {status!r}")
        self.run_due()
        market = data.market
        market.status = status
        market.halt_sources = list(halt_sources or ([] if status == "active" else ["manual"]))
        if status != "active":
            victims = [
                self.orders[oid]
                for oid in list(self.live_client_ids.values())
                if self.orders[oid].ticker == ticker
                and (status == "closed" or self.orders[oid].cancel_order_on_pause)
            ]
            self.cancel_orders(victims, Reason.NONE)
        self.emit(
            MarketChanged(
                self.now(),
                ticker,
                status,
                market.market_version,
                tuple(market.halt_sources),
                "status",
            )
        )
        self.followups()

    @command("set_trading_active")
    def set_trading_active(self, active: bool, reason: str = "manual") -> None:
        """Pause or resume trading on every market (cancels `cancel_order_on_pause` orders)."""
        self.run_due()
        self._set_status(self.exchange_active, active, reason)
        self.followups()

    @command("set_exchange_active")
    def set_exchange_active(self, active: bool, reason: str = "maintenance") -> None:
        """Close or reopen the exchange (MECHANICS 1.4 maintenance).

        While closed: no new or amended orders, marks are frozen, liquidation is paused and
        funding that falls due is paid when the exchange reopens.
        """
        self.run_due()
        self._set_status(active, active, reason)
        if active:
            self.pricing.resume()
        self.followups()

    def _set_status(self, exchange_active: bool, trading_active: bool, reason: str) -> None:
        pausing = self.trading_active and not trading_active
        resuming = trading_active and not self.trading_active
        self.exchange_active = exchange_active
        self.trading_active = trading_active
        if resuming:  # margin and triggers waited while paused: evaluate them again
            for ticker, data in self.markets.items():
                for key in self._holders[ticker]:
                    self.liquidator.schedule(key)
                self.exit_triggers.mark_moved(data)
        if pausing:
            victims = [
                self.orders[oid]
                for oid in list(self.live_client_ids.values())
                if self.orders[oid].cancel_order_on_pause
            ]
            self.cancel_orders(victims, Reason.NONE)
        self.emit(ExchangeChanged(self.now(), exchange_active, trading_active, reason))

    @command("rename_market")
    def rename_market(self, old: str, new: str) -> None:
        """Rename a market everywhere it is keyed by ticker, keeping positions and orders.

        Records of the market (orders, fills, trades, funding history) are rewritten to the
        new ticker so queries keep their history; events already published keep the old one.
        """
        data = self.market_data(old)
        if new in self.markets:
            raise errors.InvalidParametersError(f"market {new} already exists")
        data.market.spec = dataclasses.replace(data.market.spec, ticker=new)
        data.ticker = new
        _rename_key(self.markets, old, new)
        _rename_key(self.trades, old, new)
        self.trades[new][:] = [msgspec.structs.replace(t, ticker=new) for t in self.trades[new]]
        self.fills[:] = [
            msgspec.structs.replace(f, ticker=new) if f.ticker == old else f for f in self.fills
        ]
        data.funding_history[:] = [dataclasses.replace(r, ticker=new) for r in data.funding_history]
        for record in self.orders.values():
            if record.ticker == old:
                record.ticker = new
        for user in self.users.values():
            _rename_key(user.notional_limit_overrides, old, new)
            for sub in user.subaccounts.values():
                _rename_key(sub.positions, old, new)
        _rename_key(self._holders, old, new)
        _rename_key(self._book_dirty, old, new)
        self.pricing.rename_market(old, new)
        self.liquidator.rename_market(old, new)
        self.exit_triggers.rename_market(old, new)
        for key in self.timers.armed():
            if isinstance(key, tuple) and len(key) == 2 and key[1] == old:
                self.timers.rekey(key, (key[0], new))

    def money_supply(self) -> int:
        """House cash (fees, funding residue) plus every account's cash minus its open cost.

        Equals everything deposited: positions net to zero, so this is total equity at any
        mark. Predictions balances count too.
        """
        total = self.house_cash
        for user in self.users.values():
            total += user.event_contract_cash
            for sub in user.subaccounts.values():
                total += sub.cash - sum(p.cost for p in sub.positions.values())
        return total


def _result(record: OrderRecord, before: tuple[int, int, int]) -> OrderResult:
    # the order now, and what the command filled: before = (fill_count, fill_value, fees)
    return OrderResult(
        record.snapshot(),
        record.fill_count - before[0],
        record.fill_value - before[1],
        record.fees - before[2],
    )


def _rename_key(mapping: dict[str, Any], old: str, new: str) -> None:
    # rename a key in place, keeping the mapping's order
    if old not in mapping:
        return
    items = [(new if k == old else k, v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


def _unrest(pos: Any, record: OrderRecord, remaining: int, price: int) -> None:
    # take an order's resting size out of its position's exposure (before it is re-placed)
    if record.side is _BID:
        pos.bid_qty -= remaining
        pos.bid_value -= remaining * price
    else:
        pos.ask_qty -= remaining
        pos.ask_value -= remaining * price
    record.remaining = 0
