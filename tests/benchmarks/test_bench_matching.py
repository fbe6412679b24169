"""Smoke run of the matching benchmark: it runs end to end and ends with its RESULT line."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_matching


def test_quick_run_replays_the_workload_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_matching.main(["--quick", "--no-peer", "--ops", "2000"])

    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(
        r"RESULT ops_per_s=\d+ p99_us=\d+\.\d\d peer_ops_per_s=0 ratio_vs_peer=0\.00", lines[-1]
    )
    assert sum("matches the generating run" in line for line in lines) == 2
