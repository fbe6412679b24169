"""Smoke run of the REST benchmark: a few hundred signed orders over HTTP and its RESULT line."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_rest


def test_quick_run_places_every_order_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_rest.main(["--orders", "200", "--connections", "4", "--sequential", "100"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT orders_per_s=(\d+) p50_ms=(\d+\.\d{3}) p99_ms=(\d+\.\d{3}) "
        r"trivial_rps=(\d+) ratio_vs_trivial=(\d+\.\d{3}) seq_p50_ms=(\d+\.\d{3}) "
        r"seq_p99_ms=(\d+\.\d{3}) seq_baseline_p50_ms=(\d+\.\d{3})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    orders, p50, p99, trivial, ratio, seq_p50, seq_p99, baseline_p50 = (
        float(g) for g in match.groups()
    )
    assert orders > 0 and trivial > 0 and ratio > 0
    assert 0 < p50 <= p99
    assert 0 < seq_p50 <= seq_p99
    assert baseline_p50 > 0
    # every order was accepted (201) and every trivial GET answered 200
    assert any("POST /margin/orders" in line and "statuses {201: 200}" in line for line in lines)
    assert any("exchange/status" in line and "statuses {200: 200}" in line for line in lines)
    # the sequential orders too, on the app and on the baseline app
    assert any("sequential POST" in line and "statuses {201: 100}" in line for line in lines)
    assert any("trivial Starlette" in line and "statuses {201: 100}" in line for line in lines)
    assert not any("WARNING" in line for line in lines)


def test_order_bodies_rest_nine_in_ten_and_cross_one_in_ten() -> None:
    mids = {"KXBTCPERP": 62_590, "KXETHPERP": 10_000, "KXSOLPERP": 20_000}
    bodies = bench_rest.order_bodies(30, mids, "t")
    assert len(set(bodies)) == 30
    iocs = [body for body in bodies if b"immediate_or_cancel" in body]
    assert len(iocs) == 3
