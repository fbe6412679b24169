"""Journals and snapshots written by version 0.1 still replay to the same state.

The fixtures in `fixtures/journals/` were written by 0.1 (`tests/recordings/record.py`): the
`--state-dir` journal of the recorded REST session plus commands no transport reaches (35
distinct command names), the snapshot `GET /sim/v1/state` exported at its end, and a sidecar
with the state hash both replay to. Command names are a file format
(`simulator.core.command_table`): moving or renaming a method must keep these replaying.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from simulator.core.command_table import canonical
from simulator.server.snapshots import JOURNAL_NAME, import_state
from simulator.server.state_hash import state_hash
from tests.recordings import harness

JOURNALS = harness.FIXTURES / "journals"
SIDECAR = json.loads((JOURNALS / "journal-0.1.json").read_text())


def test_a_0_1_journal_replays_to_its_recorded_state_hash(tmp_path: Path) -> None:
    shutil.copyfile(JOURNALS / "journal-0.1.jsonl", tmp_path / JOURNAL_NAME)

    runtime = harness.runtime(tmp_path)
    try:
        replayed = runtime.state_hash()
        now = runtime.exchange.now()
        entries = len(runtime.exchange.command_log)
    finally:
        runtime.close()

    assert replayed == SIDECAR["state_hash"], "journals written by 0.1 must replay unchanged"
    assert now == SIDECAR["now_ms"]
    assert entries == SIDECAR["commands"]


def test_a_0_1_snapshot_imports_to_its_recorded_state_hash() -> None:
    data = (JOURNALS / "state-0.1.json").read_bytes()
    exchange = import_state(data)
    assert state_hash(exchange) == SIDECAR["state_hash"] == SIDECAR["snapshot_state_hash"], (
        "snapshots exported by 0.1 must import unchanged"
    )


def test_every_command_name_0_1_wrote_is_still_known() -> None:
    names = SIDECAR["command_names"]
    assert len(names) >= 30
    for name in names:
        canonical(name)
