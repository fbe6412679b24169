"""Replayed references' progress: read models, texts, the banner lines and the run-out line."""

from __future__ import annotations

import logging

import pytest

from simulator.core.clock import ManualClock
from simulator.core.money import parse_price
from simulator.server.replays import (
    ReplayProgress,
    ReplayWatch,
    banner_lines,
    progress_text,
    replay_progress,
)
from simulator.server.runtime import Runtime
from simulator.server.scenarios import build_exchange, load_scenario

BTC = "KXBTCPERP"
SPAN_MS = 629_000  # fixtures/feeds/btc_crash.csv: 31 points over 10m29s


def _cascade() -> Runtime:
    return Runtime(load_scenario("liquidation-cascade"), clock_mode="manual")


def test_only_replayed_markets_have_progress_by_the_share_of_their_span():
    runtime = _cascade()
    exchange = runtime.exchange
    start = exchange.now()

    (at_start,) = replay_progress(exchange)
    exchange.advance(SPAN_MS // 2)
    (half,) = replay_progress(exchange)
    exchange.advance(SPAN_MS)

    assert at_start == ReplayProgress(BTC, 1, 31, start, start + SPAN_MS, 0.0, False)
    assert (half.percent, half.done) == (50.0, False)
    assert half.points_reached == 1  # flat for 10 minutes: the other 30 come in the last 29 s
    assert replay_progress(exchange) == [
        ReplayProgress(BTC, 31, 31, start, start + SPAN_MS, 100.0, True)
    ]
    assert replay_progress(Runtime(load_scenario("default"), clock_mode="manual").exchange) == []


def test_a_pinned_replay_still_shows_its_progress():
    exchange = _cascade().exchange
    exchange.set_reference_price(BTC, parse_price("6.0000"), pin=True)
    exchange.advance(SPAN_MS)

    (progress,) = replay_progress(exchange)
    assert (progress.points_reached, progress.done) == (31, True)


def test_texts_and_banner_lines():
    exchange = _cascade().exchange

    assert progress_text(replay_progress(exchange)) == "replay KXBTCPERP 0.0% (1 of 31 points)"
    assert progress_text([]) == ""
    assert banner_lines(exchange) == [
        "  replay      KXBTCPERP: 31 points, 2026-06-15T00:00:00.000Z to "
        "2026-06-15T00:10:29.000Z (10m29s)"
    ]


def _ran_out(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "perps_sim.replay"]


def test_the_watch_logs_once_when_a_replay_runs_out_and_again_after_a_reset(
    caplog: pytest.LogCaptureFixture,
):
    runtime = _cascade()
    runtime.bus.subscribe(ReplayWatch(lambda: runtime.exchange))

    with caplog.at_level(logging.INFO, logger="perps_sim.replay"):
        runtime.exchange.advance(SPAN_MS - 1)
        assert _ran_out(caplog) == []
        runtime.exchange.advance(1)
        runtime.exchange.advance(60_000)
        assert _ran_out(caplog) == [
            "replay of KXBTCPERP ran out at 2026-06-15T00:10:29.000Z (31 points over 10m29s): "
            "its reference stays at 4.6285 until set"
        ]
        runtime.reset()  # back to the start: the replay runs again
        runtime.exchange.advance(SPAN_MS)
    assert len(_ran_out(caplog)) == 2


def test_the_watch_of_a_scenario_without_replays_or_after_its_end_says_nothing(
    caplog: pytest.LogCaptureFixture,
):
    plain = Runtime(load_scenario("default"), clock_mode="manual")
    plain.bus.subscribe(ReplayWatch(lambda: plain.exchange))
    ended = _cascade()
    ended.exchange.advance(SPAN_MS + 1_000)
    ended.bus.subscribe(ReplayWatch(lambda: ended.exchange))  # e.g. a recovered journal

    with caplog.at_level(logging.INFO, logger="perps_sim.replay"):
        plain.exchange.advance(60_000)
        ended.exchange.advance(60_000)
    assert _ran_out(caplog) == []


def test_a_lagging_exchange_shows_where_it_has_got_not_where_its_clock_is():
    scenario = load_scenario("liquidation-cascade")
    clock = ManualClock(scenario.start_ms)
    exchange = build_exchange(scenario, clock)
    clock.set(scenario.start_ms + SPAN_MS + 60_000)  # the clock ran on; no timer fired yet

    (behind,) = replay_progress(exchange)
    exchange.run_due()
    (caught_up,) = replay_progress(exchange)

    assert exchange.now() > behind.last_ts_ms and not behind.done
    assert behind.percent < 1
    assert caught_up.done
