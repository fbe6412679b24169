"""Durability: a runtime with a state directory journals every command and recovers from it.

A crash (`kill -9`) is simulated by starting a second runtime on the same directory without
closing the first: whatever the first acknowledged must be in the second.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from matching import Side
from simulator.core.money import parse_dollars
from simulator.model.orders import PlaceOrder
from simulator.server import snapshots
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario
from simulator.server.state_hash import state_hash

BARE = load_scenario("bare")
BTC = "KXBTCPERP"


_OPEN: list[Runtime] = []


@pytest.fixture(autouse=True)
def _close_runtimes():
    # runtimes are left open while the next one starts (the crash); close them afterwards
    yield
    while _OPEN:
        _OPEN.pop().close()


def start(state_dir: Path, scenario=BARE) -> Runtime:
    runtime = Runtime(scenario, clock_mode="manual", state_dir=state_dir)
    _OPEN.append(runtime)
    return runtime


def trade(runtime: Runtime) -> None:
    ex = runtime.exchange
    reference = ex.markets[BTC].reference
    assert reference is not None
    alice = ex.create_user(user_id="alice", balance=parse_dollars("1000")).user_id
    ex.create_subaccount(alice)
    ex.transfer(alice, 0, 1, parse_dollars("25"), "t-1")
    ex.place_order("demo-user", PlaceOrder(BTC, Side.ASK, reference[0], 300, "d-1"))
    ex.advance(2_500)
    ex.place_order(alice, PlaceOrder(BTC, Side.BID, reference[0], 200, "a-1"))


def events(runtime: Runtime) -> bytes:
    return msgspec.json.encode([event for _, event in runtime.exchange.events_since(0)])


def lines(state_dir: Path) -> list[object]:
    text = (state_dir / "journal.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_restart_recovers_every_acknowledged_command(tmp_path):
    first = start(tmp_path)
    trade(first)

    second = start(tmp_path)

    assert state_hash(second.exchange) == state_hash(first.exchange)
    assert events(second) == events(first)
    assert len(second.exchange.fills) == 2
    assert second.exchange.users["alice"].subaccounts[1].cash == parse_dollars("25")
    assert second.exchange.now() == first.exchange.now()


def test_the_journal_is_a_header_and_one_line_per_command(tmp_path):
    runtime = start(tmp_path)
    trade(runtime)

    header, *commands = lines(tmp_path)

    assert header == {
        "format": "perps-sim/journal-v1",
        "scenario": msgspec.to_builtins(BARE),
        "seed": 1,
        "created_ms": BARE.start_ms,
    }
    assert [c[1] for c in commands] == [  # type: ignore[index]
        "create_user",
        "create_subaccount",
        "transfer",
        "place_order",
        "advance",
        "place_order",
    ]
    assert commands == runtime.exchange.command_log.encoded()


def test_a_recovered_runtime_keeps_journaling(tmp_path):
    trade(start(tmp_path))
    second = start(tmp_path)
    second.exchange.deposit("alice", parse_dollars("7"))

    third = start(tmp_path)

    assert third.exchange.users["alice"].subaccounts[0].cash == (
        second.exchange.users["alice"].subaccounts[0].cash
    )
    assert state_hash(third.exchange) == state_hash(second.exchange)


def test_a_line_cut_short_by_a_crash_is_dropped(tmp_path):
    first = start(tmp_path)
    trade(first)
    journal = tmp_path / "journal.jsonl"
    with journal.open("ab") as file:
        file.write(b'[1781481600000, "deposit", {"user_id": "al')

    second = start(tmp_path)
    second.exchange.deposit("alice", parse_dollars("1"))

    assert state_hash(start(tmp_path).exchange) == state_hash(second.exchange)
    assert lines(tmp_path)[-1][1] == "deposit"  # type: ignore[index]


def test_a_damaged_journal_refuses_to_start(tmp_path):
    trade(start(tmp_path))
    journal = tmp_path / "journal.jsonl"
    text = journal.read_text().splitlines()
    text[2] = "{garbage"
    journal.write_text("\n".join(text) + "\n")

    with pytest.raises(snapshots.InvalidSnapshotError, match="damaged line 3"):
        start(tmp_path)


def test_reset_starts_a_new_journal(tmp_path):
    first = start(tmp_path)
    trade(first)
    first.reset()
    first.exchange.deposit("demo-user", parse_dollars("3"))

    second = start(tmp_path)

    assert "alice" not in second.exchange.users
    assert state_hash(second.exchange) == state_hash(first.exchange)
    assert len(lines(tmp_path)) == 2


def test_an_import_rewrites_the_journal_and_the_journal_scenario_wins(tmp_path):
    source = Runtime(BARE, clock_mode="manual")
    trade(source)
    target = start(tmp_path, load_scenario("default"))

    target.import_state(source.export_state())
    recovered = start(tmp_path, load_scenario("default"))

    assert recovered.scenario.name == "bare"
    assert state_hash(recovered.exchange) == state_hash(source.exchange)
    assert events(recovered) == events(source)


def test_a_closed_runtime_stops_writing(tmp_path):
    runtime = start(tmp_path)
    runtime.close()
    runtime.exchange.deposit("demo-user", parse_dollars("3"))

    assert len(lines(tmp_path)) == 1


def test_a_journal_line_nested_thousands_deep_is_a_one_line_error(tmp_path):
    trade(start(tmp_path))
    journal = tmp_path / "journal.jsonl"
    text = journal.read_text().splitlines()
    text[2] = "[" * 5_000 + "]" * 5_000
    journal.write_text("\n".join(text) + "\n")

    with pytest.raises(snapshots.InvalidSnapshotError, match="damaged line 3: nested deeper"):
        start(tmp_path)
