"""Smoke run of the soak: every client works against a real server for a few seconds."""

from __future__ import annotations

import re

import pytest

from benchmarks import soak


def test_growth_is_the_level_at_the_end_against_the_level_after_warm_up() -> None:
    assert soak.growth_pct([50, 100, 100, 100, 100, 100, 100, 100, 120, 120]) == 20.0
    assert soak.growth_pct([100, 100, 100]) == 0.0  # too few samples to tell


def test_a_transient_peak_is_not_growth_but_is_reported() -> None:
    samples = [50, 60, *[100] * 12, 150, *[100] * 4, 101]
    assert soak.growth_pct(samples) == 0.0
    assert soak.peak_pct(samples) == 50.0


def test_a_short_soak_has_no_errors_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = soak.main(["--minutes", "0.1", "--sample-s", "1", "--max-growth-pct", "1000"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT errors=(\d+) rss_growth_pct=(-?\d+\.\d\d) minutes=(\d+\.\d\d)", lines[-1]
    )
    assert match is not None, lines[-1]
    assert match.group(1) == "0", "\n".join(lines)
    assert code == 0
    for client in ("rest orders", "fix orders", "ws frames", "deposits"):
        assert any(line.strip().startswith(client + ":") for line in lines), "\n".join(lines)


def test_growth_is_measured_after_the_warm_up() -> None:
    samples = [50, 60, 70, 80, 100, 100, 100, 100, 110, 110]
    assert soak.growth_pct(samples) == pytest.approx(110 / 75 * 100 - 100)  # a fifth in
    assert soak.growth_pct(samples, warmup=4) == 10.0  # from the end of the warm-up
