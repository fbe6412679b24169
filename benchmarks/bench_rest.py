"""Benchmark order entry over HTTP: signed `POST /margin/orders` against a trivial endpoint.

    .venv/bin/python benchmarks/bench_rest.py [--orders 20000] [--connections 16] [--quick]
                                              [--sequential 2000] [--http auto|h11|httptools]
                                              [--compare-http] [--profile]

The server is the real app (`api.app.create_app`) served as `perps-sim serve` serves it: uvicorn
(no lifespan, no access log) on a socket from `simulator.server.serve.bind`, 127.0.0.1 port 0, in a
thread of this process with its own event loop; signature checking is on (`verify`). The
market is the `bare` scenario's three markets on a manual clock (no timer fires while
measuring), with a maker account resting 3 x 400 orders of 50 contracts each side around each
reference price and one funded account per connection. The notional limit is set out of reach
and every account holds $1,000,000, so nothing is rejected.

The client runs in a separate process (the machine may have only 2 cores: one for the server,
one for the client) and is a minimal asyncio HTTP/1.1 client: K keep-alive connections, each
closed-loop (send, read the whole response, send the next), with every request's bytes built
before the timed section. Each connection signs as its own account. The signature covers
timestamp + METHOD + path and not the body, so one signature per account serves every order of
a run: the benchmark server widens the timestamp window to an hour for that, and the server
still verifies every request in full. The cost of RSA-PSS signing (what a client signing each
request pays) is measured separately and printed.

Orders, round-robin over the three markets: 90 % GTC limit orders that rest away from the
touch (bids below, asks above the maker's quotes), 10 % IOC orders of 1 contract that cross
and fill against the maker. Then the same client setup sends `GET /margin/exchange/status`
(public; signed anyway, as kalshi-sdk does) as the transport's floor. Every response status
is checked and counted. Besides throughput and latency, each phase reports the CPU time per
request of the server process and of the client process (snapshots taken at the phase's
edges): the server's figure is what one dedicated core would need per request, the figure to
read on a machine where other processes compete for the CPU.

Last, sequential latency as kalshi-sdk sees it: one keep-alive `httpx.Client` (kalshi-sdk's
transport) in the client process posts orders one after another, each signed just before it
is sent with a fresh timestamp; the timer covers sending it and reading the whole response,
not the signing (printed separately). The baseline, measured in the same run, is a trivial
Starlette app (`POST /margin/orders` reads the body and answers a fixed 201) served the same
way by the same uvicorn, sent the same requests by the same client; requests alternate
between the two servers, so both see the same machine load. A listening socket that leaves
Nagle's algorithm on shows here as ~40 ms more per request to the app: the second part of each
response waits for the client's delayed ACK.

`--http` picks uvicorn's HTTP parser (`auto` uses httptools when installed, else h11);
`--compare-http` runs both parsers and prints each. `--profile` adds a run of the orders phase
only with cProfile (CPU-time clock) on the server thread and prints its top functions. The
last line is machine-readable:

    RESULT orders_per_s=<int> p50_ms=<float> p99_ms=<float> trivial_rps=<int>
           ratio_vs_trivial=<float> seq_p50_ms=<float> seq_p99_ms=<float>
           seq_baseline_p50_ms=<float>  (one line)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import importlib.util
import io
import json
import multiprocessing
import pstats
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import msgspec
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import create_app
from benchmarks.harness import machine_load, percentile, python_version
from matching import Side
from simulator.core.clock import WallClock
from simulator.core.money import format_price, parse_count, parse_price
from simulator.model.orders import PlaceOrder
from simulator.server.runtime import Runtime, ServerSettings
from simulator.server.scenarios import Scenario, ScenarioUser, load_scenario
from simulator.server.serve import bind

Result = dict[str, Any]
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ORDERS_PATH = "/trade-api/v2/margin/orders"
TRIVIAL_PATH = "/trade-api/v2/margin/exchange/status"
DEFAULT_ORDERS = 20_000
QUICK_ORDERS = 600
DEFAULT_CONNECTIONS = 16
DEFAULT_SEQUENTIAL = 2_000
QUICK_SEQUENTIAL = 200
SEQUENTIAL_WARMUP = 50  # untimed requests to each server before the sequential phase
WARMUP = 300  # untimed requests of each kind before measuring
MAKER_LEVELS = 400  # resting maker orders per side per market
MAKER_COUNT = "50.00"
CROSS_EVERY = 10  # one order in ten is an IOC that crosses
BALANCE = "1000000.0000"
AUTH_WINDOW_MS = 3_600_000
TARGET_ORDERS_PER_S = 3_000
TARGET_RATIO = 0.6
TARGET_SEQ_P50_MS = 2.0
PROFILE_ROWS = 30


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--orders",
        type=int,
        default=None,
        help=f"timed orders (default {DEFAULT_ORDERS:_}; {QUICK_ORDERS} with --quick)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"concurrent keep-alive connections, one account each ({DEFAULT_CONNECTIONS})",
    )
    parser.add_argument(
        "--sequential",
        type=int,
        default=None,
        help=(
            f"sequential requests to the app and to the baseline app each (default "
            f"{DEFAULT_SEQUENTIAL:_}; {QUICK_SEQUENTIAL} with --quick)"
        ),
    )
    parser.add_argument(
        "--http",
        choices=("auto", "h11", "httptools"),
        default="auto",
        help="uvicorn's HTTP parser (auto: httptools when installed)",
    )
    parser.add_argument(
        "--compare-http", action="store_true", help="run with h11 and with httptools"
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ORDERS} orders")
    parser.add_argument(
        "--profile", action="store_true", help="add a run with cProfile on the server thread"
    )
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = QUICK_ORDERS if args.quick else DEFAULT_ORDERS
    if args.sequential is None:
        args.sequential = QUICK_SEQUENTIAL if args.quick else DEFAULT_SEQUENTIAL
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    if args.sequential < 1:
        parser.error("--sequential must be at least 1")
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    return args


# ------------------------------------------------------------------ the server


@dataclass(frozen=True)
class Account:
    user_id: str
    key_id: str


def _demo_key_pem() -> str:
    return (FIXTURES / "keys" / "demo_private.pem").read_text()


def _scenario(connections: int) -> tuple[Scenario, list[Account]]:
    base = load_scenario("bare")
    public_pem = (FIXTURES / "keys" / "demo_public.pem").read_text()
    accounts = [Account(f"bench-{i}", f"bench-key-{i}") for i in range(connections)]
    users = [
        ScenarioUser(a.user_id, a.key_id, public_key_pem=public_pem, balance=BALANCE)
        for a in [Account("bench-maker", "bench-maker-key"), *accounts]
    ]
    scenario = msgspec.structs.replace(
        base,
        name="bench-rest",
        config={**base.config, "default_notional_limit": 10**15},
        users=[*base.users, *users],
    )
    return scenario, accounts


def _mids(runtime: Runtime) -> dict[str, int]:
    return {
        ticker: parse_price(str(data.market.spec.reference["price"]))
        for ticker, data in runtime.exchange.markets.items()
    }


def _rest_maker_liquidity(runtime: Runtime) -> None:
    exchange = runtime.exchange
    count = parse_count(MAKER_COUNT)
    for ticker, mid in _mids(runtime).items():
        exchange.set_reference_price(ticker, mid)
        for level in range(MAKER_LEVELS):
            for side, price in ((Side.ASK, mid + 10 + level), (Side.BID, mid - 10 - level)):
                command = PlaceOrder(ticker, side, price, count, f"mk-{ticker}-{side}-{level}")
                exchange.place_order("bench-maker", command)


@contextmanager
def serve_app(app: Any, http: str, profiler: cProfile.Profile | None = None) -> Iterator[int]:
    """Serve `app` as `perps-sim serve` does, on a thread with its own loop; yields the port.

    The socket comes from `simulator.server.serve.bind` (so accepted connections get TCP_NODELAY as
    in `perps-sim serve`) and uvicorn is configured as there: no lifespan, no access log.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=http,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )
    server = uvicorn.Server(config)
    # The socket listens before the thread starts: clients can connect at once.
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()

    def run() -> None:
        if profiler is not None:
            profiler.enable()
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        finally:
            if profiler is not None:
                profiler.disable()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()
        sock.close()


