"""What a book command did, applied to the exchange: orders, fills, positions, cash, events.

The matching engine reports fills, order updates and level changes; this module turns them
into order-record updates, position and cash changes (fees per MECHANICS 7, average-cost PnL
per 2.3) and the exchange's events, in the engine's order.
"""

from __future__ import annotations

from typing import Any

from matching import Event as BookEvent
from matching import Fill, LevelChange, OrderUpdate, Reason, Side
from simulator.core.events import (
    BookDelta,
    FillExecuted,
    FillRecord,
    OrderUpdated,
    TradeExecuted,
    TradeRecord,
)
from simulator.core.money import CENTICENT, RATE_SCALE
from simulator.model.market_data import MarketData
from simulator.model.orders import OrderRecord
from simulator.ports import GroupLedger, OrderWatcher
from simulator.state import AccountKey, Effects, ExchangeState

__all__ = ["Executions"]

_BID = Side.BID
_NONE = Reason.NONE


class Executions:
    """Applies book events for one exchange."""

    def __init__(
        self,
        state: ExchangeState,
        effects: Effects,
        groups: GroupLedger,
        triggers: OrderWatcher,
    ) -> None:
        self._state = state
        self._fx = effects
        self._groups = groups
        self._triggers = triggers

    def apply(
        self, data: MarketData, events: list[BookEvent], previous_client_order_id: str | None = None
    ) -> None:
        """Apply a book command's events in order.

        `previous_client_order_id`: an amend replaced the client order id of the order it
        changed; that order's update event carries the old one.
        """
        if not events:
            return
        state, fx = self._state, self._fx
        emit = fx.journal.append  # Effects.emit without the extra call: this is the hot path
        now = fx.held  # `fx.now()`, inlined
        if now is None:
            now = fx.clock.now_ms()
        ticker = data.ticker
        orders: dict[Any, OrderRecord] = state.orders  # the book's order ids are these keys
        for event in events:
            if type(event) is LevelChange:
                record = orders[event.order_id]
                emit(
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
            elif type(event) is OrderUpdate:
                record = orders[event.order_id]
                remaining = event.remaining
                delta = remaining - record.remaining
                if delta:  # the order's resting size moves its position's exposure
                    sub = state.users[record.user_id].subaccounts[record.subaccount]
                    exposure = sub.positions.get(ticker) or sub.position(ticker)
                    if record.side is _BID:
                        exposure.bid_qty += delta
                        exposure.bid_value += delta * record.price
                    else:
                        exposure.ask_qty += delta
                        exposure.ask_value += delta * record.price
                reason = event.reason
                # a new order that just rests: its created event says it all
                unchanged = (
                    record.fresh
                    and remaining == record.count
                    and reason is _NONE
                    and record.fill_count == 0
                )
                record.fresh = False
                record.remaining = remaining
                record.last_update_reason = reason
                record.last_update_ms = now
                if remaining == 0:
                    self._done(record)
                if not unchanged:
                    emit(OrderUpdated(now, record.snapshot(), False, previous_client_order_id))
            elif type(event) is Fill:
                self._apply_fill(data, event, now)
        fx.dirty_books[ticker] = None

    def _done(self, record: OrderRecord) -> None:
        key = (record.user_id, record.client_order_id)
        if self._state.live_client_ids.get(key) == record.order_id:
            del self._state.live_client_ids[key]
        if record.order_group_id is not None:
            self._groups.remove_order(record.order_group_id, record.order_id)
        self._triggers.order_terminal(record)

    def _apply_fill(self, data: MarketData, fill: Fill, now: int) -> None:
        state, fx = self._state, self._fx
        emit = fx.journal.append
        spec = data.market.spec
        ticker = data.ticker
        price, count = fill.price, fill.count
        orders: dict[Any, OrderRecord] = state.orders  # the book's order ids are these keys
        taker = orders[fill.taker_order_id]
        maker = orders[fill.maker_order_id]
        uuid = state.ids.uuid
        trade_id = uuid()
        notional = price * count
        users = state.users
        holders = state.holders[ticker]
        touched = fx.touched
        records = []
        if state.config.fees_enabled:
            # fee = rate x notional rounded up to $0.0001 (MECHANICS 7)
            exact = -(-notional * spec.taker_fee_rate // RATE_SCALE)
            taker_fee = -(-exact // CENTICENT) * CENTICENT
            exact = -(-notional * spec.maker_fee_rate // RATE_SCALE)
            maker_fee = -(-exact // CENTICENT) * CENTICENT
        else:
            taker_fee = maker_fee = 0
        for record, is_taker, fee in ((taker, True, taker_fee), (maker, False, maker_fee)):
            key = (record.user_id, record.subaccount)
            sub = users[key[0]].subaccounts[key[1]]
            pos = sub.positions.get(ticker) or sub.position(ticker)
            was_open = pos.qty
            effect = pos.apply_fill(count if record.side is _BID else -count, price, fee)
            sub.cash += effect.realized - fee
            state.house_cash += fee
            qty = pos.qty
            # open interest follows the sum of long positions
            data.open_interest += (qty if qty > 0 else 0) - (was_open if was_open > 0 else 0)
            if qty:  # the market's holder list follows the position (`track_holder`)
                holders[key] = None
            else:
                holders.pop(key, None)
            record.fill_count += count
            record.fill_value += notional
            record.fees += fee
            fill_record = FillRecord(
                uuid(),
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
            state.fills.append(fill_record)
            records.append(fill_record)
            touched[key] = None
            if record.order_group_id is not None:
                self._groups.record_fill(record.order_group_id, count, now)
            self._triggers.order_filled(record)
        trade = TradeRecord(trade_id, ticker, price, count, fill.aggressor, now)
        state.trades[ticker].append(trade)
        data.record_trade(now, price, count)
        for fill_record in records:
            emit(FillExecuted(now, fill_record))
        emit(TradeExecuted(now, trade))

    def update_open_interest(self, data: MarketData, before: int, after: int) -> None:
        """Open interest follows the sum of long positions."""
        data.open_interest += max(after, 0) - max(before, 0)

    def track_holder(self, ticker: str, key: AccountKey, qty: int) -> None:
        """Keep the market's holder list in step with a position change."""
        holders = self._state.holders[ticker]
        if qty:
            holders[key] = None
        else:
            holders.pop(key, None)
