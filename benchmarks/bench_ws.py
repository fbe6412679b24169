"""Benchmark WebSocket fan-out: 100 clients on one market's public channels under order flow.

    .venv/bin/python benchmarks/bench_ws.py [--clients 100] [--orders 4000] [--rate 0]
                                            [--quick] [--profile]

The server is `perps-sim serve` itself, started as a subprocess (`python -m simulator serve
--port 0 --clock manual --scenario bare --ready-file ...`, log level warning, timestamp window
widened to an hour): its own process and interpreter, so none of the clients' work counts
against it, and the app, uvicorn and its WebSocket settings (`uvicorn_options`) are exactly
what a user runs. The `bare` scenario has no bots, and the manual clock fires no timer unless
told to, so every frame comes from the benchmark's own orders. Accounts are created through
the control plane (`POST /sim/v1/users`, $1,000,000 each, the demo public key): a liquidity
account rests 5 levels of 10 contracts each side of KXBTCPERP, `SPAN` ticks from the
reference price (so the initial `orderbook_snapshot` is not empty), and one account per
client (the server allows `max_connections_per_key` = 64 connections per key).

Clients: all in one asyncio process (this one), with the `websockets` library's asyncio
client (compression off, no proxy): one process because the machine may have 2 cores, one for
the server and one for everything else, and `websockets` because it is what client code uses.
Each client opens its own signed connection (the handshake carries the three
`KALSHI-ACCESS-*` headers) and sends three subscribe commands, one channel each,
`orderbook_delta`, `trade` and `ticker` on KXBTCPERP, then waits for the three `subscribed`
replies and the initial `orderbook_snapshot`. Every frame received is timestamped at once
(`time.monotonic_ns`, CLOCK_MONOTONIC, the same clock in every process of the machine) and
decoded with a typed msgspec decoder (type, sid, seq, msg.price, msg.delta); seq gaps are
counted. The client process does no cyclic garbage collection while timing (`gc.freeze` of
the set-up, `gc.disable`), so its own pauses do not show as the server's.

Order flow: a separate process (spawned; it shares no GIL with the clients) sends signed
`POST /trade-api/v2/margin/orders` closed-loop over one keep-alive HTTP/1.1 connection (a
minimal asyncio client as in bench_rest.py, every request's bytes built and signed before the
timed section; the signature does not cover the body, so one per key serves the run). Orders
come in pairs at a price of their own inside the liquidity's spread: a maker account rests
a GTC order of 1 contract (one `orderbook_delta`, +1), then a taker account sends an IOC of 1
contract at the same price that fills it (one `trade` and one `orderbook_delta`, -1). Pairs
alternate sides so no position grows. Every 100 orders (10 with `--quick`) the sender also
posts `POST /sim/v1/clock/advance {"ms": 1000}`: the ticker channel is coalesced to one
message per market per second of simulated time, so without that it would stay silent.
`--rate R` paces the requests (the orders and the advances) at R per second instead: the
frames/s is then the paced flow's, not the server's most, so `ratio_vs_baseline` means
something only closed-loop; the latencies are those of a server with room to spare. The
first `WARMUP_PAIRS` pairs (2 with `--quick`) are not timed.

Figures:

- frames/s: data frames (`orderbook_delta`, `trade`, `ticker`) received by all clients
  together from the send of the first timed order to the receipt of the last order's frames
  by the last client;
- latency: for each delta and trade frame, its receipt at a client minus the moment the REST
  response of the order that caused it arrived at the sender (the order's acceptance; a
  frame may arrive before that response, then it counts as negative), and the same from the
  order's send. Frames are matched to orders by price (each pair has its own price) and by
  kind (trade, delta > 0 from the resting order, delta < 0 from the fill); ticker frames are
  counted but not matched. Also the fan-out spread: per frame, the last client's receipt
  minus the first's;
- CPU seconds of the server process (from /proc) and of the client process over the timed
  window, per frame delivered: `1e6 / server us per frame` is what one dedicated core serves.

Baseline, in the same run: a bare `websockets` server (`websockets.asyncio.server.serve`, no
compression) in a spawned subprocess, the same number of the same clients connected (same
library, same receive loop and decoding), sends every client as many frames as the average
client received from the simulator, each the same pre-encoded `orderbook_delta` frame (one
the clients received) padded inside its `msg` to the average frame's size. Two phases:

- broadcast rounds (the figure in RESULT): `websockets.broadcast` of one frame to every
  connection, then one turn of the event loop, and again: the shape of the simulator's
  fan-out, where one event is written to every subscriber at once (one write per frame per
  connection); the rounds wait while some connection has over 1 MiB queued;
- burst: each connection's handler sends all its frames with `await ws.send`, so writes
  coalesce in the socket buffer: the most the clients can take.

Its frames/s is counted the same way, from the go signal to the last receipt;
`ratio_vs_baseline` is the simulator's frames/s over the broadcast rounds'. On a 2-CPU
machine server, clients and sender compete for the cores (and with whatever else runs: the
load average is printed at start and end): the CPU figures tell which one is saturated.

Two phases on one server: closed loop (frames/s, the figure of RESULT's `frames_per_s` and
ratio), then the same flow paced at `LATENCY_LOAD` (half) of the closed loop's request rate,
with half as many orders: RESULT's `p99_ms` is that phase's latency from order acceptance.
Closed loop, the sender outruns what the clients' one process can read, so its latency is the
clients' backlog, not the server's (it is printed too). With `--rate`, only the paced phase
runs and RESULT carries its figures.

`--profile` runs the server under cProfile (CPU-time clock, the whole server run: start-up,
set-up and the timed window; everything is slower) and prints its top functions and its
garbage collections (count, total and longest pause per generation). The last line is
machine-readable:

    RESULT frames_per_s=<int> p99_ms=<float> subscribers=<int> baseline_frames_per_s=<int>
           ratio_vs_baseline=<float>  (one line)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import multiprocessing
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

from benchmarks.bench_rest import auth_headers
from benchmarks.harness import machine_load, percentile, python_version
from benchmarks.served import cpu_s, process_cpu_s, serve_subprocess, stop_child
from simulator.core.money import format_price, parse_price
from simulator.server.listeners import listen_tcp
from simulator.server.scenarios import load_scenario

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
TICKER = "KXBTCPERP"
WS_PATH = "/trade-api/ws/v2/margin"
ORDERS_PATH = "/trade-api/v2/margin/orders"
ADVANCE_PATH = "/sim/v1/clock/advance"
CHANNELS = ("orderbook_delta", "trade", "ticker")
DEFAULT_CLIENTS = 100
DEFAULT_ORDERS = 4_000
LATENCY_LOAD = 0.5  # the paced phase's share of the closed loop's request rate
QUICK_ORDERS = 40
WARMUP_PAIRS = 20
QUICK_WARMUP_PAIRS = 2
ADVANCE_EVERY = 100  # orders between two 1 s clock advances (the ticker's coalescing period)
QUICK_ADVANCE_EVERY = 10
ADVANCE_MS = 1_000
SPAN = 2_000  # ticks between the reference price and the liquidity's best level
LIQUIDITY_LEVELS = 5
LIQUIDITY_COUNT = "10.00"
BALANCE = "1000000.0000"
AUTH_WINDOW_MS = 3_600_000
TIMEOUT_S = 120.0  # generous bound on every wait for I/O
BASELINE_BUFFER = 1 << 20  # bytes queued on a baseline connection before the rounds wait
PROFILE_ROWS = 25
SERVER_LOG_LINES = 20

Result = dict[str, Any]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--clients",
        type=int,
        default=DEFAULT_CLIENTS,
        help=f"WebSocket clients, each subscribed to 3 channels ({DEFAULT_CLIENTS})",
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=None,
        help=f"timed orders, half resting, half crossing (default {DEFAULT_ORDERS:_}; "
        f"{QUICK_ORDERS} with --quick)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second (default 0: closed loop, each sent when the last is answered)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: a few dozen orders")
    parser.add_argument(
        "--profile", action="store_true", help="run the server under cProfile and print its top"
    )
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = QUICK_ORDERS if args.quick else DEFAULT_ORDERS
    if args.orders < 2:
        parser.error("--orders must be at least 2")
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    if args.rate < 0:
        parser.error("--rate must not be negative")
    args.prefix = "bench"
    args.warmup_pairs = QUICK_WARMUP_PAIRS if args.quick else WARMUP_PAIRS
    args.advance_every = QUICK_ADVANCE_EVERY if args.quick else ADVANCE_EVERY
    return args


def _now_ns() -> int:
    return time.monotonic_ns()


def _private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "demo_private.pem").read_bytes(), None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _reference_price() -> int:
    scenario = load_scenario("bare")
    markets = json.loads((FIXTURES / scenario.markets_file).read_text())["markets"]
    spec = next(m for m in markets if m["ticker"] == TICKER)
    return parse_price(str(spec["reference"]["price"]))


# ------------------------------------------------------------------ the server


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    base_url: str
    ws_url: str
    port: int
    log: list[str] = field(default_factory=list)  # what the server printed after its banner


@contextmanager
def perps_sim(profile_path: Path | None) -> Iterator[ServerProcess]:
    """`perps-sim serve` on a free port in a subprocess until the block exits (SIGINT)."""
    args = ["--clock", "manual", "--scenario", "bare", "--auth-window-ms", str(AUTH_WINDOW_MS)]
    with serve_subprocess(args, profile_path, "bench-ws-") as served:
        urls = served.urls
        base_url = urls["rest_url"].removesuffix("/trade-api/v2")
        port = int(base_url.rsplit(":", 1)[1])
        yield ServerProcess(served.process, base_url, urls["ws_url"], port, served.log)


@dataclass(frozen=True)
class Accounts:
    liquidity: str
    maker: str
    taker: str
    subscribers: list[str]


def create_accounts(
    base_url: str, clients: int, key: rsa.RSAPrivateKey, prefix: str = "bench"
) -> Accounts:
    """Users through the control plane, all with the demo key pair; liquidity resting."""
    public_pem = (FIXTURES / "keys" / "demo_public.pem").read_text()
    accounts = Accounts(
        f"{prefix}-liquidity",
        f"{prefix}-maker",
        f"{prefix}-taker",
        [f"{prefix}-ws-{i}" for i in range(clients)],
    )
    names = [accounts.liquidity, accounts.maker, accounts.taker, *accounts.subscribers]
    mid = _reference_price()
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_S) as http:
        for name in names:
            body = {
                "user_id": name,
                "api_key_id": f"{name}-key",
                "public_key_pem": public_pem,
                "balance": BALANCE,
            }
            response = http.post("/sim/v1/users", json=body)
            response.raise_for_status()
        for level in range(LIQUIDITY_LEVELS):
            for side, price in (("ask", mid + SPAN + level), ("bid", mid - SPAN - level)):
                order = {
                    "ticker": TICKER,
                    "client_order_id": f"liq-{side}-{level}",
                    "side": side,
                    "count": LIQUIDITY_COUNT,
                    "price": format_price(price),
                    "time_in_force": "good_till_canceled",
                    "self_trade_prevention_type": "taker_at_cross",
                }
                headers = auth_headers(key, f"{accounts.liquidity}-key", "POST", ORDERS_PATH)
                response = http.post(ORDERS_PATH, json=order, headers=headers)
                if response.status_code != 201:
                    raise RuntimeError(f"liquidity order refused: {response.text}")
    return accounts


# ------------------------------------------------------------------ the order plan


@dataclass(frozen=True)
class Plan:
    """The steps the sender replays, and which order (step index) caused which frame.

    `keys` maps a frame key (("d", price, negative) for a delta, ("t", price) for a trade) to
    the step indices of the orders that cause it, in order.
    """

    steps: list[bytes]
    kinds: list[str]  # "rest", "cross" or "advance" per step
    keys: dict[tuple[str, str, bool], list[int]]
    final_key: tuple[str, str, bool]
    first_timed: int  # index of the first timed step


def _order_body(client_order_id: str, side: str, price: int, tif: str) -> bytes:
    body = {
        "ticker": TICKER,
        "client_order_id": client_order_id,
        "side": side,
        "count": "1.00",
        "price": format_price(price),
        "time_in_force": tif,
        "self_trade_prevention_type": "taker_at_cross",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _request(host: bytes, path: str, auth: dict[str, str] | None, body: bytes) -> bytes:
    lines = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: " + host]
    for name, value in (auth or {}).items():
        lines.append(f"{name}: {value}".encode())
    lines += [b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def plan_orders(
    orders: int,
    warmup_pairs: int,
    advance_every: int,
    port: int,
    accounts: Accounts,
    key: rsa.RSAPrivateKey,
) -> Plan:
    """Warm-up pairs, then `orders` timed orders in resting + crossing pairs, with advances.

    Pair j rests at a price of its own inside the liquidity's spread (prices repeat only
    after 2 * SPAN - 3 pairs); the last pair's price is used by no other pair, so its
    `delta < 0` frame tells each client that every order's frames have arrived.
    """
    mid = _reference_price()
    host = f"127.0.0.1:{port}".encode()
    # the signature covers timestamp + method + path only: one per key serves every order
    maker_auth = auth_headers(key, f"{accounts.maker}-key", "POST", ORDERS_PATH)
    taker_auth = auth_headers(key, f"{accounts.taker}-key", "POST", ORDERS_PATH)
    advance = _request(host, ADVANCE_PATH, None, json.dumps({"ms": ADVANCE_MS}).encode())
    pairs = warmup_pairs + orders // 2
    cycle = 2 * SPAN - 3  # prices mid - SPAN + 1 .. mid + SPAN - 3; mid + SPAN - 2 is the last's
    steps: list[bytes] = []
    kinds: list[str] = []
    keys: dict[tuple[str, str, bool], list[int]] = defaultdict(list)
    first_timed = 0
    placed = 0
    for j in range(pairs):
        if j == warmup_pairs:
            first_timed = len(steps)
        last = j == pairs - 1
        price = mid + SPAN - 2 if last else mid - SPAN + 1 + j % cycle
        wire_price = format_price(price)
        rest_side, cross_side = ("ask", "bid") if j % 2 == 0 else ("bid", "ask")
        keys[("d", wire_price, False)].append(len(steps))
        steps.append(
            _request(
                host,
                ORDERS_PATH,
                maker_auth,
                _order_body(f"m-{j}", rest_side, price, "good_till_canceled"),
            )
        )
        kinds.append("rest")
        keys[("d", wire_price, True)].append(len(steps))
        keys[("t", wire_price, False)].append(len(steps))
        steps.append(
            _request(
                host,
                ORDERS_PATH,
                taker_auth,
                _order_body(f"t-{j}", cross_side, price, "immediate_or_cancel"),
            )
        )
        kinds.append("cross")
        placed += 2
        if placed % advance_every == 0 and not last:
            steps.append(advance)
            kinds.append("advance")
    final_key = ("d", format_price(mid + SPAN - 2), True)
    return Plan(steps, kinds, dict(keys), final_key, first_timed)


# ------------------------------------------------------------------ the sender process


async def _send_all(
    port: int, steps: list[bytes], rate: float, conn: Any
) -> tuple[list[int], list[int], dict[int, int], str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = [0] * len(steps)
    answered = [0] * len(steps)
    statuses: dict[int, int] = {}
    first_error = ""
    conn.send(("ready", None))
    await asyncio.to_thread(conn.recv)  # "go"
    start = _now_ns()
    interval_ns = int(1e9 / rate) if rate > 0 else 0
    ns = _now_ns
    for index, request in enumerate(steps):
        if interval_ns:
            due = start + index * interval_ns
            wait = due - ns()
            if wait > 0:
                await asyncio.sleep(wait / 1e9)
        sent[index] = ns()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        at = head.lower().find(b"content-length:")
        length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
        body = await reader.readexactly(length)
        answered[index] = ns()
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
        if status >= 300 and not first_error:
            first_error = f"{status} {body.decode(errors='replace')}"
    writer.close()
    await writer.wait_closed()
    return sent, answered, statuses, first_error


def _sender_entry(conn: Any, port: int, steps: list[bytes], rate: float) -> None:
    try:
        cpu = cpu_s()
        sent, answered, statuses, first_error = asyncio.run(_send_all(port, steps, rate, conn))
        conn.send(("ok", (sent, answered, statuses, first_error, cpu_s() - cpu)))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


# ------------------------------------------------------------------ the clients


class _Msg(msgspec.Struct):
    price: str = ""
    delta: str = ""


class _Frame(msgspec.Struct):
    type: str
    id: int | None = None
    sid: int | None = None
    seq: int | None = None
    msg: _Msg | None = None


_decode = msgspec.json.Decoder(_Frame).decode
_DATA = frozenset(CHANNELS)


@dataclass
class Client:
    """One connection's received data frames: (receipt ns, type, price, delta < 0)."""

    ws: ClientConnection
    frames: list[tuple[int, str, str, bool]] = field(default_factory=list)
    bytes_received: int = 0
    seq_gaps: int = 0
    sample: str = ""  # one orderbook_delta frame as received
    done: asyncio.Future[int] | None = None


