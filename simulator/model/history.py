"""`History`: a list of records whose oldest entries the exchange may drop, numbered for good.

Retention (`simulator.risk.retention`) drops the oldest entries of some tables in batches;
`dropped` counts them, so `dropped + i` stays the number of entry `i` (a cursor can name it)
whatever was dropped since. Appends and reads are those of a plain list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["History"]

T = TypeVar("T")


class History(list[T]):
    """A list with a count of the entries dropped from its front.

    >>> trail = History([1, 2, 3, 4])
    >>> trail.drop_oldest(3)
    >>> trail, trail.dropped
    ([4], 3)
    """

    __slots__ = ("dropped",)

    def __init__(self, items: Iterable[T] = ()) -> None:
        super().__init__(items)
        self.dropped = 0

    def drop_oldest(self, count: int) -> None:
        """Drop the `count` oldest entries (all of them if there are fewer)."""
        count = min(count, len(self))
        if count > 0:
            del self[:count]
            self.dropped += count
