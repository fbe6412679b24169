"""Retention: how much history of what is done the exchange keeps, so long runs stay bounded.

A dry run of days with bots places and fills orders without end; the exchange keeps only the
newest of each kind of history (`simulator.core.config.ExchangeConfig`, defaults in brackets):

- done orders (executed or canceled) per user: `retain_terminal_orders` [50,000], those done
  longest ago dropped first (ties in creation order). Resting orders are never dropped, nor
  positions, balances, groups or triggers;
- fills per user: `retain_fills` [50,000], oldest first;
- public trades per market: `retain_trades` [50,000], oldest first;
- funding payments per user: `retain_funding_payments` [10,000], oldest first;
- funding rates per market: `retain_funding_rates` [10,000], oldest first.

The quote history of the candles keeps its newest `retain_candles` [1,440] periods of each
length itself (1 minute, 1 hour, 1 day: a day of 1-minute candles, 60 days of hourly ones,
about 4 years of daily ones; `simulator.model.candles.QuoteHistory`), the event journal its
newest `journal_retain` [100,000] events (`simulator.core.events.Journal`), and the premium
history what funding and the premium index read (the last 24 hours, `simulator.pricing.desk`).
Candles read their trade prices and volumes from the trades kept: a candle older than the
oldest trade kept shows its quotes and open interest but no trades (Deviation: Kalshi keeps
them).

What is dropped is gone from every read model, as if it had never been: reading a dropped
order by id answers 404 like any unknown order, and lists, pages and candles no longer show it
(a cursor handed out before keeps its place: it names numbers, `simulator.risk.indexes`).

Deviation: Kalshi moves done orders, fills and trades older than a cutoff (about three months)
to its historical endpoints (`GET /historical/cutoff`); the perps API has none, and the
simulator drops by count, not age, so that memory stays bounded whatever the trading rate.

When: `check` runs on a timer of the exchange every simulated minute (`_CHECK_MS`), so it costs
nothing per command or per timer of the exchange; timers fire when the exchange is quiet (or
between the orders of a bot that fires the due timers, which holds only resting orders, never
dropped). It sweeps once orders, fills and funding payments together have grown by a quarter
(and by at least `_MIN_BATCH`, or the smallest of those limits if smaller) since the last
sweep, so a sweep's cost (a pass over what is kept) is paid for by the records added since:
amortised O(1) per record. Between sweeps a table may hold more than its limit (up to a
quarter of what is kept, or the batch, plus what one simulated minute adds). The timer emits no
event and is not part of the state hash. Sweeps happen at the same points of the same command
sequence, so what is kept is part of the deterministic state (same inputs, same state hash);
below the limits a sweep drops nothing and changes nothing.

Must not import a transport or `simulator.exchange`.
"""

from __future__ import annotations

from typing import Protocol

from simulator.core.events import FundingPaid
from simulator.model.orders import OrderRecord
from simulator.risk.indexes import FillIndex, OrderIndex
from simulator.state import ExchangeState

__all__ = ["PaymentTable", "Retention"]

_MIN_BATCH = 4_096
_CHECK_MS = 60_000
_TIMER_KEY = ("retention",)


class PaymentTable(Protocol):
    """Where funding payments are kept: a list, oldest first (`simulator.pricing.desk`)."""

    @property
    def funding_payments(self) -> list[FundingPaid]: ...


class Retention:
    """Drops the oldest done records of one exchange beyond its settings (module docstring).

    Attributes:
        sweeps: How many sweeps have run.
        next_size: The size of orders + fills + payments that triggers the next sweep.
    """

    def __init__(
        self,
        state: ExchangeState,
        orders: OrderIndex,
        fills: FillIndex,
        payments: PaymentTable,
        now_ms: int,
    ) -> None:
        self._state = state
        self._orders = orders
        self._fills = fills
        self._payments = payments
        config = state.config
        smallest = min(
            config.retain_terminal_orders,
            config.retain_fills,
            config.retain_trades,
            config.retain_funding_payments,
        )
        self._batch = min(_MIN_BATCH, smallest)
        self.sweeps = 0
        self.next_size = self._batch
        self._arm(now_ms + _CHECK_MS)

    def _arm(self, due: int) -> None:
        self._state.timers.arm(_TIMER_KEY, due, self._tick)

    def _tick(self, due: int) -> None:
        self.check()
        self._arm(due + _CHECK_MS)

    def _size(self) -> int:
        state = self._state
        return len(state.orders) + len(state.fills) + len(self._payments.funding_payments)

    def check(self) -> None:
        """Sweep if enough has built up since the last sweep (cheap otherwise)."""
        if self._size() > self.next_size:
            self.sweep()

    def sweep(self) -> None:
        """Drop what is beyond every limit now."""
        state = self._state
        config = state.config
        self._drop_orders(config.retain_terminal_orders)
        self._drop_fills(config.retain_fills)
        self._drop_payments(config.retain_funding_payments)
        for ticker, data in state.markets.items():
            state.trades[ticker].drop_oldest(len(state.trades[ticker]) - config.retain_trades)
            rates = data.funding_history
            if len(rates) > config.retain_funding_rates:
                del rates[: len(rates) - config.retain_funding_rates]
        self.sweeps += 1
        size = self._size()
        self.next_size = size + max(size // 4, self._batch)

    def _drop_orders(self, limit: int) -> None:
        orders = self._state.orders
        self._orders.catch_up()
        done: dict[str, list[OrderRecord]] = {}
        for record in orders.values():
            if record.remaining <= 0:
                found = done.get(record.user_id)
                if found is None:
                    done[record.user_id] = [record]
                else:
                    found.append(record)
        victims: list[OrderRecord] = []
        for records in done.values():
            excess = len(records) - limit
            if excess > 0:
                records.sort(key=_done_at)  # stable: creation order among equal times
                victims.extend(records[:excess])
        if victims:
            for record in victims:
                del orders[record.order_id]
            self._orders.forget(victims)

    def _drop_fills(self, limit: int) -> None:
        fills = self._state.fills
        dropped: dict[str, int] = {}
        gone: set[int] = set()
        for user_id, positions in self._fills.users().items():
            excess = len(positions) - limit
            if excess > 0:
                dropped[user_id] = excess
                gone.update(positions[:excess])
        if dropped:
            fills[:] = [fill for position, fill in enumerate(fills) if position not in gone]
            self._fills.compacted(dropped)

    def _drop_payments(self, limit: int) -> None:
        payments = self._payments.funding_payments
        counts: dict[str, int] = {}
        for payment in payments:
            counts[payment.user_id] = counts.get(payment.user_id, 0) + 1
        excess = {user_id: n - limit for user_id, n in counts.items() if n > limit}
        if not excess:
            return
        kept: list[FundingPaid] = []
        for payment in payments:
            left = excess.get(payment.user_id, 0)
            if left:
                excess[payment.user_id] = left - 1
            else:
                kept.append(payment)
        payments[:] = kept


def _done_at(record: OrderRecord) -> int:
    return record.last_update_ms
