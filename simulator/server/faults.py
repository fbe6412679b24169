"""Injected faults: what goes wrong on purpose, so clients can be tested against it.

A fault (`FaultSpec`) names a `kind`, what it applies to (`target`), a chance in percent of
applying each time it could (`percent`, default 100) and how many times it may apply
(`count`, default unlimited; a fault that used its count is removed). Kinds, each shown to the
client exactly as the real exchange would show it:

- `latency` (REST): the matching requests wait `latency_ms` before they are handled.
- `error` (REST): the matching requests are answered `status` without being handled (nothing
  changes): 500, 502, 503 and 504 with Kalshi's error envelope, 429 with its
  `{"error": "too many requests"}` body.
- `ws_latency` (WebSocket): a data frame of a matching connection (and of `channel`, when
  set) is sent `latency_ms` late; the frames queued behind it on the connection wait too,
  as on one slow TCP connection, so order and sequence numbers are kept.
- `fix_latency` (FIX): an application message to a matching session is sent `latency_ms`
  late, and what follows it on the connection waits behind it (sequence order kept).
- `ws_drop` (WebSocket): a matching connection is closed with `close_code` (default 1011)
  when a frame is about to be sent to it.
- `fix_disconnect` (FIX): a matching session's connection is dropped (no Logout) when an
  application message is about to be sent to it.
- `fix_seq_gap` (FIX): the next application message to a matching session skips `gap`
  sequence numbers (default 1), so the client sees a gap and asks for a resend.
- `pause` (every transport): trading stops while the fault is held, as in Kalshi's pauses:
  target `"*"` pauses trading (`trading_active` false: REST order entry 409
  `trading_is_paused`, FIX `58=EXCHANGE_PAUSED`), `"exchange"` closes the exchange (as in
  maintenance: marks frozen, liquidation and funding wait), a market ticker makes that market
  `inactive` with halt source `fault`. `cancel_order_on_pause` orders are cancelled. Removing
  the fault (or clearing them all) resumes. Unlike the other kinds, a pause is applied through
  exchange commands (`simulator.server.fault_pauses`), so it is journaled and in the state
  hash; `percent` and `count` do not apply to it.

Targets: for REST faults, `"*"` or `"METHOD /path"` where the path may end in `*` (a prefix),
e.g. `"POST /trade-api/v2/margin/orders"` or `"* /trade-api/v2/margin/*"`; the control plane
(`/sim/v1`) is never faulted. For WebSocket and FIX faults, `"*"` or a user id.

Randomness is seeded (`Faults(seed)`, the runtime's seed): the same faults and the same traffic
in the same order make the same decisions. Faults are runtime settings, like rate limits: not
commands, not journaled, not in the state hash; `reset` drops them all.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

import msgspec

__all__ = ["FAULT_KINDS", "Fault", "FaultKind", "FaultSpec", "Faults", "RestFault"]

FaultKind = Literal[
    "latency",
    "error",
    "ws_latency",
    "ws_drop",
    "fix_latency",
    "fix_disconnect",
    "fix_seq_gap",
    "pause",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
_REST = frozenset({"latency", "error"})
_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_FAULTS = 256
"""Faults held at once."""

Percent = Annotated[int, msgspec.Meta(ge=1, le=100)]
Count = Annotated[int, msgspec.Meta(ge=1)]
LatencyMs = Annotated[int, msgspec.Meta(ge=0, le=60_000)]
Target = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class FaultSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """`POST /sim/v1/faults`: one fault (see `simulator.server.faults`)."""

    kind: FaultKind
    target: Target = "*"
    percent: Percent = 100
    count: Count | None = None
    latency_ms: LatencyMs = 0
    status: int = 503
    close_code: Annotated[int, msgspec.Meta(ge=1000, le=4999)] = 1011
    gap: Annotated[int, msgspec.Meta(ge=1, le=1_000)] = 1
    channel: Annotated[str, msgspec.Meta(max_length=64)] | None = None

    def check(self) -> None:
        """Raise ValueError for a combination the field types cannot express."""
        if self.kind == "error" and self.status not in _STATUSES:
            raise ValueError(f"status must be one of {sorted(_STATUSES)}, was {self.status}")
        if self.kind in ("latency", "ws_latency", "fix_latency") and self.latency_ms == 0:
            raise ValueError(f"a {self.kind} fault needs latency_ms")
        if self.channel is not None and self.kind != "ws_latency":
            raise ValueError("only a ws_latency fault takes a channel")
        if self.kind == "pause" and (self.percent != 100 or self.count is not None):
            raise ValueError("a pause holds until it is removed: no percent or count")
        if self.kind in _REST and self.target != "*":
            method, _, path = self.target.partition(" ")
            if not method or not path.startswith("/") or path.startswith("/sim/"):
                raise ValueError(
                    "a REST target is '*' or 'METHOD /path' (a final * matches a prefix; "
                    "never /sim/v1)"
                )


@dataclass(slots=True)
class Fault:
    """A fault held by `Faults`: its id, what it is, and how often it applied so far."""

    fault_id: str
    spec: FaultSpec
    applied: int = 0


@dataclass(frozen=True, slots=True)
class RestFault:
    """What the faults decided for one REST request."""

    latency_ms: int = 0
    status: int | None = None


_NONE = RestFault()
_Predicate = Callable[[FaultSpec], bool]


class Faults:
    """The faults of a runtime and the seeded decisions they make.

    Args:
        seed: Seeds the decisions (`percent` draws).
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._faults: dict[str, Fault] = {}
        self._next = 1

    def __len__(self) -> int:
        return len(self._faults)

    def held(self) -> list[Fault]:
        """Every fault held, oldest first."""
        return list(self._faults.values())

    def add(self, spec: FaultSpec) -> Fault:
        """Hold `spec`; ValueError if it is inconsistent or too many faults are held."""
        spec.check()
        if len(self._faults) >= MAX_FAULTS:
            raise ValueError(f"at most {MAX_FAULTS} faults at once; remove some first")
        fault = Fault(f"fault-{self._next}", spec)
        self._next += 1
        self._faults[fault.fault_id] = fault
        return fault

    def remove(self, fault_id: str) -> Fault | None:
        """Stop holding a fault; the fault, or None if none has that id."""
        return self._faults.pop(fault_id, None)

    def clear(self) -> list[Fault]:
        """Stop holding every fault; the faults held, oldest first."""
        held = list(self._faults.values())
        self._faults.clear()
        return held

    # ---------------------------------------------------------------- decisions

    def rest(self, method: str, path: str) -> RestFault:
        """The latency and error status of a REST request (`RestFault()` when none apply)."""
        if not self._faults or path.startswith("/sim/"):
            return _NONE
        latency = 0
        status: int | None = None
        for fault in self._matching(lambda s: s.kind in _REST and _rest_match(s, method, path)):
            if fault.spec.kind == "latency":
                latency += fault.spec.latency_ms
            elif status is None:
                status = fault.spec.status
        return RestFault(latency, status) if latency or status is not None else _NONE

    def ws_latency(self, user_id: str, channel: str) -> int:
        """The milliseconds a data frame of `channel` to `user_id` is held back now (0: none)."""
        latency = 0
        for fault in self._matching(
            lambda s: (
                s.kind == "ws_latency" and _user_match(s, user_id) and s.channel in (None, channel)
            )
        ):
            latency += fault.spec.latency_ms
        return latency

    def fix_latency(self, user_id: str) -> int:
        """The milliseconds an application message to `user_id` is held back now (0: none)."""
        latency = 0
        for fault in self._matching(lambda s: s.kind == "fix_latency" and _user_match(s, user_id)):
            latency += fault.spec.latency_ms
        return latency

    def ws_drop(self, user_id: str) -> int | None:
        """The close code a WebSocket connection of `user_id` gets now, or None."""
        for fault in self._matching(lambda s: s.kind == "ws_drop" and _user_match(s, user_id)):
            return fault.spec.close_code
        return None

    def fix(self, user_id: str) -> tuple[bool, int]:
        """For an application message to a FIX session of `user_id`: (drop the connection,
        sequence numbers to skip first)."""
        if not self._faults:
            return False, 0
        drop = False
        gap = 0
        for fault in self._matching(
            lambda s: s.kind in ("fix_disconnect", "fix_seq_gap") and _user_match(s, user_id)
        ):
            if fault.spec.kind == "fix_disconnect":
                drop = True
            else:
                gap += fault.spec.gap
        return drop, gap

    def _matching(self, wanted: _Predicate) -> list[Fault]:
        applied: list[Fault] = []
        for fault in list(self._faults.values()):
            spec = fault.spec
            if not wanted(spec):
                continue
            if spec.percent < 100 and self._rng.randrange(100) >= spec.percent:
                continue
            fault.applied += 1
            applied.append(fault)
            if spec.count is not None and fault.applied >= spec.count:
                del self._faults[fault.fault_id]
        return applied


def _rest_match(spec: FaultSpec, method: str, path: str) -> bool:
    if spec.target == "*":
        return True
    want_method, _, want_path = spec.target.partition(" ")
    if want_method not in ("*", method):
        return False
    if want_path.endswith("*"):
        return path.startswith(want_path[:-1])
    return path == want_path


def _user_match(spec: FaultSpec, user_id: str) -> bool:
    return spec.target in ("*", user_id)
