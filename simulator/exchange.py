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
from simulator.core import errors
from simulator.core.bus import EventBus
from simulator.core.clock import Clock, ManualClock, Timers
from simulator.core.command_log import CommandLog
from simulator.core.commands import CommandBoundary, command
from simulator.core.config import ExchangeConfig
from simulator.core.events import (
    Event,
    ExchangeChanged,
    FillRecord,
    Journal,
    MarketChanged,
    OrderUpdated,
    TradeRecord,
)
from simulator.core.ids import IdSource
from simulator.lifecycle.corporate_actions import CorporateActionPorts, CorporateActions
from simulator.model.candles import QuoteHistory
from simulator.model.feeds import StaticFeed, feed_from_config
from simulator.model.funding import FundingSettings, PremiumAccumulator
from simulator.model.funding_schedule import FundingSchedule
from simulator.model.history import History
from simulator.model.ledger import User
from simulator.model.market_data import MarketData
from simulator.model.markets import Market, MarketSpec, MarketStatus
from simulator.model.marks import SettlementMark
from simulator.model.orders import AmendOrder, OrderRecord, OrderResult, PlaceOrder, order_result
from simulator.ports import Wiring
from simulator.pricing.desk import Pricing
from simulator.risk.accounts import AccountCommands
from simulator.risk.fcm import FcmDesk
from simulator.risk.indexes import FillIndex, MarketIndex, OrderIndex
from simulator.risk.keys import KeyRegistry
from simulator.risk.liquidation import Liquidator
from simulator.risk.retention import Retention
from simulator.state import AccountKey, Effects, ExchangeState
from simulator.trading.executions import Executions
from simulator.trading.exit_trigger_bridge import ExitTriggerBridge
from simulator.trading.order_checks import (
    check_count,
    check_kinds,
    check_price,
    check_risk,
    slippage_cap,
    tradable_market,
)
from simulator.trading.order_group_bridge import OrderGroupBridge

__all__ = ["Exchange"]

_GTC = TimeInForce.GOOD_TILL_CANCELED
_BID = Side.BID
_NONE = Reason.NONE
# Kalshi documents client ids as `^[-\w:+=/]*$`; control characters (a SOH would break the FIX
# frame of every report of the order) and other unprintable ones are refused
_UNPRINTABLE_CLIENT_ID = "client_order_id must not contain control or unprintable characters"


