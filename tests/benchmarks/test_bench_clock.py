"""Smoke run of the clock benchmark: a short advance runs end to end and prints its RESULT line."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_clock


def test_quick_run_advances_both_feed_setups_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_clock.main(["--quick", "--positions", "30", "--advance-ms", "120000"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"RESULT advance_8h_ms=(\d+\.\d{3})", lines[-1])
    assert match is not None, lines[-1]
    assert float(match.group(1)) > 0
    walk = re.match(r"random-walk feeds: advance_8h_ms=(\d+\.\d{3}) ", lines[-2])
    assert walk is not None, lines[-2]
    assert float(walk.group(1)) > 0
    assert any("static advance" in line for line in lines)


def test_an_advance_past_a_funding_time_pays_every_position() -> None:
    # 4 h 1 min from the 00:00 UTC start crosses the 04:00 UTC funding time of all 3 markets
    result = bench_clock._time_one("static", 12, seed=1, advance_ms=(4 * 60 + 1) * 60_000)

    assert result["funding_times"] == 3
    assert result["funding_paid"] == result["holders"] == 12
