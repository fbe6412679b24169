"""Benchmark what durability costs: journaled commands in memory, with `flush` and with `fsync`.

    .venv/bin/python benchmarks/bench_durability.py [--requests 2000] [--clients 1,16] [--quick]

Each mode is a real `perps-sim serve --scenario bare --clock manual` subprocess
(`benchmarks/served.py`): without `--state-dir` (the baseline: nothing written), with
`--state-dir` and `--durability flush` (one unbuffered write per command), and with
`--durability fsync` (acknowledgements wait for a group-committed fsync) in a temporary
directory on the same disk as the checkout's. The request is `POST /sim/v1/users/demo-user/
deposit` (a journaled command, cheap to execute, so the journal's cost dominates), sent by N
keep-alive `httpx.AsyncClient` connections in one client process, each closed-loop (send, read
the whole response, send the next). Latency is per request as the client sees it.

Prints a table per mode and client count; the last line is machine-readable:

    RESULT memory_rps=<int> flush_rps=<int> fsync_rps=<int> fsync_p50_ms=<float>
           fsync_p99_ms=<float> fsync_vs_flush=<float>  (one line; at the largest client count)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from time import perf_counter_ns

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from benchmarks.harness import machine_load, percentile, python_version
from benchmarks.served import ROOT, serve_subprocess

DEFAULT_REQUESTS = 2_000
QUICK_REQUESTS = 200
BODY = {"amount": "1.0000"}


async def _run(base: str, requests: int, clients: int) -> tuple[float, list[int]]:
    per_client = max(1, requests // clients)
    latencies: list[int] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        path = "/sim/v1/users/demo-user/deposit"
        for _ in range(min(per_client, 20)):  # warm-up: connections open, code paths hot
            (await client.post(path, json=BODY)).raise_for_status()

        async def one() -> None:
            for _ in range(per_client):
                start = perf_counter_ns()
                response = await client.post(path, json=BODY)
                latencies.append(perf_counter_ns() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")

        started = perf_counter_ns()
        await asyncio.gather(*(one() for _ in range(clients)))
        elapsed_s = (perf_counter_ns() - started) / 1e9
    return len(latencies) / elapsed_s, sorted(latencies)


def _mode_args(mode: str, state_dir: Path) -> list[str]:
    base = ["--scenario", "bare", "--clock", "manual", "--no-fix"]
    if mode == "memory":
        return base
    return [*base, "--state-dir", str(state_dir), "--durability", mode]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS)
    parser.add_argument("--clients", default="1,16", help="client counts, comma-separated")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REQUESTS} requests")
    args = parser.parse_args(argv)
    requests = QUICK_REQUESTS if args.quick else args.requests
    counts = [int(part) for part in args.clients.split(",")]
    print(f"python {python_version()}; {machine_load()}; {requests} deposits per run")
    print(f"{'mode':8} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    results: dict[tuple[str, int], tuple[float, float, float]] = {}
    for mode in ("memory", "flush", "fsync"):
        with (
            tempfile.TemporaryDirectory(prefix="bench-durability-", dir=ROOT) as tmp,
            serve_subprocess(_mode_args(mode, Path(tmp) / "state")) as served,
        ):
            for clients in counts:
                rps, latencies = asyncio.run(_run(served.base_url, requests, clients))
                p50 = percentile(latencies, 0.50) / 1e3
                p99 = percentile(latencies, 0.99) / 1e3
                results[mode, clients] = (rps, p50, p99)
                print(f"{mode:8} {clients:>7} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f}")
    top = counts[-1]
    memory, flush, fsync = (results[mode, top] for mode in ("memory", "flush", "fsync"))
    print(
        f"RESULT memory_rps={memory[0]:.0f} flush_rps={flush[0]:.0f} fsync_rps={fsync[0]:.0f} "
        f"fsync_p50_ms={fsync[1]:.2f} fsync_p99_ms={fsync[2]:.2f} "
        f"fsync_vs_flush={fsync[0] / flush[0]:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
