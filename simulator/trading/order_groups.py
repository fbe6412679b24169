"""Order groups: the bookkeeping of Kalshi's rolling-window fill limits (pure, no cancelling).

This module owns which groups exist, who owns them, which live orders belong to each, how many
contracts each group's orders filled in the rolling window, and whether a group is triggered
(Kalshi order-group docs; FIX.md §3.9; `perps_openapi.yaml` `/margin/order_groups`). The
exchange does the cancelling: whenever a method reports a trigger or a delete it cancels the
group's member orders and calls `remove_order` as each becomes terminal.

Rules:

- A group has a contracts limit (1 to 1,000,000 contracts; stored in 1/100 contract) counted
  over contracts filled by its orders within a rolling 15-second window.
- A fill that makes the window total exceed the limit triggers the group: its resting orders
  are cancelled and new orders into it are refused (`OrderGroupTriggeredError`) until reset.
- Reset clears the triggered state and the rolling counter; Delete removes the group (its
  orders are cancelled); Trigger triggers now; an Update of the limit below the current window
  total triggers the group.
- A group belongs to one user and subaccount and is bound to one exchange index; a user holds
  at most 25,000 groups.

Times are integer epoch milliseconds passed in by the caller; nothing here reads a clock.

Assumption: the group triggers when the window total strictly exceeds the limit (Kalshi: "If
the rolling total exceeds the limit"; FIX doc: "Exceeding it triggers the group"), so filling
exactly the limit does not trigger.

Assumption: a fill at `t` counts in the window at `now` while `now - t < 15_000`; at exactly
15 s it has dropped out.

Assumption: `is_auto_cancel_enabled` is true while the group is active (not triggered): it
reads as "the group will still auto-cancel when the limit is exceeded", and a triggered group
has nothing left to auto-cancel until reset.

Assumption: the 25,000 cap counts a user's groups across all of the user's subaccounts.

Assumption: fills made after the trigger (the rest of the same match) still count in the
window; only the fill that crossed the limit reports the trigger.
"""

from __future__ import annotations

import builtins
from collections import deque
from dataclasses import dataclass

from simulator.core.errors import (
    InvalidParametersError,
    LimitExceededError,
    OrderGroupNotFoundError,
    OrderGroupTriggeredError,
)
from simulator.core.money import COUNT_SCALE, WireFormatError, parse_count

__all__ = [
    "MAX_CONTRACTS_LIMIT",
    "MAX_GROUPS_PER_USER",
    "MIN_CONTRACTS_LIMIT",
    "WINDOW_MS",
    "OrderGroup",
    "OrderGroups",
    "contracts_limit_from_wire",
]

WINDOW_MS = 15_000
"""Length of the rolling fill window in milliseconds."""

MAX_GROUPS_PER_USER = 25_000
"""Kalshi's per-user cap on order groups."""

MIN_CONTRACTS_LIMIT = 1 * COUNT_SCALE
"""Smallest contracts limit (1 contract) in 1/100 contract."""

MAX_CONTRACTS_LIMIT = 1_000_000 * COUNT_SCALE
"""Largest contracts limit (1,000,000 contracts) in 1/100 contract."""


