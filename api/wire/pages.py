"""Cursor pagination shared by the paginated lists (orders, fills): REST.md (c).

Cursors are opaque to clients: a list kind and a position in the list's creation order, so a
cursor stays valid while new items are appended. Pages run newest first; the last page's cursor
is `""`, which the spec's required `cursor` field allows and kalshi-sdk reads as the end.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import TypeVar

from api.errors import BadRequestError

__all__ = ["decode_cursor", "encode_cursor", "page", "time_bounds"]

T = TypeVar("T")


def encode_cursor(kind: str, position: int) -> str:
    """An opaque cursor for `position` in a list of `kind`."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str, size: int) -> int:
    """The position a cursor points at (`size` for no cursor), or 400 `invalid_parameters`."""
    if not cursor:
        return size
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise BadRequestError("cursor is malformed") from None
    prefix, _, number = text.partition(":")
    if prefix != kind or not number.isdigit() or len(number) > 18 or int(number) > size:
        raise BadRequestError("cursor is malformed")
    return int(number)


def page(
    items: Sequence[T],
    start: int,
    stop: int,
    limit: int,
    keep: Callable[[T], bool] | None,
    kind: str,
) -> tuple[list[T], str]:
    """Up to `limit` kept items of `items[stop:start]`, newest (highest index) first.

    Returns them and the cursor of the next page ("" when nothing kept is left).
    """
    found: list[T] = []
    position = start
    while position > stop:
        item = items[position - 1]
        if keep is None or keep(item):
            if len(found) == limit:
                return found, encode_cursor(kind, position)
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
