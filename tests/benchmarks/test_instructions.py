"""The instruction-count comparison: its workload, the report parsing and the arithmetic."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks import instructions
from benchmarks.instructions import HOUR_MS, ROOT, Count

CACHEGRIND_STDERR = """\
==4242== Cachegrind, a high-precision tracing profiler
==4242== Command: /work/.venv/bin/python -c ...
==4242==
==4242== I   refs:      3,317,271,673
"""


def test_parse_refs_reads_the_total_of_a_cachegrind_report() -> None:
    assert instructions.parse_refs(CACHEGRIND_STDERR) == 3_317_271_673


def test_parse_refs_without_a_total_says_what_it_got() -> None:
    with pytest.raises(ValueError, match="no 'I refs' line"):
        instructions.parse_refs("==1== valgrind: failed to start tool\n")


def _workload_events(args: list[str]) -> int:
    # what valgrind runs, without valgrind
    command = instructions.command(args)
    done = subprocess.run(
        command[command.index(sys.executable) :],
        cwd=ROOT,
        env=instructions.environment(ROOT),
        capture_output=True,
        text=True,
        check=True,
    )
    return instructions.parse_events(done.stdout)


def test_the_workload_runs_and_prints_the_events_of_its_advance() -> None:
    # the events it reports are the advance's own
    assert _workload_events(instructions.advance_args("default", 60_000)) > 0  # a minute
    assert _workload_events(instructions.advance_args("default", 0)) == 0
    env = instructions.environment(ROOT)
    assert env["PYTHONPATH"] == str(ROOT)
    assert env["PYTHONHASHSEED"] == "0"


def test_the_order_workload_runs_the_ops_of_the_exchange_benchmark() -> None:
    few = _workload_events(instructions.orders_args(200, 100))
    assert few > 100  # each op publishes at least its order's update
    assert _workload_events(instructions.orders_args(200, 200)) > few
    assert _workload_events(instructions.orders_args(200, 0)) == 0


def _base_checkout(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    (base / "simulator").mkdir(parents=True)
    return base


def _linear_runner(
    calls: list[tuple[Path, list[str]]],
    base: Path,
    *,
    fixed: int,
    ours: int,
    theirs: int,
    events: Callable[[int], int],
) -> instructions.Runner:
    # a fake valgrind run: `fixed` instructions plus `ours` (in the base: `theirs`) per unit of
    # the workload's last argument (ms advanced or ops run)
    def run(checkout: Path, args: list[str]) -> Count:
        calls.append((checkout, args))
        amount = int(args[2])
        per_unit = theirs if checkout == base.resolve() else ours
        return Count(fixed + per_unit * amount, events(amount))

    return run


def test_counts_subtract_the_idle_run_and_scale_to_an_hour_and_compare_with_the_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _base_checkout(tmp_path)
    calls: list[tuple[Path, list[str]]] = []
    # the base does 1.5x the work per simulated ms
    fake = _linear_runner(
        calls, base, fixed=1_000_000, ours=20, theirs=30, events=lambda n: n // 100
    )

    instructions.main(["--hours", "0.5", "--scenario", "bare", "--base", str(base)], run=fake)

    half = HOUR_MS // 2
    assert calls == [
        (ROOT, ["advance", "bare", "0"]),
        (ROOT, ["advance", "bare", str(half)]),
        (base.resolve(), ["advance", "bare", "0"]),
        (base.resolve(), ["advance", "bare", str(half)]),
    ]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (
        f"RESULT instructions_per_sim_hour={20 * HOUR_MS} events_per_sim_hour={HOUR_MS // 100} "
        f"base_instructions_per_sim_hour={30 * HOUR_MS} ratio_vs_base=0.6667"
    )


def test_without_a_base_the_result_has_this_checkout_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    instructions.main(["--hours", "1"], run=lambda _c, args: Count(500 + 7 * int(args[2]), 3))

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT instructions_per_sim_hour=\d+ events_per_sim_hour=3", last)
    assert last.split()[1] == f"instructions_per_sim_hour={7 * HOUR_MS}"


def test_without_valgrind_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)

    with pytest.raises(SystemExit, match="apt-get install valgrind"):
        instructions.main(["--hours", "1"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hours", "0.0001"], "at least one simulated second"),
        (["--base", "/"], "not a checkout"),
        (["--orders", "0"], "--orders must be at least 1"),
    ],
)
def test_bad_arguments_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        instructions.main(argv, run=lambda _c, _args: Count(0, 0))

    assert message in capsys.readouterr().err


def test_a_scenario_file_is_passed_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    seen: list[str] = []

    def fake(_checkout: Path, args: list[str]) -> Count:
        seen.append(args[1])
        return Count(0, 0)

    instructions.main(["--scenario", "mine.json"], run=fake)

    assert seen == [str(tmp_path / "mine.json")] * 2


def test_orders_are_counted_per_op_against_the_base(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _base_checkout(tmp_path)
    calls: list[tuple[Path, list[str]]] = []
    fake = _linear_runner(
        calls, base, fixed=9_000_000, ours=150, theirs=200, events=lambda n: 4 * n
    )

    instructions.main(["--orders", "1000", "--base", str(base)], run=fake)

    assert calls == [
        (ROOT, ["orders", "1000", "0"]),
        (ROOT, ["orders", "1000", "1000"]),
        (base.resolve(), ["orders", "1000", "0"]),
        (base.resolve(), ["orders", "1000", "1000"]),
    ]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (
        "RESULT instructions_per_op=150 ops=1000 events=4000 base_instructions_per_op=200 "
        "ratio_vs_base=0.7500"
    )
