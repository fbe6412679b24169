"""Tests of the reference-price feeds (simulator/model/feeds.py)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from simulator.core.money import round_half_even
from simulator.model.feeds import (
    RandomWalkFeed,
    ReferenceFeed,
    ReplayFeed,
    StaticFeed,
    feed_from_config,
    load_replay_file,
    parse_replay_lines,
)

T0 = 1_781_395_200_000  # 2026-06-14 00:00:00 UTC, on the second grid
EIGHT_HOURS_MS = 8 * 3_600_000
SAMPLE = Path(__file__).resolve().parents[3] / "fixtures" / "feeds" / "sample_replay.csv"


# ---------------------------------------------------------------- static


def test_static_feed_any_time_returns_constant_on_second_grid():
    feed = StaticFeed(62_590)

    assert feed.price_at(T0) == (62_590, T0)
    assert feed.price_at(T0 + 1_999) == (62_590, T0 + 1_000)
    assert feed.next_change_after(T0) is None


def test_static_feed_set_price_changes_constant_from_set_time():
    feed = StaticFeed(62_590)
    feed.set_price(T0 + 500, 63_000)

    assert feed.price_at(T0 + 700) == (63_000, T0 + 500)
    assert feed.price_at(T0 + 1_200) == (63_000, T0 + 1_000)


def test_static_feed_nonpositive_price_raises():
    with pytest.raises(ValueError, match="at least 1 tick"):
        StaticFeed(0)


def test_feeds_all_kinds_satisfy_protocol():
    feeds = [StaticFeed(1), RandomWalkFeed(1, 0), ReplayFeed([(0, 1)])]

    assert all(isinstance(feed, ReferenceFeed) for feed in feeds)


# ---------------------------------------------------------------- random walk


def _price(feed: ReferenceFeed, ts_ms: int) -> int:
    quote = feed.price_at(ts_ms)
    assert quote is not None
    return quote[0]


def _walk(seed: int = 7, **kwargs: int) -> RandomWalkFeed:
    return RandomWalkFeed(62_590, seed, volatility_bps=5, start_ts_ms=T0, **kwargs)


def test_random_walk_same_seed_different_query_spacing_gives_same_prices():
    dense = _walk()
    sparse = _walk()
    dense_prices = {}
    for second in range(EIGHT_HOURS_MS // 1_000 + 1):
        ts = T0 + second * 1_000
        dense_prices[ts] = dense.price_at(ts)
    checkpoints = [T0 + 1_234, T0 + 3_600_000, T0 + 3_600_999, T0 + EIGHT_HOURS_MS]

    assert [sparse.price_at(ts) for ts in checkpoints] == [
        dense_prices[ts - ts % 1_000] for ts in checkpoints
    ]


def test_random_walk_only_end_query_equals_every_second_query():
    every_second = _walk()
    for second in range(EIGHT_HOURS_MS // 1_000):
        every_second.price_at(T0 + second * 1_000)

    assert _walk().price_at(T0 + EIGHT_HOURS_MS) == every_second.price_at(T0 + EIGHT_HOURS_MS)


def _definition_draws(seed: int, steps: int) -> list[int]:
    # the documented draw: per step one getrandbits(384), its twelve 32-bit words summed and
    # centred
    rng = random.Random(seed)
    mask = (1 << 32) - 1
    draws = []
    for _ in range(steps):
        bits = rng.getrandbits(384)
        draws.append(sum((bits >> (32 * i)) & mask for i in range(12)) - 12 * mask // 2)
    return draws


def _definition_prices(draws: list[int], volatility_bps: int, price: int) -> list[int]:
    prices = []
    for z in draws:
        price = max(1, price + round_half_even(price * volatility_bps * z, 10_000 << 32))
        prices.append(price)
    return prices


@pytest.mark.parametrize("seed, volatility_bps", [(7, 5), (1_001, 1), (3, 400)])
def test_random_walk_equals_one_draw_of_384_bits_per_step(seed: int, volatility_bps: int):
    feed = RandomWalkFeed(62_590, seed, volatility_bps=volatility_bps, start_ts_ms=T0)
    steps = 1_000  # several batches of draws, the last one partly used

    prices = [_price(feed, T0 + k * 1_000) for k in range(1, steps + 1)]

    assert prices == _definition_prices(_definition_draws(seed, steps), volatility_bps, 62_590)


def test_random_walk_set_price_keeps_the_draws_in_step_order():
    feed = _walk()
    _price(feed, T0 + 100_000)
    feed.set_price(T0 + 100_500, 60_000)  # steps 101.. move from here with draws 101..

    prices = [_price(feed, T0 + k * 1_000) for k in range(101, 201)]

    assert prices == _definition_prices(_definition_draws(7, 200)[100:], 5, 60_000)


def test_random_walk_one_query_across_many_steps_equals_a_query_per_step():
    stepped, jumped = _walk(), _walk()
    for k in range(1, 5_000):
        _price(stepped, T0 + k * 1_000)

    assert jumped.price_at(T0 + 4_999_999) == stepped.price_at(T0 + 4_999_999)


def test_random_walk_different_seed_gives_different_path():
    first = [_walk(seed=1).price_at(T0 + k * 60_000) for k in range(1, 6)]
    second = [_walk(seed=2).price_at(T0 + k * 60_000) for k in range(1, 6)]

    assert first != second


def test_random_walk_repeated_query_same_time_does_not_advance():
    feed = _walk()
    once = feed.price_at(T0 + 10_500)

    assert feed.price_at(T0 + 10_500) == once
    assert feed.price_at(T0 + 10_999) == once


def test_random_walk_huge_volatility_never_below_one_tick():
    feed = RandomWalkFeed(5, seed=3, volatility_bps=10_000, start_ts_ms=0)

    prices = [_price(feed, second * 1_000) for second in range(2_000)]

    assert min(prices) == 1


def test_random_walk_next_change_after_is_next_step_boundary():
    feed = RandomWalkFeed(62_590, seed=1, step_ms=500, start_ts_ms=T0 + 250)

    assert feed.next_change_after(T0) == T0 + 250  # not started yet
    assert feed.next_change_after(T0 + 250) == T0 + 500
    assert feed.next_change_after(T0 + 499) == T0 + 500
    assert feed.next_change_after(T0 + 500) == T0 + 1_000


def test_random_walk_before_start_returns_none_then_start_price():
    feed = RandomWalkFeed(62_590, seed=1, start_ts_ms=T0 + 250)

    assert feed.price_at(T0) is None
    assert feed.price_at(T0 + 250) == (62_590, T0 + 250)
    assert feed.price_at(T0 + 999) == (62_590, T0 + 250)
    assert feed.price_at(T0 + 1_000) == (_price(feed, T0 + 1_000), T0 + 1_000)


def test_random_walk_without_start_anchors_at_first_call():
    feed = RandomWalkFeed(62_590, seed=1)

    assert feed.price_at(T0 + 123) == (62_590, T0 + 123)
    assert feed.start_ts_ms == T0 + 123


def test_random_walk_zero_volatility_stays_constant_with_fresh_source_time():
    feed = RandomWalkFeed(62_590, seed=1, volatility_bps=0, start_ts_ms=T0)

    assert feed.price_at(T0 + 5_000) == (62_590, T0 + 5_000)


def test_random_walk_set_price_continues_walk_from_new_price():
    plain = _walk()
    moved = _walk()
    plain.price_at(T0 + 10_000)
    moved.price_at(T0 + 10_000)

    moved.set_price(T0 + 10_400, 70_000)

    assert moved.price_at(T0 + 10_999) == (70_000, T0 + 10_400)
    # The next step draws the same random move as the untouched walk, relative to 70,000.
    plain_before = _price(plain, T0 + 10_999)
    plain_after = _price(plain, T0 + 11_000)
    moved_after = _price(moved, T0 + 11_000)
    assert plain_after != plain_before
    assert abs(moved_after - 70_000) > 0
    assert (moved_after - 70_000 > 0) == (plain_after - plain_before > 0)


def test_random_walk_set_price_is_deterministic_across_query_spacing():
    dense = _walk()
    for second in range(120):
        dense.price_at(T0 + second * 1_000)
    dense.set_price(T0 + 120_000, 61_000)
    sparse = _walk()
    sparse.set_price(T0 + 120_000, 61_000)

    assert dense.price_at(T0 + 600_000) == sparse.price_at(T0 + 600_000)


def test_random_walk_time_going_backwards_raises():
    feed = _walk()
    feed.price_at(T0 + 5_000)

    with pytest.raises(ValueError, match="backwards"):
        feed.price_at(T0 + 3_000)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"step_ms": 0}, "step_ms"), ({"volatility_bps": -1}, "volatility_bps")],
)
def test_random_walk_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomWalkFeed(62_590, 1, **kwargs)


# ---------------------------------------------------------------- replay


def _replay() -> ReplayFeed:
    return ReplayFeed([(T0, 62_582), (T0 + 1_000, 62_590), (T0 + 3_000, 62_601)])


def test_replay_feed_before_first_point_returns_none():
    assert _replay().price_at(T0 - 1) is None


def test_replay_feed_at_between_and_after_points_returns_point_in_force():
    feed = _replay()

    assert feed.price_at(T0) == (62_582, T0)
    assert feed.price_at(T0 + 2_500) == (62_590, T0 + 1_000)
    assert feed.price_at(T0 + 99_000) == (62_601, T0 + 3_000)


def test_replay_feed_next_change_after_walks_points_then_none():
    feed = _replay()

    assert feed.next_change_after(T0 - 5) == T0
    assert feed.next_change_after(T0) == T0 + 1_000
    assert feed.next_change_after(T0 + 1_500) == T0 + 3_000
    assert feed.next_change_after(T0 + 3_000) is None


def test_replay_feed_span_and_points_reached():
    feed = _replay()

    assert (feed.first_ts_ms, feed.last_ts_ms, len(feed)) == (T0, T0 + 3_000, 3)
    assert [feed.points_reached(t) for t in (T0 - 1, T0, T0 + 2_999, T0 + 3_000)] == [0, 1, 2, 3]


def test_replay_feed_set_price_overrides_until_next_point():
    feed = _replay()
    feed.set_price(T0 + 1_200, 60_000)

    assert feed.price_at(T0 + 1_100) == (62_590, T0 + 1_000)
    assert feed.price_at(T0 + 2_999) == (60_000, T0 + 1_200)
    assert feed.price_at(T0 + 3_000) == (62_601, T0 + 3_000)


def test_replay_feed_set_price_before_first_point_gives_price():
    feed = _replay()
    feed.set_price(T0 - 500, 60_000)

    assert feed.price_at(T0 - 100) == (60_000, T0 - 500)
    assert feed.price_at(T0) == (62_582, T0)


def test_replay_feed_duplicate_timestamp_last_point_wins():
    feed = ReplayFeed([(T0, 1), (T0, 2)])

    assert feed.price_at(T0) == (2, T0)


def test_replay_feed_unsorted_points_raise():
    with pytest.raises(ValueError, match="sorted"):
        ReplayFeed([(T0 + 1, 1), (T0, 2)])


def test_replay_feed_empty_raises():
    with pytest.raises(ValueError, match="at least one point"):
        ReplayFeed([])


def test_load_replay_file_csv_with_header_parses_dollar_prices(tmp_path):
    path = tmp_path / "index.csv"
    path.write_text("ts_ms,price\n1000,6.2582\n\n2000, 6.259\n", encoding="utf-8")

    feed = load_replay_file(path)

    assert len(feed) == 2
    assert feed.price_at(1_500) == (62_582, 1_000)
    assert feed.price_at(2_000) == (62_590, 2_000)


def test_load_replay_file_csv_without_header_parses(tmp_path):
    path = tmp_path / "index.csv"
    path.write_text("1000,6.2582\n2000,6.2590\n", encoding="utf-8")

    assert load_replay_file(path).price_at(2_000) == (62_590, 2_000)


def test_load_replay_file_json_lines_parses(tmp_path):
    path = tmp_path / "index.jsonl"
    path.write_text(
        '{"ts_ms": 1000, "price": "6.2582"}\n{"ts_ms": 2000, "price": "6.2590", "src": "x"}\n',
        encoding="utf-8",
    )

    feed = load_replay_file(path)

    assert feed.price_at(1_999) == (62_582, 1_000)
    assert feed.next_change_after(1_000) == 2_000


def test_load_replay_file_sample_fixture_loads():
    feed = load_replay_file(SAMPLE)

    assert len(feed) == 5
    assert feed.price_at(T0 + 3_500) == (62_601, T0 + 3_000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ts_ms,price\n1000,6.25821\n", r":2: .*more than 4 decimals"),
        ("1000,6.2582\nts,price\n", r":2: ts_ms must be an integer"),
        ("1000;6.2582\n", r":1: expected 'ts_ms,price'"),
        ('{"ts_ms": 1000, "price": 6.2582}\n', r":1: 'price' must be a dollar string"),
        ('{"ts_ms": "1000", "price": "6.2582"}\n', r":1: 'ts_ms' must be an integer"),
        ("{not json\n", r":1: invalid JSON"),
        ("2000,6.2582\n1000,6.2590\n", "sorted"),
        ("ts_ms,price\n", "no points"),
    ],
)
def test_load_replay_file_malformed_raises_with_location(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match=message):
        load_replay_file(path)


def test_load_replay_file_that_is_not_utf8_raises_naming_the_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"ts_ms,price\n1000,6.2582 \xe9\n")

    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}: replay file is not UTF-8"):
        load_replay_file(path)


def test_parse_replay_lines_skips_comments():
    assert parse_replay_lines(["# index", "1000,1.0000"]) == [(1_000, 10_000)]


# ---------------------------------------------------------------- config


def test_feed_from_config_static_builds_static_feed():
    feed = feed_from_config({"kind": "static", "price": "6.2590"})

    assert isinstance(feed, StaticFeed)
    assert feed.price_at(T0) == (62_590, T0)


def test_feed_from_config_random_walk_matches_direct_construction():
    feed = feed_from_config(
        {
            "kind": "random_walk",
            "price": "6.2590",
            "volatility_bps": 5,
            "seed": 7,
            "start_ts_ms": T0,
        }
    )

    assert isinstance(feed, RandomWalkFeed)
    assert feed.price_at(T0 + 60_000) == _walk().price_at(T0 + 60_000)


def test_feed_from_config_replay_resolves_relative_path_against_base_dir(tmp_path):
    (tmp_path / "index.csv").write_text("1000,6.2582\n", encoding="utf-8")

    feed = feed_from_config({"kind": "replay", "path": "index.csv"}, base_dir=tmp_path)

    assert feed.price_at(1_000) == (62_582, 1_000)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"price": "6.2590"}, "'kind' must be one of"),
        ({"kind": "brownian", "price": "6.2590"}, "'kind' must be one of"),
        ({"kind": "static"}, "missing price"),
        ({"kind": "static", "price": "6.2590", "seed": 1}, "unknown keys: seed"),
        ({"kind": "static", "price": 6.259}, "dollar string"),
        ({"kind": "static", "price": "0"}, "must be positive"),
        ({"kind": "static", "price": "6.25901"}, "more than 4 decimals"),
        ({"kind": "random_walk", "price": "6.2590", "seed": "7"}, "'seed' must be an integer"),
        ({"kind": "random_walk", "price": "6.2590", "step_ms": 0}, "step_ms"),
        ({"kind": "replay", "path": ""}, "non-empty string"),
        ({"kind": "replay"}, "missing path"),
    ],
)
def test_feed_from_config_bad_config_raises_value_error(config, message):
    with pytest.raises(ValueError, match=message):
        feed_from_config(config)


def test_feed_from_config_not_a_mapping_raises():
    with pytest.raises(ValueError, match="mapping"):
        feed_from_config(["static"])  # type: ignore[arg-type]
