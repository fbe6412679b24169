"""The shipped dry-run scenarios do what the README says they are for."""

from __future__ import annotations

from simulator.core.clock import ManualClock
from simulator.core.events import FillExecuted, LiquidationStep
from simulator.exchange import Exchange
from simulator.risk.funding_views import premium_index
from simulator.server.scenarios import build_exchange, load_scenario

MINUTE = 60_000
TICKERS = ("KXBTCPERP", "KXETHPERP", "KXSOLPERP")


def _index(ex: Exchange, ticker: str) -> int:
    reference = ex.markets[ticker].reference
    assert reference is not None
    return reference[0]


def _build(name: str) -> Exchange:
    scenario = load_scenario(name)
    return build_exchange(scenario, ManualClock(scenario.start_ms))


def test_liquidation_cascade_liquidates_the_four_longs_one_after_another() -> None:
    ex = _build("liquidation-cascade")
    start = ex.now()
    longs = [f"long-{i}" for i in range(1, 5)]
    assert [ex.users[u].subaccounts[0].positions["KXBTCPERP"].qty for u in longs] == [6_000] * 4
    ex.advance(10 * MINUTE)
    assert not [e for _, e in ex.events_since(0) if isinstance(e, LiquidationStep)]
    ex.advance(MINUTE)  # the index falls 1 % a second for 30 s
    started = [
        (e.user_id, e.ts_ms - start)
        for _, e in ex.events_since(0)
        if isinstance(e, LiquidationStep) and e.stage == "started"
    ]
    assert [user for user, _ in started] == longs  # least margin first
    times = [at for _, at in started]
    assert times == sorted(set(times)) and times[0] > 10 * MINUTE and times[-1] < 11 * MINUTE
    assert all(ex.users[u].subaccounts[0].positions["KXBTCPERP"].qty == 0 for u in longs)


def test_funding_keeps_a_positive_premium_on_every_market() -> None:
    ex = _build("funding")
    start_s = ex.now() // 1000
    ex.advance(10 * MINUTE)
    for ticker in TICKERS:
        points = premium_index(ex, ticker, start_s + 1, start_s + 600)
        assert len(points) == 600
        # positive every second but a few where the book is briefly thinner than the impact
        # notional (the premium is then invalid and counts as 0); never negative
        assert all(premium >= 0 for _, premium in points), ticker
        assert sum(premium > 0 for _, premium in points) >= 570, ticker
    assert any(isinstance(e, FillExecuted) for _, e in ex.events_since(0))  # positions exist


def test_volatile_moves_faster_and_trades_more_than_default() -> None:
    moves, fills = {}, {}
    for name in ("default", "volatile"):
        ex = _build(name)
        first = {t: _index(ex, t) for t in TICKERS}
        ex.advance(10 * MINUTE)
        moves[name] = sum(abs(_index(ex, t) - first[t]) * 10_000 // first[t] for t in TICKERS)
        fills[name] = sum(isinstance(e, FillExecuted) for _, e in ex.events_since(0))
    assert moves["volatile"] > 2 * moves["default"]
    assert fills["volatile"] > fills["default"]
    ladder = _build("volatile").markets["KXBTCPERP"].book
    bid, ask = ladder.best_bid(), ladder.best_ask()
    assert bid is not None and ask is not None and ask[0] - bid[0] >= 60  # 30 ticks each side