def contracts_limit_from_wire(contracts_limit: int | None, contracts_limit_fp: str | None) -> int:
    """Return the contracts limit in 1/100 contract from the wire's two spellings.

    Either the legacy whole-contract integer `contracts_limit` or the fixed-point string
    `contracts_limit_fp` must be given; when both are given they must agree. Only whole
    contracts between 1 and 1,000,000 are accepted (Kalshi: "Currently only whole contract
    values are permitted").

    Raises:
        InvalidParametersError: Neither or disagreeing values, fractional or out of range.

    >>> contracts_limit_from_wire(10, None), contracts_limit_from_wire(None, "10.00")
    (1000, 1000)
    """
    values: list[int] = []
    if contracts_limit is not None:
        if isinstance(contracts_limit, bool) or not isinstance(contracts_limit, int):
            raise InvalidParametersError(details="contracts_limit must be an integer")
        values.append(contracts_limit * COUNT_SCALE)
    if contracts_limit_fp is not None:
        try:
            values.append(parse_count(contracts_limit_fp))
        except WireFormatError as exc:
            raise InvalidParametersError(details=f"contracts_limit_fp: {exc}") from exc
    if not values:
        raise InvalidParametersError(details="contracts_limit or contracts_limit_fp is required")
    if len(values) == 2 and values[0] != values[1]:
        raise InvalidParametersError(details="contracts_limit and contracts_limit_fp differ")
    limit = values[0]
    if limit % COUNT_SCALE:
        raise InvalidParametersError(details="contracts limit must be a whole number of contracts")
    _check_limit(limit)
    return limit


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidParametersError(details=f"contracts limit must be an integer, was {limit!r}")
    if not MIN_CONTRACTS_LIMIT <= limit <= MAX_CONTRACTS_LIMIT:
        raise InvalidParametersError(
            details=f"contracts limit must be between 1 and 1,000,000 contracts, was {limit}/100"
        )
    return limit


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """A read-only snapshot of one order group.

    Attributes:
        id: The group id.
        owner: The owning user's id.
        subaccount: The subaccount the group was created under (0 = primary).
        exchange_index: The exchange the group is bound to (all margin markets are 0).
        contracts_limit: The limit in 1/100 contract.
        triggered: Whether the group is triggered (orders refused until reset).
        orders: Live member order ids in the order they joined.
    """

    id: str
    owner: str
    subaccount: int
    exchange_index: int
    contracts_limit: int
    triggered: bool
    orders: tuple[str, ...]

    @property
    def is_auto_cancel_enabled(self) -> bool:
        """Return Kalshi's `is_auto_cancel_enabled`: true while the group is not triggered."""
        return not self.triggered


class _Group:
    """The mutable record kept per group."""

    __slots__ = (
        "exchange_index",
        "fills",
        "group_id",
        "limit",
        "members",
        "now",
        "owner",
        "subaccount",
        "triggered",
        "window_total",
    )

    def __init__(
        self, group_id: str, owner: str, subaccount: int, exchange_index: int, limit: int
    ) -> None:
        self.group_id = group_id
        self.owner = owner
        self.subaccount = subaccount
        self.exchange_index = exchange_index
        self.limit = limit
        self.triggered = False
        self.members: dict[str, None] = {}  # an insertion-ordered set
        self.fills: deque[tuple[int, int]] = deque()  # (ts_ms, count) inside the window
        self.window_total = 0
        self.now: int | None = None

    def view(self) -> OrderGroup:
        return OrderGroup(
            id=self.group_id,
            owner=self.owner,
            subaccount=self.subaccount,
            exchange_index=self.exchange_index,
            contracts_limit=self.limit,
            triggered=self.triggered,
            orders=tuple(self.members),
        )

    def advance(self, ts_ms: int, window_ms: int) -> None:
        """Move the group's time to `ts_ms` and drop fills that left the window."""
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise ValueError(f"ts_ms must be integer epoch milliseconds, was {ts_ms!r}")
        if self.now is not None and ts_ms < self.now:
            raise ValueError(f"time went backwards for group {self.group_id}: {ts_ms} < {self.now}")
        self.now = ts_ms
        cutoff = ts_ms - window_ms
        fills = self.fills
        while fills and fills[0][0] <= cutoff:
            self.window_total -= fills.popleft()[1]

    def clear_window(self) -> None:
        self.fills.clear()
        self.window_total = 0


