"""The timing harness's merge of alternating rounds (`benchmarks.harness.merge`)."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.harness import EngineAdapter, PreparedPhase, measure, merge


def _toy_engine() -> EngineAdapter:
    def run(book: list[int], ops: list[int]) -> None:
        for op in ops:
            book.append(op)

    def run_timed(book: list[int], ops: list[int], out: list[int]) -> None:
        for i, op in enumerate(ops):
            book.append(op)
            out[i] = 1_000 * (1 + op % 7)  # deterministic "latencies"

    return EngineAdapter(
        name="toy",
        new_book=list,
        prefill=lambda book, ops: book.extend(ops),
        run=run,
        run_timed=run_timed,
        check=lambda book, ops: {"ops": len(ops)},
    )


def _phases() -> list[PreparedPhase]:
    ops = list(range(200))
    kinds = ["even" if op % 2 == 0 else "odd" for op in ops]
    return [
        PreparedPhase("one", [], ops, len(ops), kinds),
        PreparedPhase("two", [1], ops, 200, kinds),
    ]


def test_merged_rounds_keep_the_best_throughput_and_the_median_percentiles() -> None:
    engine = _toy_engine()
    rounds: list[dict[str, Any]] = [measure(engine, _phases(), 1) for _ in range(3)]
    rounds[1]["phases"]["one"]["runs_s"] = [1e-9]  # one round much faster than the others

    merged = merge(rounds)

    one = merged["phases"]["one"]
    assert merged["repeats"] == 3
    assert one["best_s"] == 1e-9 and one["ops_per_s"] == 200 / 1e-9
    assert len(one["runs_s"]) == 3
    assert one["p50_us"] == statistics.median(r["phases"]["one"]["p50_us"] for r in rounds)
    assert set(one["by_kind"]) == {"even", "odd"}
    assert merged["overall"]["best_s"] == 1e-9 + merged["phases"]["two"]["best_s"]
    assert merged["phases"]["two"]["tallies"] == {"ops": 200}
