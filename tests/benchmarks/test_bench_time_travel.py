"""Smoke run of the time-travel benchmark: short advances through real servers."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_time_travel


def test_quick_run_advances_through_the_control_plane_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_time_travel.main(["--quick", "--days", "1"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT advance_8h_ms=(\d+\.\d{3}) advance_24h_ms=(\d+\.\d{3}) "
        r"max_health_ms=(\d+\.\d{3}) rss_mb_per_sim_day=(-?\d+\.\d{3})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    assert float(match.group(1)) > 0
    assert float(match.group(2)) > 0
    assert not any("WARNING" in line for line in lines), "\n".join(lines)
    # the maker's recorded order changes, replayed on bare books, rebuild the exchange's books
    replay = next(line for line in lines if line.startswith("floor: maker on bare books"))
    assert "the books equal the exchange's" in replay, replay
