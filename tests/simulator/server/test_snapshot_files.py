"""Periodic snapshots of a runtime: the bounded command log, snapshot files and recovery."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from matching import Side
from simulator.core.money import parse_dollars
from simulator.model.orders import PlaceOrder
from simulator.server import journal, snapshots
from simulator.server.runtime import Runtime
from simulator.server.scenarios import load_scenario

DEFAULT = load_scenario("default")
BTC = "KXBTCPERP"


Make = Callable[..., Runtime]


@pytest.fixture
def runtime() -> Iterator[Make]:
    """Builds runtimes on the default scenario (manual clock) and closes them at the end."""
    opened: list[Runtime] = []

    def make(state_dir: Path | None = None, every: int = 0) -> Runtime:
        built = Runtime(DEFAULT, clock_mode="manual", state_dir=state_dir, snapshot_every=every)
        opened.append(built)
        return built

    yield make
    for built in opened:
        built.close()


def drive(rt: Runtime, rounds: int, start: int = 0) -> None:
    """Orders that rest and are cancelled, orders that fill, deposits and time."""
    if "alice" not in rt.exchange.users:
        rt.exchange.create_user(user_id="alice", balance=parse_dollars("100000"))
    for n in range(start, start + rounds):
        ex = rt.exchange
        reference = ex.markets[BTC].reference
        assert reference is not None
        price = reference[0]
        resting = ex.place_order("alice", PlaceOrder(BTC, Side.BID, price - 2_000, 100, f"r{n}"))
        ex.place_order("alice", PlaceOrder(BTC, Side.BID, price + 50, 100, f"f{n}"))
        ex.cancel_order("alice", resting.order.order_id)
        ex.deposit("alice", parse_dollars("1"))
        ex.advance(7_000)


def test_the_in_memory_log_stays_bounded_and_the_state_is_the_same(runtime: Make) -> None:
    plain, compacted = runtime(), runtime(every=25)
    longest = 0

    for n in range(0, 200, 10):
        drive(plain, 10, n)
        drive(compacted, 10, n)
        longest = max(longest, len(compacted.exchange.command_log))

    assert len(plain.exchange.command_log) > 1_000
    assert longest <= 25
    assert compacted.snapshots_taken >= 1_000 // 25
    assert compacted.state_hash() == plain.state_hash()
    assert compacted.exchange.command_log.commands == len(plain.exchange.command_log)


def test_a_compacted_export_is_v2_and_imports_to_the_same_state(runtime: Make) -> None:
    source = runtime(every=30)
    drive(source, 20)
    exported = source.export_state()
    target = runtime()

    target.import_state(msgspec.json.encode(exported))

    assert exported["format"] == snapshots.FORMAT_V2
    assert 0 < len(exported["commands"]) < 30
    assert target.state_hash() == source.state_hash() == exported["state_hash"]
    drive(source, 3, 100)
    drive(target, 3, 100)
    assert target.state_hash() == source.state_hash()


def test_an_uncompacted_export_stays_v1(runtime: Make) -> None:
    source = runtime(every=10_000)
    drive(source, 5)

    assert source.export_state()["format"] == snapshots.FORMAT


def test_a_v2_import_refuses_a_damaged_base_and_keeps_the_running_state(runtime: Make) -> None:
    source = runtime(every=30)
    drive(source, 20)
    exported = source.export_state()
    target = runtime()
    drive(target, 2)
    before = target.state_hash()
    wrong_hash = json.loads(json.dumps(exported))
    wrong_hash["base"]["state_hash"] = "0" * 64
    flipped = json.loads(json.dumps(exported))
    blob = flipped["base"]["snapshot"]
    flipped["base"]["snapshot"] = blob[:100] + ("A" if blob[100] != "A" else "B") + blob[101:]

    for bad, reason in ((wrong_hash, "state hash"), (flipped, "checksum")):
        with pytest.raises(snapshots.InvalidSnapshotError, match=reason):
            target.import_state(bad)

    assert target.state_hash() == before


def test_recovery_loads_the_snapshot_and_replays_the_tail(tmp_path: Path, runtime: Make) -> None:
    plain = runtime()
    first = runtime(tmp_path, every=40)
    drive(plain, 30)
    drive(first, 30)
    first.close()
    files = sorted(path.name for path in tmp_path.iterdir())
    lines = (tmp_path / journal.NAME).read_bytes().count(b"\n")

    recovered = runtime(tmp_path, every=40)

    assert recovered.state_hash() == plain.state_hash()
    assert [name for name in files if name.startswith("snapshot-")] and journal.PREVIOUS in files
    assert lines <= 41  # the header and the commands since the last snapshot
    drive(plain, 5, 100)
    drive(recovered, 5, 100)
    assert recovered.state_hash() == plain.state_hash()


def test_a_snapshot_clears_what_an_interrupted_snapshot_write_left(
    tmp_path: Path, runtime: Make
) -> None:
    rt = runtime(tmp_path, every=40)
    left = tmp_path / "snapshot-7-0123456789ab.bin.tmp"  # a write cut short by a crash
    left.write_bytes(b"half a snapshot")

    drive(rt, 15)  # 60 commands: one snapshot

    assert rt.snapshots_taken == 1
    assert not left.exists()
    assert len(list(tmp_path.glob("snapshot-*.bin"))) == 1


def _newest_snapshot(state_dir: Path) -> Path:
    with (state_dir / journal.NAME).open("rb") as file:
        header = json.loads(file.readline().split(b",", 2)[2][:-2])
    name: str = header["snapshot"]["file"]
    return state_dir / name


def test_a_damaged_newest_snapshot_falls_back_to_the_previous_one(
    tmp_path: Path, runtime: Make
) -> None:
    plain = runtime()
    first = runtime(tmp_path, every=40)
    drive(plain, 30)
    drive(first, 30)
    first.close()
    newest = _newest_snapshot(tmp_path)
    data = bytearray(newest.read_bytes())
    data[-10] ^= 0xFF
    newest.write_bytes(bytes(data))

    recovered = runtime(tmp_path, every=40)

    assert recovered.state_hash() == plain.state_hash()


def test_a_damaged_snapshot_without_a_fallback_stops_the_start_naming_it(
    tmp_path: Path, runtime: Make
) -> None:
    first = runtime(tmp_path, every=40)
    drive(first, 30)
    first.close()
    newest = _newest_snapshot(tmp_path)
    newest.write_bytes(newest.read_bytes()[:-5])
    (tmp_path / journal.PREVIOUS).unlink()

    with pytest.raises(snapshots.InvalidSnapshotError) as caught:
        runtime(tmp_path, every=40)

    message = str(caught.value)
    assert str(newest) in message and "\n" not in message


def test_an_edited_line_after_a_snapshot_is_refused_naming_it(
    tmp_path: Path, runtime: Make
) -> None:
    first = runtime(tmp_path, every=40)
    drive(first, 30)
    first.close()
    path = tmp_path / journal.NAME
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"alice", b"alicf")
    path.write_bytes(b"".join(lines))

    with pytest.raises(snapshots.InvalidSnapshotError, match=rf"{path}: line 3: checksum"):
        runtime(tmp_path, every=40)


def test_a_torn_last_line_after_a_snapshot_is_dropped(tmp_path: Path, runtime: Make) -> None:
    plain = runtime()
    first = runtime(tmp_path, every=40)
    drive(plain, 30)
    drive(first, 30)
    first.close()
    path = tmp_path / journal.NAME
    with path.open("ab") as file:
        file.write(b'[9999,"00000000",[1,"run_d')

    recovered = runtime(tmp_path, every=40)

    assert recovered.state_hash() == plain.state_hash()
    assert path.read_bytes().endswith(b"\n")


def test_a_v2_import_and_a_reset_rewrite_the_state_directory(tmp_path: Path, runtime: Make) -> None:
    source = runtime(every=30)
    drive(source, 20)
    target = runtime(tmp_path, every=30)
    drive(target, 20)

    target.import_state(source.export_state())
    target.close()
    imported = runtime(tmp_path, every=30)
    assert imported.state_hash() == source.state_hash()
    assert len(list(tmp_path.glob("snapshot-*.bin"))) == 1
    assert not (tmp_path / journal.PREVIOUS).exists()

    imported.reset()
    imported.close()
    assert not list(tmp_path.glob("snapshot-*.bin"))
    assert runtime(tmp_path).state_hash() == runtime().state_hash()


def test_a_snapshot_that_cannot_be_written_keeps_the_log_and_is_retried(
    tmp_path: Path, runtime: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = runtime()
    full = runtime(tmp_path, every=20)
    journal_file = full._journal
    assert journal_file is not None

    def no_space(base: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_file, "snapshot", no_space)
    drive(plain, 8)
    drive(full, 8)

    assert full.snapshots_taken == 0 and full.exchange.command_log.base is None
    assert len(full.exchange.command_log) == len(plain.exchange.command_log) > 20
    monkeypatch.undo()
    drive(plain, 8, 100)
    drive(full, 8, 100)
    assert full.snapshots_taken >= 1
    full.close()
    assert runtime(tmp_path).state_hash() == plain.state_hash()
