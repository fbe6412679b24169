"""State snapshots and the durable journal: an exchange is its scenario plus its command log.

The exchange is deterministic (DESIGN.md 5), so an export need not copy books, accounts or
timers: it holds what the exchange was built from (scenario, seed, construction instant) and
every command it accepted since (`simulator.core.command_log`), and is restored by replaying them.

v1 (`export_state` of a log that was never compacted; what `GET /sim/v1/state` returns and
`PUT /sim/v1/state` takes)::

    {"format": "perps-sim/state-v1", "scenario": {...}, "seed": 1, "created_ms": ...,
     "now_ms": ..., "commands": [[ts_ms, name, {param: value}], ...], "state_hash": "..."}

`import_state` rebuilds the scenario on a manual clock at `created_ms`, moves the clock to each
command's instant and calls it, moves the clock to `now_ms` and checks that the replayed
`state_hash` is the exported one. Replay is exact: events, ids and the state hash come out the
same. With a wall or accelerated clock, commands carry wall-clock instants; replay sets the
manual clock to them just the same, so wall-mode snapshots replay exactly too (the runtime then
continues on its own clock, see `Runtime.replace`).

Periodic snapshots bound memory and replay time: a runtime takes one every `snapshot_every`
commands (`take`: the whole exchange pickled by `simulator.server.state_pickle`, its SHA-256,
its state hash and instant), and the command log keeps it as its base and drops the commands
it includes. The export of a compacted log is v2::

    {"format": "perps-sim/state-v2",
     "base": {"snapshot": "<base64 pickle>", "sha256": "...", "state_hash": "...",
              "now_ms": ..., "commands": <commands the base includes>},
     "now_ms": ..., "commands": [...after the base...], "state_hash": "..."}

Importing v2 (`restore`) checks the SHA-256, unpickles through the restricted unpickler (only
project classes and a short allowlist), checks the base's state hash, replays the tail and
checks the final state hash; any failure is `InvalidSnapshotError` and nothing changes. The
origin (scenario, seed) travels inside the pickle, so `reset` still goes back to it.

The durable journal of a state directory (`simulator.server.journal`) holds the same origin and
commands, one checksummed line each, written as snapshot files and the journal segments after
them once compacted, and recovers with `replay` and `restore` too.

Assumption: the scenario is embedded as data but its markets and key files are read from disk
again on a v1 import; if those files changed, the replay does not match and the import is
refused. What retention dropped (`simulator.risk.retention`) is dropped again on replay, at the
same points, so a snapshot replays to its state hash with trimming in effect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import pickle
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import msgspec

from simulator.core import errors
from simulator.core.clock import Clock, ManualClock
from simulator.core.command_log import Base, hold
from simulator.core.command_table import canonical, decode_args, resolve
from simulator.core.json_depth import MAX_DEPTH, too_deep
from simulator.exchange import Exchange
from simulator.server import state_pickle
from simulator.server.scenarios import Scenario, build_exchange
from simulator.server.state_hash import state_hash

__all__ = [
    "FORMAT",
    "FORMAT_V2",
    "Command",
    "InvalidSnapshotError",
    "Origin",
    "ReplayClock",
    "Snapshot",
    "build",
    "command_items",
    "export_state",
    "import_state",
    "origin_of",
    "replay",
    "replay_onto",
    "restore",
    "take",
]


@dataclass(frozen=True, slots=True)
class Origin:
    """What an exchange was built from: the replay starting point of its log."""

    scenario: Scenario
    seed: int
    created_ms: int


def origin_of(exchange: Exchange) -> Origin | None:
    """The origin `build` gave the exchange, or None for one built by hand."""
    origin = exchange.command_log.origin
    return origin if isinstance(origin, Origin) else None


FORMAT = "perps-sim/state-v1"
FORMAT_V2 = "perps-sim/state-v2"

Command = tuple[int, str, dict[str, Any], bool]
"""A decoded log entry: (ts_ms, name, args as builtins, raised)."""


class InvalidSnapshotError(errors.InvalidParametersError, ValueError):
    """A snapshot or journal that is malformed or does not replay to its own state.

    A `RejectError` (400 `invalid_parameters` on the control plane) and a `ValueError` (a
    damaged journal stops start-up like any other bad setting).
    """


class Snapshot(msgspec.Struct, forbid_unknown_fields=True):
    """The wire shape of a snapshot (see the module docstring)."""

    format: str
    scenario: Scenario
    seed: int
    created_ms: int
    now_ms: int
    commands: list[list[Any]]
    state_hash: str


class BaseWire(msgspec.Struct, forbid_unknown_fields=True):
    """The wire shape of a v2 snapshot's base: the pickled state, base64-encoded."""

    snapshot: str
    sha256: str
    state_hash: str
    now_ms: int
    commands: int


class SnapshotV2(msgspec.Struct, forbid_unknown_fields=True):
    """The wire shape of a v2 snapshot: a base and the commands recorded after it."""

    format: str
    base: BaseWire
    now_ms: int
    commands: list[list[Any]]
    state_hash: str


