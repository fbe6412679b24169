"""Durability: a runtime with a state directory journals every command and recovers from it.

A crash (`kill -9`) is simulated by starting a second runtime on the same directory without
closing the first: whatever the first acknowledged must be in the second.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from matching import Side
from simulator.core.money import parse_dollars
from simulator.model.orders import PlaceOrder
from simulator.server import snapshots
from simulator.server.journal import frame
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


def records(state_dir: Path) -> list[list[Any]]:
    text = (state_dir / "journal.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def lines(state_dir: Path) -> list[Any]:
    """The payload of each record, after checking its sequence number and checksum."""
    found = []
    for seq, record in enumerate(records(state_dir)):
        number, crc, payload = record
        assert number == seq
        encoded = msgspec.json.encode(payload)
        assert f"{zlib.crc32(b'%d,' % seq + encoded):08x}" == crc
        found.append(payload)
    return found


def rewrite(state_dir: Path, edit: Callable[[list[bytes]], list[bytes]]) -> None:
    path = state_dir / "journal.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in edit(path.read_bytes().splitlines())))


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
        "format": "perps-sim/journal-v2",
        "scenario": msgspec.to_builtins(BARE),
        "seed": 1,
        "created_ms": BARE.start_ms,
    }
    assert [c[1] for c in commands] == [
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


def test_a_line_cut_short_by_a_crash_is_dropped_with_a_warning(tmp_path, caplog):
    first = start(tmp_path)
    trade(first)
    expected = state_hash(first.exchange)
    journal = tmp_path / "journal.jsonl"
    with journal.open("ab") as file:
        file.write(b'[7,"0badc0de",[1781481600000,"deposit",{"user_id":"al')

    second = start(tmp_path)
    assert state_hash(second.exchange) == expected
    assert "dropped a torn last record" in caplog.text
    second.exchange.deposit("alice", parse_dollars("1"))

    assert state_hash(start(tmp_path).exchange) == state_hash(second.exchange)
    assert lines(tmp_path)[-1][1] == "deposit"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: [*ls[:2], b"{garbage", *ls[3:]], "line 3: not a journal record"),
        (lambda ls: [*ls[:3], *ls[4:]], "line 4: record 4 where 3 was due (missing"),
        (lambda ls: [*ls[:4], ls[3], *ls[4:]], "line 5: record 3 where 4 was due (duplicated"),
        (lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]], "line 3: record 3 where 2 was due"),
        (lambda ls: [*ls[:-1], ls[-1].replace(b'"a-1"', b'"a-2"')], "checksum mismatch"),
        (lambda ls: [ls[0].replace(b'"seed":1', b'"seed":2'), *ls[1:]], "line 1: checksum"),
    ],
    ids=["garbage", "deleted", "duplicated", "swapped", "edited", "edited-header"],
)
def test_a_damaged_middle_refuses_to_start_and_names_the_line(tmp_path, edit, message):
    trade(start(tmp_path))
    rewrite(tmp_path, edit)

    with pytest.raises(snapshots.InvalidSnapshotError, match=re.escape(message)):
        start(tmp_path)


def test_a_deleted_last_line_is_a_lost_command_not_a_damage_it_can_see(tmp_path):
    """Without its newline a line was never acknowledged; with it, it was: the checks cannot
    tell a whole last record that vanished from one never written, so recovery goes on."""
    first = start(tmp_path)
    trade(first)
    rewrite(tmp_path, lambda ls: ls[:-1])
    assert len(start(tmp_path).exchange.command_log) == len(first.exchange.command_log) - 1


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
    deep = frame(2, b"[" * 5_000 + b"]" * 5_000).rstrip(b"\n")  # a well-framed record
    rewrite(tmp_path, lambda ls: [*ls[:2], deep, *ls[3:]])

    with pytest.raises(snapshots.InvalidSnapshotError, match="line 3: nested deeper than 64"):
        start(tmp_path)


def test_a_well_framed_journal_line_that_is_not_utf8_is_a_one_line_error(tmp_path):
    trade(start(tmp_path))
    payload = b'[1781481600000,"deposit",{"user_id":"al\xffice"}]'
    bad = frame(2, payload).rstrip(b"\n")  # its checksum matches: only the decode can tell
    rewrite(tmp_path, lambda ls: [*ls[:2], bad, *ls[3:]])

    with pytest.raises(snapshots.InvalidSnapshotError, match="line 3: 'utf-8' codec"):
        start(tmp_path)


def test_a_journal_of_the_first_format_recovers_and_is_rewritten(tmp_path):
    first = start(tmp_path)
    trade(first)
    expected = state_hash(first.exchange)
    first.close()
    header = {
        "format": "perps-sim/journal-v1",
        "scenario": msgspec.to_builtins(BARE),
        "seed": 1,
        "created_ms": BARE.start_ms,
    }
    old = [header, *first.exchange.command_log.encoded()]
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(line) + b"\n" for line in old))

    second = start(tmp_path)
    assert state_hash(second.exchange) == expected
    assert lines(tmp_path)[0]["format"] == "perps-sim/journal-v2"
    second.exchange.deposit("alice", parse_dollars("1"))
    assert state_hash(start(tmp_path).exchange) == state_hash(second.exchange)


def test_fsync_durability_acknowledges_after_one_shared_fsync(tmp_path, monkeypatch):
    synced: list[int] = []
    monkeypatch.setattr("os.fsync", synced.append)
    runtime = Runtime(BARE, clock_mode="manual", state_dir=tmp_path, durability="fsync")
    _OPEN.append(runtime)
    synced.clear()
    assert not runtime.journal_pending

    async def burst() -> None:
        ex = runtime.exchange
        for _ in range(3):
            ex.deposit("demo-user", parse_dollars("1"))
            assert runtime.journal_pending
        await asyncio.gather(*(runtime.durable() for _ in range(5)))

    asyncio.run(burst())
    assert len(synced) == 1  # five waiters, three commands: one group commit
    assert not runtime.journal_pending


def test_flush_durability_never_waits(tmp_path):
    runtime = start(tmp_path)
    runtime.exchange.deposit("demo-user", parse_dollars("1"))
    assert not runtime.journal_pending
    asyncio.run(runtime.durable())


def test_closing_during_an_fsync_round_waits_for_it_to_close_the_file(tmp_path, monkeypatch):
    real_fsync = os.fsync
    entered, release = threading.Event(), threading.Event()

    def fsync(fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():
            entered.set()
            release.wait(10)
        real_fsync(fd)  # EBADF if the file had been closed under the worker

    monkeypatch.setattr("os.fsync", fsync)
    runtime = Runtime(BARE, clock_mode="manual", state_dir=tmp_path, durability="fsync")

    async def scenario() -> None:
        runtime.exchange.deposit("demo-user", parse_dollars("1"))
        waiting = asyncio.ensure_future(runtime.durable())
        await asyncio.to_thread(entered.wait, 10)
        runtime.close()  # while the worker thread fsyncs the journal
        release.set()
        await waiting

    asyncio.run(scenario())
    assert not runtime.journal_pending
