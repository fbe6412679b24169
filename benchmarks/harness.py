"""Timing harness shared by both engines' benchmark runs: passes, repeats and statistics.

Standard library only: the peer engine's runner (`peer_matching.py`) imports this module on
its own interpreter, where neither this project nor its dependencies are installed.

For each phase an engine adapter supplies a fresh book, a prefill function and two loops over
the phase's prepared ops (built before any timing):

- throughput pass: fresh book, prefill (not timed), `gc.collect()` then `gc.freeze()` so the
  prefilled book and the prepared ops are not re-scanned by the collector, then the ops in a
  tight loop timed as a whole with `time.perf_counter()`; ops/s = ops / elapsed;
- latency pass: the same on another fresh book, the loop reading `time.perf_counter_ns()`
  around each op only.

Each pass is repeated; the best throughput and the median over runs of each run's p50 and p99
are kept. An untimed first pass per phase warms caches and reports the engine's own tallies.
Percentiles are nearest-rank on the sorted per-op latencies, reported in microseconds.

A benchmark that compares two engines measures them in alternating rounds (`measure` with one
repeat each, then `merge`): on a shared machine a busy spell then slows both, where two
back-to-back blocks of repeats let it land on one engine only and swing their ratio.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any


def percentile(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank `q` quantile (0 < q <= 1) of sorted nanoseconds, in microseconds."""
    if not sorted_ns:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1_000.0


def machine_load() -> str:
    """CPU count and load average: other busy processes inflate latency tails and timings."""
    cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return f"machine: {cpus} CPUs (load average unavailable)"
    busy = " - busy: other processes compete for the CPU" if load >= cpus - 0.5 else ""
    return f"machine: {cpus} CPUs, 1-min load average {load:.2f} at start{busy}"


def python_version() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


@dataclass
class EngineAdapter:
    """How the harness drives one engine.

    `new_book()` returns an empty book; `prefill(book, prefill_ops)` rests the setup orders;
    `run(book, ops)` replays the ops without timing each one; `run_timed(book, ops, out)`
    replays them writing each op's nanoseconds to `out[i]`; `check(book, ops)` replays them
    (untimed) and returns the engine's own tallies for the report.
    """

    name: str
    new_book: Callable[[], Any]
    prefill: Callable[[Any, Any], None]
    run: Callable[[Any, Any], None]
    run_timed: Callable[[Any, Any, list[int]], None]
    check: Callable[[Any, Any], dict[str, Any]]


@dataclass
class PreparedPhase:
    """One phase's prefill and ops in the engine's own form; `n_ops` counts workload ops.

    `kinds[i]` names the workload kind of op `i`, for latency percentiles per kind.
    """

    name: str
    prefill: Any
    ops: Any
    n_ops: int
    kinds: list[str]


def _by_kind(runs: list[list[int]], kinds: list[str]) -> dict[str, dict[str, float]]:
    # Median over runs of each kind's p50/p99 (runs hold latencies in op order).
    names = sorted(set(kinds))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        per_run = [
            sorted(ns for ns, k in zip(run, kinds, strict=True) if k == name) for run in runs
        ]
        out[name] = {
            "ops": len(per_run[0]),
            "p50_us": statistics.median(percentile(r, 0.50) for r in per_run),
            "p99_us": statistics.median(percentile(r, 0.99) for r in per_run),
        }
    return out


def _fresh(engine: EngineAdapter, phase: PreparedPhase) -> Any:
    book = engine.new_book()
    engine.prefill(book, phase.prefill)
    gc.collect()
    gc.freeze()
    return book


