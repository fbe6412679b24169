"""The JSON of `/sim/v1/faults`: a fault as the control plane shows it, and the list."""

from __future__ import annotations

import msgspec

from simulator.server.faults import Fault, FaultKind, FaultSpec

__all__ = ["DOCUMENTED", "FaultList", "FaultView", "fault_view"]


class FaultView(msgspec.Struct, frozen=True):
    """A fault held by the server: its id, its settings and how often it applied."""

    fault_id: str
    kind: FaultKind
    target: str
    percent: int
    count: int | None
    latency_ms: int
    status: int
    close_code: int
    gap: int
    applied: int
    channel: str | None = None


class FaultList(msgspec.Struct, frozen=True):
    """Every fault held, oldest first."""

    faults: list[FaultView]


class FaultsCleared(msgspec.Struct, frozen=True):
    """How many faults a clear removed."""

    removed: int


def fault_view(fault: Fault) -> dict[str, object]:
    spec = fault.spec
    return {
        "fault_id": fault.fault_id,
        "kind": spec.kind,
        "target": spec.target,
        "percent": spec.percent,
        "count": spec.count,
        "latency_ms": spec.latency_ms,
        "status": spec.status,
        "close_code": spec.close_code,
        "gap": spec.gap,
        "channel": spec.channel,
        "applied": fault.applied,
    }


DOCUMENTED: tuple[type, ...] = (FaultSpec, FaultView, FaultList, FaultsCleared)
