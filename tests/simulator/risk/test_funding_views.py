"""Funding read models read without changing anything: the estimate and the settlement mark.

The exchange starts half a second off the ticker grid, so its markets have a liquidation mark
but no settlement mark stored yet, and no funding estimate computed.
"""

from __future__ import annotations

from matching import Side
from simulator.exchange import Exchange
from simulator.model.orders import PlaceOrder
from simulator.risk.funding_views import funding_estimate
from simulator.server.state_hash import state_hash
from tests.simulator.factories import T0, dollars, make_exchange

BTC = "KXBTCPERP"


def off_grid() -> Exchange:
    ex = make_exchange(start_ms=T0 + 500)
    for name in ("alice", "bob"):
        ex.create_user(user_id=name, balance=dollars("5000"))
    ex.place_order("alice", PlaceOrder(BTC, Side.ASK, 62_600, 300, "a-1"))
    ex.place_order("bob", PlaceOrder(BTC, Side.BID, 62_580, 300, "b-1"))
    return ex


def test_reads_match_what_the_exchange_computes_at_the_same_instant() -> None:
    read, computed = off_grid(), off_grid()
    data = read.markets[BTC]
    assert data.mark is not None and data.settlement.value is None

    peeked = (read.pricing.peek_settlement_mark(data), read.pricing.peek_funding_estimate(data))
    other = computed.markets[BTC]
    stored = (computed.pricing.settlement_mark(other), computed.pricing.funding_estimate(other))

    assert peeked == stored
    assert data.settlement.value is None


def test_reading_the_estimate_changes_neither_state_nor_later_events() -> None:
    read, untouched = off_grid(), off_grid()

    first = funding_estimate(read, BTC)
    hashes = [(state_hash(read), state_hash(untouched))]
    read.advance(200)
    untouched.advance(200)
    second = funding_estimate(read, BTC)
    read.pricing.peek_settlement_mark(read.markets[BTC])
    hashes.append((state_hash(read), state_hash(untouched)))
    read.advance(120_000)
    untouched.advance(120_000)
    hashes.append((state_hash(read), state_hash(untouched)))

    assert all(ours == theirs for ours, theirs in hashes)
    assert (first.computed_ms, second.computed_ms) == (T0 + 500, T0 + 700)
    assert first.mark_price == second.mark_price == read.markets[BTC].mark
    assert read.events_since(0) == untouched.events_since(0)
