"""Cursor pagination shared by the paginated lists (orders, fills): REST.md (c).

Cursors are opaque to clients: a list kind and a number in the list's creation order, so a
cursor stays valid while new items are appended. Items carry numbers that stay theirs when older
items are dropped (retention, `simulator.risk.retention`): a cursor names "the items numbered
below n", so it keeps its place too (what it pointed past and was dropped is simply gone). While
nothing was dropped, an item's number is its position. Pages run newest first; the last page's
cursor is `""`, which the spec's required `cursor` field allows and kalshi-sdk reads as the end.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from typing import TypeVar

from api.errors import BadRequestError

__all__ = ["decode_cursor", "encode_cursor", "page", "time_bounds"]

T = TypeVar("T")


def encode_cursor(kind: str, position: int) -> str:
    """An opaque cursor for `position` in a list of `kind`."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str | None,
    kind: str,
    size: int,
    numbers: Sequence[int] | None = None,
    upper: int | None = None,
) -> int:
    """The position a cursor points at (`size` for no cursor), or 400 `invalid_parameters`.

    Args:
        numbers: The items' numbers, ascending (None: each item's number is its position).
        upper: The highest number a cursor may hold (the next item's number; default `size`).
    """
    if not cursor:
        return size
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise BadRequestError("cursor is malformed") from None
    prefix, _, number = text.partition(":")
    most = size if upper is None else upper
    if prefix != kind or not number.isdigit() or len(number) > 18 or int(number) > most:
        raise BadRequestError("cursor is malformed")
    if numbers is None:
        return int(number)
    return bisect_left(numbers, int(number))


def page(
    items: Sequence[T],
    start: int,
    stop: int,
    limit: int,
    keep: Callable[[T], bool] | None,
    kind: str,
    numbers: Sequence[int] | None = None,
) -> tuple[list[T], str]:
    """Up to `limit` kept items of `items[stop:start]`, newest (highest index) first.

    Returns them and the cursor of the next page ("" when nothing kept is left); `numbers` as
    for `decode_cursor`.
    """
    found: list[T] = []
    position = start
    while position > stop:
        item = items[position - 1]
        if keep is None or keep(item):
            if len(found) == limit:
                mark = position if numbers is None else numbers[position - 1] + 1
                return found, encode_cursor(kind, mark)
            found.append(item)
        position -= 1
    return found, ""


def time_bounds(
    times: Callable[[int], int], size: int, min_ts: int | None, max_ts: int | None
) -> tuple[int, int]:
    """Index range [lo, hi) of a time-ordered list inside [min_ts, max_ts] (Unix seconds)."""
    hi = size
    if max_ts is not None:
        hi = bisect_right(range(size), (max_ts + 1) * 1000 - 1, key=times)
    lo = 0
    if min_ts is not None:
        lo = bisect_right(range(size), min_ts * 1000 - 1, key=times)
    return lo, hi
