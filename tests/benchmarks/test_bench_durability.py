"""Smoke run of the durability benchmark: journaled commands through real servers."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_durability


def test_quick_run_measures_every_mode_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_durability.main(["--requests", "20", "--clients", "2"])

    lines = capsys.readouterr().out.strip().splitlines()
    for mode in ("memory", "flush", "fsync"):
        assert sum(line.startswith(mode) for line in lines) == 1, "\n".join(lines)
    match = re.fullmatch(
        r"RESULT memory_rps=(\d+) flush_rps=(\d+) fsync_rps=(\d+) fsync_p50_ms=(\d+\.\d\d) "
        r"fsync_p99_ms=(\d+\.\d\d) fsync_vs_flush=(\d+\.\d{3})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    assert all(int(match.group(n)) > 0 for n in (1, 2, 3))
