"""Per-market live state: the rolling 24-hour volume and its read without side effects."""

from __future__ import annotations

from simulator.model.market_data import MarketData
from tests.simulator.factories import T0, make_exchange

DAY_MS = 86_400_000


def market() -> MarketData:
    return make_exchange().markets["KXBTCPERP"]


def test_volume_24h_at_is_what_expiring_would_leave_and_drops_nothing() -> None:
    data = market()
    data.record_trade(T0, 62_590, 100)
    data.record_trade(T0 + 1_000, 62_600, 200)
    data.record_trade(T0 + 2_000, 62_610, 300)

    read = [data.volume_24h_at(T0 + DAY_MS + ms) for ms in (-1, 0, 1_000, 2_000)]
    kept = (data.volume_24h, data.volume_24h_notional, len(data.recent_trades))
    data.expire_volume(T0 + DAY_MS + 1_000)

    assert read == [
        (600, 62_590 * 100 + 62_600 * 200 + 62_610 * 300),
        (500, 62_600 * 200 + 62_610 * 300),
        (300, 62_610 * 300),
        (0, 0),
    ]
    assert kept == (600, 62_590 * 100 + 62_600 * 200 + 62_610 * 300, 3)
    assert (data.volume_24h, data.volume_24h_notional) == read[2]


def test_volume_24h_at_without_trades_is_zero() -> None:
    assert market().volume_24h_at(T0 + 5 * DAY_MS) == (0, 0)
