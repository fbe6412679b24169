"""The simulated clock as the control plane and the dashboard show it."""

from __future__ import annotations

from typing import Any

import msgspec

from api.wire.common import rfc3339
from simulator.server.clock_driver import lag_ms
from simulator.server.replays import replay_progress
from simulator.server.runtime import Runtime

__all__ = ["clock_body", "clock_now"]


def clock_body(runtime: Runtime) -> dict[str, Any]:
    """Mode and simulated time."""
    now = runtime.exchange.now()
    return {"mode": runtime.clock_mode, "now_ms": now, "now": rfc3339(now)}


def clock_now(runtime: Runtime) -> dict[str, Any]:
    """`clock_body`, the lag of a running clock, the advance under way and the replayed
    references' progress (`GET /sim/v1/clock`)."""
    body = clock_body(runtime)
    if runtime.clock_mode != "manual":
        body["lag_ms"] = lag_ms(runtime.exchange)
    plan = runtime.advancer.running
    if plan is not None:
        body["advance"] = plan.progress(runtime.advancer.wall())
    replayed = replay_progress(runtime.exchange)
    if replayed:
        body["replays"] = [msgspec.structs.asdict(progress) for progress in replayed]
    return body
