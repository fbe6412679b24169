"""Mark prices: the liquidation mark and the settlement mark of one market.

This module owns how the two marks are computed (MECHANICS §4.2, §4.3, §9 #2-#3, §10):

- liquidation mark `LM = median(best_bid, best_ask, reference)` when both sides of the book
  exist, else the reference price;
- settlement mark `SM` = time average of `LM` over a trailing window (60 s), refreshed on a
  fixed grid (every 10 s).

Prices are integer ticks and times integer epoch milliseconds passed in by the caller; nothing
here reads a clock or does I/O.
"""

from __future__ import annotations

from collections import deque

from simulator.core.money import round_half_even

__all__ = ["SettlementMark", "liquidation_mark"]


def liquidation_mark(
    best_bid: int | None, best_ask: int | None, reference: int | None
) -> int | None:
    """Return the liquidation mark: the median of best bid, best ask and reference price.

    With either side of the book empty the mark is the reference price; with no reference
    price there is no mark. Prices are ticks.

    Examples (MECHANICS §11 validation vectors):

    >>> from simulator.core.money import format_price, parse_price
    >>> bid, ask = parse_price("6.3352"), parse_price("6.3556")
    >>> format_price(liquidation_mark(bid, ask, parse_price("6.3324")))
    '6.3352'
    >>> format_price(liquidation_mark(bid, ask, parse_price("6.3363")))
    '6.3363'
    >>> liquidation_mark(None, ask, 63_363), liquidation_mark(bid, ask, None)
    (63363, None)
    """
    if reference is None:
        return None
    if best_bid is None or best_ask is None:
        return reference
    # comparisons rather than min(max(...)): this runs once per market per second
    low, high = (best_bid, best_ask) if best_bid <= best_ask else (best_ask, best_bid)
    return low if reference < low else high if reference > high else reference


