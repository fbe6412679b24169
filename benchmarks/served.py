"""`perps-sim serve` in a subprocess for the transport benchmarks (WebSocket, FIX).

The server runs in its own process and interpreter, so none of the clients' work counts against
it, and it is exactly what a user runs. `serve_subprocess` starts it on free ports with a ready
file, waits for its banner, yields the process, the ready file's URLs and what it logs after the
banner, and stops it with SIGINT. With a profile path the server runs under cProfile (CPU-time
clock) and records the pause of every garbage collection next to the profile
(`<path>.gc.json`: pauses in ns by generation).

CPU figures: `cpu_s` is this process's CPU time, `process_cpu_s(pid)` another's (from /proc).
`stop_child` stops a baseline server a benchmark runs in a `multiprocessing` child.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.server.serve import READY_LINE

__all__ = ["ROOT", "Served", "cpu_s", "process_cpu_s", "serve_subprocess", "stop_child"]

ROOT = Path(__file__).resolve().parent.parent
_STOP_S = 120.0

_PROFILED = """
import cProfile, gc, json, sys, time
from simulator.server.cli import main
pauses = {0: [], 1: [], 2: []}
started = [0]
def on_gc(phase, info):
    if phase == "start":
        started[0] = time.perf_counter_ns()
    else:
        pauses[info["generation"]].append(time.perf_counter_ns() - started[0])
gc.callbacks.append(on_gc)
profiler = cProfile.Profile(time.process_time)
profiler.enable()
try:
    code = main(sys.argv[2:])
finally:
    profiler.disable()
    profiler.dump_stats(sys.argv[1])
    with open(sys.argv[1] + ".gc.json", "w") as out:
        json.dump(pauses, out)
raise SystemExit(code)
"""


async def stop_child(process: Any, conn: Any, timeout_s: float = 10.0) -> None:
    """Send "stop" to a `multiprocessing` child over its pipe, wait for its answer and its end.

    A child that closed its end of the pipe or does not answer within `timeout_s` (stuck) is
    killed: that closes the pipe, which ends the thread still waiting to read from it (a
    loop's shutdown would otherwise wait for that thread forever).
    """
    if process.is_alive():
        try:
            conn.send("stop")
            await asyncio.wait_for(asyncio.to_thread(conn.recv), timeout_s)
        except (OSError, EOFError, TimeoutError):  # a closed pipe, no answer
            process.kill()
    process.join(timeout_s)


def cpu_s() -> float:
    """CPU seconds of this process (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` (Linux /proc), None where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Served:
    """A running server: its process, the ready file's content, and its log after the banner."""

    process: subprocess.Popen[str]
    urls: dict[str, Any]
    log: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return str(self.urls["control_url"]).removesuffix("/sim/v1")


@contextmanager
def serve_subprocess(
    args: Sequence[str], profile_path: Path | None = None, prefix: str = "bench-"
) -> Iterator[Served]:
    """`perps-sim serve --port 0 --ready-file F --log-level warning <args>` for the block."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        ready = Path(tmp) / "ready.json"
        serve_args = [
            "serve", "--port", "0", "--ready-file", str(ready), "--log-level", "warning", *args
        ]  # fmt: skip
        if profile_path is None:
            command = [sys.executable, "-m", "simulator", *serve_args]
        else:
            command = [sys.executable, "-c", _PROFILED, str(profile_path), *serve_args]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        output: list[str] = []
        log: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        drain: threading.Thread | None = None
        try:
            for line in stdout:  # blocks until the banner's last line (or exit)
                output.append(line)
                if line.startswith(READY_LINE):
                    break
            else:
                raise RuntimeError("perps-sim serve exited:\n" + "".join(output))
            drain = threading.Thread(target=lambda: log.extend(stdout), daemon=True)
            drain.start()
            yield Served(process, json.loads(ready.read_text()), log)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(_STOP_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if drain is not None:
                drain.join(_STOP_S)
            stdout.close()
