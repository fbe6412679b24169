"""Exit-trigger commands of the exchange: `exit_triggers` bookkeeping plus the orders it fires.

Marks are fed to the triggers when the liquidation mark moves; firings are turned into
reduce-only IOC system orders (`order_reason=take_profit_stop_loss`) after the command or timer
that caused them, and each order's outcome is reported back when it completes.

Deviation: isolated positions are not modelled (every API position is cross), so isolated
triggers can be listed and deleted but setting one is refused for lack of an open isolated
position.
"""

from __future__ import annotations

from matching import Side
from simulator.core.commands import command
from simulator.core.errors import RejectError
from simulator.core.events import ExitTriggerChanged
from simulator.model.market_data import MarketData
from simulator.model.orders import OrderRecord
from simulator.model.risk import position_liquidation_price
from simulator.ports import Desk, Wiring
from simulator.state import AccountKey
from simulator.trading.exit_triggers import ExitTriggers, ExitTriggerView, Firing, TriggerTerms

__all__ = ["ExitTriggerBridge"]

_REASON = "take_profit_stop_loss"


class ExitTriggerBridge(Desk):
    """Set, update, delete and list exit triggers; fire them on the liquidation mark."""

    def __init__(self, wiring: Wiring) -> None:
        super().__init__(wiring)
        self.book = ExitTriggers(wiring.state.ids.uuid)
        self._firings: list[Firing] = []
        self._scopes: set[AccountKey] = set()
        self._anchors: set[str] = set()

    # ------------------------------------------------------------ exchange hooks

    def mark_moved(self, data: MarketData) -> None:
        if not (self._state.trading_active and data.market.status == "active"):
            return  # no trigger orders while trading is paused; re-evaluated on resume
        if self._scopes and data.mark is not None:
            self._firings.extend(self.book.on_mark(data.ticker, data.mark, self._fx.now()))

    def positions_changed(self, key: AccountKey) -> None:
        if key not in self._scopes:
            return
        sub = self._state.users[key[0]].subaccounts[key[1]]
        for ticker, pos in sub.positions.items():
            self._publish(self.book.on_position((key[0], key[1], ticker), pos.qty, self._fx.now()))

    def order_filled(self, record: OrderRecord) -> None:
        if record.order_id in self._anchors:
            views = self.book.on_anchor_fill(record.order_id, record.fill_count, self._fx.now())
            self._publish(views)

    def order_terminal(self, record: OrderRecord) -> None:
        if record.trigger_id is not None:
            qty = (
                self._state.users[record.user_id]
                .subaccounts[record.subaccount]
                .position(record.ticker)
            )
            self._publish(
                self.book.on_order_result(
                    record.trigger_id, record.order_id, record.fill_count, qty.qty, self._fx.now()
                )
            )
        if record.order_id in self._anchors:
            self._anchors.discard(record.order_id)
            self._publish(self.book.on_anchor_terminal(record.order_id, self._fx.now()))

    def cancel_scope(self, user_id: str, subaccount: int) -> None:
        """Liquidation pre-empts triggers: cancel the subaccount's live triggers."""
        if (user_id, subaccount) in self._scopes:
            self._publish(
                self.book.cancel_for_liquidation(user_id, subaccount, now_ms=self._fx.now())
            )

    def pending(self) -> bool:
        return bool(self._firings)

    def rename_market(self, old: str, new: str) -> None:
        self.book.rename_market(old, new)

    def run_pending(self) -> None:
        """Send the orders of the triggers that fired."""
        firings, self._firings = self._firings, []
        for firing in firings:
            user_id, number, ticker = firing.key
            assert isinstance(user_id, str)
            try:
                self._entry.place_system_order(
                    user_id,
                    number,
                    ticker,
                    Side(firing.side),
                    firing.count,
                    _REASON,
                    trigger_id=firing.trigger_id,
                )
            except RejectError:
                self._publish(self.book.on_order_rejected(firing.trigger_id, self._fx.now()))

    def _publish(self, views: list[ExitTriggerView]) -> None:
        for view in views:
            assert isinstance(view.owner, str)
            self._fx.emit(ExitTriggerChanged(self._fx.now(), view.owner, view.subaccount, view))

    # ------------------------------------------------------------------ commands

    def _liquidation_price(self, user_id: str, number: int, ticker: str) -> int | None:
        sub = self._accounts.subaccount(user_id, number)
        spec = self._state.markets[ticker].market.spec
        return position_liquidation_price(spec, sub, ticker, self._accounts.mark)

    @command("exit_triggers.set_cross", fires_due_nested=True)
    def set_cross(
        self,
        user_id: str,
        subaccount: int,
        ticker: str,
        *,
        kind: str = "bracket",
        stop_loss_price: int | None = None,
        take_profit_price: int | None = None,
        trail_amount: int | None = None,
        trail_bps: int | None = None,
        count: int | None = None,
        anchor_order_id: str | None = None,
        client_trigger_id: str | None = None,
    ) -> list[ExitTriggerView]:
        """PUT /margin/cross/positions/{ticker}/exit_trigger."""
        self._accounts.market_data(ticker)
        sub = self._accounts.subaccount(user_id, subaccount)
        anchor_side = None
        anchor_filled = 0
        if anchor_order_id is not None:
            record = self._state.orders.get(anchor_order_id)
            if record is None or record.user_id != user_id or record.ticker != ticker:
                from simulator.core.errors import AnchorOrderUnavailableError

                raise AnchorOrderUnavailableError()
            anchor_side = record.side.value
            anchor_filled = record.fill_count
        terms = TriggerTerms(
            kind,
            stop_loss_price,
            take_profit_price,
            trail_amount,
            trail_bps,
            count,
            anchor_order_id,
            client_trigger_id,
        )
        # a trailing stop's watermark starts at the market's mark now, shown in the answer
        self.book.note_mark(ticker, self._state.markets[ticker].mark)
        views = self.book.set_cross(
            (user_id, subaccount, ticker),
            terms,
            anchor_side=anchor_side,  # type: ignore[arg-type]
            anchor_filled=anchor_filled,
            position=sub.position(ticker).qty,
            liquidation_price=self._liquidation_price(user_id, subaccount, ticker),
            now_ms=self._fx.now(),
        )
        self._scopes.add((user_id, subaccount))
        if anchor_order_id is not None and self._state.orders[anchor_order_id].remaining > 0:
            self._anchors.add(anchor_order_id)
        self._publish(views)
        data = self._state.markets[ticker]
        if data.mark is not None:
            self._firings.extend(self.book.on_mark(ticker, data.mark, self._fx.now()))
        return views

    @command("exit_triggers.set_isolated")
    def set_isolated(
        self,
        user_id: str,
        ticker: str,
        *,
        kind: str = "bracket",
        stop_loss_price: int | None = None,
        take_profit_price: int | None = None,
        trail_amount: int | None = None,
        trail_bps: int | None = None,
    ) -> list[ExitTriggerView]:
        """PUT /margin/isolated/positions/{ticker}/exit_trigger (no isolated positions exist)."""
        self._accounts.market_data(ticker)
        self._accounts.user(user_id)
        terms = TriggerTerms(kind, stop_loss_price, take_profit_price, trail_amount, trail_bps)
        views = self.book.set_isolated(
            (user_id, 0, ticker),
            terms,
            position=0,
            now_ms=self._fx.now(),
        )
        self._publish(views)
        return views

    @command("exit_triggers.update", fires_due_nested=True)
    def update(
        self,
        user_id: str,
        subaccount: int,
        ticker: str,
        trigger_id: str,
        *,
        stop_loss_price: int | None = None,
        take_profit_price: int | None = None,
    ) -> ExitTriggerView:
        """PUT /margin/cross/positions/{ticker}/exit_trigger/{trigger_id}."""
        self._accounts.market_data(ticker)
        view = self.book.update(
            (user_id, subaccount, ticker),
            trigger_id,
            TriggerTerms("bracket", stop_loss_price, take_profit_price),
            liquidation_price=self._liquidation_price(user_id, subaccount, ticker),
            now_ms=self._fx.now(),
        )
        self._publish([view])
        data = self._state.markets[ticker]
        if data.mark is not None:
            self._firings.extend(self.book.on_mark(ticker, data.mark, self._fx.now()))
        return view

    @command("exit_triggers.delete")
    def delete(
        self, user_id: str, subaccount: int, ticker: str, trigger_id: str
    ) -> ExitTriggerView:
        self._accounts.market_data(ticker)
        view = self.book.delete((user_id, subaccount, ticker), trigger_id, now_ms=self._fx.now())
        self._publish([view])
        return view

    @command("exit_triggers.delete_all")
    def delete_all(
        self,
        user_id: str,
        subaccount: int,
        ticker: str,
        *,
        kind: str | None = None,
        isolated: bool = False,
    ) -> list[ExitTriggerView]:
        self._accounts.market_data(ticker)
        views = self.book.delete_all(
            (user_id, subaccount, ticker), kind=kind, isolated=isolated, now_ms=self._fx.now()
        )
        self._publish(views)
        return views

    def list(
        self,
        user_id: str,
        subaccount: int,
        ticker: str,
        *,
        kind: str | None = None,
        isolated: bool = False,
    ) -> list[ExitTriggerView]:
        self._accounts.market_data(ticker)
        return self.book.list((user_id, subaccount, ticker), kind=kind, isolated=isolated)