async def _open_client(url: str, key: rsa.RSAPrivateKey, key_id: str) -> Client:
    ws = await connect(
        url,
        additional_headers=auth_headers(key, key_id, "GET", WS_PATH),
        compression=None,
        proxy=None,
        open_timeout=TIMEOUT_S,
        ping_timeout=None,
        max_size=1 << 22,
    )
    return Client(ws)


async def _subscribe(client: Client) -> None:
    """Subscribe to the three channels; returns after the `subscribed`s and the snapshot."""
    ws = client.ws
    for command_id, channel in enumerate(CHANNELS, start=1):
        params = {"channels": [channel], "market_tickers": [TICKER]}
        await ws.send(json.dumps({"id": command_id, "cmd": "subscribe", "params": params}))
    subscribed: set[int] = set()
    snapshot = False
    while len(subscribed) < len(CHANNELS) or not snapshot:
        frame = _decode(await ws.recv())
        if frame.type == "subscribed" and frame.id is not None:
            subscribed.add(frame.id)
        elif frame.type == "orderbook_snapshot":
            snapshot = True
        elif frame.type == "error":
            raise RuntimeError(f"subscribe refused: {frame}")


async def _receive(client: Client, final: tuple[str, str, bool] | None, count: int) -> None:
    """Record data frames until the frame `final` (a delta's key) or until `count` frames."""
    assert client.done is not None
    frames = client.frames
    append = frames.append
    recv = client.ws.recv
    now = _now_ns
    last_seq: dict[int, int] = {}
    received_bytes = 0
    while True:
        raw = await recv()
        t = now()
        frame = _decode(raw)
        kind = frame.type
        if kind not in _DATA:
            continue
        received_bytes += len(raw)
        msg = frame.msg
        price = msg.price if msg is not None else ""
        negative = msg is not None and msg.delta.startswith("-")
        append((t, kind, price, negative))
        if frame.seq is not None and frame.sid is not None:
            previous = last_seq.get(frame.sid)
            if previous is not None and frame.seq != previous + 1:
                client.seq_gaps += 1
            last_seq[frame.sid] = frame.seq
        if kind == "orderbook_delta":
            if not client.sample:
                client.sample = raw if isinstance(raw, str) else raw.decode()
            if final is not None and negative and price == final[1]:
                break
        if final is None and len(frames) >= count:
            break
    client.bytes_received = received_bytes
    client.done.set_result(len(frames))