@contextmanager
def serve(http: str, connections: int, profiler: cProfile.Profile | None = None) -> Iterator[Any]:
    """Run the app on a fresh runtime in a background thread; yields (port, runtime, accounts)."""
    scenario, accounts = _scenario(connections)
    runtime = Runtime(
        scenario,
        clock_mode="manual",
        settings=ServerSettings(auth_window_ms=AUTH_WINDOW_MS),
    )
    _rest_maker_liquidity(runtime)
    with serve_app(create_app(runtime), http, profiler) as port:
        yield port, runtime, accounts


_BASELINE_BODY = b'{"order_id":"00000000-0000-0000-0000-000000000000"}'


async def _baseline_order(request: Request) -> Response:
    await request.body()
    return Response(_BASELINE_BODY, status_code=201, media_type="application/json")


def baseline_app() -> Starlette:
    """A trivial Starlette app: `POST /margin/orders` reads the body and answers a fixed 201."""
    return Starlette(routes=[Route(ORDERS_PATH, _baseline_order, methods=["POST"])])


# ------------------------------------------------------------------ the client process


def sign(key: rsa.RSAPrivateKey, timestamp_ms: int, method: str, path: str) -> str:
    message = f"{timestamp_ms}{method}{path}".encode()
    signature = key.sign(
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        hashes.SHA256(),
    )
    return base64.b64encode(signature).decode()


