"""Smoke run of the WebSocket fan-out benchmark: a few dozen orders to a few clients."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_ws

CLIENTS = 4


def test_quick_run_delivers_every_frame_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_ws.main(["--quick", "--clients", str(CLIENTS)])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT frames_per_s=(\d+) p99_ms=(-?\d+\.\d{3}) subscribers=(\d+) "
        r"baseline_frames_per_s=(\d+) ratio_vs_baseline=(\d+\.\d{3})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    frames_per_s, _, subscribers, baseline, _ = match.groups()
    assert int(subscribers) == CLIENTS
    assert int(frames_per_s) > 0
    assert int(baseline) > 0
    # every order's delta and trade frames reached every client, in sequence
    assert not any("WARNING" in line for line in lines), "\n".join(lines)


def test_plan_pairs_a_resting_order_with_a_crossing_one_at_its_own_price() -> None:
    accounts = bench_ws.Accounts("liquidity", "maker", "taker", ["sub-0"])
    key = bench_ws._private_key()
    plan = bench_ws.plan_orders(20, 2, 10, 8000, accounts, key)

    orders = [kind for kind in plan.kinds if kind != "advance"]
    assert orders == ["rest", "cross"] * 12
    assert plan.kinds.count("advance") == 2  # after orders 10 and 20, not after the last pair
    assert plan.first_timed == 4
    # each price is one pair's: a delta > 0, then a trade and a delta < 0
    for (kind, _, negative), steps in plan.keys.items():
        assert len(steps) == 1
        assert plan.kinds[steps[0]] == ("cross" if kind == "t" or negative else "rest")
    assert plan.keys[plan.final_key] == [len(plan.steps) - 1]
