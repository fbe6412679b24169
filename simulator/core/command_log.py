"""The command log: every externally invoked state-changing command of an exchange, in order.

The exchange is deterministic (DESIGN.md 5): the same scenario, seed and commands at the same
simulated instants give byte-identical events and the same `state_hash`. So the log is the
exchange's state: `simulator.server.snapshots` exports it and rebuilds an exchange by replaying it,
and a runtime with a state directory appends it to a journal file.

Each entry is `(ts_ms, name, values, raised)`: the instant the command started, its name (as
listed in `simulator.core.command_table`) and the value of each of its parameters (defaults
included). Values are kept as the immutable objects the caller passed (ints, strs, enums,
frozen dataclasses such as `PlaceOrder`), so recording costs a tuple; they are turned into JSON
builtins only on export or when a sink (the journal file) is attached.

What is recorded (the command boundary, `simulator.core.commands`, decides):

- only the outermost command: commands called from inside another command, from follow-ups or
  from timer callbacks are part of what the outer command did;
- only commands that returned normally: a `RejectError` changed nothing. One exception: a
  command first fires the timers that are due and may be rejected afterwards; if it fired any,
  a `run_due` at its instant is recorded instead, because the timers did change state;
- a command that failed with any other exception (a bug) is recorded with `raised` set, since
  it may have changed state half-way; replay expects it to fail again the same way;
- `run_due` is recorded only when it fired a timer, so the clock driver's idle polling in
  wall-clock mode leaves the log alone.

Coalescing: in wall-clock mode a `run_due` fires timers about once a second, so the log would
grow by one entry a second with no client at all. A `run_due` that directly follows another
(nothing recorded between them, neither raised, and time did not go back) replaces it in
`entries`: replaying `run_due` at `t2` fires every timer due by `t2` in (due time, arming)
order, each at its own instant (`Exchange.fire_due` holds the exchange at the timer's due time
while it runs, and nothing inside reads the clock itself), which is what `run_due` at `t1` then
at `t2` does; the follow-ups after each timer are the same, and the state after either is the
same (`tests/simulator/core/test_command_log.py` replays both). The sink (the journal file)
still gets every entry.

Compaction (bounded memory): the log may start from a snapshot instead of the origin. `base`
then holds the pickled exchange state (`simulator.server.state_pickle`) as of some point, and
`entries` only the commands recorded after it. A runtime sets `compact_at` and `compactor`:
once `entries` holds `compact_at` commands, the command boundary calls `compact()` after the
command has completed and delivered its events (between commands, on the one writer), and the
compactor takes a snapshot and calls `rebase`, which drops every entry the snapshot includes.

Time: every outermost command first fires the timers already due, each at its own instant, so
effects are journaled in time order whatever the clock mode. Every entry carries the instant
the command started. With a manual clock time moves only through commands, so replay is exact.
With a wall or accelerated clock the runtime wraps the clock in a `HeldClock`, which the
outermost command holds still while it runs: every reading inside the command sees its start
instant, so replaying at the recorded instants is exact too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from simulator.core.clock import Clock

__all__ = ["Base", "CommandLog", "Entry", "HeldClock", "hold"]

Entry = tuple[int, str, tuple[Any, ...], bool]
"""(ts_ms, name, the value of every parameter after self in signature order, raised)."""


@dataclass(frozen=True, slots=True)
class Base:
    """A snapshot a command log starts from (its `entries` follow it).

    Attributes:
        snapshot: The pickled exchange state (`simulator.server.state_pickle.dumps`).
        sha256: The SHA-256 of `snapshot`, in hex.
        state_hash: The exchange's `state_hash` when the snapshot was taken.
        now_ms: The exchange's instant when the snapshot was taken.
        commands: How many commands the log had recorded (coalesced) up to the snapshot, this
            base's predecessors included.
    """

    snapshot: bytes
    sha256: str
    state_hash: str
    now_ms: int
    commands: int


class HeldClock:
    """A clock that the outermost command holds still while it runs (wall and accelerated).

    Outside commands it reads its source; inside, `held` (the command's start instant).
    """

    __slots__ = ("held", "source")

    def __init__(self, source: Clock) -> None:
        self.source = source
        self.held: int | None = None

    def now_ms(self) -> int:
        held = self.held
        return self.source.now_ms() if held is None else held


class Sink(Protocol):
    def __call__(self, line: list[Any], /) -> None: ...


class CommandLog:
    """The recorded commands of one exchange.

    Attributes:
        entries: The recorded entries, oldest first (consecutive `run_due`s coalesced).
        origin: What the exchange was built from (a `simulator.server.snapshots.Origin`, set by
            `simulator.server.snapshots.build`); None for an exchange built by hand, which cannot be
            exported.
        sink: Called with each entry as JSON builtins right after it is recorded (the
            journal file of a runtime with a state directory).
        base: The snapshot `entries` follow, or None: they follow the origin.
        compact_at: `compact()` is due once `entries` holds this many commands.
        compactor: What `compact()` calls (the runtime's snapshot), or None.
        sealed: How many of `entries` a snapshot in progress covers: a `run_due` does not
            coalesce into those (`seal`).
    """

    __slots__ = (
        "_params",
        "base",
        "compact_at",
        "compactor",
        "entries",
        "origin",
        "sealed",
        "sink",
    )

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.origin: object | None = None
        self.sink: Sink | None = None
        self.base: Base | None = None
        self.compact_at = sys.maxsize
        self.compactor: Callable[[], None] | None = None
        self.sealed = 0
        self._params: dict[str, tuple[str, ...]] = {"run_due": ()}

    # a snapshot holds the state the entries led to, not the entries (nor the runtime's sink
    # and compactor): a restored log is empty, and the restorer sets its base
    def __getstate__(self) -> dict[str, Any]:
        return {"origin": self.origin, "_params": self._params}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.entries = []
        self.origin = state["origin"]
        self.sink = None
        self.base = None
        self.compact_at = sys.maxsize
        self.compactor = None
        self.sealed = 0
        self._params = dict(state["_params"])

    @property
    def commands(self) -> int:
        """How many commands were recorded (coalesced) since the origin, base included."""
        return len(self.entries) + (0 if self.base is None else self.base.commands)

    def __len__(self) -> int:
        return len(self.entries)

    def record(
        self, ts_ms: int, name: str, params: tuple[str, ...], values: tuple[Any, ...], raised: bool
    ) -> None:
        """Append an entry; `params` are the command's parameter names, in `values` order.

        A `run_due` right after another replaces it (see the module docstring).
        """
        entry = (ts_ms, name, values, raised)
        entries = self.entries
        if name == "run_due" and not raised and len(entries) > self.sealed:
            last = entries[-1]
            if last[1] == "run_due" and not last[3] and last[0] <= ts_ms:
                entries[-1] = entry
            else:
                entries.append(entry)
        else:
            entries.append(entry)
        if name not in self._params:
            self._params[name] = params
        if self.sink is not None:
            self.sink(self.encode(entry))

    def clear(self) -> None:
        """Forget every entry and the base (the log then follows the origin)."""
        self.entries.clear()
        self.base = None
        self.sealed = 0

    def seal(self) -> None:
        """Keep the entries recorded so far as they are: a snapshot of the state they led to is
        being taken while later commands run (`rebase` with `covered`)."""
        self.sealed = len(self.entries)

    def compact(self) -> None:
        """Call the compactor (the command boundary calls this once `compact_at` is reached)."""
        if self.compactor is not None:
            self.compactor()

    def rebase(self, base: Base, covered: int | None = None) -> None:
        """Start from `base`, a snapshot that includes the first `covered` entries (None: every
        entry recorded so far); the entries after those follow it."""
        if covered is None:
            self.entries.clear()
        else:
            del self.entries[:covered]
        self.base = base
        self.sealed = 0

    def encode(self, entry: Entry) -> list[Any]:
        """`[ts_ms, name, {param: value as builtins}]`, plus `true` if the command raised."""
        ts_ms, name, values, raised = entry
        args = {
            key: msgspec.to_builtins(value)
            for key, value in zip(self._params[name], values, strict=True)
        }
        return [ts_ms, name, args, True] if raised else [ts_ms, name, args]

    def encoded(self) -> list[list[Any]]:
        """Every entry as JSON builtins (`encode`)."""
        return [self.encode(entry) for entry in self.entries]


@contextmanager
def hold(clock: Clock) -> Iterator[int]:
    """Hold a `HeldClock` still for the block (no-op for other clocks); yields the instant."""
    if isinstance(clock, HeldClock) and clock.held is None:
        now = clock.held = clock.source.now_ms()
        try:
            yield now
        finally:
            clock.held = None
        return
    yield clock.now_ms()
