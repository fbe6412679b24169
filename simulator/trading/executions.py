"""What a book command did, applied to the exchange: orders, fills, positions, cash, events.

The matching engine reports fills, order updates and level changes; this module turns them
into order-record updates, position and cash changes (fees per MECHANICS 7, average-cost PnL
per 2.3) and the exchange's events, in the engine's order.
"""

from __future__ import annotations

from typing import cast

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
        state, fx = self._state, self._fx
        emit = fx.journal.append  # Effects.emit without the extra call: this is the hot path
        now = fx.now()
        ticker = data.ticker
        for event in events:
            if type(event) is Fill:
                self._apply_fill(data, event, now)
            elif type(event) is OrderUpdate:
                record = state.orders[cast(str, event.order_id)]
                sub = state.users[record.user_id].subaccounts[record.subaccount]
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
                    self._done(record)
                if not unchanged:  # a new order that just rests: its created event says it all
                    emit(OrderUpdated(now, record.snapshot(), False, previous_client_order_id))
            elif type(event) is LevelChange:
                record = state.orders[cast(str, event.order_id)]
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
        if events:
            fx.book_dirty(ticker)

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
        taker = state.orders[cast(str, fill.taker_order_id)]
        maker = state.orders[cast(str, fill.maker_order_id)]
        trade_id = state.ids.uuid()
        notional = price * count
        fees_enabled = state.config.fees_enabled
        records = []
        for record, is_taker in ((taker, True), (maker, False)):
            rate = spec.taker_fee_rate if is_taker else spec.maker_fee_rate
            # fee = rate x notional rounded up to $0.0001 (MECHANICS 7)
            exact = -(-notional * rate // RATE_SCALE)
            fee = -(-exact // CENTICENT) * CENTICENT if fees_enabled else 0
            key = (record.user_id, record.subaccount)
            sub = state.users[key[0]].subaccounts[key[1]]
            pos = sub.position(ticker)
            was_open = pos.qty
            effect = pos.apply_fill(count if record.side is _BID else -count, price, fee)
            sub.cash += effect.realized - fee
            state.house_cash += fee
            data.open_interest += max(pos.qty, 0) - max(was_open, 0)
            self.track_holder(ticker, key, pos.qty)
            record.fill_count += count
            record.fill_value += notional
            record.fees += fee
            fill_id = state.ids.uuid()
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
            state.fills.append(fill_record)
            records.append(fill_record)
            fx.touch(key)
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
