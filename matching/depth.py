"""Depth snapshots: the aggregate count per price, best first, optionally in coarser buckets."""

from __future__ import annotations

import msgspec

from matching.enums import Side
from matching.levels import BookSide


class Depth(msgspec.Struct, frozen=True):
    """`(price, count)` pairs per side, best first: bids descending, asks ascending."""

    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]


def aggregate(side: BookSide, levels: int, tick: int) -> list[tuple[int, int]]:
    """Sum one side into buckets of `tick`, best first, keeping at most `levels` (0 = all).

    Bids bucket down and asks up to a multiple of `tick`.
    Runtime complexity: `O(k)` for the `k` price levels read (from the best to the last one
    kept, empty levels between included).
    """
    out: list[tuple[int, int]] = []
    round_down = side.side is Side.BID
    for price, total in side.occupied():
        if tick != 1:
            price = price // tick * tick if round_down else -(-price // tick) * tick
        if out and out[-1][0] == price:
            out[-1] = (price, out[-1][1] + total)
        elif len(out) == levels and levels:
            break
        else:
            out.append((price, total))
    return out
