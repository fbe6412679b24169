"""The exchange: the one command entry point every transport calls.

Commands validate completely before they change anything (a `RejectError` means no change),
then act, publish events to the journal, and run follow-ups (margin checks, liquidations,
order-group triggers, exit triggers) until the exchange is quiet. Time only moves through
`advance` (manual clock) or `run_due` (wall and accelerated clocks), which fire timers in
timestamp order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from matching import Event as BookEvent
from matching import (
    Fill,
    LevelChange,
    MatchingError,
    OrderBook,
    OrderUpdate,
    Reason,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from simulator import errors
from simulator.clock import Clock, ManualClock, Timers
from simulator.config import ExchangeConfig
from simulator.events import (
    BalanceChanged,
    BookDelta,
    Event,
    ExchangeChanged,
    FillExecuted,
    FillRecord,
    Journal,
    MarketChanged,
    OrderUpdated,
    TradeExecuted,
    TradeRecord,
)
from simulator.feeds import feed_from_config
from simulator.funding import FundingSettings, PremiumAccumulator
from simulator.funding_schedule import FundingSchedule
from simulator.ids import IdSource
from simulator.ledger import ApiKey, Subaccount, User
from simulator.market_data import MarketData
from simulator.markets import Market, MarketSpec, MarketStatus
from simulator.marks import SettlementMark
from simulator.money import CENTICENT, RATE_SCALE, ceil_div
from simulator.orders import AmendOrder, OrderRecord, OrderResult, PlaceOrder
from simulator.risk import SubaccountRisk, market_usage, position_risk, worst_im_with

__all__ = ["Exchange"]

_GTC = TimeInForce.GOOD_TILL_CANCELED
_BID = Side.BID
_NONE = Reason.NONE
_MAX_PRICE_TICKS = 10**12
AccountKey = tuple[str, int]


class Exchange:
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
        # Late imports keep module-level cycles out: these collaborators call back into us.
        from simulator.corporate_actions import CorporateActions
        from simulator.exit_trigger_bridge import ExitTriggerBridge
        from simulator.liquidation import Liquidator
        from simulator.order_group_bridge import OrderGroupBridge
        from simulator.pricing import Pricing

        self.pricing = Pricing(self)
        self.liquidator = Liquidator(self)
        self.groups = OrderGroupBridge(self)
        self.exit_triggers = ExitTriggerBridge(self)
        self.corporate_actions = CorporateActions(self)
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
        return self.clock.now_ms()

    def advance(self, ms: int) -> int:
        """Move a manual clock forward by `ms`, firing every due timer in order."""
        if not isinstance(self.clock, ManualClock):
            raise errors.InvalidParametersError("the clock is not manual; it cannot be advanced")
        if ms < 0:
            raise errors.InvalidParametersError(f"ms must not be negative, was {ms}")
        target = self.clock.now_ms() + ms
        while (item := self.timers.pop_due(target)) is not None:
            due, callback = item
            self.clock.set(max(due, self.clock.now_ms()))
            callback(due)
            self.followups()
        self.clock.set(target)
        return target

    def run_due(self) -> None:
        """Fire every timer due by the clock's current time (wall and accelerated modes)."""
        now = self.clock.now_ms()
        while (item := self.timers.pop_due(now)) is not None:
            due, callback = item
            callback(due)
            self.followups()

    def next_timer(self) -> int | None:
        return self.timers.next_due()

    # ----------------------------------------------------------------- events

    def emit(self, event: Event) -> int:
        return self.journal.append(event)

    def events_since(self, after: int = 0, limit: int | None = None) -> list[tuple[int, Event]]:
        return self.journal.since(after, limit)

    # ------------------------------------------------------------ accounts

    def create_user(
        self,
        *,
        user_id: str | None = None,
        api_key_id: str | None = None,
        public_key_pem: str | None = None,
        balance: int = 0,
    ) -> User:
        """Register a user with one API key and an optional opening balance on subaccount 0."""
        user_id = user_id or self.ids.uuid()
        key_id = api_key_id or self.ids.uuid()
        if user_id in self.users:
            raise errors.InvalidParametersError(f"user {user_id} already exists")
        if key_id in self.keys:
            raise errors.InvalidParametersError(f"api key {key_id} already exists")
        if balance < 0:
            raise errors.InvalidParametersError(f"balance must not be negative, was {balance}")
        user = User(user_id)
        user.api_keys.append(ApiKey(key_id, public_key_pem))
        self.users[user_id] = user
        self.keys[key_id] = user_id
        if balance:
            self._credit(user, 0, balance, "deposit")
        return user

    def user(self, user_id: str) -> User:
        found = self.users.get(user_id)
        if found is None:
            raise errors.UserNotFoundError(details=user_id)
        return found

    def user_for_key(self, key_id: str) -> User | None:
        user_id = self.keys.get(key_id)
        return None if user_id is None else self.users[user_id]

    def subaccount(self, user_id: str, number: int) -> Subaccount:
        sub = self.user(user_id).subaccounts.get(number)
        if sub is None:
            raise errors.SubaccountNotFoundError(details=f"subaccount {number}")
        return sub

    def deposit(self, user_id: str, amount: int, subaccount: int = 0) -> int:
        """Credit funds; returns the new cash balance."""
        if amount <= 0:
            raise errors.InvalidParametersError(f"amount must be positive, was {amount}")
        self.subaccount(user_id, subaccount)
        return self._credit(self.users[user_id], subaccount, amount, "deposit")

    def _credit(self, user: User, number: int, amount: int, reason: str) -> int:
        sub = user.subaccounts[number]
        sub.cash += amount
        self.emit(BalanceChanged(self.now(), user.user_id, number, amount, sub.cash, reason))
        self._touched[(user.user_id, number)] = None
        return sub.cash

    def create_subaccount(self, user_id: str) -> int:
        """Open the next numbered subaccount (1-63)."""
        user = self.user(user_id)
        number = len(user.subaccounts)
        if number > self.config.max_subaccount:
            raise errors.LimitExceededError("maximum number of subaccounts reached")
        user.subaccounts[number] = Subaccount(number)
        return number

    def transfer(
        self, user_id: str, from_sub: int, to_sub: int, amount: int, client_transfer_id: str
    ) -> None:
        """Move cash between two subaccounts (idempotent on `client_transfer_id`)."""
        user = self.user(user_id)
        if client_transfer_id in user.used_transfer_ids:
            return
        if amount <= 0:
            raise errors.InvalidParametersError(f"amount must be positive, was {amount}")
        if from_sub == to_sub:
            raise errors.InvalidParametersError("from and to subaccounts must differ")
        self.subaccount(user_id, from_sub)
        self.subaccount(user_id, to_sub)
        if amount > self.withdrawable(user_id, from_sub):
            raise errors.InsufficientBalanceError(details="transfer exceeds withdrawable funds")
        user.used_transfer_ids.add(client_transfer_id)
        self._credit(user, from_sub, -amount, "transfer_out")
        self._credit(user, to_sub, amount, "transfer_in")
        self.followups()

    def withdrawable(self, user_id: str, number: int) -> int:
        """max(0, min(cash, equity) - IM - resting-order margin) (MECHANICS 2.2)."""
        risk = self.subaccount_risk(user_id, number)
        return max(
            0, min(risk.cash, risk.equity) - risk.initial_margin - risk.resting_orders_margin
        )

    # ------------------------------------------------------------------ risk

    def market_data(self, ticker: str) -> MarketData:
        """A market's live state; unknown tickers are `MarketNotFoundError`."""
        data = self.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        return data

    def mark(self, ticker: str) -> int:
        data = self.markets[ticker]
        if data.mark is not None:
            return data.mark
        if data.reference is not None:
            return data.reference[0]
        return data.last_price or 0

    def subaccount_risk(self, user_id: str, number: int) -> SubaccountRisk:
        """Totals of one subaccount at the current marks."""
        sub = self.subaccount(user_id, number)
        value = unrealized = mm = im = worst = total_notional = 0
        for ticker, pos in sub.positions.items():
            if pos.is_empty:
                continue
            mark = self.mark(ticker)
            risk = position_risk(self.markets[ticker].market.spec, pos, mark)
            value += pos.qty * mark
            unrealized += risk.unrealized
            mm += risk.maintenance_margin
            im += risk.initial_margin
            worst += risk.worst_initial_margin
            total_notional += risk.notional
        return SubaccountRisk(
            cash=sub.cash,
            position_value=value,
            unrealized=unrealized,
            equity=sub.cash + unrealized,
            maintenance_margin=mm,
            initial_margin=im,
            resting_orders_margin=worst - im,
            total_notional=total_notional,
        )

    def notional_limit(self, user: User, ticker: str) -> int:
        override = user.notional_limit_overrides.get(ticker)
        if override is not None:
            return override
        spec_limit = self.markets[ticker].market.spec.notional_risk_limit
        return spec_limit if spec_limit is not None else self.config.default_notional_limit

    # ----------------------------------------------------------------- orders

    def place_order(self, user_id: str, command: PlaceOrder) -> OrderResult:
        """Validate (MECHANICS 3.4-3.6, in the documented order), then match."""
        self.run_due()
        user = self.user(user_id)
        sub = self.subaccount(user_id, command.subaccount)
        data = self._tradable_market(command.ticker, command.market_version)
        spec = data.market.spec
        self._check_price(data, command.side, command.price)
        self._check_count(spec, command.count)
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
            self._check_notional_limit(user, command.ticker, command.side, command)
            self._check_margin(user_id, command.subaccount, command.ticker, command)
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
        price = self.slippage_cap(data, side)
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

    def slippage_cap(self, data: MarketData, side: Side) -> int | None:
        """Worst price of a system order: buys <= max(1.2 ask, ask + 1,000 ticks) (9 #26).

        With the opposite side empty the liquidation mark stands in for it.
        """
        spec = data.market.spec
        mark = data.mark
        if side is _BID:
            best = data.book.best_ask()
            if best is None and mark is None:
                return None
            ask = best[0] if best is not None else mark
            assert ask is not None
            cap = max(ask * (100 + spec.price_band_percent) // 100, ask + spec.price_band_ticks)
            return min(cap - cap % spec.tick, _MAX_PRICE_TICKS - spec.tick)
        best = data.book.best_bid()
        if best is None and mark is None:
            return None
        bid = best[0] if best is not None else mark
        assert bid is not None
        floor = min(
            ceil_div(bid * (100 - spec.price_band_percent), 100), bid - spec.price_band_ticks
        )
        floor = ceil_div(max(floor, 1), spec.tick) * spec.tick
        return max(floor, spec.tick)

    def _submit(self, record: OrderRecord, data: MarketData, max_fill: int | None) -> OrderResult:
        self.orders[record.order_id] = record
        record.remaining = record.count
        if record.order_group_id is not None:
            self.groups.add_order(record.order_group_id, record.order_id)
        self.emit(OrderUpdated(self.now(), record.snapshot(), True))
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
        before = (record.fill_count, record.fill_value, record.fees)
        self.apply_book_events(data, events)
        if record.remaining > 0:
            self.live_client_ids[(record.user_id, record.client_order_id)] = record.order_id
            if record.expiration_ms is not None:
                self.pricing.arm_expiry(data)
        self.followups()
        return OrderResult(
            record.snapshot(),
            record.fill_count - before[0],
            record.fill_value - before[1],
            record.fees - before[2],
        )

    def _tradable_market(self, ticker: str, market_version: int = 0) -> MarketData:
        data = self.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        if market_version and market_version != data.market.market_version:
            raise errors.MarketVersionMismatchError(
                details=f"market_version is {data.market.market_version}, was {market_version}"
            )
        status = data.market.status
        if status == "closed":
            raise errors.MarketClosedError()
        if status == "inactive":
            raise errors.MarketInactiveError()
        if not self.trading_active or not self.exchange_active:
            raise errors.TradingPausedError()
        return data

    def _check_price(self, data: MarketData, side: Side, price: int) -> None:
        spec = data.market.spec
        if not 0 < price < _MAX_PRICE_TICKS:
            raise errors.InvalidOrderError(details=f"price must be positive, was {price}")
        if price % spec.tick:
            raise errors.InvalidOrderError(details="price is not a multiple of the tick size")
        pct, ticks = spec.price_band_percent, spec.price_band_ticks
        if side is _BID:
            best_bid = data.book.best_bid()
            if best_bid is not None:
                bid = best_bid[0]
                if price < min(ceil_div(bid * (100 - pct), 100), bid - ticks):
                    raise errors.InvalidPriceError(details="bid is below the price band")
            best_ask = data.book.best_ask()
            if best_ask is not None:
                ask = best_ask[0]
                if price > max(ask * (100 + pct) // 100, ask + ticks):
                    raise errors.InvalidPriceError(details="bid is above the slippage cap")
        else:
            best_ask = data.book.best_ask()
            if best_ask is not None:
                ask = best_ask[0]
                if price > max(ask * (100 + pct) // 100, ask + ticks):
                    raise errors.InvalidPriceError(details="ask is above the price band")
            best_bid = data.book.best_bid()
            if best_bid is not None:
                bid = best_bid[0]
                if price < min(ceil_div(bid * (100 - pct), 100), bid - ticks):
                    raise errors.InvalidPriceError(details="ask is below the slippage cap")

    def _check_count(self, spec: MarketSpec, count: int) -> None:
        if count <= 0:
            raise errors.InvalidOrderError(details=f"count must be positive, was {count}")
        if count % spec.count_step:
            raise errors.InvalidOrderError(details="count must be a whole number of contracts")

    @staticmethod
    def _added_exposure(
        command: PlaceOrder | AmendOrder, replaced: OrderRecord | None
    ) -> tuple[int, int]:
        # (count, value) a new order, or an amend of `replaced`, adds to its side's exposure
        remaining = command.count - (replaced.fill_count if replaced else 0)
        value = remaining * command.price
        if replaced is not None:
            return remaining - replaced.remaining, value - replaced.remaining * replaced.price
        return remaining, value

    def _check_notional_limit(
        self,
        user: User,
        ticker: str,
        side: Side,
        command: PlaceOrder | AmendOrder,
        replaced: OrderRecord | None = None,
    ) -> None:
        sub = user.subaccounts[command.subaccount]
        pos = sub.position(ticker)
        mark = self.mark(ticker)
        _, added_value = self._added_exposure(command, replaced)
        long_side = max(pos.qty, 0) * mark + pos.bid_value
        short_side = max(-pos.qty, 0) * mark + pos.ask_value
        before = max(long_side, short_side)
        if side is _BID:
            long_side += added_value
        else:
            short_side += added_value
        after = max(long_side, short_side)
        if after <= before:
            return
        if after > self.notional_limit(user, ticker):
            raise errors.NotionalRiskLimitError()
        member = user.member_notional_limit
        if member is not None:
            total = after - before
            for other, other_pos in sub.positions.items():
                total += market_usage(other_pos, self.mark(other))
            if total > member:
                raise errors.NotionalRiskLimitError()

    def _check_margin(
        self,
        user_id: str,
        number: int,
        ticker: str,
        command: PlaceOrder | AmendOrder,
        replaced: OrderRecord | None = None,
    ) -> None:
        sub = self.subaccount(user_id, number)
        pos = sub.position(ticker)
        spec = self.markets[ticker].market.spec
        mark = self.mark(ticker)
        base = position_risk(spec, pos, mark)
        added_qty, added_value = self._added_exposure(command, replaced)
        long = command.side is _BID
        after = worst_im_with(spec, pos, mark, base, long, added_qty, added_value)
        increase = after - base.worst_initial_margin
        if increase <= 0:
            return
        risk = self.subaccount_risk(user_id, number)
        if increase > risk.available:
            raise errors.InsufficientBalanceError()
        if self.config.block_queued_risk_increase and risk.at_or_above(self.config.queue_threshold):
            raise errors.InsufficientBalanceError(details="account is in the liquidation queue")

    def amend_order(self, user_id: str, order_id: str, command: AmendOrder) -> OrderResult:
        """Amend price, total count and/or expiry (count includes what already filled)."""
        self.run_due()
        record = self._own_live_order(user_id, order_id, command.subaccount)
        if command.ticker != record.ticker or command.side is not record.side:
            raise errors.InvalidOrderError(details="ticker and side must match the order")
        if (
            command.client_order_id is not None
            and command.client_order_id != record.client_order_id
        ):
            raise errors.InvalidOrderError(details="client_order_id does not match the order")
        data = self._tradable_market(record.ticker)
        spec = data.market.spec
        self._check_price(data, record.side, command.price)
        self._check_count(spec, command.count)
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
            self._check_notional_limit(user, record.ticker, record.side, command, record)
            self._check_margin(user_id, record.subaccount, record.ticker, command, record)
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
        return OrderResult(
            record.snapshot(),
            record.fill_count - before[0],
            record.fill_value - before[1],
            record.fees - before[2],
        )

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
        assert amount is not None
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

    def _own_live_order(self, user_id: str, order_id: str, subaccount: int) -> OrderRecord:
        record = self.order(user_id, order_id)
        if record.subaccount != subaccount:
            raise errors.OrderNotFoundError(details=order_id)
        if record.remaining <= 0:
            raise errors.OrderNotFoundError(details=f"{order_id} is not resting")
        return record

    # ------------------------------------------------------------ book events

    def apply_book_events(self, data: MarketData, events: list[BookEvent]) -> None:
        now = self.now()
        ticker = data.ticker
        for event in events:
            if type(event) is Fill:
                self._apply_fill(data, event, now)
            elif type(event) is OrderUpdate:
                record = self.orders[cast(str, event.order_id)]
                sub = self.users[record.user_id].subaccounts[record.subaccount]
                pos = sub.position(ticker)
                rested = record.remaining
                delta = event.remaining - rested
                if delta:
                    if record.side is _BID:
                        pos.bid_qty += delta
                        pos.bid_value += delta * record.price
                    else:
                        pos.ask_qty += delta
                        pos.ask_value += delta * record.price
                unchanged = (
                    record.fresh
                    and event.remaining == record.count
                    and event.reason is _NONE
                    and record.fill_count == 0
                )
                record.fresh = False
                record.remaining = event.remaining
                record.last_update_reason = event.reason
                record.last_update_ms = now
                if event.remaining == 0:
                    self._order_done(record)
                if not unchanged:  # a new order that just rests: its created event says it all
                    self.emit(OrderUpdated(now, record.snapshot(), False))
            elif type(event) is LevelChange:
                record = self.orders[cast(str, event.order_id)]
                self.emit(
                    BookDelta(
                        now,
                        ticker,
                        event.side,
                        event.price,
                        event.delta,
                        event.count,
                        event.reason,
                        record.order_id,
                        record.user_id,
                        record.subaccount,
                        record.client_order_id,
                    )
                )
        if events:
            self._book_dirty[ticker] = None

    def _order_done(self, record: OrderRecord) -> None:
        key = (record.user_id, record.client_order_id)
        if self.live_client_ids.get(key) == record.order_id:
            del self.live_client_ids[key]
        if record.order_group_id is not None:
            self.groups.remove_order(record.order_group_id, record.order_id)
        self.exit_triggers.order_terminal(record)

    def _apply_fill(self, data: MarketData, fill: Fill, now: int) -> None:
        spec = data.market.spec
        ticker = data.ticker
        price, count = fill.price, fill.count
        taker = self.orders[cast(str, fill.taker_order_id)]
        maker = self.orders[cast(str, fill.maker_order_id)]
        trade_id = self.ids.uuid()
        notional = price * count
        fees_enabled = self.config.fees_enabled
        records = []
        for record, is_taker in ((taker, True), (maker, False)):
            rate = spec.taker_fee_rate if is_taker else spec.maker_fee_rate
            # fee = rate x notional rounded up to $0.0001 (MECHANICS 7)
            exact = -(-notional * rate // RATE_SCALE)
            fee = -(-exact // CENTICENT) * CENTICENT if fees_enabled else 0
            key = (record.user_id, record.subaccount)
            sub = self.users[key[0]].subaccounts[key[1]]
            pos = sub.position(ticker)
            was_open = pos.qty
            effect = pos.apply_fill(count if record.side is _BID else -count, price, fee)
            sub.cash += effect.realized - fee
            self.house_cash += fee
            data.open_interest += max(pos.qty, 0) - max(was_open, 0)
            self._track_holder(ticker, key, pos.qty)
            record.fill_count += count
            record.fill_value += notional
            record.fees += fee
            fill_id = self.ids.uuid()
            fill_record = FillRecord(
                fill_id,
                trade_id,
                record.order_id,
                record.client_order_id,
                record.user_id,
                record.subaccount,
                ticker,
                record.side,
                price,
                count,
                is_taker,
                fee,
                effect.entry_price,
                effect.realized,
                effect.position_after,
                record.order_source,
                now,
            )
            self.fills.append(fill_record)
            records.append(fill_record)
            self._touched[key] = None
            if record.order_group_id is not None:
                self.groups.record_fill(record.order_group_id, count, now)
            self.exit_triggers.order_filled(record)
        trade = TradeRecord(trade_id, ticker, price, count, fill.aggressor, now)
        self.trades[ticker].append(trade)
        data.record_trade(now, price, count)
        for fill_record in records:
            self.emit(FillExecuted(now, fill_record))
        self.emit(TradeExecuted(now, trade))

    def _update_open_interest(self, data: MarketData, before: int, after: int) -> None:
        data.open_interest += max(after, 0) - max(before, 0)

    def _track_holder(self, ticker: str, key: AccountKey, qty: int) -> None:
        holders = self._holders[ticker]
        if qty:
            holders[key] = None
        else:
            holders.pop(key, None)

    def holders(self, ticker: str) -> list[AccountKey]:
        """Subaccounts with a nonzero position in a market, in the order they opened."""
        return list(self._holders[ticker])

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

    def set_reference_price(self, ticker: str, price: int) -> None:
        """Set the index of a market now (control plane)."""
        data = self.markets.get(ticker)
        if data is None:
            raise errors.MarketNotFoundError(details=ticker)
        if price <= 0:
            raise errors.InvalidParametersError(f"price must be positive, was {price}")
        self.run_due()
        data.feed.set_price(self.now(), price)
        self.pricing.sample_now(data)
        self.followups()

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

    def set_trading_active(self, active: bool, reason: str = "manual") -> None:
        """Pause or resume trading on every market (cancels `cancel_order_on_pause` orders)."""
        self.run_due()
        self._set_status(self.exchange_active, active, reason)
        self.followups()

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
        self.exchange_active = exchange_active
        self.trading_active = trading_active
        if pausing:
            victims = [
                self.orders[oid]
                for oid in list(self.live_client_ids.values())
                if self.orders[oid].cancel_order_on_pause
            ]
            self.cancel_orders(victims, Reason.NONE)
        self.emit(ExchangeChanged(self.now(), exchange_active, trading_active, reason))

    def money_supply(self) -> int:
        """Cash of every subaccount plus fees and funding residue held by the house."""
        total = self.house_cash
        for user in self.users.values():
            for sub in user.subaccounts.values():
                total += sub.cash - sum(p.cost for p in sub.positions.values())
        return total


def _unrest(pos: Any, record: OrderRecord, remaining: int, price: int) -> None:
    # take an order's resting size out of its position's exposure (before it is re-placed)
    if record.side is _BID:
        pos.bid_qty -= remaining
        pos.bid_value -= remaining * price
    else:
        pos.ask_qty -= remaining
        pos.ask_value -= remaining * price
    record.remaining = 0
