"""Smoke run of the memory benchmark: two short days of a still scenario, limits on and off."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_memory


def test_quick_run_reports_both_runs_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_memory.main(["--quick", "--days", "2", "--scenario", "bare"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT rss_mb_per_sim_day=(-?\d+\.\d{3}) baseline_rss_mb_per_sim_day=(-?\d+\.\d{3}) "
        r"rss_end_mb=(\d+\.\d{3}) baseline_rss_end_mb=(\d+\.\d{3})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    assert float(match.group(3)) > 0 and float(match.group(4)) > 0
    assert "retention" in lines and "baseline" in lines