def measure(engine: EngineAdapter, phases: list[PreparedPhase], repeats: int) -> dict[str, Any]:
    """Run every pass for every phase and return the figures as a JSON-ready dict."""
    out_phases: dict[str, Any] = {}
    latency_runs: list[list[list[int]]] = []  # [phase][run] -> latencies in ns
    for phase in phases:
        book = _fresh(engine, phase)
        try:
            tallies = engine.check(book, phase.ops)
        finally:
            gc.unfreeze()
        del book

        times: list[float] = []
        for _ in range(repeats):
            book = _fresh(engine, phase)
            try:
                start = perf_counter()
                engine.run(book, phase.ops)
                times.append(perf_counter() - start)
            finally:
                gc.unfreeze()
            del book

        runs: list[list[int]] = []
        for _ in range(repeats):
            lat = [0] * phase.n_ops
            book = _fresh(engine, phase)
            try:
                engine.run_timed(book, phase.ops, lat)
            finally:
                gc.unfreeze()
            del book
            runs.append(lat)
        by_kind = _by_kind(runs, phase.kinds)
        for lat in runs:
            lat.sort()
        latency_runs.append(runs)

        best = min(times)
        out_phases[phase.name] = {
            "ops": phase.n_ops,
            "runs_s": times,
            "best_s": best,
            "ops_per_s": phase.n_ops / best,
            "runs_p50_us": [percentile(r, 0.50) for r in runs],
            "runs_p99_us": [percentile(r, 0.99) for r in runs],
            "p50_us": statistics.median(percentile(r, 0.50) for r in runs),
            "p99_us": statistics.median(percentile(r, 0.99) for r in runs),
            "max_us": statistics.median(percentile(r, 1.0) for r in runs),
            "by_kind": by_kind,
            "tallies": tallies,
        }

    total_ops = sum(p.n_ops for p in phases)
    total_best = sum(v["best_s"] for v in out_phases.values())
    overall_runs: list[list[int]] = []
    for run in range(repeats):
        merged: list[int] = []
        for runs in latency_runs:
            merged.extend(runs[run])
        merged.sort()
        overall_runs.append(merged)
    return {
        "engine": engine.name,
        "python": python_version(),
        "executable": sys.executable,
        "repeats": repeats,
        "phases": out_phases,
        "overall": {
            "ops": total_ops,
            "best_s": total_best,
            "ops_per_s": total_ops / total_best if total_best else 0.0,
            "runs_p50_us": [percentile(r, 0.50) for r in overall_runs],
            "runs_p99_us": [percentile(r, 0.99) for r in overall_runs],
            "p50_us": statistics.median(percentile(r, 0.50) for r in overall_runs),
            "p99_us": statistics.median(percentile(r, 0.99) for r in overall_runs),
            "max_us": statistics.median(percentile(r, 1.0) for r in overall_runs),
        },
    }


def merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine `measure` results of the same engine and phases into one, as if repeated.

    Throughput is the best over the rounds' runs; p50, p99 and max the median over them of each
    run's percentile (by phase, overall and by op kind); tallies are the first round's (every
    round replays the same ops).
    """
    first = rounds[0]
    phases: dict[str, Any] = {}
    for name, fig in first["phases"].items():
        figs = [r["phases"][name] for r in rounds]
        times = [t for f in figs for t in f["runs_s"]]
        p50s = [v for f in figs for v in f["runs_p50_us"]]
        p99s = [v for f in figs for v in f["runs_p99_us"]]
        best = min(times)
        phases[name] = {
            **fig,
            "runs_s": times,
            "best_s": best,
            "ops_per_s": fig["ops"] / best,
            "runs_p50_us": p50s,
            "runs_p99_us": p99s,
            "p50_us": statistics.median(p50s),
            "p99_us": statistics.median(p99s),
            "max_us": statistics.median(f["max_us"] for f in figs),
            "by_kind": {
                kind: {
                    "ops": k["ops"],
                    "p50_us": statistics.median(f["by_kind"][kind]["p50_us"] for f in figs),
                    "p99_us": statistics.median(f["by_kind"][kind]["p99_us"] for f in figs),
                }
                for kind, k in fig["by_kind"].items()
            },
        }
    overall = [r["overall"] for r in rounds]
    p50s = [v for o in overall for v in o["runs_p50_us"]]
    p99s = [v for o in overall for v in o["runs_p99_us"]]
    total_best = sum(f["best_s"] for f in phases.values())
    ops = first["overall"]["ops"]
    return {
        **first,
        "repeats": sum(r["repeats"] for r in rounds),
        "phases": phases,
        "overall": {
            "ops": ops,
            "best_s": total_best,
            "ops_per_s": ops / total_best if total_best else 0.0,
            "runs_p50_us": p50s,
            "runs_p99_us": p99s,
            "p50_us": statistics.median(p50s),
            "p99_us": statistics.median(p99s),
            "max_us": statistics.median(o["max_us"] for o in overall),
        },
    }