class SettlementMark:
    """Track one market's liquidation-mark history and its settlement mark.

    The history is a step function: a value recorded at `ts_ms` is in force from `ts_ms` until
    the next recorded change. `refresh(ts_ms)` stores the time average over
    `[ts_ms - window_ms, ts_ms)`. Only changes are kept (recording the value already in force
    adds nothing), and changes that can no longer reach a future window are pruned, so memory
    and work are proportional to the number of changes in one window, not to elapsed time.

    Calls must come in non-decreasing time order (across `record` and `refresh`).

    Assumption: when the history does not cover the whole window (the market is younger than
    the window), the average is taken over the covered part only; when nothing of the window
    is covered, the settlement mark is the liquidation mark in force.

    Assumption: the average rounds half to even to a whole tick.

    >>> sm = SettlementMark()
    >>> sm.record(0, 63_300)
    >>> sm.record(30_000, 63_400)
    >>> sm.refresh(60_000), sm.value
    (63350, (63350, 60000))
    >>> sm.next_refresh_after(60_000)
    70000
    """

    def __init__(self, *, window_ms: int = 60_000, refresh_ms: int = 10_000) -> None:
        """Configure the averaging window and the refresh grid (both in milliseconds)."""
        for name, value in (("window_ms", window_ms), ("refresh_ms", refresh_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, was {value!r}")
        self._window_ms = window_ms
        self._refresh_ms = refresh_ms
        # (from_ts_ms, liquidation mark, its time integral from a fixed origin up to from_ts_ms):
        # a window's integral is then the difference of two ends, whatever it holds between
        self._changes: deque[tuple[int, int, int]] = deque()
        self._value: tuple[int, int] | None = None
        self._now: int | None = None

    @property
    def window_ms(self) -> int:
        """Return the length of the averaging window in milliseconds."""
        return self._window_ms

    @property
    def refresh_ms(self) -> int:
        """Return the refresh period in milliseconds."""
        return self._refresh_ms

    @property
    def value(self) -> tuple[int, int] | None:
        """Return the stored settlement mark as `(price_ticks, ts_ms)`, or None before any."""
        return self._value

    @property
    def liquidation_mark(self) -> tuple[int, int] | None:
        """Return the latest recorded liquidation-mark change as `(price_ticks, from_ts_ms)`."""
        if not self._changes:
            return None
        since, price, _ = self._changes[-1]
        return price, since

    def _tick(self, ts_ms: int) -> None:
        if type(ts_ms) is not int and (isinstance(ts_ms, bool) or not isinstance(ts_ms, int)):
            raise ValueError(f"ts_ms must be integer epoch milliseconds, was {ts_ms!r}")
        if self._now is not None and ts_ms < self._now:
            raise ValueError(f"time went backwards: {ts_ms} < {self._now}")
        self._now = ts_ms

    def _prune(self, ts_ms: int) -> None:
        """Drop changes superseded before `ts_ms - window_ms` (no later window reaches them)."""
        start = ts_ms - self._window_ms
        changes = self._changes
        while len(changes) >= 2 and changes[1][0] <= start:
            changes.popleft()

    def record(self, ts_ms: int, liquidation_mark: int) -> None:
        """Record the liquidation mark in force from `ts_ms` on.

        Recording at the same instant as the previous change replaces it.
        """
        self._tick(ts_ms)
        if type(liquidation_mark) is not int and (
            isinstance(liquidation_mark, bool) or not isinstance(liquidation_mark, int)
        ):
            raise ValueError(f"liquidation_mark must be integer ticks, was {liquidation_mark!r}")
        changes = self._changes
        if changes and changes[-1][0] == ts_ms:
            changes.pop()
        if not changes:
            changes.append((ts_ms, liquidation_mark, 0))
        elif changes[-1][1] != liquidation_mark:
            since, price, area = changes[-1]
            changes.append((ts_ms, liquidation_mark, area + price * (ts_ms - since)))
        self._prune(ts_ms)

    def _average(self, ts_ms: int) -> int:
        # the time average over [ts_ms - window, ts_ms) of any history (value_at reads it
        # unpruned): a sum over the changes
        start = ts_ms - self._window_ms
        changes = self._changes
        total = 0
        covered = 0
        for index, (since, price, _) in enumerate(changes):
            until = changes[index + 1][0] if index + 1 < len(changes) else ts_ms
            lo = max(since, start)
            hi = min(until, ts_ms)
            if hi > lo:
                total += price * (hi - lo)
                covered += hi - lo
        if covered == 0:
            return changes[-1][1]
        return round_half_even(total, covered)

    def _pruned_average(self, ts_ms: int) -> int:
        # `_average` of a history pruned at `ts_ms`: its first change is in force at the window
        # start (or starts inside the window), so the integral is the difference of two ends
        changes = self._changes
        first_since, first_price, first_area = changes[0]
        lo = max(first_since, ts_ms - self._window_ms)
        if lo >= ts_ms:
            return changes[-1][1]  # nothing of the window covered
        last_since, last_price, last_area = changes[-1]
        total = last_area + last_price * (ts_ms - last_since)
        total -= first_area + first_price * (lo - first_since)
        return round_half_even(total, ts_ms - lo)

    def refresh(self, ts_ms: int) -> int:
        """Compute and store the settlement mark at `ts_ms`; return it in ticks.

        The mark is the time average of the liquidation mark over `[ts_ms - window_ms, ts_ms)`
        (see the class's assumptions for a partly covered window).

        Raises:
            ValueError: No liquidation mark was ever recorded, or time went backwards.
        """
        self._tick(ts_ms)
        if not self._changes:
            raise ValueError("no liquidation mark recorded yet")
        self._prune(ts_ms)
        price = self._pruned_average(ts_ms)
        self._value = (price, ts_ms)
        return price

    def value_at(self, ts_ms: int) -> tuple[int, int] | None:
        """Return the stored settlement mark, or before the first refresh the one `refresh(ts_ms)`
        would store, changing nothing; None while no liquidation mark was recorded.

        >>> sm = SettlementMark()
        >>> sm.record(0, 63_300)
        >>> sm.value_at(5_000), sm.value
        ((63300, 5000), None)
        """
        if self._value is not None or not self._changes:
            return self._value
        # changes a refresh would prune lie wholly before the window: they add nothing
        return self._average(ts_ms), ts_ms

    def is_settled(self) -> bool:
        """Return True when further refreshes cannot change the stored settlement mark.

        That is the case when a single liquidation mark covers everything a future window
        can see and the stored settlement mark already equals it.
        """
        return (
            self._value is not None
            and len(self._changes) == 1
            and self._changes[0][1] == self._value[0]
        )

    def next_refresh_after(self, ts_ms: int) -> int | None:
        """Return the next refresh instant on the grid strictly after `ts_ms`.

        Returns None when there is nothing to refresh: no liquidation mark yet, or the mark has
        been constant for a whole window and the stored settlement mark already equals it. A
        later change (`record`) makes refreshes due again.
        """
        if not self._changes or self.is_settled():
            return None
        return (ts_ms // self._refresh_ms + 1) * self._refresh_ms
