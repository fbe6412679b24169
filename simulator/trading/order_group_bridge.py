"""Order-group commands of the exchange: the bookkeeping of `order_groups` plus its effects.

When a fill trips a group, or a group is triggered, updated past its limit or deleted, the
group's resting orders are cancelled after the command that caused it (follow-up), and an
`OrderGroupChanged` event is published.

Assumption: orders cancelled by a group report `last_update_reason` "" (Kalshi has no reason
value for it; FIX reports Text (58) ORDER_GROUP_CANCEL).
"""

from __future__ import annotations

from matching import Reason
from simulator.core.commands import command
from simulator.core.events import OrderGroupChanged
from simulator.ports import Desk, Wiring
from simulator.trading.order_groups import OrderGroup, OrderGroups

__all__ = ["OrderGroupBridge"]


class OrderGroupBridge(Desk):
    """Create, inspect, trigger, reset, resize and delete order groups."""

    def __init__(self, wiring: Wiring) -> None:
        super().__init__(wiring)
        self.book = OrderGroups()
        self._to_cancel: dict[str, None] = {}

    # called by the exchange's order path
    def check_can_place(self, user_id: str, subaccount: int, group_id: str) -> None:
        self.book.check_can_place(user_id, subaccount, group_id)

    def add_order(self, group_id: str, order_id: str) -> None:
        self.book.add_order(group_id, order_id)

    def remove_order(self, group_id: str, order_id: str) -> None:
        if group_id in self.book:
            self.book.remove_order(group_id, order_id)

    def record_fill(self, group_id: str, count: int, ts_ms: int) -> None:
        if self.book.record_fill(group_id, count, ts_ms):
            self._triggered(group_id)

    def pending(self) -> bool:
        return bool(self._to_cancel)

    def run_pending(self) -> None:
        """Cancel the resting orders of groups that tripped during the last command."""
        groups = list(self._to_cancel)
        self._to_cancel.clear()
        for group_id in groups:
            if group_id in self.book:
                members = self.book.member_orders(group_id)
                self._entry.cancel_orders([self._state.orders[o] for o in members], Reason.NONE)

    def _triggered(self, group_id: str) -> None:
        group = self.book.view_of(group_id)
        self._to_cancel[group_id] = None
        self._emit(group, "triggered")

    def _emit(self, group: OrderGroup, action: str) -> None:
        self._fx.emit(
            OrderGroupChanged(
                self._fx.now(),
                group.owner,
                group.subaccount,
                group.id,
                action,
                group.contracts_limit,
            )
        )

    # commands
    @command("groups.create", fires_due_nested=True)
    def create(
        self, user_id: str, subaccount: int, limit: int, exchange_index: int = 0
    ) -> OrderGroup:
        self._accounts.subaccount(user_id, subaccount)
        group = self.book.create(user_id, subaccount, limit, exchange_index, self._state.ids.uuid())
        self._emit(group, "created")
        return group

    def get(self, user_id: str, group_id: str, subaccount: int | None = None) -> OrderGroup:
        return self.book.get(user_id, group_id, subaccount)

    def list(self, user_id: str, subaccount: int | None = None) -> list[OrderGroup]:
        return self.book.list(user_id, subaccount)

    @command("groups.trigger", fires_due_nested=True)
    def trigger(self, user_id: str, group_id: str, subaccount: int | None = None) -> None:
        self.book.trigger(user_id, group_id, subaccount)
        self._triggered(group_id)

    @command("groups.reset", fires_due_nested=True)
    def reset(self, user_id: str, group_id: str, subaccount: int | None = None) -> None:
        self.book.reset(user_id, group_id, subaccount)
        self._emit(self.book.view_of(group_id), "reset")

    @command("groups.update_limit", fires_due_nested=True)
    def update_limit(
        self, user_id: str, group_id: str, limit: int, subaccount: int | None = None
    ) -> None:
        tripped = self.book.update_limit(user_id, group_id, limit, self._fx.now(), subaccount)
        self._emit(self.book.view_of(group_id), "limit_updated")
        if tripped:
            self._triggered(group_id)

    @command("groups.delete", fires_due_nested=True)
    def delete(self, user_id: str, group_id: str, subaccount: int | None = None) -> None:
        group = self.book.get(user_id, group_id, subaccount)
        members = self.book.delete(user_id, group_id, subaccount)
        self._entry.cancel_orders([self._state.orders[o] for o in members], Reason.NONE)
        self._emit(group, "deleted")
