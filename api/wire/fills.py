"""Fills on the wire: MarginFill rendering and the pages of `/margin/fills`, cut from the
exchange's per-user fill index (`simulator.risk.indexes.FillIndex`).

Deviation: an omitted `subaccount` lists fills of every subaccount (kalshi-sdk 22.4.0's
documented behaviour and the other lists' convention) instead of the spec's default 0.
Assumption: fills are listed newest first; `min_ts` / `max_ts` (Unix seconds, both inclusive)
bound the execution time. The spec declares no `ticker` or `order_id` filter here.
Assumption: a fill that opens a position from flat has no prior entry price and reports
`entry_price` "0.0000" (its `realized_pnl` is 0).
"""

from __future__ import annotations

from typing import Any

from api.wire.common import rfc3339
from api.wire.pages import decode_cursor, page, time_bounds
from simulator.core.events import FillRecord
from simulator.core.money import format_count, format_dollars, format_price
from simulator.exchange import Exchange

__all__ = ["fill_page", "margin_fill"]


def margin_fill(fill: FillRecord) -> dict[str, Any]:
    """MarginFill."""
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "is_taker": fill.is_taker,
        "side": fill.side.value,
        "count": format_count(fill.count),
        "created_time": rfc3339(fill.ts_ms),
        "ticker": fill.ticker,
        "price": format_price(fill.price),
        "entry_price": format_dollars(fill.entry_price or 0),
        "fees": format_dollars(fill.fee),
        "realized_pnl": format_dollars(fill.realized_pnl),
        "order_source": fill.order_source,
    }


def fill_page(
    exchange: Exchange,
    positions: list[int],
    dropped: int,
    *,
    subaccount: int | None,
    min_ts: int | None,
    max_ts: int | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """GetMarginFillsResponse for one page of a user's fills.

    `dropped`: how many older fills of the user retention dropped (`FillIndex.dropped`): the
    number of the first listed, so cursors keep their place.
    """
    fills = exchange.fills
    size = len(positions)
    numbers = range(dropped, dropped + size)
    lo, hi = time_bounds(lambda i: fills[positions[i]].ts_ms, size, min_ts, max_ts)
    start = min(decode_cursor(cursor, "fills", size, numbers, dropped + size), hi)
    keep = None if subaccount is None else (lambda p: fills[p].subaccount == subaccount)
    found, next_cursor = page(positions, start, lo, limit, keep, "fills", numbers)
    return {"fills": [margin_fill(fills[p]) for p in found], "cursor": next_cursor}
