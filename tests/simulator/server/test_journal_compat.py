"""Journals and snapshots written by 0.1 must replay to the state they were written from.

`fixtures/journals/journal-0.1.jsonl` is the journal a 0.1 runtime left in its state directory
after the recorded REST session and a few commands no transport reaches (see
`tests.recordings.record`); `state-0.1.json` is the `GET /sim/v1/state` snapshot of the same
state; `journal-0.1.json` holds the state hash both must reach and the command names the
journal uses. Users' state directories and saved snapshots hold exactly these formats, so
any later version must read them and arrive at the same state, whatever its commands are
called inside.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from simulator.server.journal import NAME as JOURNAL_NAME
from simulator.server.runtime import Runtime
from simulator.server.snapshots import import_state
from simulator.server.state_hash import state_hash
from tests.recordings import harness

JOURNALS = harness.FIXTURES / "journals"
JOURNAL = JOURNALS / "journal-0.1.jsonl"
SNAPSHOT = JOURNALS / "state-0.1.json"
SIDECAR: dict[str, Any] = json.loads((JOURNALS / "journal-0.1.json").read_text())

PROMISE = "journals written by 0.1 must replay to the state hash recorded with them"
SNAPSHOT_PROMISE = "state snapshots exported by 0.1 must import to the state hash recorded"


def _state_dir(tmp_path: Path) -> Path:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    shutil.copyfile(JOURNAL, state_dir / JOURNAL_NAME)
    return state_dir


def _recover(state_dir: Path) -> Runtime:
    # the scenario and seed passed here lose to the journal's own (Runtime docstring)
    return Runtime(harness.scenario(), clock_mode="manual", state_dir=state_dir)


def test_fixture_uses_the_command_names_of_0_1() -> None:
    lines = JOURNAL.read_bytes().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "perps-sim/journal-v1"
    names = sorted({json.loads(line)[1] for line in lines[1:]})
    assert names == SIDECAR["command_names"]
    assert len(lines) - 1 == SIDECAR["commands"]


def test_journal_written_by_0_1_replays_to_its_state_hash(tmp_path: Path) -> None:
    runtime = _recover(_state_dir(tmp_path))
    try:
        assert runtime.seed == SIDECAR["seed"], PROMISE
        assert runtime.exchange.now() == SIDECAR["now_ms"], PROMISE
        assert runtime.state_hash() == SIDECAR["state_hash"], PROMISE
    finally:
        runtime.close()


def test_journal_written_by_0_1_keeps_working_after_recovery(tmp_path: Path) -> None:
    """A recovered 0.1 journal is appended to, and the mixed file recovers again."""
    state_dir = _state_dir(tmp_path)
    runtime = _recover(state_dir)
    try:
        runtime.exchange.advance(60_000)
        runtime.exchange.deposit("demo-user", 1_000_000)
        expected = runtime.state_hash()
    finally:
        runtime.close()
    assert expected != SIDECAR["state_hash"]
    again = _recover(state_dir)
    try:
        assert again.state_hash() == expected, PROMISE + ", and keep replaying once appended to"
    finally:
        again.close()


def test_snapshot_exported_by_0_1_imports_to_its_state_hash() -> None:
    raw = SNAPSHOT.read_bytes()
    snapshot = json.loads(raw)
    assert snapshot["format"] == "perps-sim/state-v1"
    assert snapshot["state_hash"] == SIDECAR["snapshot_state_hash"] == SIDECAR["state_hash"]
    exchange = import_state(raw)
    assert state_hash(exchange) == SIDECAR["state_hash"], SNAPSHOT_PROMISE
    assert exchange.now() == SIDECAR["now_ms"], SNAPSHOT_PROMISE


def test_runtime_imports_the_0_1_snapshot(tmp_path: Path) -> None:
    """`PUT /sim/v1/state` of a 0.1 snapshot, and the journal the import rewrites."""
    raw = SNAPSHOT.read_bytes()
    state_dir = tmp_path / "state"
    runtime = Runtime(harness.scenario(), clock_mode="manual", state_dir=state_dir)
    try:
        runtime.import_state(json.loads(raw))
        assert runtime.state_hash() == SIDECAR["state_hash"], SNAPSHOT_PROMISE
    finally:
        runtime.close()
    recovered = _recover(state_dir)
    try:
        assert recovered.state_hash() == SIDECAR["state_hash"], SNAPSHOT_PROMISE
    finally:
        recovered.close()
