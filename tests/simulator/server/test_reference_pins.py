"""Scenario feeds and pinned reference prices: still where asked, journaled, replayed, hashed.

`bare` replaces its markets' random walks with constants (`"feeds": {"*": {"kind": "static"}}`);
`default` keeps the walks, and `set_reference_price(..., pin=True)` holds one market still until
`pin=False` or a reset.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from simulator.core import errors
from simulator.core.clock import ManualClock
from simulator.core.money import parse_dollars
from simulator.exchange import Exchange
from simulator.model.feeds import RandomWalkFeed, StaticFeed
from simulator.server import snapshots
from simulator.server.runtime import Runtime
from simulator.server.scenarios import Scenario, load_scenario
from simulator.server.state_hash import state_hash

BTC = "KXBTCPERP"
ETH = "KXETHPERP"
HOUR_MS = 3_600_000
PRICE = 63_000  # $6.3000


def build(scenario: Scenario | str = "default") -> Exchange:
    chosen = load_scenario(scenario) if isinstance(scenario, str) else scenario
    return snapshots.build(chosen, ManualClock(chosen.start_ms))


def reference(exchange: Exchange, ticker: str = BTC) -> int:
    found = exchange.markets[ticker].reference
    assert found is not None
    return found[0]


def test_bare_feeds_are_constants_at_the_market_files_prices() -> None:
    exchange = build("bare")
    assert all(isinstance(data.feed, StaticFeed) for data in exchange.markets.values())
    start = {ticker: reference(exchange, ticker) for ticker in exchange.markets}

    exchange.advance(HOUR_MS)

    assert {ticker: reference(exchange, ticker) for ticker in exchange.markets} == start
    assert start[BTC] == 62_590


def test_a_bare_price_stays_after_an_hour() -> None:
    exchange = build("bare")
    exchange.set_reference_price(BTC, PRICE)
    exchange.advance(HOUR_MS)
    assert reference(exchange) == PRICE
    assert not exchange.markets[BTC].pinned


def test_the_default_scenario_still_walks() -> None:
    exchange = build("default")
    assert isinstance(exchange.markets[BTC].feed, RandomWalkFeed)
    exchange.set_reference_price(BTC, PRICE)
    exchange.advance(HOUR_MS)
    assert reference(exchange) != PRICE


def test_a_pinned_default_price_stays_and_resumes_walking_when_released() -> None:
    exchange = build("default")
    eth = reference(exchange, ETH)

    exchange.set_reference_price(BTC, PRICE, pin=True)
    exchange.advance(HOUR_MS)
    assert (reference(exchange), exchange.markets[BTC].pinned) == (PRICE, True)
    assert reference(exchange, ETH) != eth

    exchange.set_reference_price(BTC, PRICE + 100)  # a new price, still pinned
    exchange.advance(HOUR_MS)
    assert reference(exchange) == PRICE + 100

    exchange.set_reference_price(BTC, PRICE + 100, pin=False)
    assert not exchange.markets[BTC].pinned
    exchange.advance(60_000)
    assert reference(exchange) != PRICE + 100


def test_a_bad_pin_changes_nothing() -> None:
    exchange = build("default")
    before = state_hash(exchange)
    with pytest.raises(errors.InvalidParametersError):
        exchange.set_reference_price(BTC, PRICE, pin="yes")  # type: ignore[arg-type]
    assert state_hash(exchange) == before
    assert len(exchange.command_log) == 0


def test_the_pin_is_in_the_state_hash() -> None:
    pinned, unpinned = build(), build()
    pinned.set_reference_price(BTC, PRICE, pin=True)
    unpinned.set_reference_price(BTC, PRICE)
    assert state_hash(pinned) != state_hash(unpinned)


def test_the_same_pins_give_the_same_events_and_hash() -> None:
    runs = []
    for _ in range(2):
        exchange = build()
        exchange.set_reference_price(BTC, PRICE, pin=True)
        exchange.advance(HOUR_MS)
        exchange.set_reference_price(BTC, PRICE, pin=False)
        exchange.advance(HOUR_MS)
        events = msgspec.json.encode([event for _, event in exchange.events_since(0)])
        runs.append((events, state_hash(exchange)))
    assert runs[0] == runs[1]


def test_a_snapshot_replays_the_pin() -> None:
    exchange = build()
    exchange.set_reference_price(BTC, PRICE, pin=True)
    exchange.advance(HOUR_MS)
    snapshot = snapshots.export_state(exchange)
    assert snapshot["commands"][0][1:] == [
        "set_reference_price",
        {"ticker": BTC, "price": PRICE, "pin": True},
    ]

    replayed = snapshots.import_state(snapshot)

    assert replayed.markets[BTC].pinned
    replayed.advance(HOUR_MS)
    assert reference(replayed) == PRICE


def test_recovery_from_the_journal_keeps_the_pin(tmp_path: Path) -> None:
    first = Runtime(load_scenario("default"), clock_mode="manual", state_dir=tmp_path)
    first.exchange.set_reference_price(BTC, PRICE, pin=True)
    first.exchange.advance(HOUR_MS)
    expected = first.state_hash()
    first.close()

    recovered = Runtime(load_scenario("default"), clock_mode="manual", state_dir=tmp_path)
    try:
        assert recovered.state_hash() == expected
        assert recovered.exchange.markets[BTC].pinned
        recovered.exchange.advance(HOUR_MS)
        assert reference(recovered.exchange) == PRICE
        recovered.reset()
        assert not recovered.exchange.markets[BTC].pinned
    finally:
        recovered.close()


def test_scenario_feeds_override_one_market_or_all() -> None:
    scenario = msgspec.structs.replace(
        load_scenario("default"),
        feeds={"*": {"kind": "static"}, ETH: {"kind": "static", "price": "3.0000"}},
    )
    exchange = build(scenario)
    exchange.advance(HOUR_MS)
    assert (reference(exchange), reference(exchange, ETH)) == (62_590, 30_000)


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"KXNOPEPERP": {"kind": "static"}}, "unknown markets"),
        ({BTC: {"kind": "sideways"}}, "feed 'kind'"),
    ],
)
def test_bad_scenario_feeds_are_refused(feeds: dict[str, dict[str, str]], message: str) -> None:
    scenario = msgspec.structs.replace(load_scenario("bare"), feeds=feeds)
    with pytest.raises(ValueError, match=message):
        build(scenario)


# ------------------------------------------------------------------ users of the runtime


def test_runtime_users_get_a_notional_limit_a_tier_and_a_key() -> None:
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    user, private_pem = runtime.create_user(
        balance=parse_dollars("100"),
        notional_limit=parse_dollars("20000"),
        usage_tier="paragon",
    )
    assert private_pem is not None and "PRIVATE KEY" in private_pem
    assert user.notional_limit_overrides == dict.fromkeys(runtime.exchange.markets, 20_000_000_000)
    assert runtime.rate_limiter.limits(user.user_id).tier == "paragon"
    assert runtime.exchange.notional_limit(user, BTC) == 20_000_000_000


@pytest.mark.parametrize(
    "fields",
    [{"usage_tier": "gold"}, {"notional_limit": 0}, {"public_key_pem": "not a key"}],
    ids=["tier", "limit", "key"],
)
def test_refused_runtime_users_change_nothing(fields: dict[str, object]) -> None:
    runtime = Runtime(load_scenario("bare"), clock_mode="manual")
    before = runtime.state_hash()
    with pytest.raises(errors.InvalidParametersError):
        runtime.create_user(**fields)  # type: ignore[arg-type]
    assert runtime.state_hash() == before
    assert list(runtime.exchange.users) == ["demo-user"]