class _Format(msgspec.Struct):
    format: str


class HasExchange(Protocol):
    @property
    def exchange(self) -> Exchange: ...


class ReplayClock(ManualClock):
    """The manual clock of a replay: it may be set to any recorded instant, even an earlier one
    (a wall clock stepped back by the operating system)."""

    def jump(self, ts_ms: int) -> None:
        self._now = ts_ms


# ------------------------------------------------------------------ building


def build(scenario: Scenario, clock: Clock, seed: int | None = None) -> Exchange:
    """A fresh exchange in the scenario's initial state whose command log can be exported.

    The scenario's own set-up (users, liquidity) is part of the build, not of the log.
    """
    chosen = scenario.seed if seed is None else seed
    with hold(clock):
        exchange = build_exchange(scenario, clock, chosen)
    log = exchange.command_log
    log.clear()
    log.origin = Origin(scenario, chosen, exchange.created_ms)
    return exchange


def replay(origin: Origin, commands: list[Command], now_ms: int | None = None) -> Exchange:
    """Rebuild `origin` on a `ReplayClock` and apply `commands` at their instants.

    Raises:
        InvalidSnapshotError: The scenario does not build, a command is unknown or malformed,
            or a command's outcome differs from the recorded one.
    """
    clock = ReplayClock(origin.created_ms)
    try:
        exchange = build(origin.scenario, clock, origin.seed)
    except (ValueError, OSError, msgspec.MsgspecError, errors.RejectError) as exc:
        raise InvalidSnapshotError(f"the scenario does not build: {exc}") from None
    replay_onto(exchange, clock, commands)
    if now_ms is not None:
        clock.jump(now_ms)
    return exchange


def replay_onto(exchange: Exchange, clock: ReplayClock, commands: list[Command]) -> None:
    """Apply `commands` to `exchange` (which runs on `clock`) at their recorded instants.

    Raises:
        InvalidSnapshotError: A command is unknown or malformed, or its outcome differs from
            the recorded one.
    """
    for index, (ts_ms, name, args, raised) in enumerate(commands):
        try:
            method = resolve(exchange, name)
            kwargs = decode_args(method, args)
        except ValueError as exc:
            raise InvalidSnapshotError(f"command {index}: {exc}") from None
        clock.jump(ts_ms)
        try:
            method(**kwargs)
        except Exception as exc:
            if not raised:
                raise InvalidSnapshotError(
                    f"command {index} ({name}) failed on replay: {type(exc).__name__}: {exc}"
                ) from None
        else:
            if raised:
                raise InvalidSnapshotError(
                    f"command {index} ({name}) failed when recorded but succeeded on replay"
                )


# ------------------------------------------------------------- state snapshots


def take(exchange: Exchange) -> Base:
    """Snapshot the exchange's state now (between commands): the base a compacted log starts
    from (`simulator.core.command_log`), with its checksum and state hash."""
    with hold(exchange.clock) as now:
        blob = state_pickle.dumps(exchange)
        digest = state_hash(exchange)
    return Base(blob, hashlib.sha256(blob).hexdigest(), digest, now, exchange.command_log.commands)


def restore(base: Base) -> tuple[Exchange, ReplayClock]:
    """The exchange a base holds, on a `ReplayClock` at the base's instant, its log starting
    from the base.

    Raises:
        InvalidSnapshotError: The checksum does not match, the restricted unpickler refuses
            the bytes (`simulator.server.state_pickle`), or the state hash differs.
    """
    if hashlib.sha256(base.snapshot).hexdigest() != base.sha256:
        raise InvalidSnapshotError("the snapshot's checksum (sha256) does not match its bytes")
    try:
        exchange = state_pickle.loads(base.snapshot)
    except pickle.UnpicklingError as exc:
        raise InvalidSnapshotError(f"the snapshot does not load: {exc}") from None
    if not isinstance(exchange, Exchange):
        raise InvalidSnapshotError("the snapshot does not hold an exchange")
    clock = ReplayClock(base.now_ms)
    exchange.clock = clock
    try:
        restored = state_hash(exchange)
    except RecursionError:
        raise InvalidSnapshotError("the snapshot nests too deep") from None
    except Exception as exc:  # crafted bytes can build objects the exchange cannot read
        raise InvalidSnapshotError(
            f"the snapshot does not hold a readable exchange: {type(exc).__name__}"
        ) from None
    if restored != base.state_hash:
        raise InvalidSnapshotError(
            f"the snapshot's state hash {restored} is not the recorded {base.state_hash}"
        )
    exchange.command_log.base = base
    return exchange, clock