class Exchange(AccountCommands):
    """Accounts, markets, order entry and the timers that move prices and funding."""

    def __init__(
        self,
        specs: Iterable[MarketSpec],
        *,
        clock: Clock,
        seed: int = 0,
        config: ExchangeConfig | None = None,
        bus: EventBus | None = None,
    ) -> None:
        chosen = config or ExchangeConfig()
        self.created_ms = clock.now_ms()
        self.state = ExchangeState(chosen, IdSource(seed))
        self.effects = Effects(clock, Journal(chosen.journal_retain))
        self.bus = bus or EventBus()
        self.command_log = CommandLog()
        self._boundary: CommandBoundary = CommandBoundary(self, self.command_log)
        self.timers_fired = 0
        self._settling = False
        state, effects, boundary = self.state, self.effects, self._boundary
        # read models every transport lists and authenticates from
        self.order_index = OrderIndex(state)
        self.fill_index = FillIndex(state)
        self.market_index = MarketIndex(state)
        self.key_registry = KeyRegistry(state)
        wiring = Wiring(state, effects, boundary, accounts=self, entry=self)
        self.groups = OrderGroupBridge(wiring)
        self.exit_triggers = ExitTriggerBridge(wiring)
        self.executions = Executions(state, effects, self.groups, self.exit_triggers)
        self.liquidator = Liquidator(state, effects, self, self, self.exit_triggers)
        self.pricing = Pricing(state, effects, self, (self.liquidator, self.exit_triggers))
        self.corporate_actions = CorporateActions(
            wiring,
            CorporateActionPorts(
                holders=self.executions,
                pricing=self.pricing,
                triggers=self.exit_triggers,
                renamer=self,
                markets=self.market_index,
            ),
        )
        self.fcm = FcmDesk(wiring)
        now = clock.now_ms()
        self.retention = Retention(state, self.order_index, self.fill_index, self.pricing, now)
        for index, spec in enumerate(specs):
            self._add_market(spec, index, now)
        if self.config.maintenance_window:
            from simulator.lifecycle.maintenance import MaintenanceWindow, arm_maintenance

            arm_maintenance(self, MaintenanceWindow())

    # ------------------------------------------------------------- snapshots

    def __getstate__(self) -> dict[str, Any]:
        # the event bus and its subscribers are the runtime's, re-attached after a restore
        # (`simulator.server.state_pickle`); the clock is dropped by `Effects`
        state = self.__dict__.copy()
        del state["bus"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.bus = EventBus()

    # ---------------------------------------------------------------- tables

    @property
    def clock(self) -> Clock:
        return self.effects.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self.effects.clock = clock

    @property
    def journal(self) -> Journal:
        return self.effects.journal

    @property
    def config(self) -> ExchangeConfig:
        return self.state.config

    @property
    def ids(self) -> IdSource:
        return self.state.ids

    @property
    def timers(self) -> Timers:
        return self.state.timers

    @property
    def users(self) -> dict[str, User]:
        return self.state.users

    @property
    def keys(self) -> dict[str, str]:
        return self.state.keys

    @property
    def orders(self) -> dict[str, OrderRecord]:
        return self.state.orders

    @property
    def live_client_ids(self) -> dict[tuple[str, str], str]:
        return self.state.live_client_ids

    @property
    def fills(self) -> list[FillRecord]:
        return self.state.fills

    @property
    def trades(self) -> dict[str, History[TradeRecord]]:
        return self.state.trades

    @property
    def markets(self) -> dict[str, MarketData]:
        return self.state.markets

    @property
    def exchange_active(self) -> bool:
        return self.state.exchange_active

    @property
    def trading_active(self) -> bool:
        return self.state.trading_active

    @property
    def house_cash(self) -> int:
        return self.state.house_cash

    @property
    def waterfall_deficit(self) -> int:
        return self.state.waterfall_deficit

    # ------------------------------------------------------------------ setup

    def _add_market(self, spec: MarketSpec, index: int, now: int) -> None:
        reference = dict(spec.reference)
        if reference.get("kind") == "random_walk" and "seed" not in reference:
            reference["seed"] = self.state.ids.seed * 1_000 + index
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
                window_ms=self.state.config.settlement_window_ms,
                refresh_ms=self.state.config.settlement_refresh_ms,
            ),
            funding_start_ms=schedule.last_at_or_before(now),
            quotes=QuoteHistory(self.state.config.retain_candles),
        )
        self.state.markets[spec.ticker] = data
        self.state.trades[spec.ticker] = History()
        self.state.holders[spec.ticker] = {}
        self.pricing.start(data, now)

    # ------------------------------------------------------------------- time

    def now(self) -> int:
        return self.effects.now()

    @command("advance")
    def advance(self, ms: int) -> int:
        """Move a manual clock forward by `ms`, firing every due timer in order."""
        clock = self.clock
        if not isinstance(clock, ManualClock):
            raise errors.InvalidParametersError("the clock is not manual; it cannot be advanced")
        if ms < 0:
            raise errors.InvalidParametersError(f"ms must not be negative, was {ms}")
        target = clock.now_ms() + ms
        # one pass per timer (several per simulated second): names bound once, and the
        # instant held while the timer runs (what the clock then reads) so `now` reads no clock
        pop_due, settle, effects = self.state.timers.pop_due, self.settle, self.effects
        # `settle`'s check for a quiet exchange, inlined: most timers leave nothing to follow
        # up (the follow-up containers are the same objects for the whole advance)
        dirty_books, touched = effects.dirty_books, effects.touched
        groups_pending, triggers_pending = self.groups.pending, self.exit_triggers.pending
        outer = effects.held
        try:
            while (item := pop_due(target)) is not None:
                due, callback = item
                self.timers_fired += 1
                now = clock.now_ms()
                if due > now:
                    clock.set(due)
                    now = due
                effects.held = now
                callback(due)
                if dirty_books or touched or groups_pending() or triggers_pending():
                    settle()
        finally:
            effects.held = outer
        clock.set(target)
        return target

    @command("run_due", idle_ok=True)
    def run_due(self) -> None:
        """Fire every timer due by the current time (wall and accelerated modes)."""
        self.fire_due()

    def fire_due(self) -> None:
        """Fire every timer due by now, each followed by the follow-ups it caused.

        A late timer (the driver slept past it, or a command came first) still fires at its
        own instant, as `advance` does: `now()` reads its due time while it runs. Every
        outermost command starts with this (`simulator.core.commands`).
        """
        now = self.now()
        outer = self.effects.held
        try:
            while (item := self.state.timers.pop_due(now)) is not None:
                due, callback = item
                self.timers_fired += 1
                self.effects.held = due
                callback(due)
                self.settle()
        finally:
            self.effects.held = outer

    def next_timer(self) -> int | None:
        return self.state.timers.next_due()

    # ----------------------------------------------------------------- events

    def emit(self, event: Event) -> int:
        return self.effects.emit(event)

    def events_since(self, after: int = 0, limit: int | None = None) -> list[tuple[int, Event]]:
        return self.journal.since(after, limit)

    # ----------------------------------------------------------------- orders

    @command("place_order", fires_due_nested=True, finish=order_result)
    def place_order(self, user_id: str, command: PlaceOrder) -> str:
        """Validate (MECHANICS 3.4-3.6, in the documented order), then match.

        Returns the order as it stands after the command and what the command filled of it,
        both read from the command's events (`order_result`).
        """
        check_kinds(command)
        state = self.state
        user = state.users.get(user_id)
        if user is None:
            raise errors.UserNotFoundError(details=user_id)
        number = command.subaccount
        sub = user.subaccounts.get(number)
        if sub is None:
            raise errors.SubaccountNotFoundError(details=f"subaccount {number}")
        ticker = command.ticker
        data = tradable_market(self, ticker, command.market_version)
        side = command.side
        check_price(data, side, command.price)
        check_count(data.market.spec, command.count)
        tif = command.time_in_force
        reduce_only = command.reduce_only
        if reduce_only and tif is _GTC:
            raise errors.InvalidOrderError(
                details="reduce_only can only be used with IoC or FoK orders"
            )
        if command.post_only and tif is not _GTC:
            raise errors.InvalidOrderError(details="post_only requires good_till_canceled")
        expiration = command.expiration_ms
        now = self.effects.now()
        if expiration is not None and expiration <= now:
            raise errors.InvalidOrderError(details="expiration_time must be in the future")
        client_order_id = command.client_order_id
        if not client_order_id:
            raise errors.InvalidOrderError(details="client_order_id is required")
        if not client_order_id.isprintable():
            raise errors.InvalidOrderError(details=_UNPRINTABLE_CLIENT_ID)
        if (user_id, client_order_id) in state.live_client_ids:
            raise errors.OrderAlreadyExistsError()
        group_id = command.order_group_id
        if group_id is not None:
            self.groups.check_can_place(user_id, number, group_id)
        max_fill: int | None = None
        if reduce_only:
            qty = sub.position(ticker).qty
            closing = qty < 0 if side is _BID else qty > 0
            max_fill = abs(qty) if closing else 0
        else:
            check_risk(self, user, sub, data, side, command.price, command.count)
        # positional: OrderRecord's field order (one is built for every order)
        record = OrderRecord(
            state.ids.uuid(),
            user_id,
            number,
            ticker,
            client_order_id,
            side,
            command.price,
            command.count,
            tif,
            command.post_only,
            reduce_only,
            command.self_trade_prevention,
            expiration if tif is _GTC else None,
            now,
            command.cancel_order_on_pause,
            group_id,
            "user",
            None,
            0,
            0,
            now,
        )
        self._submit(record, data, max_fill)
        return record.order_id

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

        Returns None when the market has no price at all to cap the order at. Placed from
        follow-ups or from a timer, it settles like a command of its own: its follow-ups run
        before it returns (at once outside follow-ups, else in the running pass).
        """
        data = self.state.markets[ticker]
        if data.market.status != "active" or not self.state.trading_active:
            raise errors.TradingPausedError()
        price = slippage_cap(data, side)
        if price is None:
            return None
        sub = self.subaccount(user_id, subaccount)
        pos = sub.position(ticker)
        closing = pos.qty < 0 if side is _BID else pos.qty > 0
        now = self.now()
        record = OrderRecord(
            order_id=self.state.ids.uuid(),
            user_id=user_id,
            subaccount=subaccount,
            ticker=ticker,
            client_order_id=self.state.ids.uuid(),
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
        before = self.journal.last_seq
        self._submit(record, data, abs(pos.qty) if closing else 0)
        self.settle()
        return order_result(record.order_id, self.journal.events_after(before))

    def _submit(self, record: OrderRecord, data: MarketData, max_fill: int | None) -> None:
        order_id = record.order_id
        state = self.state
        state.orders[order_id] = record
        record.remaining = record.count
        if record.order_group_id is not None:
            self.groups.add_order(record.order_group_id, order_id)
        self.effects.journal.append(OrderUpdated(record.created_ms, record.snapshot(), True))
        record.remaining = 0
        events = data.book.place(
            order_id,
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
        self.executions.apply(data, events)
        if record.remaining > 0:
            state.live_client_ids[(record.user_id, record.client_order_id)] = order_id
            if record.expiration_ms is not None:
                self.pricing.arm_expiry(data)

    @command("amend_order", fires_due_nested=True, finish=order_result)
    def amend_order(self, user_id: str, order_id: str, command: AmendOrder) -> str:
        """Amend price, total count and/or expiry (count includes what already filled).

        Returns the order after the command and what the command filled of it
        (`order_result`).
        """
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
        expiration: int | None = record.expiration_ms
        if command.expiration_ms is not None:
            if command.expiration_ms == 0:
                expiration = None
            elif command.expiration_ms <= now:
                raise errors.InvalidOrderError(details="expiration_time must be in the future")
            else:
                expiration = command.expiration_ms
        new_client = command.updated_client_order_id
        if new_client and not new_client.isprintable():
            raise errors.InvalidOrderError(details=_UNPRINTABLE_CLIENT_ID)
        if (
            new_client
            and new_client != record.client_order_id
            and (user_id, new_client) in self.state.live_client_ids
        ):
            raise errors.OrderAlreadyExistsError()
        self._amend_checked(
            user_id, record, data, command.price, command.count, expiration, new_client
        )
        return order_id

    def requote(
        self, user_id: str, order_id: str, ticker: str, side: Side, price: int, count: int
    ) -> None:
        """Amend a subaccount-0 order's price and total count from inside a running command.

        What a house bot calls for each re-quote: exactly `amend_order` with only these
        fields (the same due timers fired first, checks, rejects, effects, events and
        follow-ups), without building the order result, which the caller reads from the
        order record instead. Called outside a command, it is `amend_order`.

        Raises:
            RejectError: As `amend_order` would, and with nothing changed.
        """
        if not self._boundary.depth:
            self.amend_order(user_id, order_id, AmendOrder(ticker, side, price, count))
            return
        effects = self.effects
        held = effects.held  # `effects.now()`, inlined
        if self.state.timers.any_due(effects.clock.now_ms() if held is None else held):
            self.fire_due()
        record = self.state.orders.get(order_id)  # `_own_live_order`, inlined
        if record is None or record.user_id != user_id or record.subaccount != 0:
            raise errors.OrderNotFoundError(details=order_id)
        if record.remaining <= 0:
            raise errors.OrderNotFoundError(details=f"{order_id} is not resting")
        if ticker != record.ticker or side is not record.side:
            raise errors.InvalidOrderError(details="ticker and side must match the order")
        if type(price) is not int or type(count) is not int:
            raise errors.InvalidOrderError(details="price and count must be integers")
        data = tradable_market(self, ticker)
        check_price(data, side, price)
        check_count(data.market.spec, count)
        if count <= record.fill_count:
            raise errors.InvalidOrderError(details="count must exceed the filled count")
        self._amend_checked(user_id, record, data, price, count, record.expiration_ms, None)
        self.settle()

    def _amend_checked(
        self,
        user_id: str,
        record: OrderRecord,
        data: MarketData,
        price: int,
        count: int,
        expiration: int | None,
        new_client: str | None,
    ) -> None:
        # the rest of an amend whose fields passed their checks: the risk check, then the book
        user = self.state.users[user_id]
        # An amend that adds neither resting count nor resting value to its side cannot fail
        # the risk check: the notional usage does not grow, nor does the side's worst-case
        # notional (`_side_notional` grows with both), nor, on a curve whose IM never falls as
        # notional grows, its IM. Such amends (a bid lowered, an ask shrunk; half the house
        # maker's re-quotes) skip it.
        remaining = count - record.fill_count
        if (
            remaining > record.remaining
            or remaining * price > record.remaining * record.price
            or not data.market.spec.curve(record.side is Side.BID).non_decreasing()
        ):
            sub = user.subaccounts[record.subaccount]
            check_risk(self, user, sub, data, record.side, price, count, record)
        previous_client = None
        if new_client and new_client != record.client_order_id:
            previous_client = record.client_order_id
            del self.state.live_client_ids[(user_id, record.client_order_id)]
            record.client_order_id = new_client
            self.state.live_client_ids[(user_id, new_client)] = record.order_id
        old_remaining, old_price = record.remaining, record.price
        try:
            events = data.book.amend(
                record.order_id, price=price, count=count, expires_at=expiration
            )
        except MatchingError as exc:
            raise errors.InvalidOrderError(details=str(exc)) from exc
        pos = user.subaccounts[record.subaccount].position(record.ticker)
        _unrest(pos, record, old_remaining, old_price)
        record.price = price
        record.count = count
        record.expiration_ms = expiration
        self.executions.apply(data, events, previous_client)
        if expiration is not None:
            self.pricing.arm_expiry(data)

    @command("decrease_order", fires_due_nested=True)
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
        record = self._own_live_order(user_id, order_id, subaccount)
        if (reduce_by is None) == (reduce_to is None):
            raise errors.InvalidOrderError(details="give exactly one of reduce_by or reduce_to")
        data = self.state.markets[record.ticker]
        step = data.market.spec.count_step
        amount = reduce_by if reduce_by is not None else reduce_to
        if type(amount) is not int:
            raise errors.InvalidOrderError(details=f"count must be an integer, was {amount!r}")
        if amount % step:
            raise errors.InvalidOrderError(details="count must be a whole number of contracts")
        if reduce_by is not None and reduce_by <= 0:
            raise errors.InvalidOrderError(details=f"reduce_by must be positive, was {reduce_by}")
        if reduce_to is not None and reduce_to < 0:
            raise errors.InvalidOrderError(details=f"reduce_to must be >= 0, was {reduce_to}")
        try:
            events = data.book.decrease(order_id, reduce_by=reduce_by, reduce_to=reduce_to)
        except MatchingError as exc:
            raise errors.InvalidOrderError(details=str(exc)) from exc
        self.executions.apply(data, events)
        return record

    @command("cancel_order", fires_due_nested=True)
    def cancel_order(
        self, user_id: str, order_id: str, subaccount: int = 0
    ) -> tuple[OrderRecord, int]:
        """Cancel a resting order; returns it and the count removed (`reduced_by`).

        Assumption: a user cancel reports `last_update_reason` Decrease, matching the cancel
        response's `reduced_by` (Kalshi has no dedicated reason for it).
        """
        record = self._own_live_order(user_id, order_id, subaccount)
        reduced = record.remaining
        data = self.state.markets[record.ticker]
        self.executions.apply(data, data.book.cancel(order_id, Reason.DECREASE))
        return record, reduced

    @command("cancel_all", fires_due_nested=True)
    def cancel_all(
        self, user_id: str, subaccount: int | None = None, ticker: str | None = None
    ) -> list[str]:
        """Cancel up to `max_cancel_all` resting orders of a user; returns their ids."""
        self.user(user_id)
        if ticker is not None and ticker not in self.state.markets:
            raise errors.MarketNotFoundError(details=ticker)
        chosen = [
            r
            for r in self.live_orders(user_id)
            if (subaccount is None or r.subaccount == subaccount)
            and (ticker is None or r.ticker == ticker)
        ][: self.state.config.max_cancel_all]
        self.cancel_orders(chosen, Reason.DECREASE)
        return [r.order_id for r in chosen]

    def cancel_orders(self, records: Iterable[OrderRecord], reason: Reason) -> None:
        """Cancel live orders with a reason (user, margin, pause, group or expiry)."""
        for record in list(records):
            if record.remaining <= 0:
                continue
            data = self.state.markets[record.ticker]
            self.apply_book_events(data, data.book.cancel(record.order_id, reason))

    def live_orders(self, user_id: str) -> list[OrderRecord]:
        """A user's resting orders in creation order."""
        return [
            self.state.orders[oid]
            for (uid, _), oid in self.state.live_client_ids.items()
            if uid == user_id
        ]

    def order(self, user_id: str, order_id: str) -> OrderRecord:
        record = self.state.orders.get(order_id)
        if record is None or record.user_id != user_id:
            raise errors.OrderNotFoundError(details=order_id)
        return record

    def market_by_id(self, market_id: str) -> MarketData | None:
        """The market with this stable id (`MarketIndex`), or None."""
        return self.market_index.get(market_id)

    def _own_live_order(self, user_id: str, order_id: str, subaccount: int) -> OrderRecord:
        record = self.state.orders.get(order_id)  # `order`, then the subaccount must match
        if record is None or record.user_id != user_id or record.subaccount != subaccount:
            raise errors.OrderNotFoundError(details=order_id)
        if record.remaining <= 0:
            raise errors.OrderNotFoundError(details=f"{order_id} is not resting")
        return record

    # ------------------------------------------------------------ book events

    def apply_book_events(
        self,
        data: MarketData,
        events: list[BookEvent],
        *,
        previous_client_order_id: str | None = None,
    ) -> None:
        """Apply what a book command did to orders, positions and cash, and publish it.

        `previous_client_order_id`: an amend replaced the order's client order id; its
        update event carries the old one.
        """
        self.executions.apply(data, events, previous_client_order_id)

    def holders(self, ticker: str) -> list[AccountKey]:
        """Subaccounts with a nonzero position in a market, in the order they opened."""
        return list(self.state.holders[ticker])

    def book_dirty(self, ticker: str) -> None:
        """Mark a market's book changed: it is resampled after this command."""
        self.effects.dirty_books[ticker] = None

    # -------------------------------------------------------------- follow-ups

    def settle(self) -> None:
        """Run follow-ups until the exchange is quiet (a no-op inside a running pass)."""
        if self._settling:
            return
        dirty_books, touched = self.effects.dirty_books, self.effects.touched
        groups, triggers = self.groups, self.exit_triggers
        if not dirty_books and not touched and not groups.pending() and not triggers.pending():
            return  # quiet already: most timers leave nothing to follow up
        self._settling = True
        try:
            if len(dirty_books) == 1 and not touched:
                # the usual pass (one book changed, by an order that touched no position): the
                # first round of the loop below without building its list
                ticker = dirty_books.popitem()[0]
                self.pricing.book_changed(self.state.markets[ticker])
                if (
                    not dirty_books
                    and not touched
                    and not groups.pending()
                    and not triggers.pending()
                ):
                    return
            for _ in range(10_000):
                if dirty_books:
                    dirty = list(dirty_books)
                    dirty_books.clear()
                    markets = self.state.markets
                    for ticker in dirty:
                        self.pricing.book_changed(markets[ticker])
                    continue
                if groups.pending():
                    groups.run_pending()
                    continue
                if touched:
                    keys = list(touched)
                    touched.clear()
                    for key in keys:
                        triggers.positions_changed(key)
                    self.liquidator.schedule_all(keys)
                    continue
                if triggers.pending():
                    triggers.run_pending()
                    continue
                break
        finally:
            self._settling = False

    def touch(self, key: AccountKey) -> None:
        """Mark a subaccount for a margin check and trigger update after this command."""
        self.effects.touched[key] = None

    # --------------------------------------------------------------- control

    @command("set_reference_price", fires_due_nested=True)
    def set_reference_price(self, ticker: str, price: int, pin: bool | None = None) -> None:
        """Set the index of a market now (control plane).

        `pin=True` also holds it there: the market's feed stops moving it (a constant takes its
        place) until `pin=False` resumes the feed from the price set then, or a reset. None
        leaves the pin as it is.
        """
        data = self.state.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        if type(price) is not int or price <= 0:
            raise errors.InvalidParametersError(f"price must be positive, was {price}")
        if pin is not None and type(pin) is not bool:
            raise errors.InvalidParametersError(f"pin must be true, false or null, was {pin!r}")
        now = self.now()
        if pin is True and data.unpinned_feed is None:
            data.unpinned_feed, data.feed = data.feed, StaticFeed(price)
        elif pin is False and data.unpinned_feed is not None:
            data.feed, data.unpinned_feed = data.unpinned_feed, None
        else:
            data.feed.set_price(now, price)
            self.pricing.sample_now(data)
            return
        data.feed.set_price(now, price)
        self.pricing.feed_replaced(data)

    @command("set_market_status", fires_due_nested=True)
    def set_market_status(
        self, ticker: str, status: MarketStatus, halt_sources: list[str] | None = None
    ) -> None:
        """Open, pause (inactive) or close a market; pausing cancels `cancel_order_on_pause`."""
        data = self.state.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        if status not in ("inactive", "active", "closed"):
            raise errors.InvalidParametersError(f"unknown market status {status!r}")
        market = data.market
        market.status = status
        market.halt_sources = list(halt_sources or ([] if status == "active" else ["manual"]))
        if status != "active":
            victims = [
                self.state.orders[oid]
                for oid in list(self.state.live_client_ids.values())
                if self.state.orders[oid].ticker == ticker
                and (status == "closed" or self.state.orders[oid].cancel_order_on_pause)
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

    @command("set_trading_active", fires_due_nested=True)
    def set_trading_active(self, active: bool, reason: str = "manual") -> None:
        """Pause or resume trading on every market (cancels `cancel_order_on_pause` orders)."""
        self._set_status(self.state.exchange_active, active, reason)

    @command("set_exchange_active", fires_due_nested=True)
    def set_exchange_active(self, active: bool, reason: str = "maintenance") -> None:
        """Close or reopen the exchange (MECHANICS 1.4 maintenance).

        While closed: no new or amended orders, marks are frozen, liquidation is paused and
        funding that falls due is paid when the exchange reopens.
        """
        self._set_status(active, active, reason)
        if active:
            self.pricing.resume()

    def _set_status(self, exchange_active: bool, trading_active: bool, reason: str) -> None:
        pausing = self.state.trading_active and not trading_active
        resuming = trading_active and not self.state.trading_active
        self.state.exchange_active = exchange_active
        self.state.trading_active = trading_active
        if resuming:  # margin and triggers waited while paused: evaluate them again
            for ticker, data in self.state.markets.items():
                for key in self.state.holders[ticker]:
                    self.liquidator.schedule(key)
                self.exit_triggers.mark_moved(data)
        if pausing:
            victims = [
                self.state.orders[oid]
                for oid in list(self.state.live_client_ids.values())
                if self.state.orders[oid].cancel_order_on_pause
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
        if new in self.state.markets:
            raise errors.InvalidParametersError(f"market {new} already exists")
        data.market.spec = dataclasses.replace(data.market.spec, ticker=new)
        data.ticker = new
        _rename_key(self.state.markets, old, new)
        _rename_key(self.state.trades, old, new)
        self.state.trades[new][:] = [
            msgspec.structs.replace(t, ticker=new) for t in self.state.trades[new]
        ]
        self.state.fills[:] = [
            msgspec.structs.replace(f, ticker=new) if f.ticker == old else f
            for f in self.state.fills
        ]
        data.funding_history[:] = [dataclasses.replace(r, ticker=new) for r in data.funding_history]
        for record in self.state.orders.values():
            if record.ticker == old:
                record.ticker = new
        for user in self.state.users.values():
            _rename_key(user.notional_limit_overrides, old, new)
            for sub in user.subaccounts.values():
                _rename_key(sub.positions, old, new)
        _rename_key(self.state.holders, old, new)
        _rename_key(self.effects.dirty_books, old, new)
        self.pricing.rename_market(old, new)
        self.liquidator.rename_market(old, new)
        self.exit_triggers.rename_market(old, new)
        for key in self.state.timers.armed():
            if isinstance(key, tuple) and len(key) == 2 and key[1] == old:
                self.state.timers.rekey(key, (key[0], new))

    def money_supply(self) -> int:
        """House cash (fees, funding residue) plus every account's cash minus its open cost.

        Equals everything deposited: positions net to zero, so this is total equity at any
        mark. Predictions balances count too.
        """
        total = self.state.house_cash
        for user in self.state.users.values():
            total += user.event_contract_cash
            for sub in user.subaccounts.values():
                total += sub.cash - sum(p.cost for p in sub.positions.values())
        return total


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
