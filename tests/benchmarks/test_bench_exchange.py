"""Smoke run of the exchange benchmark: a tiny replay runs end to end and prints its RESULT line."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_exchange


def test_quick_run_replays_on_both_engines_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_exchange.main(["--quick", "--ops", "2000", "--users", "50"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT orders_per_s=(\d+) p99_us=(\d+\.\d\d) bare_book_ops_per_s=(\d+) "
        r"ratio_vs_bare=(\d+\.\d{4})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    orders, p99, bare, ratio = (float(g) for g in match.groups())
    assert orders > 0 and p99 > 0 and bare > 0 and ratio > 0
    # both engines saw exactly the fills and resting orders of the generating run
    assert sum("matches the generating run" in line for line in lines) == 2
