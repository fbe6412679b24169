"""The identity harness: its line is a function of the checkout's results alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks import identity

ROOT = Path(__file__).resolve().parent.parent.parent


def test_a_run_gives_the_same_line_twice_and_hashes_the_candles() -> None:
    first = identity.run("funding", 0.5)
    assert first == identity.run("funding", 0.5)
    assert first.split()[0] == "funding"
    fields = dict(part.split("=") for part in first.split()[1:])
    assert set(fields) == {"events", "rejects", "stream", "state", "candles"}
    assert int(fields["events"]) > 0
    assert fields["candles"] != identity.run("funding", 1.0).split("candles=")[1]


def _checkout_named(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "identity.py"), "--hours", "0", "bare"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stderr.strip()


def test_pythonpath_names_the_checkout_that_runs(tmp_path: Path) -> None:
    # a copy of the packages elsewhere: with PYTHONPATH at it, that copy is what runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    assert _checkout_named(env) == f"checkout {ROOT}"
    copy = tmp_path / "other"
    copy.mkdir()
    for package in ("matching", "simulator", "fixtures"):
        (copy / package).symlink_to(ROOT / package)
    assert _checkout_named({**env, "PYTHONPATH": str(copy)}) == f"checkout {copy}"