async def _open_all(url: str, key: rsa.RSAPrivateKey, key_ids: list[str]) -> list[Client]:
    return list(await asyncio.gather(*(_open_client(url, key, k) for k in key_ids)))


async def _close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)


def _start_receiving(
    clients: list[Client], final: tuple[str, str, bool] | None, count: int
) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    tasks = []
    for client in clients:
        client.done = loop.create_future()
        tasks.append(loop.create_task(_receive(client, final, count)))
    return tasks


def _timeout(frames: int) -> float:
    """A generous bound on a timed window of about `frames` frames (>= 1,000 frames/s)."""
    return TIMEOUT_S + frames / 1_000


@contextmanager
def _no_client_gc() -> Iterator[None]:
    """No cyclic collection in the client process while timing (set-up objects frozen).

    The clients keep every frame's record: the collector's passes over them would show as
    stalls that the server did not cause.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


async def _await_clients(
    clients: list[Client], tasks: list[asyncio.Task[None]], timeout: float
) -> None:
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    for task in done:
        task.result()  # a client's error surfaces here
    if pending:
        raise RuntimeError(f"{len(pending)} of {len(clients)} clients timed out")


# ------------------------------------------------------------------ the simulator run


async def _run_simulator(args: argparse.Namespace, server: ServerProcess) -> Result:
    key = _private_key()
    accounts = create_accounts(server.base_url, args.clients, key, args.prefix)
    plan = plan_orders(
        args.orders, args.warmup_pairs, args.advance_every, server.port, accounts, key
    )
    t0 = time.perf_counter()
    clients = await _open_all(server.ws_url, key, [f"{s}-key" for s in accounts.subscribers])
    await asyncio.wait_for(asyncio.gather(*(_subscribe(c) for c in clients)), TIMEOUT_S)
    subscribe_s = time.perf_counter() - t0

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    sender = ctx.Process(
        target=_sender_entry, args=(child, server.port, plan.steps, args.rate), daemon=True
    )
    sender.start()
    child.close()
    try:
        kind, payload = await asyncio.to_thread(parent.recv)
        if kind != "ready":
            raise RuntimeError(f"order sender failed: {payload}")
        tasks = _start_receiving(clients, plan.final_key, 0)
        server_cpu = process_cpu_s(server.process.pid)
        with _no_client_gc():
            client_cpu = cpu_s()
            parent.send("go")
            report = asyncio.ensure_future(asyncio.to_thread(parent.recv))
            receiving = asyncio.ensure_future(asyncio.wait(tasks))  # never raises
            timeout = _timeout(len(plan.steps) * len(clients))
            await asyncio.wait(
                {report, receiving}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if report.done():  # the sender is done (or failed): the last frames follow
                kind, payload = report.result()
                if kind != "ok":
                    raise RuntimeError(f"order sender failed: {payload}")
                statuses, first_error = payload[2], payload[3]
                if any(status >= 300 for status in statuses):
                    timeout = TIMEOUT_S / 10  # a refused order: its frames never come
                try:
                    await _await_clients(clients, tasks, timeout)
                except RuntimeError as exc:
                    raise RuntimeError(
                        f"{exc}; sender statuses {statuses}, first error {first_error!r}"
                    ) from None
            else:
                await _await_clients(clients, tasks, 0)
                kind, payload = await asyncio.wait_for(report, TIMEOUT_S)
                if kind != "ok":
                    raise RuntimeError(f"order sender failed: {payload}")
            client_cpu = cpu_s() - client_cpu
        server_end = process_cpu_s(server.process.pid)
    finally:
        await _close_all(clients)
        sender.join(TIMEOUT_S)
    sent, answered, statuses, first_error, sender_cpu = payload
    result = _analyse(clients, plan, sent, answered)
    result |= {
        "subscribers": len(clients),
        "subscribe_s": subscribe_s,
        "statuses": statuses,
        "first_error": first_error,
        "client_cpu_s": client_cpu,
        "sender_cpu_s": sender_cpu,
        "server_cpu_s": (
            server_end - server_cpu if server_cpu is not None and server_end is not None else None
        ),
    }
    return result


def _analyse(clients: list[Client], plan: Plan, sent: list[int], answered: list[int]) -> Result:
    start = sent[plan.first_timed]
    end = max(c.frames[-1][0] for c in clients if c.frames)
    timed_steps = range(plan.first_timed, len(plan.steps))
    timed_orders = sum(1 for i in timed_steps if plan.kinds[i] != "advance")
    from_accept: list[int] = []
    from_send: list[int] = []
    receipts: dict[tuple[int, str], list[int]] = defaultdict(list)  # (step, kind) -> receipts
    counts = dict.fromkeys(CHANNELS, 0)
    unmatched = 0
    frames_total = 0
    bytes_total = 0
    sample = ""
    for client in clients:
        seen: dict[tuple[str, str, bool], int] = defaultdict(int)
        bytes_total += client.bytes_received
        sample = sample or client.sample
        for t, kind, price, negative in client.frames:
            if t >= start:
                counts[kind] += 1
                frames_total += 1
            if kind == "ticker":
                continue
            key = ("t", price, False) if kind == "trade" else ("d", price, negative)
            occurrence = seen[key]
            seen[key] = occurrence + 1
            steps = plan.keys.get(key)
            if steps is None or occurrence >= len(steps):
                unmatched += 1
                continue
            step = steps[occurrence]
            if step < plan.first_timed:
                continue
            from_accept.append(t - answered[step])
            from_send.append(t - sent[step])
            receipts[(step, key[0] + str(negative))].append(t)
    from_accept.sort()
    from_send.sort()
    spreads = sorted(max(r) - min(r) for r in receipts.values())
    # each timed order's public frames: the resting order 1 delta, the crossing one 2
    per_kind = {"rest": 1, "cross": 2, "advance": 0}
    expected = sum(per_kind[plan.kinds[i]] for i in timed_steps) * len(clients)
    seconds = (end - start) / 1e9
    all_frames = sum(len(c.frames) for c in clients)
    return {
        "frames": frames_total,
        "counts": counts,
        "seconds": seconds,
        "frames_per_s": frames_total / seconds if seconds > 0 else 0.0,
        "orders": timed_orders,
        "orders_per_s": timed_orders / seconds if seconds > 0 else 0.0,
        "matched": len(from_accept),
        "expected": expected,
        "unmatched": unmatched,
        "seq_gaps": sum(c.seq_gaps for c in clients),
        "lat_accept": from_accept,
        "lat_send": from_send,
        "spread": spreads,
        "mean_frame_bytes": bytes_total / all_frames if all_frames else 0.0,
        "frames_per_client": all_frames / len(clients),
        "sample": sample,
    }


# ------------------------------------------------------------------ the baseline


def _baseline_entry(conn: Any) -> None:
    try:
        asyncio.run(_baseline_serve(conn))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


async def _baseline_serve(conn: Any) -> None:
    """Serve until told to stop; each ("go", mode, frame, count, clients) runs one phase."""
    connected: list[ServerConnection] = []
    arrived = asyncio.Event()
    go = asyncio.Event()
    phase: dict[str, Any] = {}

    async def handler(ws: ServerConnection) -> None:
        connected.append(ws)
        arrived.set()
        await go.wait()
        if phase["mode"] == "burst":  # every connection as fast as its own send allows
            frame: str = phase["frame"]
            send = ws.send
            for _ in range(phase["count"]):
                await send(frame)
        await ws.wait_closed()

    sock = listen_tcp("127.0.0.1", 0)
    async with serve(handler, sock=sock, compression=None, ping_interval=None):
        conn.send(("port", sock.getsockname()[1]))
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command[0] != "go":
                break
            _, mode, frame, count, clients = command
            while len(connected) < clients:  # every client's handler has started
                arrived.clear()
                await arrived.wait()
            phase.update(mode=mode, frame=frame, count=count)
            go.set()
            if mode == "rounds":
                await _broadcast_rounds(connected, frame, count)
            conn.send(("sent", None))
            await asyncio.to_thread(conn.recv)  # the clients closed: next phase
            connected.clear()
            go.clear()
            # only now may the next phase's clients connect: one arriving before the clear
            # would be dropped from `connected` (and find `go` still set)
            conn.send(("ready", None))
    conn.send(("stopped", None))


async def _broadcast_rounds(connections: list[ServerConnection], frame: str, count: int) -> None:
    """`count` rounds of one `broadcast` of `frame` to every connection, a loop turn each.

    The shape of the simulator's fan-out: one event, one frame to each subscriber, written
    at once. `broadcast` has no backpressure: past `BASELINE_BUFFER` bytes queued on some
    connection, the rounds wait for it to drain.
    """
    data = frame.encode()
    for index in range(count):
        broadcast(connections, data, text=True)
        await asyncio.sleep(0)
        if index % 32 == 31:
            while max(c.transport.get_write_buffer_size() for c in connections) > BASELINE_BUFFER:
                await asyncio.sleep(0.001)


def _baseline_frame(sample: str, size: int) -> str:
    """`sample` (a delta frame) padded inside its `msg` to about `size` characters."""
    pad = size - len(sample) - len(',"pad":""')
    if not sample.endswith("}") or pad < 1:
        return sample
    return f'{sample[:-1]},"pad":"{"x" * pad}"}}'


async def _baseline_reply(parent: Any, expected: str) -> Any:
    """The baseline server's next message, which must be of kind `expected`; its payload."""
    kind, payload = await asyncio.wait_for(asyncio.to_thread(parent.recv), TIMEOUT_S)
    if kind != expected:
        raise RuntimeError(f"baseline server failed: {payload}")
    return payload