class OrderGroups:
    """All order groups of the exchange, keyed by caller-supplied group ids.

    Management calls (`get`, `trigger`, `reset`, `delete`, `update_limit`) take the acting
    user and, optionally, the subaccount; a group of another user, or of another subaccount
    when one is given, is reported as not found. Calls made by the exchange itself on behalf
    of orders (`add_order`, `remove_order`, `record_fill`, `member_orders`) take the group id
    only.

    Times must be non-decreasing per group.

    >>> groups = OrderGroups()
    >>> _ = groups.create("user-1", 0, 500, 0, "g1")  # 5 contracts
    >>> groups.add_order("g1", "o1")
    >>> groups.record_fill("g1", 500, 1_000), groups.record_fill("g1", 100, 2_000)
    (False, True)
    >>> groups.member_orders("g1")
    ['o1']
    """

    def __init__(
        self, *, max_groups_per_user: int = MAX_GROUPS_PER_USER, window_ms: int = WINDOW_MS
    ) -> None:
        """Configure the per-user cap and the rolling window length (milliseconds)."""
        for name, value in (("max_groups_per_user", max_groups_per_user), ("window_ms", window_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, was {value!r}")
        self._max_groups_per_user = max_groups_per_user
        self._window_ms = window_ms
        self._groups: dict[str, _Group] = {}
        self._by_owner: dict[str, dict[str, None]] = {}  # owner -> group ids, creation order

    def __len__(self) -> int:
        """Return the number of groups."""
        return len(self._groups)

    def __contains__(self, group_id: object) -> bool:
        """Return whether a group with this id exists."""
        return group_id in self._groups

    def count(self, owner: str) -> int:
        """Return how many groups `owner` holds (across subaccounts)."""
        return len(self._by_owner.get(owner, ()))

    def _owned(self, owner: str, group_id: str, subaccount: int | None) -> _Group:
        group = self._groups.get(group_id)
        if (
            group is None
            or group.owner != owner
            or (subaccount is not None and group.subaccount != subaccount)
        ):
            raise OrderGroupNotFoundError(details=f"order group {group_id!r}")
        return group

    def _by_id(self, group_id: str) -> _Group:
        group = self._groups.get(group_id)
        if group is None:
            raise OrderGroupNotFoundError(details=f"order group {group_id!r}")
        return group

    def create(
        self, owner: str, subaccount: int, limit: int, exchange_index: int, group_id: str
    ) -> OrderGroup:
        """Create an active, empty group.

        Args:
            owner: The user creating the group.
            subaccount: The subaccount it belongs to (0 = primary).
            limit: Contracts limit in 1/100 contract (see `contracts_limit_from_wire`).
            exchange_index: The exchange it is bound to.
            group_id: A new, unique id chosen by the caller.

        Raises:
            InvalidParametersError: The limit is out of range.
            LimitExceededError: The user already holds the maximum number of groups.
            ValueError: `group_id` is already in use, or the subaccount or index is negative.
        """
        _check_limit(limit)
        if group_id in self._groups:
            raise ValueError(f"order group id {group_id!r} is already in use")
        if subaccount < 0 or exchange_index < 0:
            raise ValueError("subaccount and exchange_index must be non-negative")
        owned = self._by_owner.setdefault(owner, {})
        if len(owned) >= self._max_groups_per_user:
            raise LimitExceededError(
                details=f"at most {self._max_groups_per_user} order groups per user"
            )
        group = _Group(group_id, owner, subaccount, exchange_index, limit)
        self._groups[group_id] = group
        owned[group_id] = None
        return group.view()

    def get(self, owner: str, group_id: str, subaccount: int | None = None) -> OrderGroup:
        """Return a snapshot of the owner's group.

        Raises:
            OrderGroupNotFoundError: No such group for this owner (and subaccount, if given).
        """
        return self._owned(owner, group_id, subaccount).view()

    def view_of(self, group_id: str) -> OrderGroup:
        """Return the current view of a group by id, whoever owns it.

        Raises:
            OrderGroupNotFoundError: No such group.
        """
        return self._by_id(group_id).view()

    def check_can_place(self, owner: str, subaccount: int, group_id: str) -> None:
        """Check that an order of `owner`'s `subaccount` may join the group.

        Raises:
            OrderGroupNotFoundError: No such group for this owner and subaccount.
            OrderGroupTriggeredError: The group is triggered; it must be reset first.
        """
        if self._owned(owner, group_id, subaccount).triggered:
            raise OrderGroupTriggeredError(details=f"order group {group_id!r}")

    def add_order(self, group_id: str, order_id: str) -> None:
        """Make `order_id` a live member of the group.

        Call it when the order is accepted, before it matches, so that a trigger caused by
        the order's own fills lists the order among those to cancel.

        Raises:
            OrderGroupNotFoundError: No such group.
        """
        self._by_id(group_id).members[order_id] = None

    def remove_order(self, group_id: str, order_id: str) -> None:
        """Forget a member that became terminal (filled, cancelled, expired); idempotent.

        Unknown groups (for instance deleted ones) and non-members are ignored.
        """
        group = self._groups.get(group_id)
        if group is not None:
            group.members.pop(order_id, None)

    def member_orders(self, group_id: str) -> builtins.list[str]:
        """Return the group's live member order ids in the order they joined.

        Raises:
            OrderGroupNotFoundError: No such group.
        """
        return builtins.list(self._by_id(group_id).members)

    def record_fill(self, group_id: str, count: int, ts_ms: int) -> bool:
        """Count a fill of a member order; return True when this fill triggered the group.

        A fill for an unknown (deleted) group is ignored and returns False. After a True the
        exchange cancels `member_orders(group_id)`.

        Args:
            group_id: The filled order's group.
            count: Contracts filled, in 1/100 contract (positive).
            ts_ms: When the fill happened.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"fill count must be a positive integer, was {count!r}")
        group = self._groups.get(group_id)
        if group is None:
            return False
        group.advance(ts_ms, self._window_ms)
        group.fills.append((ts_ms, count))
        group.window_total += count
        if not group.triggered and group.window_total > group.limit:
            group.triggered = True
            return True
        return False

    def window_total(self, group_id: str, ts_ms: int) -> int:
        """Return the contracts (1/100) the group's orders filled in the window ending at `ts_ms`.

        Raises:
            OrderGroupNotFoundError: No such group.
        """
        group = self._by_id(group_id)
        group.advance(ts_ms, self._window_ms)
        return group.window_total

    def trigger(
        self, owner: str, group_id: str, subaccount: int | None = None
    ) -> builtins.list[str]:
        """Trigger the group now (idempotent); return the member order ids to cancel.

        Raises:
            OrderGroupNotFoundError: No such group for this owner (and subaccount, if given).
        """
        group = self._owned(owner, group_id, subaccount)
        group.triggered = True
        return builtins.list(group.members)

    def reset(self, owner: str, group_id: str, subaccount: int | None = None) -> None:
        """Clear the triggered state and the rolling counter.

        Raises:
            OrderGroupNotFoundError: No such group for this owner (and subaccount, if given).
        """
        group = self._owned(owner, group_id, subaccount)
        group.triggered = False
        group.clear_window()

    def delete(
        self, owner: str, group_id: str, subaccount: int | None = None
    ) -> builtins.list[str]:
        """Remove the group; return its member order ids (the exchange cancels them).

        Raises:
            OrderGroupNotFoundError: No such group for this owner (and subaccount, if given).
        """
        group = self._owned(owner, group_id, subaccount)
        del self._groups[group_id]
        owned = self._by_owner[owner]
        del owned[group_id]
        if not owned:
            del self._by_owner[owner]
        return builtins.list(group.members)

    def update_limit(
        self,
        owner: str,
        group_id: str,
        limit: int,
        ts_ms: int,
        subaccount: int | None = None,
    ) -> bool:
        """Set a new contracts limit; return True when it trips the group at `ts_ms`.

        The group trips when the window total at `ts_ms` already exceeds the new limit; the
        exchange then cancels `member_orders(group_id)`. An already triggered group stays
        triggered and returns False.

        Raises:
            InvalidParametersError: The limit is out of range.
            OrderGroupNotFoundError: No such group for this owner (and subaccount, if given).
        """
        _check_limit(limit)
        group = self._owned(owner, group_id, subaccount)
        group.advance(ts_ms, self._window_ms)
        group.limit = limit
        if not group.triggered and group.window_total > limit:
            group.triggered = True
            return True
        return False

    def list(self, owner: str, subaccount: int | None = None) -> builtins.list[OrderGroup]:
        """Return the owner's groups (of one subaccount, if given) in creation order."""
        groups = self._groups
        views = []
        for group_id in self._by_owner.get(owner, ()):
            group = groups[group_id]
            if subaccount is None or group.subaccount == subaccount:
                views.append(group.view())
        return views
