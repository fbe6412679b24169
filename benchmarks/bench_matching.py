"""Benchmark `matching.OrderBook` against the pure-Python peer `matching-engine` 0.1.1.

    .venv/bin/python benchmarks/bench_matching.py [--seed 1] [--ops 200000] [--no-peer]
                                                  [--quick] [--repeats N]

Generates one seeded workload by simulating our book (`matching_workload`), replays it on
our book in this process (`our_matching`) and on the peer in a subprocess of a cached
Python >= 3.12 virtualenv at `.bench/peer-venv` (`peer_env`, `peer_matching`), both timed by
the same harness (`harness`), in alternating rounds (ours, then a fresh peer process, one
repeat of every pass each, `--repeats` rounds) so that a busy spell of a shared machine
slows both rather than swinging the ratio. Prints the op mix, a table per phase and overall,
the ratio ours/peer and whether the target is met (it is reported, never enforced: the exit
status is 0 either way). The last line is machine-readable:

    RESULT ops_per_s=<int> p99_us=<float> peer_ops_per_s=<int> ratio_vs_peer=<float>
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import our_matching
from benchmarks.harness import measure, merge, python_version
from benchmarks.matching_workload import KIND_NAMES, NOMINAL_MIX, Workload, generate
from benchmarks.peer_env import PEER_PACKAGE, PEER_VERSION, ensure_peer_venv

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
PEER_VENV = BENCH_DIR / "peer-venv"
PEER_SCRIPT = Path(__file__).resolve().parent / "peer_matching.py"

TARGET_OPS_PER_S = 500_000
TARGET_P99_US = 10.0
DEFAULT_OPS = 200_000
QUICK_OPS = 20_000
PEER_TIMEOUT_S = 1_800


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument(
        "--ops",
        type=int,
        default=None,
        help=f"timed ops in total, half per phase (default {DEFAULT_OPS:_}; "
        f"{QUICK_OPS:_} with --quick)",
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the peer engine")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_OPS:_} ops and 1 repeat unless told otherwise",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds, each one repeat of every pass per engine (default 5; 1 with --quick)",
    )
    args = parser.parse_args(argv)
    if args.ops is None:
        args.ops = QUICK_OPS if args.quick else DEFAULT_OPS
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    if args.ops < 2:
        parser.error("--ops must be at least 2")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def _print_workload(workload: Workload, seconds: float) -> None:
    print(
        f"workload: seed {workload.seed}, {workload.total_ops:,} timed ops, "
        f"{len(workload.owners)} owners, generated in {seconds:.2f} s"
    )
    nominal = "/".join(f"{int(s * 100)}" for s in NOMINAL_MIX)
    print(
        f"op mix (nominal {nominal} % {'/'.join(KIND_NAMES)}, tilted to hold the book's "
        "size; crossing adds take several resting orders each):"
    )
    rows = [(p.name, p.mix, len(p.ops)) for p in workload.phases]
    rows.append(("total", workload.mix(), workload.total_ops))
    for name, mix, n in rows:
        parts = "  ".join(
            f"{k} {mix[k]:>7,} ({100 * mix[k] / max(1, n):4.1f}%)" for k in KIND_NAMES
        )
        print(f"  {name:<8} {parts}")
    for p in workload.phases:
        crosses = max(1, p.mix["cross"])
        print(
            f"  {p.name:<8} prefill {len(p.prefill):,} orders on {p.prefill_levels[0]:,}/"
            f"{p.prefill_levels[1]:,} bid/ask levels; resting orders during ops "
            f"min {p.size_min:,} mean {p.size_mean:,.0f} max {p.size_max:,}, end "
            f"{p.final_size:,} on {p.final_levels[0]:,}/{p.final_levels[1]:,} levels; "
            f"{p.fills:,} fills ({p.fills / crosses:.1f} per crossing add), "
            f"{p.crosses_stopped:,} crossing adds stopped by self-trade prevention"
        )


def _workload_file(workload: Workload) -> Path:
    # what the peer's process reads: written once per run, for every round
    path = BENCH_DIR / f"workload-seed{workload.seed}-ops{workload.total_ops}.json"
    workload.write(path)
    return path


def _run_peer(path: Path, repeats: int) -> tuple[dict[str, Any] | None, str]:
    python, how = ensure_peer_venv(PEER_VENV)
    if python is None:
        return None, how
    try:
        done = subprocess.run(
            [str(python), str(PEER_SCRIPT), str(path), "--repeats", str(repeats)],
            capture_output=True,
            text=True,
            timeout=PEER_TIMEOUT_S,
            cwd=ROOT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"peer run failed: {exc}"
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-8:])
        return None, f"peer run exited {done.returncode}: {tail}"
    try:
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        return None, f"peer printed no JSON result ({exc})"
    return result, f"{how}; workload file {path.relative_to(ROOT)}"


def _row(label: str, engine: str, fig: dict[str, Any]) -> str:
    return (
        f"{label:<8} {engine:<5} {fig['ops']:>9,} {fig['best_s']:>9.3f} "
        f"{int(fig['ops_per_s']):>12,} {fig['p50_us']:>8.2f} {fig['p99_us']:>8.2f} "
        f"{fig['max_us']:>9.1f}"
    )


def _print_table(ours: dict[str, Any], peer: dict[str, Any] | None) -> None:
    repeats = ours["repeats"]
    print()
    print(
        f"throughput = best of {repeats} run(s) (ops / total time of a tight loop); "
        f"p50/p99/max = median over {repeats} run(s) of each run's nearest-rank percentile "
        "of per-op latency (perf_counter_ns around each op), separate passes"
    )
    versions = f"python: ours {ours['python']}"
    if peer is not None:
        versions += (
            f", peer {peer['python']} (different interpreters: their speed difference "
            "is part of the ratio)"
        )
    print(versions)
    header = (
        f"{'phase':<8} {'eng.':<5} {'ops':>9} {'best s':>9} {'ops/s':>12} "
        f"{'p50 us':>8} {'p99 us':>8} {'max us':>9}"
    )
    print(header)
    print("-" * len(header))
    labels = [*ours["phases"].keys(), "overall"]
    for label in labels:
        ours_fig = ours["overall"] if label == "overall" else ours["phases"][label]
        print(_row(label, "ours", ours_fig))
        if peer is not None:
            peer_fig = peer["overall"] if label == "overall" else peer["phases"][label]
            print(_row("", "peer", peer_fig))
    print()
    print("latency by op kind, p50 / p99 us (median over runs):")
    engines = [("ours", ours)] + ([("peer", peer)] if peer is not None else [])
    columns = [(phase, name, fig) for phase in ours["phases"] for name, fig in engines]
    print(f"  {'kind':<9}" + "".join(f"{phase + ' ' + name:>18}" for phase, name, _ in columns))
    for kind in KIND_NAMES:
        cells = []
        for phase, _, fig in columns:
            k = fig["phases"][phase]["by_kind"].get(kind)
            cells.append(f"{k['p50_us']:7.2f} / {k['p99_us']:6.2f}" if k else "-")
        print(f"  {kind:<9}" + "".join(f"{c:>18}" for c in cells))
    if peer is not None:
        print()
        for label in labels:
            o = ours["overall"] if label == "overall" else ours["phases"][label]
            p = peer["overall"] if label == "overall" else peer["phases"][label]
            print(
                f"ratio ours/peer {label:<8} ops/s {o['ops_per_s'] / p['ops_per_s']:5.2f}x   "
                f"p99 peer/ours {p['p99_us'] / o['p99_us']:5.2f}x"
            )


def _print_tallies(workload: Workload, ours: dict[str, Any], peer: dict[str, Any] | None) -> None:
    print()
    print("replay check (untimed warm-up pass of each phase):")
    for phase in workload.phases:
        t = ours["phases"][phase.name]["tallies"]
        same = t["fills"] == phase.fills and t["resting_orders"] == phase.final_size
        print(
            f"  {phase.name:<8} ours: {t['fills']:,} fills, {t['resting_orders']:,} resting "
            f"orders at the end ({'matches' if same else 'DIFFERS FROM'} the generating run)"
        )
        if peer is not None:
            pt = peer["phases"][phase.name]["tallies"]
            rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(pt["rejected"].items()))
            print(
                f"  {'':<8} peer: {pt['fills']:,} fills, {pt['resting_orders']:,} resting "
                f"orders at the end, rejected: {rejected or 'none'}"
            )
    if peer is not None:
        print(
            "  the peer has no decrease: each one is a cancel plus a GTC re-place of the "
            "reduced quantity at the same price and id (2 engine calls, counted and timed "
            "as 1 op); the re-placed order loses the time priority ours keeps, so the "
            "peer's fills and live orders can diverge slightly (the counts above show how "
            "much)"
        )


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    print(f"matching benchmark: ours on {python_version()} ({sys.executable})")

    start = perf_counter()
    workload = generate(args.seed, args.ops)
    _print_workload(workload, perf_counter() - start)

    # alternating rounds, one repeat of every pass each: ours, then the peer (`harness`)
    prepared = [our_matching.prepare(p) for p in workload.phases]
    ours_rounds: list[dict[str, Any]] = []
    peer_rounds: list[dict[str, Any]] = []
    ours_s = peer_s = 0.0
    how = ""
    peer_wanted = not args.no_peer
    workload_path = _workload_file(workload) if peer_wanted else None
    for _ in range(args.repeats):
        start = perf_counter()
        ours_rounds.append(measure(our_matching.ENGINE, prepared, 1))
        ours_s += perf_counter() - start
        if not peer_wanted or workload_path is None:
            continue
        start = perf_counter()
        result, how = _run_peer(workload_path, 1)
        peer_s += perf_counter() - start
        if result is None:
            peer_wanted = False  # unavailable: the report says why
        else:
            peer_rounds.append(result)
    ours = merge(ours_rounds)
    alternating = "" if args.no_peer else " alternating with the peer"
    print(f"ours measured in {ours_s:.1f} s ({args.repeats} round(s){alternating})")

    peer: dict[str, Any] | None = None
    if args.no_peer:
        print("peer: skipped (--no-peer)")
    elif len(peer_rounds) < args.repeats:
        print(f"peer: SKIPPED, {PEER_PACKAGE}=={PEER_VERSION} unavailable: {how}")
    else:
        peer = merge(peer_rounds)
        print(
            f"peer: {peer['engine']} on {peer['python']} ({how}); "
            f"measured in {peer_s:.1f} s (a fresh process per round)"
        )

    _print_tallies(workload, ours, peer)
    _print_table(ours, peer)

    overall = ours["overall"]
    ops_per_s = int(overall["ops_per_s"])
    p99 = float(overall["p99_us"])
    met = ops_per_s >= TARGET_OPS_PER_S and p99 <= TARGET_P99_US
    print()
    print(
        f"target (ours, overall): >= {TARGET_OPS_PER_S:,} ops/s and p99 <= "
        f"{TARGET_P99_US:.2f} us -> {'MET' if met else 'NOT MET'} "
        f"({ops_per_s:,} ops/s, p99 {p99:.2f} us)"
    )
    peer_ops = int(peer["overall"]["ops_per_s"]) if peer is not None else 0
    ratio = overall["ops_per_s"] / peer["overall"]["ops_per_s"] if peer is not None else 0.0
    print(
        f"RESULT ops_per_s={ops_per_s} p99_us={p99:.2f} peer_ops_per_s={peer_ops} "
        f"ratio_vs_peer={ratio:.2f}"
    )


if __name__ == "__main__":
    main()