async def _baseline_phase(
    parent: Any, url: str, mode: str, clients_n: int, frame: str, count: int
) -> Result:
    """One baseline phase: connect the clients, send go, count, close them."""
    clients = [
        Client(ws)
        for ws in await asyncio.gather(
            *(
                connect(url, compression=None, proxy=None, open_timeout=TIMEOUT_S, max_size=1 << 22)
                for _ in range(clients_n)
            )
        )
    ]
    try:
        tasks = _start_receiving(clients, None, count)
        with _no_client_gc():
            client_cpu = cpu_s()
            start = _now_ns()
            parent.send(("go", mode, frame, count, clients_n))
            await _await_clients(clients, tasks, _timeout(count * clients_n))
            client_cpu = cpu_s() - client_cpu
        await _baseline_reply(parent, "sent")
    finally:
        await _close_all(clients)
    end = max(c.frames[-1][0] for c in clients if c.frames)
    frames_total = sum(len(c.frames) for c in clients)
    seconds = (end - start) / 1e9
    return {
        "frames": frames_total,
        "seconds": seconds,
        "frames_per_s": frames_total / seconds if seconds > 0 else 0.0,
        "client_cpu_s": client_cpu,
        "frame_bytes": len(frame),
        "per_client": count,
    }


async def _run_baseline(clients_n: int, frame: str, count: int) -> dict[str, Result]:
    """Both baseline phases on one bare websockets server subprocess."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_baseline_entry, args=(child,), daemon=True)
    process.start()
    child.close()
    results: dict[str, Result] = {}
    try:
        port = await _baseline_reply(parent, "port")
        url = f"ws://127.0.0.1:{port}/"
        for mode in ("rounds", "burst"):
            server_cpu = process_cpu_s(process.pid or 0)
            result = await _baseline_phase(parent, url, mode, clients_n, frame, count)
            server_end = process_cpu_s(process.pid or 0)
            if server_cpu is not None and server_end is not None:
                result["server_cpu_s"] = server_end - server_cpu
            results[mode] = result
            parent.send("next")
            await _baseline_reply(parent, "ready")
    finally:
        await stop_child(process, parent)
    return results


# ------------------------------------------------------------------ report


def _ms(sorted_ns: list[int], q: float) -> float:
    return percentile(sorted_ns, q) / 1_000 if sorted_ns else 0.0


def _percentiles(label: str, sorted_ns: list[int]) -> str:
    if not sorted_ns:
        return f"  {label:<34} (none)"
    return (
        f"  {label:<34} p50 {_ms(sorted_ns, 0.50):8.3f} ms  p99 {_ms(sorted_ns, 0.99):8.3f} ms  "
        f"max {_ms(sorted_ns, 1.0):8.3f} ms  ({len(sorted_ns):,} frames)"
    )


def _per_frame(cpu_s: float | None, frames: int) -> str:
    if cpu_s is None or not frames:
        return "n/a"
    return f"{cpu_s:.2f} s = {cpu_s / frames * 1e6:.1f} us/frame"


def _print_simulator(result: Result) -> None:
    counts = result["counts"]
    print()
    print("perps-sim (perps-sim serve subprocess):")
    print(
        f"  subscribed {result['subscribers']} clients x {len(CHANNELS)} channels in "
        f"{result['subscribe_s']:.2f} s (connect, handshake, subscribed x3, snapshot)"
    )
    print(
        f"  {result['frames']:,} data frames in {result['seconds']:.3f} s = "
        f"{result['frames_per_s']:,.0f} frames/s to all clients (orderbook_delta "
        f"{counts['orderbook_delta']:,}, trade {counts['trade']:,}, ticker "
        f"{counts['ticker']:,}); mean frame {result['mean_frame_bytes']:.0f} bytes"
    )
    print(
        f"  {result['orders']:,} timed orders = {result['orders_per_s']:,.0f} orders/s "
        f"(statuses {dict(sorted(result['statuses'].items()))})"
    )
    print(_percentiles("latency from order acceptance", result["lat_accept"]))
    print(_percentiles("latency from order send", result["lat_send"]))
    print(_percentiles("fan-out spread (last - first)", result["spread"]))
    frames = result["frames"]
    print(
        f"  CPU over the timed window: server {_per_frame(result['server_cpu_s'], frames)}, "
        f"clients {_per_frame(result['client_cpu_s'], frames)}, "
        f"order sender {result['sender_cpu_s']:.2f} s"
    )
    print(
        f"  matched {result['matched']:,} of {result['expected']:,} expected delta/trade "
        f"frames; unmatched {result['unmatched']}, seq gaps {result['seq_gaps']}"
    )
    bad = {s: n for s, n in result["statuses"].items() if s >= 300}
    if bad:
        print(f"  WARNING: unexpected statuses {bad}; first: {result['first_error']}")
    if result["matched"] != result["expected"] or result["unmatched"] or result["seq_gaps"]:
        print("  WARNING: frames missing, unexpected or out of sequence")
    log = [line.rstrip() for line in result.get("server_log", []) if line.strip()]
    if log:
        print(f"  WARNING: the server logged {len(log)} lines after its banner; the first:")
        for line in log[:SERVER_LOG_LINES]:
            print(f"    {line}")


_BASELINE_LABELS = {
    "rounds": "broadcast rounds (one frame to every client per loop turn, as the fan-out)",
    "burst": "burst (each connection's handler sends all its frames with await send)",
}


def _print_baseline(results: dict[str, Result], clients: int) -> None:
    print()
    print("baseline (bare websockets server subprocess, same clients):")
    for mode, result in results.items():
        frames = result["frames"]
        print(f"  {_BASELINE_LABELS[mode]}:")
        print(
            f"    {frames:,} frames ({clients} clients x {result['per_client']:,}, "
            f"{result['frame_bytes']} bytes each) in {result['seconds']:.3f} s = "
            f"{result['frames_per_s']:,.0f} frames/s; CPU: server "
            f"{_per_frame(result.get('server_cpu_s'), frames)}, clients "
            f"{_per_frame(result['client_cpu_s'], frames)}"
        )


def _print_profile(path: Path, rows: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.strip_dirs()
    stats.sort_stats("tottime").print_stats(rows)
    stats.sort_stats("cumulative").print_stats(rows)
    print()
    print("server profile (cProfile, CPU time, whole server run):")
    print(out.getvalue())
    gc_path = Path(f"{path}.gc.json")
    if gc_path.exists():
        pauses: dict[str, list[int]] = json.loads(gc_path.read_text())
        print("server garbage collections (whole run, under cProfile):")
        for generation, times in sorted(pauses.items()):
            if times:
                print(
                    f"  generation {generation}: {len(times):,} collections, total "
                    f"{sum(times) / 1e6:,.1f} ms, longest {max(times) / 1e6:,.1f} ms"
                )


async def _run(
    args: argparse.Namespace, profile_path: Path | None
) -> tuple[Result, dict[str, Result]]:
    with perps_sim(profile_path) as server:
        simulator = await _run_simulator(args, server)
        if not args.rate:
            # latency where the server has room: the same flow paced at half the closed
            # loop's request rate (orders plus clock advances)
            requests_per_s = simulator["orders_per_s"] * (1 + 1 / args.advance_every)
            paced_args = argparse.Namespace(**vars(args))
            paced_args.rate = LATENCY_LOAD * requests_per_s
            paced_args.orders = max(2, args.orders // 2)
            paced_args.prefix = "paced"
            simulator["paced"] = await _run_simulator(paced_args, server)
            simulator["paced"]["rate"] = paced_args.rate
    simulator["server_log"] = server.log  # complete once the server has exited
    per_client = max(1, round(simulator["frames"] / max(1, simulator["subscribers"])))
    frame = _baseline_frame(simulator["sample"], round(simulator["mean_frame_bytes"]))
    baseline = await _run_baseline(args.clients, frame, per_client)
    return simulator, baseline


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    print(f"WebSocket fan-out benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    flow = f"{args.rate:g} orders/s" if args.rate else "closed loop"
    print(
        f"{args.clients} clients (one asyncio process, websockets library) on {TICKER} "
        f"{', '.join(CHANNELS)}; {args.orders:_} timed orders ({args.orders // 2:_} resting + "
        f"{args.orders // 2:_} crossing IOC) after {args.warmup_pairs} warm-up pairs, {flow} "
        f"over one keep-alive connection from a sender process; clock +{ADVANCE_MS} ms every "
        f"{args.advance_every} orders"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ws-prof-") as tmp:
        profile_path = Path(tmp) / "server.prof" if args.profile else None
        simulator, baselines = asyncio.run(_run(args, profile_path))
        _print_simulator(simulator)
        paced = simulator.get("paced")
        if paced is not None:
            print()
            print(
                f"paced at {LATENCY_LOAD:.0%} of the closed loop's rate "
                f"({paced['rate']:,.0f} requests/s, {paced['orders']:,} orders): "
                f"{paced['frames_per_s']:,.0f} frames/s"
            )
            print(_percentiles("latency from order acceptance", paced["lat_accept"]))
            print(_percentiles("fan-out spread (last - first)", paced["spread"]))
        _print_baseline(baselines, args.clients)
        if profile_path is not None and profile_path.exists():
            _print_profile(profile_path, PROFILE_ROWS)
    baseline = baselines["rounds"]["frames_per_s"]
    ratio = simulator["frames_per_s"] / baseline if baseline else 0.0
    print()
    print(
        f"perps-sim / bare websockets broadcast rounds: {ratio:.3f} by frames/s at the clients "
        f"(/ burst: {simulator['frames_per_s'] / baselines['burst']['frames_per_s']:.3f})"
    )
    print(f"{machine_load().replace('at start', 'at end')}")
    latency = simulator.get("paced", simulator)["lat_accept"]
    print(
        f"RESULT frames_per_s={simulator['frames_per_s']:.0f} "
        f"p99_ms={_ms(latency, 0.99):.3f} "
        f"subscribers={simulator['subscribers']} "
        f"baseline_frames_per_s={baseline:.0f} "
        f"ratio_vs_baseline={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
