"""Stopping a benchmark's baseline child process (`benchmarks.served.stop_child`)."""

from __future__ import annotations

import asyncio
import multiprocessing
from typing import Any

from benchmarks.served import stop_child


def answers_stop(conn: Any) -> None:
    # a well-behaved baseline: reads "stop", answers, ends
    assert conn.recv() == "stop"
    conn.send(("stopped", None))
    conn.close()


def hangs_up(conn: Any, ready: Any) -> None:
    # a broken baseline: it closes its end of the pipe and stays alive until killed
    conn.close()
    ready.set()
    multiprocessing.Event().wait()


def _spawn(target: Any, *args: Any) -> tuple[Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    child.close()
    return process, parent


def test_a_child_that_answers_is_stopped_and_joined() -> None:
    process, parent = _spawn(answers_stop)

    asyncio.run(stop_child(process, parent))

    assert not process.is_alive()
    assert process.exitcode == 0


def test_a_child_that_hung_up_is_killed_instead_of_waited_for() -> None:
    ready = multiprocessing.get_context("spawn").Event()
    process, parent = _spawn(hangs_up, ready)
    ready.wait()

    asyncio.run(stop_child(process, parent))  # its read fails at once: no answer will come

    assert not process.is_alive()
    assert process.exitcode is not None and process.exitcode < 0  # killed by a signal
