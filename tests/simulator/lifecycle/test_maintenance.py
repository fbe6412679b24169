"""Maintenance: the weekly window closes the exchange; funding due meanwhile is paid after."""

from __future__ import annotations

import pytest

from matching import Side
from simulator.core import errors
from simulator.core.events import ExchangeChanged, FundingRateSet
from simulator.model.orders import PlaceOrder
from tests.simulator.factories import dollars, make_exchange, make_spec

BTC = "KXBTCPERP"
# Thursday 2026-06-18 02:59:00 EDT (06:59 UTC)
BEFORE_WINDOW = 1_781_765_940_000
# Sunday 2026-06-14 03:59:00 UTC = 23:59 EDT, a minute before a crypto funding time
BEFORE_FUNDING = 1_781_409_540_000


def _active(ex) -> bool:
    return bool(ex.exchange_active)


def test_weekly_window_closes_and_reopens_the_exchange():
    ex = make_exchange(make_spec(), start_ms=BEFORE_WINDOW, maintenance_window=True)
    user = ex.create_user(balance=dollars("100")).user_id
    keep = ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 100, "keep")).order
    drop = ex.place_order(
        user, PlaceOrder(BTC, Side.BID, 59000, 100, "drop", cancel_order_on_pause=True)
    ).order

    ex.advance(60_000)

    assert not _active(ex)
    assert ex.orders[drop.order_id].remaining == 0
    assert ex.orders[keep.order_id].remaining == 100
    with pytest.raises(errors.TradingPausedError):
        ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 100, "late"))
    ex.advance(2 * 3_600_000)
    assert _active(ex)
    ex.place_order(user, PlaceOrder(BTC, Side.BID, 60000, 100, "after"))
    changes = [e for _, e in ex.events_since(0) if isinstance(e, ExchangeChanged)]
    assert [(c.exchange_active, c.ts_ms - BEFORE_WINDOW) for c in changes] == [
        (False, 60_000),
        (True, 60_000 + 2 * 3_600_000),
    ]


def test_marks_are_frozen_while_closed():
    ex = make_exchange(make_spec(reference="6.0000"))
    ex.set_exchange_active(False)

    ex.set_reference_price(BTC, 50000)
    assert ex.mark(BTC) == 60000
    ex.set_exchange_active(True)

    assert ex.mark(BTC) == 50000


def test_funding_due_while_closed_is_paid_on_reopening():
    ex = make_exchange(make_spec(), start_ms=BEFORE_FUNDING)
    ex.set_exchange_active(False)

    ex.advance(120_000)
    rates = [e for _, e in ex.events_since(0) if isinstance(e, FundingRateSet)]
    assert rates == []
    ex.set_exchange_active(True)

    rates = [e for _, e in ex.events_since(0) if isinstance(e, FundingRateSet)]
    assert [(r.ticker, r.funding_time_ms) for r in rates] == [
        (t, BEFORE_FUNDING + 60_000) for t in ("KXBTCPERP",)
    ]
    assert rates[0].ts_ms == BEFORE_FUNDING + 120_000
