"""Snapshots pickled in a forked child under a running event loop (`snapshot_fork`)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
from pathlib import Path
from typing import Any

import pytest

from simulator.core.command_log import Base
from simulator.server import journal, snapshot_fork
from simulator.server.runtime import Runtime
from tests.simulator.server.test_snapshot_files import DEFAULT, drive

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


async def _drive_while_forking(rt: Runtime, plain: Runtime, rounds: int) -> int:
    """Drive both runtimes; returns how many rounds ran while a forked snapshot was pending.

    A snapshot still pending after two rounds is awaited before the next one, so that how many
    snapshots `rounds` rounds take does not depend on how fast the child pickles (on a busy
    machine it may take longer than many rounds).
    """
    meanwhile = 0
    pending = 0  # rounds run since the pending snapshot's fork
    for n in range(rounds):
        if not rt.snapshot_in_progress():
            pending = 0
        elif pending == 2:
            await rt.snapshot_settled()
            pending = 0
        else:
            meanwhile += 1
            pending += 1
        drive(rt, 1, n)
        drive(plain, 1, n)
        if n % 3 == 2:  # the loop reads the child's pipe only when the test yields
            await asyncio.sleep(0)
    await rt.snapshot_settled()
    return meanwhile


def test_forked_snapshots_keep_the_commands_run_meanwhile(tmp_path: Path) -> None:
    plain = Runtime(DEFAULT, clock_mode="manual")
    forked = Runtime(DEFAULT, clock_mode="manual", state_dir=tmp_path, snapshot_every=20)

    meanwhile = asyncio.run(_drive_while_forking(forked, plain, 60))

    log = forked.exchange.command_log
    assert meanwhile > 0
    assert forked.snapshots_taken >= 3
    assert log.base is not None and len(log) < 20 + 3 * 5
    assert log.commands == len(plain.exchange.command_log)
    assert forked.state_hash() == plain.state_hash()
    forked.close()
    recovered = Runtime(DEFAULT, clock_mode="manual", state_dir=tmp_path)
    assert recovered.state_hash() == plain.state_hash()
    assert recovered.exchange.command_log.base is not None
    recovered.close()


def test_a_damaged_forked_snapshot_falls_back_to_the_previous_segment(tmp_path: Path) -> None:
    plain = Runtime(DEFAULT, clock_mode="manual")
    forked = Runtime(DEFAULT, clock_mode="manual", state_dir=tmp_path, snapshot_every=20)

    async def drive_and_carry() -> None:
        await _drive_while_forking(forked, plain, 30)
        n = 30
        # up to the next fork, then on while its child works
        while not forked.snapshot_in_progress():
            drive(forked, 1, n)
            drive(plain, 1, n)
            n += 1
        drive(forked, 2, n)
        drive(plain, 2, n)
        await forked.snapshot_settled()

    asyncio.run(drive_and_carry())
    forked.close()
    header = (tmp_path / "journal.jsonl").read_bytes().splitlines()[0]
    previous = (tmp_path / "journal.prev.jsonl").read_bytes().splitlines()
    # the newest snapshot was taken before the previous segment's last records (carried over)
    assert json.loads(previous[-1])[0] > json.loads(header)[0]
    newest = [p for p in tmp_path.glob("snapshot-*.bin") if p.name.encode() in header]
    assert len(newest) == 1
    raw = bytearray(newest[0].read_bytes())
    raw[-10] ^= 0xFF
    newest[0].write_bytes(bytes(raw))

    recovered = Runtime(DEFAULT, clock_mode="manual", state_dir=tmp_path)

    assert recovered.state_hash() == plain.state_hash()
    recovered.close()


def test_a_reset_while_a_snapshot_is_forked_discards_it() -> None:
    async def scenario() -> Runtime:
        rt = Runtime(DEFAULT, clock_mode="manual", snapshot_every=5)
        drive(rt, 2)  # 2 x 5 commands: the compactor forked once and waits for its child
        pending = rt._forked
        assert pending is not None
        rt.reset()
        await asyncio.shield(pending.done)
        await asyncio.sleep(0)
        assert not rt.snapshot_in_progress()
        return rt

    rt = asyncio.run(scenario())

    fresh = Runtime(DEFAULT, clock_mode="manual")
    assert rt.snapshots_taken == 0
    assert rt.exchange.command_log.base is None
    assert rt.state_hash() == fresh.state_hash()


def test_without_a_running_loop_the_snapshot_is_taken_inline() -> None:
    assert not snapshot_fork.available()
    rt = Runtime(DEFAULT, clock_mode="manual", snapshot_every=5)

    drive(rt, 2)

    assert not rt.snapshot_in_progress() and rt.snapshots_taken >= 1


def test_the_inline_mode_never_forks() -> None:
    async def scenario() -> Runtime:
        rt = Runtime(DEFAULT, clock_mode="manual", snapshot_every=5, snapshot_mode="inline")
        drive(rt, 2)
        assert not rt.snapshot_in_progress()
        return rt

    assert asyncio.run(scenario()).snapshots_taken >= 1
    with pytest.raises(ValueError, match="snapshot mode"):
        Runtime(DEFAULT, clock_mode="manual", snapshot_mode="thread")  # type: ignore[arg-type]


def _record_writers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    # every `write_snapshot` call appends the pid that made it (the child's is not ours)
    calls = tmp_path / "writers.txt"
    original = journal.JournalFile.write_snapshot

    def recording(self: journal.JournalFile, seq: int, base: Base) -> None:
        with calls.open("a") as file:
            file.write(f"{os.getpid()}\n")
        original(self, seq, base)

    monkeypatch.setattr(journal.JournalFile, "write_snapshot", recording)
    return calls


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Runtime, Runtime]:
    # the state directory, the writers' record, a runtime without snapshots, and one forking
    # for them every 20 commands into the state directory
    state = tmp_path / "state"
    calls = _record_writers(monkeypatch, tmp_path)
    plain = Runtime(DEFAULT, clock_mode="manual")
    forked = Runtime(DEFAULT, clock_mode="manual", state_dir=state, snapshot_every=20)
    return state, calls, plain, forked


def _assert_recovers(state: Path, plain: Runtime) -> None:
    recovered = Runtime(DEFAULT, clock_mode="manual", state_dir=state)
    assert recovered.exchange.command_log.base is not None
    assert recovered.state_hash() == plain.state_hash()
    recovered.close()


def test_the_forked_child_writes_the_snapshot_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, calls, plain, forked = _setup(tmp_path, monkeypatch)

    asyncio.run(_drive_while_forking(forked, plain, 45))

    writers = calls.read_text().split()
    assert forked.snapshots_taken >= 2 and len(writers) == forked.snapshots_taken
    assert str(os.getpid()) not in writers
    header = (state / "journal.jsonl").read_bytes().splitlines()[0]
    named = [p for p in state.glob("snapshot-*.bin") if p.name.encode() in header]
    assert len(named) == 1
    forked.close()
    _assert_recovers(state, plain)


def test_a_snapshot_file_the_child_did_not_leave_is_written_by_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, calls, plain, forked = _setup(tmp_path, monkeypatch)
    original = journal.JournalFile.snapshot

    def losing(self: journal.JournalFile, base: Base, mark: Any = None, **kw: Any) -> None:
        for path in state.glob("snapshot-*.bin"):  # what the child wrote is gone
            path.unlink()
        original(self, base, mark, **kw)

    monkeypatch.setattr(journal.JournalFile, "snapshot", losing)

    asyncio.run(_drive_while_forking(forked, plain, 25))

    writers = calls.read_text().split()
    assert forked.snapshots_taken >= 1
    assert writers.count(str(os.getpid())) == forked.snapshots_taken
    forked.close()
    _assert_recovers(state, plain)


def test_a_reset_discards_a_failed_forked_snapshot_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(self: journal.JournalFile, seq: int, base: Base) -> None:
        raise OSError("disk full")  # in the child: it exits with an error

    monkeypatch.setattr(journal.JournalFile, "write_snapshot", failing)

    async def scenario() -> Runtime:
        rt = Runtime(DEFAULT, clock_mode="manual", state_dir=tmp_path, snapshot_every=5)
        drive(rt, 2)
        pending = rt._forked
        assert pending is not None
        rt.reset()
        await asyncio.wait({pending.done})  # done (the child failed), its error left unread
        await asyncio.sleep(0)
        return rt

    rt = asyncio.run(scenario())
    rt.close()
    gc.collect()  # an exception never retrieved is reported when its future is collected

    assert rt.snapshots_taken == 0
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