def command_items(items: list[list[Any]]) -> list[Command]:
    # [ts_ms, name, {args}] or [ts_ms, name, {args}, true]
    decoded: list[Command] = []
    for index, item in enumerate(items):
        if (
            len(item) not in (3, 4)
            or type(item[0]) is not int
            or type(item[1]) is not str
            or type(item[2]) is not dict
            or (len(item) == 4 and item[3] is not True)
        ):
            raise InvalidSnapshotError(
                f"commands[{index}] must be [ts_ms, name, {{args}}] (or with a final true)"
            )
        try:
            canonical(item[1])
        except ValueError as exc:
            raise InvalidSnapshotError(f"commands[{index}]: {exc}") from None
        decoded.append((item[0], item[1], item[2], len(item) == 4))
    return decoded


# ------------------------------------------------------------ export / import


def export_state(source: Exchange | HasExchange) -> dict[str, Any]:
    """The snapshot of an exchange (or of a runtime's current exchange) as JSON builtins.

    Raises:
        ValueError: The exchange was not built by `build` (its origin is unknown).
    """
    exchange = source if isinstance(source, Exchange) else source.exchange
    log = exchange.command_log
    origin = origin_of(exchange)
    if origin is None:
        raise ValueError("the exchange was not built by simulator.server.snapshots.build")
    base = log.base
    if base is not None:
        with hold(exchange.clock) as now:
            return {
                "format": FORMAT_V2,
                "base": {
                    "snapshot": base64.b64encode(base.snapshot).decode("ascii"),
                    "sha256": base.sha256,
                    "state_hash": base.state_hash,
                    "now_ms": base.now_ms,
                    "commands": base.commands,
                },
                "now_ms": now,
                "commands": log.encoded(),
                "state_hash": state_hash(exchange),
            }
    with hold(exchange.clock) as now:
        return {
            "format": FORMAT,
            "scenario": msgspec.to_builtins(origin.scenario),
            "seed": origin.seed,
            "created_ms": origin.created_ms,
            "now_ms": now,
            "commands": log.encoded(),
            "state_hash": state_hash(exchange),
        }


def import_state(data: dict[str, Any] | bytes) -> Exchange:
    """Rebuild the exchange of a snapshot (a parsed dict or its JSON bytes).

    The result runs on a `ReplayClock` at the snapshot's `now_ms`; `Runtime.replace` moves it
    onto the runtime's clock.

    Raises:
        InvalidSnapshotError: Malformed snapshot, unknown format, a command that does not
            replay, or a replayed state hash different from the exported one.
    """
    if isinstance(data, bytes) and too_deep(data):
        raise InvalidSnapshotError(f"the snapshot nests deeper than {MAX_DEPTH} levels")
    if _format(data) == FORMAT_V2:
        return _import_v2(data)
    snapshot = _decode(data, Snapshot)
    if snapshot.format != FORMAT:
        raise InvalidSnapshotError(f"unknown snapshot format {snapshot.format!r}")
    commands = command_items(snapshot.commands)
    origin = Origin(snapshot.scenario, snapshot.seed, snapshot.created_ms)
    exchange = replay(origin, commands, snapshot.now_ms)
    replayed = state_hash(exchange)
    if replayed != snapshot.state_hash:
        raise InvalidSnapshotError(
            f"the replayed state hash {replayed} is not the snapshot's {snapshot.state_hash}"
        )
    return exchange


_S = TypeVar("_S", bound=msgspec.Struct)


def _decode(data: dict[str, Any] | bytes, kind: type[_S]) -> _S:
    try:
        if isinstance(data, bytes):
            return msgspec.json.decode(data, type=kind)
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise InvalidSnapshotError(f"invalid snapshot: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec: bytes that are not UTF-8
        raise InvalidSnapshotError("the snapshot is not valid JSON") from None
    except RecursionError:  # a parsed dict nested too deep
        raise InvalidSnapshotError(f"the snapshot nests deeper than {MAX_DEPTH} levels") from None


def _format(data: dict[str, Any] | bytes) -> object:
    if isinstance(data, dict):
        return data.get("format")
    try:
        return msgspec.json.decode(data, type=_Format).format
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        return None  # reported by the full decode


def _import_v2(data: dict[str, Any] | bytes) -> Exchange:
    snapshot = _decode(data, SnapshotV2)
    wire = snapshot.base
    if len(wire.snapshot) > state_pickle.MAX_BYTES // 3 * 4 + 4:
        raise InvalidSnapshotError(f"the base is longer than {state_pickle.MAX_BYTES} bytes")
    try:
        blob = base64.b64decode(wire.snapshot, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSnapshotError("base.snapshot is not base64") from None
    commands = command_items(snapshot.commands)
    base = Base(blob, wire.sha256, wire.state_hash, wire.now_ms, wire.commands)
    exchange, clock = restore(base)
    if origin_of(exchange) is None:
        raise InvalidSnapshotError("the snapshot's exchange has no origin")
    replay_onto(exchange, clock, commands)
    clock.jump(snapshot.now_ms)
    replayed = state_hash(exchange)
    if replayed != snapshot.state_hash:
        raise InvalidSnapshotError(
            f"the replayed state hash {replayed} is not the snapshot's {snapshot.state_hash}"
        )
    return exchange
