"""Liquidation (MECHANICS.md 6): queue state, margin cancels, system close-out orders.

A subaccount whose cash or positions changed (fills, funding, transfers) is evaluated in full at
the next mark refresh (1 s), once however often it traded meanwhile; a mark move first runs
those pending evaluations. Mark moves are handled without touching every holder: after each
evaluation the subaccount gets, per market it holds, a budget of mark movement that cannot bring
its margin ratio to the next threshold (its headroom split evenly across its markets, divided by
the position size and a bound on how fast equity and MM change with the mark). Each market keeps
the cumulative path length of its mark and a heap of those budgets; a mark move re-evaluates
only the subaccounts whose budget it used up. Liquidation pre-empts exit triggers.

With `ExchangeConfig.partial_liquidation` each system order closes only the smallest quantity
that would bring the ratio under the queue threshold at the mark (MECHANICS 9 #15); the default
closes the whole position.

Assumption: the maintenance-margin curve's marginal rate near the current notional (at +10%)
bounds how fast MM grows; budgets are capped at a 10% mark move so that bound holds.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from functools import partial

from matching import Reason, Side
from simulator.core.events import LiquidationStep
from simulator.core.money import CENTICENT, RATE_SCALE
from simulator.model.market_data import MarketData
from simulator.model.risk import SubaccountRisk, position_risk
from simulator.ports import Accounts, OrderEntry, TriggerScopes
from simulator.state import AccountKey, Effects, ExchangeState

__all__ = ["Liquidator"]

_MAX_ROUNDS = 100


class Liquidator:
    """Watches margin ratios and closes out subaccounts at the liquidation threshold."""

    def __init__(
        self,
        state: ExchangeState,
        effects: Effects,
        accounts: Accounts,
        entry: OrderEntry,
        triggers: TriggerScopes,
    ) -> None:
        self._state = state
        self._fx = effects
        self._accounts = accounts
        self._entry = entry
        self._triggers = triggers
        self._heaps: dict[str, list[tuple[int, int, AccountKey]]] = {}
        self._version: dict[AccountKey, int] = {}
        self._counter = 0
        self.states: dict[AccountKey, str] = {}
        self.evaluations = 0
        self._running: set[AccountKey] = set()
        self._pending: dict[AccountKey, None] = {}

    def rename_market(self, old: str, new: str) -> None:
        """Move the movement budgets of market `old` to `new`."""
        if old in self._heaps:
            self._heaps[new] = self._heaps.pop(old)

    def state(self, key: AccountKey) -> str:
        """`ok`, `queued` or `liquidating`."""
        return self.states.get(key, "ok")

    def schedule(self, key: AccountKey) -> None:
        """Evaluate a subaccount at the next mark refresh (its cash or positions changed).

        Checks are batched per mark interval (1 s), like Kalshi's monitoring, so an account
        that trades many times in a second is evaluated once.
        """
        self.schedule_all((key,))

    def schedule_all(self, keys: Sequence[AccountKey]) -> None:
        """`schedule` each of `keys`, in order (the subaccounts a command touched)."""
        if not keys:
            return
        pending, version = self._pending, self._version
        for key in keys:
            pending[key] = None
            version.pop(key, None)  # its budgets were for the old positions
        interval = self._state.config.mark_interval_ms
        due = (self._fx.now() // interval + 1) * interval
        self._state.timers.arm_earlier(("liquidation-checks",), due, self._flush_due)

    def _flush_due(self, _due: int) -> None:
        self.flush()

    def flush(self) -> None:
        """Evaluate every subaccount scheduled for a check, in the order they changed."""
        while self._pending:
            pending = list(self._pending)
            self._pending.clear()
            for key in pending:
                self.check(key)

    def mark_moved(self, data: MarketData) -> None:
        """Re-evaluate the subaccounts whose movement budget in this market is used up."""
        self.flush()
        heap = self._heaps.get(data.ticker)
        if not heap:
            return
        due: dict[AccountKey, None] = {}
        while heap and heap[0][0] < data.mark_path:
            _, version, key = heapq.heappop(heap)
            if self._version.get(key) == version:
                due[key] = None
        for key in due:
            self.check(key)

    def _check_due(self, key: AccountKey, _due: int) -> None:
        # the retry timer of `check` (a bound method, not a closure: snapshots pickle timers)
        self.check(key)

    def check(self, key: AccountKey) -> None:
        """Evaluate a subaccount now: update its state, liquidate it, re-arm its budgets."""
        if key in self._running:
            return
        self.evaluations += 1
        risk = self._accounts.subaccount_risk(*key)
        previous = self.state(key)
        cfg = self._state.config
        if risk.maintenance_margin == 0:
            self._set_state(key, "ok", risk, previous)
            self._version.pop(key, None)
            return
        if risk.at_or_above(cfg.liquidation_threshold) and self._can_liquidate(key):
            self._running.add(key)
            try:
                self._liquidate(key, risk)
            finally:
                self._running.discard(key)
            risk = self._accounts.subaccount_risk(*key)
            if risk.maintenance_margin == 0:
                self._version.pop(key, None)
                return
        state = (
            "liquidating"
            if risk.at_or_above(cfg.liquidation_threshold)
            else "queued"
            if risk.at_or_above(cfg.queue_threshold)
            else "ok"
        )
        self._set_state(key, state, risk, self.state(key))
        self._arm(key, risk, cfg.queue_threshold if state == "ok" else cfg.liquidation_threshold)

    def _set_state(self, key: AccountKey, state: str, risk: SubaccountRisk, previous: str) -> None:
        if state == previous:
            return
        if state == "ok":
            self.states.pop(key, None)
        else:
            self.states[key] = state
        stage = {"ok": "recovered", "queued": "queued"}.get(state)
        if stage is not None and not (state == "ok" and previous == "liquidating"):
            self._step(key, stage, risk)

    def _can_liquidate(self, key: AccountKey) -> bool:
        if not (self._state.exchange_active and self._state.trading_active):
            return False  # no liquidation while the exchange is closed or trading is paused
        sub = self._state.users[key[0]].subaccounts[key[1]]
        return any(
            pos.qty and self._state.markets[ticker].market.status == "active"
            for ticker, pos in sub.positions.items()
        )

    def _arm(self, key: AccountKey, risk: SubaccountRisk, threshold: int) -> None:
        sub = self._state.users[key[0]].subaccounts[key[1]]
        held = [(t, p) for t, p in sub.positions.items() if p.qty]
        if not held:
            self._version.pop(key, None)
            return
        self._counter += 1
        version = self._counter
        self._version[key] = version
        slack = CENTICENT * 2 * (len(held) + 1)
        headroom = risk.equity * threshold // RATE_SCALE - risk.maintenance_margin - slack
        share = max(headroom, 0) // len(held)
        ratio = threshold / RATE_SCALE
        for ticker, pos in held:
            data = self._state.markets[ticker]
            mark = self._accounts.mark(ticker)
            spec = data.market.spec
            notional = abs(pos.qty) * mark
            factor = ratio + max(1.0, spec.curve(pos.qty > 0).marginal_rate(notional * 11 // 10))
            budget = int(share / (abs(pos.qty) * factor)) if share else 0
            budget = min(budget, mark // 10)
            heap = self._heaps.setdefault(ticker, [])
            heapq.heappush(heap, (data.mark_path + budget, version, key))
            if len(heap) > 4 * len(self._version) + 64:
                self._compact(ticker)

    def _compact(self, ticker: str) -> None:
        # drop budgets superseded by a later evaluation so the heap stays proportional
        live = self._version
        heap = [entry for entry in self._heaps[ticker] if live.get(entry[2]) == entry[1]]
        heapq.heapify(heap)
        self._heaps[ticker] = heap

    def _liquidate(self, key: AccountKey, risk: SubaccountRisk) -> None:
        user_id, number = key
        self.states[key] = "liquidating"
        self._step(key, "started", risk)
        self._triggers.cancel_scope(user_id, number)
        victims = [r for r in self._entry.live_orders(user_id) if r.subaccount == number]
        self._entry.cancel_orders(victims, Reason.MARGIN_CANCEL)
        sub = self._state.users[user_id].subaccounts[number]
        for _ in range(_MAX_ROUNDS):
            risk = self._accounts.subaccount_risk(user_id, number)
            if not risk.at_or_above(self._state.config.liquidation_threshold):
                break
            target = self._largest_contributor(key)
            if target is None:
                break
            ticker, qty = target
            side = Side.ASK if qty > 0 else Side.BID
            count = abs(qty)
            if self._state.config.partial_liquidation:
                count = self._partial_count(key, ticker, qty, risk)
            result = self._entry.place_system_order(
                user_id, number, ticker, side, count, "liquidation"
            )
            if result is not None:
                self._step(key, "order", risk, result.order.order_id, ticker, result.fill_count)
            if result is None or result.fill_count == 0:
                due = self._fx.now() + self._state.config.mark_interval_ms
                self._state.timers.arm(("liquidation", key), due, partial(self._check_due, key))
                return
        risk = self._accounts.subaccount_risk(user_id, number)
        flat = not any(p.qty for p in sub.positions.values())
        if flat and sub.cash < 0:
            self._state.waterfall_deficit += -sub.cash
            self._step(key, "deficit", risk, amount=-sub.cash)
        self._step(key, "finished", risk)
        self.states.pop(key, None)

    def _partial_count(self, key: AccountKey, ticker: str, qty: int, risk: SubaccountRisk) -> int:
        # the smallest close (in count steps) that would bring MM / equity under the queue
        # threshold if it traded at the mark (MECHANICS 9 #15, optional partial mode)
        data = self._state.markets[ticker]
        spec = data.market.spec
        mark = self._accounts.mark(ticker)
        curve = spec.curve(qty > 0)
        step = spec.count_step
        size = abs(qty)
        mm_here = curve.maintenance_margin(size * mark)
        threshold = self._state.config.queue_threshold

        def enough(close: int) -> bool:
            mm = risk.maintenance_margin - mm_here + curve.maintenance_margin((size - close) * mark)
            return mm * RATE_SCALE < threshold * risk.equity

        low, high = 1, size // step
        if risk.equity <= 0 or not enough(high * step):
            return size
        while low < high:
            middle = (low + high) // 2
            if enough(middle * step):
                high = middle
            else:
                low = middle + 1
        return low * step

    def _largest_contributor(self, key: AccountKey) -> tuple[str, int] | None:
        sub = self._state.users[key[0]].subaccounts[key[1]]
        best: tuple[int, str, int] | None = None
        for ticker, pos in sub.positions.items():
            if not pos.qty or self._state.markets[ticker].market.status != "active":
                continue
            spec = self._state.markets[ticker].market.spec
            mm = position_risk(spec, pos, self._accounts.mark(ticker)).maintenance_margin
            if best is None or mm > best[0]:
                best = (mm, ticker, pos.qty)
        return None if best is None else (best[1], best[2])

    def _step(
        self,
        key: AccountKey,
        stage: str,
        risk: SubaccountRisk,
        order_id: str | None = None,
        ticker: str | None = None,
        amount: int = 0,
    ) -> None:
        self._fx.emit(
            LiquidationStep(
                self._fx.now(),
                key[0],
                key[1],
                stage,
                risk.equity,
                risk.maintenance_margin,
                order_id,
                ticker,
                amount,
            )
        )