def auth_headers(key: rsa.RSAPrivateKey, key_id: str, method: str, path: str) -> dict[str, str]:
    """The three signing headers of a request to `path`, stamped now."""
    ts = WallClock().now_ms()
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": str(ts),
        "KALSHI-ACCESS-SIGNATURE": sign(key, ts, method, path),
    }


def _auth_lines(key: rsa.RSAPrivateKey, key_id: str, method: str, path: str) -> bytes:
    ts = WallClock().now_ms()
    return (
        f"KALSHI-ACCESS-KEY: {key_id}\r\n"
        f"KALSHI-ACCESS-TIMESTAMP: {ts}\r\n"
        f"KALSHI-ACCESS-SIGNATURE: {sign(key, ts, method, path)}\r\n"
    ).encode()


def order_bodies(n: int, mids: dict[str, int], tag: str) -> list[bytes]:
    """`n` order bodies: 9 in 10 rest away from the touch, 1 in 10 crosses as an IOC."""
    tickers = sorted(mids)
    bodies = []
    for i in range(n):
        ticker = tickers[i % len(tickers)]
        mid = mids[ticker]
        side = "bid" if (i // len(tickers)) % 2 == 0 else "ask"
        sign_ = -1 if side == "bid" else 1
        if i % CROSS_EVERY == CROSS_EVERY - 1:
            price, tif = mid + sign_ * -20, "immediate_or_cancel"  # through the maker's quotes
        else:
            price = mid + sign_ * (10 + MAKER_LEVELS + (i * 7) % 300)
            tif = "good_till_canceled"
        body = {
            "ticker": ticker,
            "client_order_id": f"{tag}-{i}",
            "side": side,
            "count": "1.00",
            "price": format_price(price),
            "time_in_force": tif,
            "self_trade_prevention_type": "taker_at_cross",
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def _post(auth: bytes, host: bytes, body: bytes) -> bytes:
    return (
        b"POST " + ORDERS_PATH.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + auth
        + b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


def _get(auth: bytes, host: bytes) -> bytes:
    return (
        b"GET " + TRIVIAL_PATH.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + auth + b"\r\n"
    )


async def _drive(
    port: int, per_connection: list[list[bytes]]
) -> tuple[float, list[int], dict[int, int]]:
    """Send each connection's requests closed-loop; (seconds, sorted latencies ns, statuses)."""
    statuses: dict[int, int] = {}
    latencies: list[int] = []
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in per_connection]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reqs: list[bytes]):
        ns = perf_counter_ns
        own = []
        for request in reqs:
            t0 = ns()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            at = head.lower().find(b"content-length:")
            if at >= 0:
                end = head.find(b"\r\n", at)
                await reader.readexactly(int(head[at + 15 : end]))
            own.append(ns() - t0)
            status = int(head[9:12])
            statuses[status] = statuses.get(status, 0) + 1
        latencies.extend(own)

    start = perf_counter()
    await asyncio.gather(
        *(one(r, w, reqs) for (r, w), reqs in zip(streams, per_connection, strict=True))
    )
    elapsed = perf_counter() - start
    for _, writer in streams:
        writer.close()
    latencies.sort()
    return elapsed, latencies, statuses


def sequential(
    key: rsa.RSAPrivateKey, key_id: str, ports: dict[str, int], bodies: list[bytes], warmup: int
) -> dict[str, Result]:
    """POST `bodies` one at a time over one keep-alive `httpx.Client`, to each server in turn.

    Each server gets every body; a request goes to each server before the next body, so both
    see the same machine load. Each request is signed just before it is sent (a fresh
    timestamp, as kalshi-sdk does) and the timer covers `client.post` only: sending, and
    reading the whole response. The first `warmup` bodies are not timed. Returns, per server
    name, the sorted latencies in ns and the statuses.
    """
    urls = {name: f"http://127.0.0.1:{port}{ORDERS_PATH}" for name, port in ports.items()}
    out: dict[str, Result] = {name: {"lat": [], "statuses": {}} for name in ports}
    clock = WallClock()
    ns = perf_counter_ns
    with httpx.Client(timeout=30) as client:
        for index, body in enumerate(bodies):
            for name, url in urls.items():
                ts = clock.now_ms()
                headers = {
                    "KALSHI-ACCESS-KEY": key_id,
                    "KALSHI-ACCESS-TIMESTAMP": str(ts),
                    "KALSHI-ACCESS-SIGNATURE": sign(key, ts, "POST", ORDERS_PATH),
                    "Content-Type": "application/json",
                }
                t0 = ns()
                response = client.post(url, content=body, headers=headers)
                elapsed = ns() - t0
                if index >= warmup:
                    out[name]["lat"].append(elapsed)
                    statuses = out[name]["statuses"]
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    for result in out.values():
        result["lat"].sort()
    return out


def _split(requests: list[bytes], k: int) -> list[list[bytes]]:
    return [requests[i::k] for i in range(k)]


def client_main(
    conn: Any,
    port: int,
    accounts: list[Account],
    mids: dict[str, int],
    orders: int,
    trivial: bool,
    baseline_port: int,
    sequential_n: int,
) -> Result:
    """The client process: sign, build every request, then time the orders phase.

    With `trivial`, the trivial phase follows; with `sequential_n`, the sequential phase
    against the app and the baseline app on `baseline_port`.
    """
    key = serialization.load_pem_private_key(_demo_key_pem().encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    t0 = perf_counter()
    rounds = 100
    for _ in range(rounds):
        sign(key, 0, "POST", ORDERS_PATH)
    sign_us = (perf_counter() - t0) / rounds * 1e6

    host = f"127.0.0.1:{port}".encode()
    k = len(accounts)
    post_auth = [_auth_lines(key, a.key_id, "POST", ORDERS_PATH) for a in accounts]
    get_auth = [_auth_lines(key, a.key_id, "GET", TRIVIAL_PATH) for a in accounts]

    def order_requests(n: int, tag: str) -> list[list[bytes]]:
        per = _split(order_bodies(n, mids, tag), k)
        return [
            [_post(post_auth[c], host, body) for body in bodies] for c, bodies in enumerate(per)
        ]

    def trivial_requests(n: int) -> list[list[bytes]]:
        return [
            [_get(get_auth[c], host)] * len(part) for c, part in enumerate(_split([b""] * n, k))
        ]

    sequential_bodies = order_bodies(SEQUENTIAL_WARMUP + sequential_n, mids, "seq")
    warm_orders = order_requests(min(WARMUP, orders), "warm")
    timed_orders = order_requests(orders, "o")
    warm_trivial = trivial_requests(min(WARMUP, orders))
    timed_trivial = trivial_requests(orders)

    def mark(name: str) -> None:  # the parent snapshots the server's CPU time, then answers
        conn.send(("mark", name))
        conn.recv()

    async def phase(name: str, requests: list[list[bytes]]) -> Result:
        mark(name)
        cpu = _cpu_s()
        seconds, latencies, statuses = await _drive(port, requests)
        client_cpu = _cpu_s() - cpu
        mark(f"{name}_end")
        return {
            "seconds": seconds,
            "n": orders,
            "lat": latencies,
            "statuses": statuses,
            "client_cpu_s": client_cpu,
        }

    async def run() -> Result:
        await _drive(port, warm_orders)
        result: Result = {"orders": await phase("orders", timed_orders)}
        if trivial:
            await _drive(port, warm_trivial)
            result["trivial"] = await phase("trivial", timed_trivial)
        return result

    result = asyncio.run(run())
    if sequential_n:
        ports = {"app": port, "baseline": baseline_port}
        result["sequential"] = sequential(
            key, accounts[0].key_id, ports, sequential_bodies, SEQUENTIAL_WARMUP
        )
    result["sign_us"] = sign_us
    result["request_bytes"] = len(timed_orders[0][0]) if timed_orders[0] else 0
    return result


def _client_entry(conn: Any, *args: Any) -> None:
    try:
        conn.send(("ok", client_main(conn, *args)))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_once(
    args: argparse.Namespace, http: str, profiler: cProfile.Profile | None = None
) -> Result:
    """The servers, one client process; the client's figures plus the server's CPU per phase.

    A profiled run has the orders phase only.
    """
    full = profiler is None
    with (
        serve(http, args.connections, profiler) as (port, runtime, accounts),
        serve_app(baseline_app(), http) as baseline_port,
    ):
        mids = _mids(runtime)
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        sequential_n = args.sequential if full else 0
        process = ctx.Process(
            target=_client_entry,
            args=(child, port, accounts, mids, args.orders, full, baseline_port, sequential_n),
            daemon=True,
        )
        process.start()
        child.close()
        marks: dict[str, float] = {}
        while True:
            kind, payload = parent.recv()
            if kind != "mark":
                break
            marks[payload] = _cpu_s()
            parent.send("go")
        process.join(30)
        if kind != "ok":
            raise RuntimeError(f"client process failed: {payload}")
        for phase in ("orders", "trivial"):
            if phase in payload:
                payload[phase]["server_cpu_s"] = marks[f"{phase}_end"] - marks[phase]
        payload["resting"] = {t: len(d.book) for t, d in runtime.exchange.markets.items()}
        payload["fills"] = len(runtime.exchange.fills)
        return dict(payload)


# ------------------------------------------------------------------ report


def _parser_name(http: str) -> str:
    if http != "auto":
        return http
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


def _phase(result: Result, name: str) -> dict[str, float]:
    phase = result[name]
    return {
        "rps": phase["n"] / phase["seconds"],
        "p50_ms": percentile(phase["lat"], 0.50) / 1_000,
        "p99_ms": percentile(phase["lat"], 0.99) / 1_000,
        "cpu_us": phase["server_cpu_s"] / phase["n"] * 1e6,
        "client_cpu_us": phase["client_cpu_s"] / phase["n"] * 1e6,
    }


def _print_phase(label: str, result: Result, name: str) -> dict[str, float]:
    fig = _phase(result, name)
    statuses = dict(sorted(result[name]["statuses"].items()))
    print(
        f"  {label:<28} {fig['rps']:>8,.0f} req/s  p50 {fig['p50_ms']:7.3f} ms  "
        f"p99 {fig['p99_ms']:7.3f} ms  CPU us/req: server {fig['cpu_us']:4.0f}, "
        f"client {fig['client_cpu_us']:3.0f}  statuses {statuses}"
    )
    bad = {status: n for status, n in statuses.items() if status >= 300}
    if bad:
        print(f"  WARNING: unexpected statuses {bad}")
    return fig


def _print_run(label: str, result: Result) -> dict[str, float]:
    print()
    print(f"{label}:")
    orders = _print_phase("POST /margin/orders", result, "orders")
    figures = {"orders_per_s": orders["rps"], "p50_ms": orders["p50_ms"]}
    figures |= {"p99_ms": orders["p99_ms"], "orders_cpu_us": orders["cpu_us"]}
    if "trivial" in result:
        trivial = _print_phase("GET /margin/exchange/status", result, "trivial")
        figures |= {"trivial_rps": trivial["rps"], "trivial_cpu_us": trivial["cpu_us"]}
        figures["ratio"] = orders["rps"] / trivial["rps"]
        print(
            f"  orders / trivial: {figures['ratio']:.3f} by throughput, "
            f"{trivial['cpu_us'] / orders['cpu_us']:.3f} by server CPU per request"
        )
    if "sequential" in result:
        figures |= _print_sequential(result["sequential"])
    print(f"  book afterwards: resting {result['resting']}, fills {result['fills']}")
    return figures


def _print_sequential(runs: dict[str, Result]) -> dict[str, float]:
    figures: dict[str, float] = {}
    labels = {"app": "sequential POST (httpx)", "baseline": "same on trivial Starlette"}
    for name, label in labels.items():
        latencies = runs[name]["lat"]
        statuses = dict(sorted(runs[name]["statuses"].items()))
        p50 = percentile(latencies, 0.50) / 1_000
        p99 = percentile(latencies, 0.99) / 1_000
        print(
            f"  {label:<28} {len(latencies):>8,} req    p50 {p50:7.3f} ms  p99 {p99:7.3f} ms  "
            f"statuses {statuses}"
        )
        bad = {status: n for status, n in statuses.items() if status != 201}
        if bad:
            print(f"  WARNING: unexpected statuses {bad}")
        figures[f"{name}_p50_ms"], figures[f"{name}_p99_ms"] = p50, p99
    print(
        f"  sequential / baseline: {figures['app_p50_ms'] / figures['baseline_p50_ms']:.2f} "
        "by p50 (one keep-alive httpx.Client, one request at a time, each signed untimed)"
    )
    return {
        "seq_p50_ms": figures["app_p50_ms"],
        "seq_p99_ms": figures["app_p99_ms"],
        "seq_baseline_p50_ms": figures["baseline_p50_ms"],
    }


def _print_profile(profiler: cProfile.Profile, rows: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    stats.sort_stats("tottime").print_stats(rows)
    stats.sort_stats("cumulative").print_stats(rows)
    print()
    print("server thread profile (orders only: warm-up and timed):")
    print(out.getvalue())


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    print(f"REST benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    print(
        f"{args.orders:_} orders then {args.orders:_} trivial GETs over {args.connections} "
        f"keep-alive connections (client in its own process; up to {WARMUP} untimed "
        f"warm-up requests of each kind), then {args.sequential:_} sequential orders to the "
        f"app and to a trivial Starlette app ({SEQUENTIAL_WARMUP} untimed first)"
    )
    parsers = ["h11", "httptools"] if args.compare_http else [args.http]
    if args.compare_http and importlib.util.find_spec("httptools") is None:
        print("httptools is not installed: comparing is not possible, running h11 only")
        parsers = ["h11"]
    figures: dict[str, float] = {}
    result: Result = {}
    for http in parsers:
        result = run_once(args, http)
        figures = _print_run(f"uvicorn with {_parser_name(http)}", result)
    print()
    print(
        f"client: RSA-PSS signing {result['sign_us']:.0f} us per signature (pre-signed per "
        f"account here; a client signing every request pays it per order), "
        f"order request {result['request_bytes']} bytes"
    )
    print(
        "CPU us/req: each process's CPU time over the timed phase / requests (1e6 / server CPU "
        "is what one dedicated core would serve)"
    )
    if args.profile:
        profiler = cProfile.Profile(time.thread_time)
        profiled = run_once(args, parsers[-1], profiler)
        _print_run("profiled run (cProfile on the server thread; slower)", profiled)
        _print_profile(profiler, PROFILE_ROWS)
    met_orders = figures["orders_per_s"] >= TARGET_ORDERS_PER_S
    met_ratio = figures["ratio"] >= TARGET_RATIO
    met_seq = figures["seq_p50_ms"] < TARGET_SEQ_P50_MS
    print(
        f"targets: >= {TARGET_ORDERS_PER_S:,} orders/s ({'met' if met_orders else 'NOT met'}), "
        f"ratio >= {TARGET_RATIO} ({'met' if met_ratio else 'NOT met'}), "
        f"sequential p50 < {TARGET_SEQ_P50_MS} ms ({'met' if met_seq else 'NOT met'})"
    )
    print(
        f"RESULT orders_per_s={figures['orders_per_s']:.0f} p50_ms={figures['p50_ms']:.3f} "
        f"p99_ms={figures['p99_ms']:.3f} trivial_rps={figures['trivial_rps']:.0f} "
        f"ratio_vs_trivial={figures['ratio']:.3f} seq_p50_ms={figures['seq_p50_ms']:.3f} "
        f"seq_p99_ms={figures['seq_p99_ms']:.3f} "
        f"seq_baseline_p50_ms={figures['seq_baseline_p50_ms']:.3f}"
    )


if __name__ == "__main__":
    main()
