"""The durable command journal of a runtime's state directory (`<state_dir>/journal.jsonl`).

Each line is one JSON array `[seq, "crc", payload]`: `seq` counts lines from 0 (from the
snapshot's record in a segment after a snapshot, see below), `crc` is the
CRC-32 (8 lower-case hex digits) of the bytes `<seq>,<payload>` exactly as written, and
`payload` is the header object on line 0
(`{"format": "perps-sim/journal-v2", "scenario", "seed", "created_ms"}`) and a recorded command
`[ts_ms, name, {param: value}]` (plus `true` if it raised) on every later line, in the command
log's encoding (`simulator.core.command_log`).

Durability (`Durability`):

- `flush` (default): each command's line is written with one unbuffered `write` before the
  command returns, so it is in the operating system before any transport acknowledges it; it
  survives the process being killed (`kill -9`), not a power loss.
- `fsync`: the same, and acknowledgements wait for an `fsync` that covers the line (`sync`):
  REST responses and FIX messages are held until then. Group commit: every acknowledgement
  waiting when an `fsync` starts is released by it, so a burst of commands costs one `fsync`,
  run in a worker thread while the event loop goes on. WebSocket frames are not held: a frame
  sent just before a power loss may show a command the restarted server does not have.

Whole-file rewrites (a fresh start, a reset, a state import, the upgrade of an older journal)
are written to a temporary file, fsynced and renamed over the journal in both modes.

Recovery (`recover`) checks every line before replaying any:

- a last line without its newline was cut short by a crash before its command returned, so it
  was never acknowledged: it is cut off the file with a warning;
- any complete line whose framing, checksum or sequence number is wrong (an edited, deleted,
  duplicated or reordered line, a damaged disk block) stops the start with an error naming
  the file, the line and what is wrong: a damaged middle is never replayed around.

Snapshots and segments (`snapshot`, called by the runtime every `snapshot_every` commands):
the state after record `S` is written as `snapshot-<S>-<sha256 prefix>.bin` (one JSON header
line `{"format": "perps-sim/snapshot-v1", "seq", "sha256", "state_hash", "now_ms", "commands",
"size"}`, then `size` bytes of `simulator.server.state_pickle`), and the journal goes on in a
new segment: `journal.jsonl` is replaced by one whose header is record `S` and names the
snapshot (`"snapshot": {"file", "seq", "sha256"}`); commands continue at `S + 1`. The segment
before is kept as `journal.prev.jsonl`, and every snapshot file neither segment names is
deleted, so the directory holds at most two snapshots. Each file is written to a temporary
name, fsynced and renamed, and the directory fsynced, before the next step: a crash at any
point leaves a `journal.jsonl` that recovers to the last acknowledged state.

Recovery of a segment loads its snapshot (header line, size, SHA-256, then the restricted
unpickler and the state hash, `simulator.server.snapshots.restore`) and replays the records
after it, with the checks above. If the snapshot is damaged, it falls back to the previous
segment when that reaches the snapshot's record: its own snapshot (or the origin), its records
up to the snapshot's, then the current segment's; otherwise the start stops with one line
naming the snapshot file. (A snapshot taken in a forked child, `snapshot(base, mark)`, covers
the records up to the fork: the lines written while the child ran end the previous segment and
are carried over into the new one, after its header.)

Journals of the first format (`perps-sim/journal-v1`: a header object, then bare command
arrays, no sequence numbers or checksums) still recover; the file is then rewritten in the
current format.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Literal

import msgspec

from simulator.core.command_log import Base, CommandLog
from simulator.core.json_depth import MAX_DEPTH, too_deep
from simulator.exchange import Exchange
from simulator.server import state_pickle
from simulator.server.scenarios import Scenario
from simulator.server.snapshots import (
    InvalidSnapshotError,
    Origin,
    ReplayClock,
    command_items,
    origin_of,
    replay,
    replay_onto,
    restore,
)

__all__ = [
    "DURABILITY",
    "FORMAT",
    "FORMAT_V1",
    "NAME",
    "PREVIOUS",
    "SNAPSHOT_FORMAT",
    "Durability",
    "JournalFile",
    "frame",
]

Durability = Literal["flush", "fsync"]
DURABILITY: tuple[Durability, ...] = ("flush", "fsync")
FORMAT = "perps-sim/journal-v2"
FORMAT_V1 = "perps-sim/journal-v1"
NAME = "journal.jsonl"
PREVIOUS = "journal.prev.jsonl"
SNAPSHOT_FORMAT = "perps-sim/snapshot-v1"

_LOG = logging.getLogger("perps_sim")
_JSON_ERRORS = (msgspec.MsgspecError, UnicodeDecodeError)  # msgspec: bytes that are not UTF-8
_LINE = re.compile(rb'\[(0|[1-9][0-9]{0,18}),"([0-9a-f]{8})",(.*)\]\Z', re.DOTALL)


class _SnapshotRef(msgspec.Struct, forbid_unknown_fields=True):
    # what a segment's header says of the snapshot it follows
    file: str
    seq: int
    sha256: str


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    scenario: Scenario
    seed: int
    created_ms: int
    snapshot: _SnapshotRef | None = None


class _SnapshotHeader(msgspec.Struct, forbid_unknown_fields=True):
    # the first line of a snapshot file
    format: str
    seq: int
    sha256: str
    state_hash: str
    now_ms: int
    commands: int
    size: int


_SNAPSHOT_NAME = re.compile(r"snapshot-[0-9]+-[0-9a-f]{12}\.bin\Z")


def frame(seq: int, payload: bytes) -> bytes:
    """The journal line (newline included) of `payload` at `seq`."""
    prefix = b"%d," % seq
    return b'[%d,"%08x",%s]\n' % (seq, zlib.crc32(prefix + payload), payload)


def _unframe(line: bytes, expected: int | None) -> tuple[int, bytes]:
    # (seq, payload) of a line that must be number `expected` (None: any), or ValueError
    # saying what is wrong
    match = _LINE.match(line)
    if match is None:
        raise ValueError("not a journal record (damaged or edited)")
    seq, crc, payload = int(match[1]), match[2], match[3]
    if b"%08x" % zlib.crc32(b"%d," % seq + payload) != crc:
        raise ValueError(f"checksum mismatch in record {seq} (damaged or edited)")
    if expected is not None and seq != expected:
        what = "missing or reordered" if seq > expected else "duplicated or reordered"
        raise ValueError(f"record {seq} where {expected} was due ({what} records)")
    return seq, payload


def _write_atomically(path: Path, data: bytes) -> None:
    # a temporary file, fsynced, renamed over `path`; the caller syncs the directory
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def _snapshot_ref(seq: int, sha256: str) -> dict[str, Any]:
    # how a segment's header names the snapshot of record `seq` (its file name included)
    return {"file": f"snapshot-{seq}-{sha256[:12]}.bin", "seq": seq, "sha256": sha256}


class JournalFile:
    """The append-only command journal of a runtime's state directory.

    Args:
        path: The journal file (`<state_dir>/journal.jsonl`).
        durability: `flush` or `fsync` (module docstring).
    """

    def __init__(self, path: Path, durability: Durability = "flush") -> None:
        if durability not in DURABILITY:
            raise ValueError(f"durability must be flush or fsync, was {durability!r}")
        self.path = path
        self.durability: Durability = durability
        self._file: BinaryIO | None = None
        self._log: CommandLog | None = None
        self._encode = msgspec.json.Encoder().encode
        self._seq = 0  # of the last line written
        self._synced = 0  # the last line an fsync covered
        self._round: asyncio.Future[None] | None = None
        self._retired: list[BinaryIO] = []  # segments closed while an fsync round used them
        self._upgrade = False  # a recovered older format, rewritten on attach

    # ------------------------------------------------------------------ recovery

    def recover(self) -> Exchange | None:
        """Replay an existing journal; None when there is none (or only an empty file).

        Raises:
            InvalidSnapshotError: A damaged header or line, or a command that does not replay.
        """
        if not self.path.exists():
            return None
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end == 0:
            if raw:
                self._drop_torn_tail(raw, 0)
            return None
        lines = raw[:end].splitlines()
        if lines[0].startswith(b"{"):
            header, items = self._read_v1(lines)
            exchange = replay(
                Origin(header.scenario, header.seed, header.created_ms), command_items(items)
            )
        else:
            header, first, items = self._read_v2(self.path, lines)
            exchange = self._replay_segment(header, items)
            self._seq = self._synced = first + len(lines) - 1
        if end != len(raw):
            self._drop_torn_tail(raw, end)
        if header.format == FORMAT_V1:
            _LOG.info("%s: upgrading the journal to %s", self.path, FORMAT)
            self._upgrade = True
        return exchange

    def _replay_segment(self, header: _Header, items: list[list[Any]]) -> Exchange:
        # the exchange of the current segment: its snapshot (or the origin) and its commands;
        # a damaged snapshot falls back to the previous segment if it reaches this one
        commands = command_items(items)
        ref = header.snapshot
        if ref is None:
            return replay(Origin(header.scenario, header.seed, header.created_ms), commands)
        try:
            exchange, clock = self._load_snapshot(ref)
        except InvalidSnapshotError as exc:
            exchange, clock = self._fall_back(ref, exc)
        replay_onto(exchange, clock, commands)
        return exchange

    def _fall_back(
        self, ref: _SnapshotRef, error: InvalidSnapshotError
    ) -> tuple[Exchange, ReplayClock]:
        previous = self.path.with_name(PREVIOUS)
        refused = f"{self.path.parent / ref.file}: {error}"
        if not previous.exists():
            raise InvalidSnapshotError(f"{refused}; no previous journal segment to fall back to")
        raw = previous.read_bytes()
        lines = raw[: raw.rfind(b"\n") + 1].splitlines()
        if not lines or lines[0].startswith(b"{"):
            raise InvalidSnapshotError(f"{refused}; {previous} is not a journal segment")
        header, first, items = self._read_v2(previous, lines)
        last = first + len(lines) - 1
        if last < ref.seq or first > ref.seq:
            raise InvalidSnapshotError(
                f"{refused}; {previous} holds records {first} to {last}, not {ref.seq}"
            )
        _LOG.warning("%s; recovering from the previous snapshot and %s", refused, previous)
        # a snapshot taken in the background ends before the previous segment does: the
        # records after it are in both segments, and replayed from the current one
        commands = command_items(items[: ref.seq - first])
        if header.snapshot is None:
            origin = Origin(header.scenario, header.seed, header.created_ms)
            exchange = replay(origin, [])
            clock = exchange.clock
            assert isinstance(clock, ReplayClock)
        else:
            try:
                exchange, clock = self._load_snapshot(header.snapshot)
            except InvalidSnapshotError as exc:
                raise InvalidSnapshotError(
                    f"{refused}; the previous {self.path.parent / header.snapshot.file}: {exc}"
                ) from None
        replay_onto(exchange, clock, commands)
        return exchange, clock

    def _load_snapshot(self, ref: _SnapshotRef) -> tuple[Exchange, ReplayClock]:
        path = self.path.parent / ref.file
        if _SNAPSHOT_NAME.match(ref.file) is None:
            raise InvalidSnapshotError(f"{ref.file!r} is not a snapshot file name")
        try:
            with path.open("rb") as file:
                first = file.readline(4096)
                try:
                    meta = msgspec.json.decode(first, type=_SnapshotHeader)
                except _JSON_ERRORS as exc:
                    raise InvalidSnapshotError(f"damaged snapshot header: {exc}") from None
                if meta.format != SNAPSHOT_FORMAT:
                    raise InvalidSnapshotError(f"unknown snapshot format {meta.format!r}")
                if meta.size > state_pickle.MAX_BYTES:
                    raise InvalidSnapshotError(
                        f"the snapshot is longer than {state_pickle.MAX_BYTES} bytes"
                    )
                blob = file.read(meta.size + 1)
        except OSError as exc:
            raise InvalidSnapshotError(f"cannot read the snapshot: {exc}") from None
        if len(blob) != meta.size:
            raise InvalidSnapshotError(f"the snapshot holds {len(blob)} bytes, not {meta.size}")
        if meta.seq != ref.seq or meta.sha256 != ref.sha256:
            raise InvalidSnapshotError("the snapshot is not the one the journal names")
        base = Base(blob, meta.sha256, meta.state_hash, meta.now_ms, meta.commands)
        return restore(base)

    def _read_v2(self, path: Path, lines: list[bytes]) -> tuple[_Header, int, list[list[Any]]]:
        # the header, the seq of the header line (the snapshot's, 0 from the origin) and the
        # commands of a segment
        items: list[list[Any]] = []
        header: _Header | None = None
        first = 0
        for number, line in enumerate(lines, start=1):
            where = f"{path}: line {number}"
            try:
                seq, payload = _unframe(line, None if number == 1 else first + number - 1)
            except ValueError as exc:
                raise InvalidSnapshotError(f"{where}: {exc}") from None
            if number == 1:
                first = seq
            if too_deep(payload):
                raise InvalidSnapshotError(f"{where}: nested deeper than {MAX_DEPTH} levels")
            try:
                if header is None:
                    header = msgspec.json.decode(payload, type=_Header)
                else:
                    items.append(msgspec.json.decode(payload, type=list[Any]))
            except _JSON_ERRORS as exc:
                raise InvalidSnapshotError(f"{where}: {exc}") from None
        assert header is not None
        if header.format != FORMAT:
            raise InvalidSnapshotError(f"{path}: unknown journal format {header.format!r}")
        expected = 0 if header.snapshot is None else header.snapshot.seq
        if first != expected:
            raise InvalidSnapshotError(
                f"{path}: line 1: record {first} where {expected} was due (the header's)"
            )
        return header, first, items

    def _read_v1(self, lines: list[bytes]) -> tuple[_Header, list[list[Any]]]:
        if too_deep(lines[0]):
            raise InvalidSnapshotError(
                f"{self.path}: damaged header: nested deeper than {MAX_DEPTH} levels"
            )
        try:
            header = msgspec.json.decode(lines[0], type=_Header)
        except _JSON_ERRORS as exc:
            raise InvalidSnapshotError(f"{self.path}: damaged header: {exc}") from None
        if header.format != FORMAT_V1:
            raise InvalidSnapshotError(f"{self.path}: unknown journal format {header.format!r}")
        items: list[list[Any]] = []
        for number, line in enumerate(lines[1:], start=2):
            if too_deep(line):
                raise InvalidSnapshotError(
                    f"{self.path}: damaged line {number}: nested deeper than {MAX_DEPTH} levels"
                )
            try:
                items.append(msgspec.json.decode(line, type=list[Any]))
            except _JSON_ERRORS as exc:
                raise InvalidSnapshotError(f"{self.path}: damaged line {number}: {exc}") from None
        return header, items

    def _drop_torn_tail(self, raw: bytes, end: int) -> None:
        _LOG.warning(
            "%s: dropped a torn last record (%d bytes without their newline): its command never "
            "returned, so nothing acknowledged is lost",
            self.path,
            len(raw) - end,
        )
        with self.path.open("r+b") as file:
            file.truncate(end)
            file.flush()
            os.fsync(file.fileno())

    # ------------------------------------------------------------------- writing

    def attach(self, exchange: Exchange, *, rewrite: bool) -> None:
        """Journal `exchange` from now on.

        Args:
            exchange: An exchange built by `simulator.server.snapshots.build` (or replayed).
            rewrite: Replace the file with a header and the exchange's whole log (a fresh
                build, a reset or an import); otherwise append to the file as it is (it
                already holds the log: a recovery; a recovered older format is rewritten).
        """
        log = exchange.command_log
        origin = origin_of(exchange)
        if origin is None:
            raise ValueError("the exchange was not built by simulator.server.snapshots.build")
        if rewrite or self._upgrade:
            self._upgrade = False
            self._rewrite(origin, log)
        self.close()
        self._file = self.path.open("ab", buffering=0)
        log.sink = self._append
        self._log = log

    def _header(self, origin: Origin, snapshot: dict[str, Any] | None) -> dict[str, Any]:
        header = {
            "format": FORMAT,
            "scenario": msgspec.to_builtins(origin.scenario),
            "seed": origin.seed,
            "created_ms": origin.created_ms,
        }
        if snapshot is not None:
            header["snapshot"] = snapshot
        return header

    def _rewrite(self, origin: Origin, log: CommandLog) -> None:
        # a log that starts from a base (a v2 import, a compacted reset source) is written as
        # the base's snapshot file at seq 0 and a segment after it
        ref = None
        if log.base is not None:
            self.write_snapshot(0, log.base)
            ref = _snapshot_ref(0, log.base.sha256)
        lines = [frame(0, self._encode(self._header(origin, ref)))]
        lines.extend(frame(seq, self._encode(entry)) for seq, entry in enumerate(log.encoded(), 1))
        previous = self.path.with_name(PREVIOUS)
        previous.unlink(missing_ok=True)  # the old exchange's: never a fallback for this one
        _write_atomically(self.path, b"".join(lines))
        self._fsync_directory()
        self._seq = self._synced = len(lines) - 1
        self._drop_unreferenced(ref)

    def mark(self) -> tuple[int, int] | None:
        """(seq, byte length) of the current segment now: where a snapshot taken now ends (pass
        it to `snapshot` once the snapshot is ready); None when nothing is attached."""
        if self._file is None:
            return None
        return self._seq, self._file.tell()

    def snapshot(
        self, base: Base, mark: tuple[int, int] | None = None, *, written: bool = False
    ) -> None:
        """Write `base` as the snapshot of every line so far and start a new segment after it.

        With `mark` (`mark()` when the snapshot was taken), `base` is the state after that
        record, and the lines written since are carried over into the new segment. `written`
        says that `write_snapshot(mark's seq, base)` has already written the snapshot file (a
        forked child does, off the event loop); it is written here if it is not there.

        In order, each step durable before the next: the snapshot file
        (`snapshot-<seq>-<sha256 prefix>.bin`: a JSON header line, then the pickled state);
        the current segment kept as `journal.prev.jsonl` (the fallback if the new snapshot is
        found damaged); a new `journal.jsonl` whose header names the snapshot; then snapshot
        files neither segment names are deleted. A crash at any point leaves a journal that
        recovers to the same state.

        Raises:
            OSError: A write failed; the current segment is still the journal.
        """
        log, origin = self._log, None if self._log is None else self._log.origin
        if log is None or not isinstance(origin, Origin):
            raise ValueError("snapshot needs an attached exchange built by snapshots.build")
        seq = self._seq if mark is None else mark[0]
        ref = _snapshot_ref(seq, base.sha256)
        if not (written and self.path.with_name(ref["file"]).exists()):
            self.write_snapshot(seq, base)
        tail = b""
        if mark is not None and seq < self._seq:
            with self.path.open("rb") as current:
                current.seek(mark[1])
                tail = current.read()
        if self._file is not None:
            if self.durability == "fsync":
                os.fsync(self._file.fileno())
                self._synced = self._seq
            if self._round is not None:
                self._retired.append(self._file)  # a worker thread is fsyncing it: close after
            else:
                self._file.close()
            self._file = None
        previous = self.path.with_name(PREVIOUS)
        linked = previous.with_name(previous.name + ".tmp")
        linked.unlink(missing_ok=True)
        try:
            os.link(self.path, linked)
        except OSError:  # a file system without hard links: copy
            _write_atomically(linked, self.path.read_bytes())
        os.replace(linked, previous)
        _write_atomically(self.path, frame(seq, self._encode(self._header(origin, ref))) + tail)
        self._fsync_directory()
        self._file = self.path.open("ab", buffering=0)
        self._synced = self._seq
        self._drop_unreferenced(ref)

    def write_snapshot(self, seq: int, base: Base) -> None:
        """Write `base` as the snapshot file of record `seq`, atomically, and sync it.

        Writes one new file and changes nothing else, of the journal or of this object: a
        forked child may call it (`simulator.server.snapshot_fork`), before `snapshot(base,
        mark, written=True)` in the parent makes the journal name the file.
        """
        ref = _snapshot_ref(seq, base.sha256)
        meta = {
            "format": SNAPSHOT_FORMAT,
            "seq": seq,
            "sha256": base.sha256,
            "state_hash": base.state_hash,
            "now_ms": base.now_ms,
            "commands": base.commands,
            "size": len(base.snapshot),
        }
        _write_atomically(
            self.path.with_name(ref["file"]), self._encode(meta) + b"\n" + base.snapshot
        )
        self._fsync_directory()

    def _drop_unreferenced(self, current: dict[str, Any] | None) -> None:
        # delete snapshot files neither the journal nor the previous segment names
        keep = set() if current is None else {current["file"]}
        previous = self.path.with_name(PREVIOUS)
        if previous.exists():
            with previous.open("rb") as file:
                first = file.readline()
            try:
                _, payload = _unframe(first.rstrip(b"\n"), None)
                header = msgspec.json.decode(payload, type=_Header)
            except (ValueError, msgspec.MsgspecError):  # UnicodeDecodeError is a ValueError
                header = None
            if header is not None and header.snapshot is not None:
                keep.add(header.snapshot.file)
        for path in self.path.parent.glob("snapshot-*.bin"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        # and what a write cut short left (a crash, a killed snapshot process): no snapshot is
        # being written when this runs but by a child whose exchange was replaced, which then
        # fails and is discarded anyway
        for path in self.path.parent.glob("snapshot-*.bin.tmp"):
            path.unlink(missing_ok=True)

    def _fsync_directory(self) -> None:
        # the rename itself survives a power loss only once the directory is synced
        try:
            descriptor = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(descriptor)
        except OSError:
            pass
        finally:
            os.close(descriptor)

    def _append(self, line: list[Any]) -> None:
        # unbuffered: one write system call per command, done before the command returns
        assert self._file is not None
        self._seq += 1
        self._file.write(frame(self._seq, self._encode(line)))

    @property
    def pending(self) -> bool:
        """Whether `fsync` durability still owes an fsync for a written line."""
        return self.durability == "fsync" and self._synced < self._seq

    async def sync(self) -> None:
        """Return once every line written so far is fsynced (`fsync` durability); at once with
        `flush` durability. Concurrent callers share fsyncs (group commit)."""
        if self.durability != "fsync":
            return
        target = self._seq
        while self._synced < target and self._file is not None:
            if self._round is None:
                self._round = asyncio.ensure_future(self._fsync_round())
            await asyncio.shield(self._round)

    async def _fsync_round(self) -> None:
        upto = self._seq
        file = self._file
        try:
            if file is not None:
                await asyncio.to_thread(os.fsync, file.fileno())
            self._synced = max(self._synced, upto)
        finally:
            self._round = None
            retired, self._retired = self._retired, []
            for old in retired:
                old.close()

    def close(self) -> None:
        """Stop journaling (the attached exchange's commands are no longer written)."""
        if self._log is not None:
            self._log.sink = None
            self._log = None
        if self._file is not None:
            if self.durability == "fsync":
                os.fsync(self._file.fileno())
                self._synced = self._seq
            if self._round is not None:  # a worker thread may be fsyncing it: close after
                self._retired.append(self._file)
            else:
                self._file.close()
            self._file = None
