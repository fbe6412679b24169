"""Benchmark FIX order entry: NewOrderSingle -> ExecutionReport round trips on KalshiNR.

    .venv/bin/python benchmarks/bench_fix.py [--orders 40000] [--pings 5000] [--window 64]
                                             [--quick] [--profile]

The server is `perps-sim serve` itself, started as a subprocess (`python -m simulator serve
--port 0 --clock manual --scenario bare --ready-file ...`, log level warning): its own process
and interpreter, so none of the client's work counts against it, and the FIX acceptor
(`fix_acceptor.server.FixServer`: codec, session layer, application layer on the server's one
event loop) is exactly what a user connects to. The KalshiNR port is read from the ready file's
`fix.ports`. The `bare` scenario has no bots and the manual clock fires no timer unless told
to, so every message the server handles comes from this benchmark.

Accounts: users created through the control plane (`POST /sim/v1/users`, $1,000,000 each, the
demo public key, API key id `fixbench-<i>-key`), one KalshiNR session each. Each user's orders
are 1-contract GTC limit orders (`59=1`) that rest: on each of the scenario's three markets,
a ladder of bids from 1 % below the reference price downwards and a ladder of asks from 1 %
above it upwards, every order at a price of its own (steps of several ticks, within the price
band), the six ladders interleaved. Nothing crosses, so the first and only ExecutionReport of
each order is its New (`35=8 150=0 39=0`). A ladder stops before the per-market notional
limit (the scenario's `default_notional_limit`, $5,000 unless it says otherwise; 95 % of it
is used), so each user takes a few thousand orders and the run creates as many users as its
orders need; the orders go to the users' sessions in turn (one session at a time: the next
takes over when the last has sent its share, while the last one's replies are still coming).

Client: one asyncio process (this one), a raw `asyncio.Protocol` per session, no FIX library.
Logon is hand-built (`35=A 34=1 98=0 108=30 95/96 = the RSA-PSS signature of
52|A|34|49|56 (FIX.md 2.3) 141=Y 1137=9`) and must be answered by `35=A`. NewOrderSingle
frames (`11 38=1 40=2 44 54 55 59=1`) are built as bytes on the fly, each with the session's
next MsgSeqNum and a fresh SendingTime (one per batch of sends), from bodies prepared before
the timed section; BodyLength and CheckSum are computed per frame. Replies are decoded with
the acceptor's own `fix_acceptor.codec.FrameDecoder` (so BodyLength and CheckSum are checked)
and timestamped at the socket read that brought them (`time.perf_counter_ns`). Each reply is
matched to its order by ClOrdID (11); anything but an ER New of a pending order -- an ER with
another ExecType, a Reject (35=3) or BusinessMessageReject (35=j) for a pending order's
MsgSeqNum, an unknown ClOrdID, an undecodable frame -- is an error, counted and printed (the
first few). TestRequests are answered; Heartbeats are counted. The client does no cyclic
garbage collection while timing (`gc.freeze` of the set-up, `gc.disable`).

Phases, on the same sessions, in plan order (`--quick`: 20 / 200 / 1,000 orders):

- warm-up: `WARMUP` orders one at a time, not timed;
- ping-pong: `--pings` orders one at a time: send one D, wait for its ER, send the next.
  Latency per round trip (send to receipt), p50 / p99 in microseconds: RESULT's `p50_us`,
  `p99_us`;
- pipelined: `--orders` orders with a window of `--window` (64) outstanding: the window is
  filled, and every read that brings replies tops it up again (one write per session per
  read). Round trips/s = orders / (first send to the last reply's receipt): RESULT's
  `rt_per_s`. The latency under that load is printed too.

For each phase the CPU seconds of the server process (/proc/<pid>/stat) and of the client
process are taken at its edges, per round trip: `1e6 / server us per round trip` is what one
dedicated core serves, the figure to read on a machine where other processes compete for the
CPU (the load average is printed at start and end). Also the share of the phase the server
spent on a CPU and runnable but waiting for one (/proc/<pid>/schedstat, its event-loop thread):
the two add up to about 100 % when the server is the bottleneck, and the second is what other
processes took from it. The pipelined phase also prints replies per client read and orders per
client write (how much each side batches).

Baseline, in the same run: a raw asyncio TCP echo server (`asyncio.Protocol`, in a spawned
subprocess) that answers every D-sized request it reads (a frame is complete at the 8 bytes of
`<SOH>10=nnn<SOH>`) with one pre-built ER-sized reply: the bytes of an ER New the simulator
sent in this run. The same client (same connections, same D frames and sizes, same decoder and
checks, the replies matched in order instead of by ClOrdID since they are all the same) runs
the same phases against it: `echo_rt_per_s` is its pipelined figure, `ratio_vs_echo` the
simulator's over it, i.e. the share of the transport's floor -- client included -- that the
simulator reaches.

`--profile` runs the server under cProfile (CPU-time clock, the whole server run: start-up,
set-up and every phase; about ten times slower: an order costs some 420 Python calls, so
cProfile also overstates call-heavy code against the C calls and syscalls) and prints its top
functions and its garbage collections (count, total and longest pause per generation). The
last line is machine-readable:

    RESULT rt_per_s=<int> p50_us=<float> p99_us=<float> echo_rt_per_s=<int>
           ratio_vs_echo=<float>  (one line)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import io
import json
import multiprocessing
import pstats
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from benchmarks.harness import machine_load, percentile, python_version
from benchmarks.served import cpu_s, process_cpu_s, serve_subprocess, stop_child
from fix_acceptor.codec import DecodeError, FrameDecoder, encode, timestamp
from fix_acceptor.message import Message, Tag
from simulator.core.clock import WallClock
from simulator.core.config import ExchangeConfig
from simulator.core.money import COUNT_SCALE, format_price, notional, parse_price
from simulator.server.listeners import listen_tcp
from simulator.server.scenarios import load_scenario

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SCENARIO = "bare"
SESSION_TYPE = "KalshiNR"
DEFAULT_ORDERS = 40_000
DEFAULT_PINGS = 5_000
DEFAULT_WINDOW = 64
QUICK_ORDERS = 1_000
QUICK_PINGS = 200
WARMUP = 500
QUICK_WARMUP = 20
TARGET_RT_PER_S = 12_000
BALANCE = "1000000.0000"
HEARTBEAT_S = 30
LADDER_OFFSET = 0.01  # the first bid (ask) of a ladder: 1 % below (above) the reference price
LADDER_SPAN = 0.14  # a ladder covers 14 % of the reference price: inside the 20 % price band
NOTIONAL_USE = 0.95  # share of the per-market notional limit one ladder may use
TIMEOUT_S = 120.0  # generous bound on every wait for I/O
PROFILE_ROWS = 30
SERVER_LOG_LINES = 20
ERRORS_SHOWN = 10

Result = dict[str, Any]
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_SOH = b"\x01"
_TRAILER = b"\x0110="  # a frame's trailer, SOH 10=nnn SOH, is 8 bytes from here


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--orders",
        type=int,
        default=None,
        help=f"pipelined orders (default {DEFAULT_ORDERS:_}; {QUICK_ORDERS:_} with --quick)",
    )
    parser.add_argument(
        "--pings",
        type=int,
        default=None,
        help=f"ping-pong orders, one at a time (default {DEFAULT_PINGS:_}; {QUICK_PINGS} "
        "with --quick)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help=f"orders outstanding in the pipelined phase ({DEFAULT_WINDOW})",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: about a thousand orders")
    parser.add_argument(
        "--profile", action="store_true", help="run the server under cProfile and print its top"
    )
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = QUICK_ORDERS if args.quick else DEFAULT_ORDERS
    if args.pings is None:
        args.pings = QUICK_PINGS if args.quick else DEFAULT_PINGS
    if args.orders < 1 or args.pings < 1:
        parser.error("--orders and --pings must be at least 1")
    if args.window < 1:
        parser.error("--window must be at least 1")
    args.warmup = QUICK_WARMUP if args.quick else WARMUP
    return args


def _now_ns() -> int:
    return time.perf_counter_ns()


_WALL = WallClock()
_wall_ms = _WALL.now_ms  # the session layer checks SendingTime (52) against the wall clock


def _run_queue_s(pid: int) -> float | None:
    """Seconds process `pid`'s main thread waited runnable for a CPU (/proc schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _delta(start: float | None, end: float | None) -> float | None:
    return end - start if start is not None and end is not None else None


def _private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(
        (FIXTURES / "keys" / "demo_private.pem").read_bytes(), None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic collection in the client process while timing (set-up objects frozen)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


# ------------------------------------------------------------------ the server


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    base_url: str
    fix_host: str
    fix_port: int
    log: list[str] = field(default_factory=list)  # what the server printed after its banner


@contextmanager
def perps_sim(profile_path: Path | None) -> Iterator[ServerProcess]:
    """`perps-sim serve` (FIX on) on free ports in a subprocess until the block exits (SIGINT)."""
    with serve_subprocess(
        ["--clock", "manual", "--scenario", SCENARIO], profile_path, "bench-fix-"
    ) as served:
        urls = served.urls
        fix = urls.get("fix")
        if not isinstance(fix, dict) or SESSION_TYPE not in fix.get("ports", {}):
            raise RuntimeError(f"the ready file has no FIX {SESSION_TYPE} port: {urls}")
        port = int(fix["ports"][SESSION_TYPE])
        yield ServerProcess(served.process, served.base_url, fix["host"], port, served.log)


# ------------------------------------------------------------------ the order plan


@dataclass(frozen=True)
class Order:
    user: int  # index of the user (and session) that sends it
    cl_ord_id: str
    body: bytes  # the D's fields after the header (11 ... 59), each ending with SOH


@dataclass(frozen=True)
class Market:
    ticker: str
    mid: int  # reference price, ticks
    tick: int


def _markets() -> tuple[list[Market], int]:
    """The scenario's markets (reference price, tick) and its per-market notional limit."""
    scenario = load_scenario(SCENARIO)
    specs = json.loads((FIXTURES / scenario.markets_file).read_text())["markets"]
    by_ticker = {spec["ticker"]: spec for spec in specs}
    tickers = scenario.tickers or [t for t, spec in by_ticker.items() if spec["status"] == "active"]
    markets = [
        Market(
            ticker,
            parse_price(str(by_ticker[ticker]["reference"]["price"])),
            parse_price(str(by_ticker[ticker]["tick_size"])),
        )
        for ticker in tickers
    ]
    return markets, ExchangeConfig(**scenario.config).default_notional_limit


def _ladder(market: Market, side: str, limit: int) -> list[int]:
    """Resting prices of one user's ladder on one side, best first, within `limit`.

    The sum of price x 1 contract stays under `NOTIONAL_USE` of the per-market limit (the
    exposure of one side, which is what the notional check compares).
    """
    budget = int(limit * NOTIONAL_USE)
    sign = -1 if side == "bid" else 1
    first = market.mid + sign * int(market.mid * LADDER_OFFSET)
    first -= first % market.tick
    average = market.mid * (1 + sign * (LADDER_OFFSET + LADDER_SPAN / 2))
    estimate = max(1, int(budget / (average * COUNT_SCALE)))
    step = max(market.tick, int(market.mid * LADDER_SPAN / estimate) // market.tick * market.tick)
    prices: list[int] = []
    used = 0
    price = first
    while price > 0:
        value = notional(COUNT_SCALE, price)  # one contract
        if used + value > budget:
            break
        prices.append(price)
        used += value
        price += sign * step
    return prices


def user_orders(user: int, markets: list[Market], limit: int, tag: str) -> list[Order]:
    """One user's resting orders: its six ladders (3 markets x bid, ask) interleaved."""
    ladders: list[tuple[Market, str, list[int]]] = [
        (market, side, _ladder(market, side, limit))
        for market in markets
        for side in ("bid", "ask")
    ]
    orders: list[Order] = []
    depth = max(len(prices) for _, _, prices in ladders)
    for level in range(depth):
        for market, side, prices in ladders:
            if level >= len(prices):
                continue
            cl_ord_id = f"{tag}{user}-{len(orders)}"
            fields = (
                f"11={cl_ord_id}\x0138=1\x0140=2\x0144={format_price(prices[level])}\x01"
                f"54={'1' if side == 'bid' else '2'}\x0155={market.ticker}\x0159=1\x01"
            )
            orders.append(Order(user, cl_ord_id, fields.encode()))
    return orders


def plan_orders(total: int, tag: str = "b") -> tuple[list[Order], int]:
    """`total` orders over as many users as their notional limits need; (orders, users)."""
    markets, limit = _markets()
    orders: list[Order] = []
    users = 0
    while len(orders) < total:
        mine = user_orders(users, markets, limit, tag)
        if not mine:
            raise RuntimeError("no order fits the notional limit")
        orders += mine[: total - len(orders)]
        users += 1
    return orders, users


def key_id(user: int) -> str:
    return f"fixbench-{user}-key"


def create_users(base_url: str, users: int) -> None:
    """The users through the control plane, all with the demo public key."""
    public_pem = (FIXTURES / "keys" / "demo_public.pem").read_text()
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_S) as http:
        for user in range(users):
            body = {
                "user_id": f"fixbench-{user}",
                "api_key_id": key_id(user),
                "public_key_pem": public_pem,
                "balance": BALANCE,
            }
            http.post("/sim/v1/users", json=body).raise_for_status()


# ------------------------------------------------------------------ the client


def _byte_sum(data: bytes) -> int:
    """The sum of the bytes (adler32 with a 0 seed: its low 16 bits, exact per 256 bytes)."""
    total = 0
    for start in range(0, len(data), 256):
        total += zlib.adler32(data[start : start + 256], 0) & 0xFFFF
    return total


def frame(prefix: bytes, seq: int, sending_time: bytes, body: bytes) -> bytes:
    """A FIXT.1.1 frame of `prefix` (35, 49, 56, `34=`), seq, 52 and `body` (fields + SOH)."""
    inner = b"%b%d\x0152=%b\x01%b" % (prefix, seq, sending_time, body)
    head = b"8=FIXT.1.1\x019=%d\x01%b" % (len(inner), inner)
    return head + b"10=%03d\x01" % (_byte_sum(head) % 256)


class Phase:
    """One phase's orders, sent with at most `window` outstanding, and what came back.

    Everything runs in the protocols' callbacks: `refill` sends until the window is full,
    `answer` settles one order. `done` resolves once every order is answered.
    """

    def __init__(
        self, clients: list[FixClient], orders: list[Order], window: int, record: bool
    ) -> None:
        self.clients = clients
        self.orders = orders
        self.window = window
        self.record = record
        self.sent = 0
        self.in_flight = 0
        self.answered = 0
        self.latencies: list[int] = []
        self.errors: list[str] = []
        self.error_count = 0
        self.start_ns = 0
        self.end_ns = 0
        self.reads = 0  # socket reads that brought replies
        self.writes = 0  # writes of D frames (one per session per refill)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def begin(self) -> None:
        for client in self.clients:
            client.phase = self
        self.start_ns = _now_ns()
        self.refill()

    def refill(self) -> None:
        if self.in_flight >= self.window or self.sent >= len(self.orders):
            return
        sending_time = timestamp(_wall_ms()).encode()
        now = _now_ns()
        touched: list[FixClient] = []
        orders = self.orders
        clients = self.clients
        while self.in_flight < self.window and self.sent < len(orders):
            order = orders[self.sent]
            self.sent += 1
            self.in_flight += 1
            client = clients[order.user]
            if not client.out:
                touched.append(client)
            client.queue(order, sending_time, now)
        for client in touched:
            client.flush()
        self.writes += len(touched)

    def answer(self, t_ns: int, latency_ns: int, error: str | None) -> None:
        self.in_flight -= 1
        self.answered += 1
        if self.record:
            self.latencies.append(latency_ns)
        if error is not None:
            self.error(error)
        if self.answered == len(self.orders) and not self.done.done():
            self.end_ns = t_ns
            self.done.set_result(None)

    def error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append(text)

    def fail(self, text: str) -> None:
        self.error(text)
        if not self.done.done():
            self.done.set_exception(RuntimeError(text))


class FixClient(asyncio.Protocol):
    """One client session: frames out, decoded replies matched to the orders sent.

    With `by_id` (the simulator), a reply is matched to its order by ClOrdID, a Reject or
    BusinessMessageReject by RefSeqNum; without (the echo baseline, whose replies are all the
    same bytes), replies settle the orders in the order they were sent.
    """

    def __init__(self, key: str, by_id: bool) -> None:
        self.key = key
        self.by_id = by_id
        self.prefix = f"35=D\x0149={key}\x0156={SESSION_TYPE}\x0134=".encode()
        self.next_seq = 1
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.phase: Phase | None = None
        self.out: list[bytes] = []
        self.pending: dict[str, tuple[int, int]] = {}  # ClOrdID -> (seq, send ns)
        self.seq_ids: dict[int, str] = {}  # MsgSeqNum -> ClOrdID of the pending orders
        self.fifo: deque[int] = deque()  # send ns, in order (by_id False)
        self.waiter: asyncio.Future[Message] | None = None
        self.others: Counter[str] = Counter()
        self.sample: bytes = b""  # one ER New as received, alone in its read
        self.closed = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"{self.key}: connection lost"))
        if self.phase is not None and self.pending:
            self.phase.fail(f"{self.key}: connection lost with {len(self.pending)} pending")

    def data_received(self, data: bytes) -> None:
        t = _now_ns()
        items = self.decoder.feed(data)
        if self.phase is not None:
            self.phase.reads += 1
        for item in items:
            if isinstance(item, DecodeError):
                if self.phase is not None:
                    self.phase.error(f"{self.key}: undecodable frame ({item.reason})")
                continue
            self._message(item, t, data if len(items) == 1 else b"")
        if self.phase is not None:
            self.phase.refill()

    # -- sending

    def write_message(self, message: Message) -> None:
        """A session message (Logon, Heartbeat, Logout) with the next seq and SendingTime."""
        assert self.transport is not None
        fields = [
            (Tag.MsgType, message.msg_type),
            (Tag.SenderCompID, self.key),
            (Tag.TargetCompID, SESSION_TYPE),
            (Tag.MsgSeqNum, str(self.next_seq)),
            (Tag.SendingTime, timestamp(_wall_ms())),
            *message.fields[1:],
        ]
        self.next_seq += 1
        self.transport.write(encode(Message(fields)))

    def queue(self, order: Order, sending_time: bytes, now_ns: int) -> None:
        seq = self.next_seq
        self.next_seq = seq + 1
        self.out.append(frame(self.prefix, seq, sending_time, order.body))
        if self.by_id:
            self.pending[order.cl_ord_id] = (seq, now_ns)
            self.seq_ids[seq] = order.cl_ord_id
        else:
            self.fifo.append(now_ns)

    def flush(self) -> None:
        assert self.transport is not None
        out = self.out
        self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    # -- receiving

    def _message(self, message: Message, t: int, raw: bytes) -> None:
        kind = message.msg_type
        phase = self.phase
        if kind == "8" or kind == "3" or kind == "j":
            if phase is None:
                self.others[f"35={kind} outside a phase"] += 1
                return
            self._reply(phase, message, kind, t, raw)
        elif kind == "1":
            self.others["TestRequest (answered)"] += 1
            self.write_message(Message([(Tag.MsgType, "0"), *_test_id(message)]))
        elif kind == "0":
            self.others["Heartbeat"] += 1
        elif kind in ("A", "5") and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(message)
        elif kind == "5":
            text = f"{self.key}: Logout from the server: {message.get(Tag.Text)!r}"
            if phase is not None:
                phase.fail(text)
            else:
                self.others[text] += 1
        else:
            self.others[f"35={kind}"] += 1
            if phase is not None:
                phase.error(f"{self.key}: unexpected {message!r}")

    def _reply(self, phase: Phase, message: Message, kind: str, t: int, raw: bytes) -> None:
        if self.by_id:
            if kind == "8":
                cl_ord_id = message.get(Tag.ClOrdID) or ""
            else:
                cl_ord_id = self.seq_ids.get(int(message.get(Tag.RefSeqNum) or 0), "")
            entry = self.pending.pop(cl_ord_id, None)
            if entry is None:
                phase.error(f"{self.key}: a reply to no pending order: {message!r}")
                return
            del self.seq_ids[entry[0]]
            sent_ns = entry[1]
        else:
            if not self.fifo:
                phase.error(f"{self.key}: a reply to no pending order: {message!r}")
                return
            sent_ns = self.fifo.popleft()
        new = kind == "8" and message.get(Tag.ExecType) == "0" and message.get(Tag.OrdStatus) == "0"
        if new and raw and not self.sample:
            self.sample = raw
        phase.answer(t, t - sent_ns, None if new else f"{self.key}: not an ER New: {message!r}")

    async def wait_for(self, kinds: tuple[str, ...]) -> Message:
        """The next Logon or Logout from the server."""
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        try:
            message = await asyncio.wait_for(self.waiter, TIMEOUT_S)
        finally:
            self.waiter = None
        if message.msg_type not in kinds:
            raise RuntimeError(f"{self.key}: expected 35={'/'.join(kinds)}, got {message!r}")
        return message

    async def close(self) -> None:
        """Close the connection and wait until it is gone."""
        if self.transport is not None:
            self.transport.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.lost), TIMEOUT_S)


def _test_id(message: Message) -> list[tuple[int, str]]:
    test_id = message.get(Tag.TestReqID)
    return [] if test_id is None else [(Tag.TestReqID, test_id)]


def logon_message(key: rsa.RSAPrivateKey, key_id_: str, sending_time: str) -> Message:
    """Logon 34=1 with the RSA-PSS signature of `52 SOH A SOH 34 SOH 49 SOH 56` (FIX.md 2.3)."""
    payload = "\x01".join([sending_time, "A", "1", key_id_, SESSION_TYPE]).encode()
    signature = base64.b64encode(key.sign(payload, _PSS, hashes.SHA256())).decode()
    return Message(
        [
            (Tag.MsgType, "A"),
            (Tag.SenderCompID, key_id_),
            (Tag.TargetCompID, SESSION_TYPE),
            (Tag.MsgSeqNum, "1"),
            (Tag.SendingTime, sending_time),
            (Tag.EncryptMethod, "0"),
            (Tag.HeartBtInt, str(HEARTBEAT_S)),
            (Tag.RawDataLength, str(len(signature))),
            (Tag.RawData, signature),
            (Tag.ResetSeqNumFlag, "Y"),
            (Tag.DefaultApplVerID, "9"),
        ]
    )


async def connect(host: str, port: int, key: str, by_id: bool) -> FixClient:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: FixClient(key, by_id), host, port), TIMEOUT_S
    )
    return protocol


async def log_on(client: FixClient, key: rsa.RSAPrivateKey) -> None:
    assert client.transport is not None
    client.transport.write(encode(logon_message(key, client.key, timestamp(_wall_ms()))))
    client.next_seq = 2
    reply = client.wait_for(("A", "5"))
    message = await reply
    if message.msg_type != "A":
        raise RuntimeError(f"{client.key}: Logon refused: {message!r}")


async def log_out(clients: list[FixClient]) -> None:
    """Logout each session and wait (briefly) for the server's Logout."""

    async def one(client: FixClient) -> None:
        if not client.closed:
            client.write_message(Message([(Tag.MsgType, "5")]))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.wait_for(("5",)), 5)
        await client.close()

    await asyncio.gather(*(one(c) for c in clients))


# ------------------------------------------------------------------ the phases


@dataclass
class Segments:
    warmup: list[Order]
    pings: list[Order]
    pipelined: list[Order]


def _segments(orders: list[Order], args: argparse.Namespace) -> Segments:
    warm, pings = args.warmup, args.pings
    return Segments(orders[:warm], orders[warm : warm + pings], orders[warm + pings :])


async def _phase(
    clients: list[FixClient],
    orders: list[Order],
    window: int,
    server_pid: int,
    record: bool = True,
) -> Result:
    """Run one phase; its figures, with both processes' CPU time over it."""
    phase = Phase(clients, orders, window, record)
    with _no_gc():
        server_cpu = process_cpu_s(server_pid)
        server_wait = _run_queue_s(server_pid)
        client_cpu = cpu_s()
        phase.begin()
        try:
            await asyncio.wait_for(asyncio.shield(phase.done), TIMEOUT_S + len(orders) / 500)
        except TimeoutError:
            raise RuntimeError(
                f"phase timed out: {phase.answered:,} of {len(orders):,} answered, "
                f"{phase.in_flight} in flight; errors {phase.errors}"
            ) from None
        finally:
            for client in clients:
                client.phase = None
        client_cpu = cpu_s() - client_cpu
        server_cpu = _delta(server_cpu, process_cpu_s(server_pid))
        server_wait = _delta(server_wait, _run_queue_s(server_pid))
    phase.latencies.sort()
    seconds = (phase.end_ns - phase.start_ns) / 1e9
    return {
        "orders": len(orders),
        "window": window,
        "seconds": seconds,
        "rt_per_s": len(orders) / seconds if seconds > 0 else 0.0,
        "lat": phase.latencies,
        "errors": phase.errors,
        "error_count": phase.error_count,
        "reads": phase.reads,
        "writes": phase.writes,
        "client_cpu_s": client_cpu,
        "server_cpu_s": server_cpu,
        "server_wait_s": server_wait,
    }


async def _run_phases(
    clients: list[FixClient], segments: Segments, window: int, server_pid: int
) -> Result:
    warmup = await _phase(clients, segments.warmup, 1, server_pid, record=False)
    pings = await _phase(clients, segments.pings, 1, server_pid)
    pipelined = await _phase(clients, segments.pipelined, window, server_pid)
    others: Counter[str] = Counter()
    for client in clients:
        others.update(client.others)
    return {
        "warmup_errors": warmup["errors"],
        "warmup_error_count": warmup["error_count"],
        "pings": pings,
        "pipelined": pipelined,
        "others": dict(others),
        "sample": next((c.sample for c in clients if c.sample), b""),
        "d_bytes": _mean_d_bytes(clients, segments.pipelined),
    }


def _mean_d_bytes(clients: list[FixClient], orders: list[Order]) -> float:
    if not orders:
        return 0.0
    sample = orders[: min(len(orders), 1000)]
    sending_time = timestamp(_wall_ms()).encode()
    sizes = [
        len(frame(clients[o.user].prefix, 1000 + i, sending_time, o.body))
        for i, o in enumerate(sample)
    ]
    return sum(sizes) / len(sizes)


async def _run_simulator(args: argparse.Namespace, server: ServerProcess) -> Result:
    total = args.warmup + args.pings + args.orders
    orders, users = plan_orders(total)
    create_users(server.base_url, users)
    key = _private_key()
    clients: list[FixClient] = []
    try:
        for user in range(users):
            clients.append(await connect(server.fix_host, server.fix_port, key_id(user), True))
        t0 = time.perf_counter()
        await asyncio.gather(*(log_on(c, key) for c in clients))
        logon_s = time.perf_counter() - t0
        segments = _segments(orders, args)
        result = await _run_phases(clients, segments, args.window, server.process.pid)
    finally:
        await log_out(clients)
    result |= {"users": users, "logon_s": logon_s, "orders_per_user": len(orders) / users}
    return result


# ------------------------------------------------------------------ the baseline


class _Echo(asyncio.Protocol):
    """Answers each complete request frame (up to its `SOH 10=nnn SOH`) with `reply`."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        count = 0
        pos = 0
        n = len(buffer)
        while True:
            at = buffer.find(_TRAILER, pos)
            if at == -1 or n < at + 8:
                break
            count += 1
            pos = at + 8
        self.buffer = buffer[pos:]
        if count and self.transport is not None:
            self.transport.write(self.reply * count)


def _echo_entry(conn: Any, reply: bytes) -> None:
    try:
        asyncio.run(_echo_serve(conn, reply))
    except BaseException as exc:  # report, do not hang the parent
        conn.send(("error", repr(exc)))
    finally:
        conn.close()


async def _echo_serve(conn: Any, reply: bytes) -> None:
    sock = listen_tcp("127.0.0.1", 0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Echo(reply), sock=sock)
    conn.send(("port", sock.getsockname()[1]))
    await asyncio.to_thread(conn.recv)  # "stop"
    server.close()
    await server.wait_closed()
    conn.send(("stopped", None))


async def _run_echo(args: argparse.Namespace, reply: bytes) -> Result:
    """The same client and phases against a raw asyncio echo server in a subprocess."""
    total = args.warmup + args.pings + args.orders
    orders, users = plan_orders(total)
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_echo_entry, args=(child, reply), daemon=True)
    process.start()
    child.close()
    try:
        kind, port = await asyncio.wait_for(asyncio.to_thread(parent.recv), TIMEOUT_S)
        if kind != "port":
            raise RuntimeError(f"echo server failed: {port}")
        clients: list[FixClient] = []
        try:
            for user in range(users):
                clients.append(await connect("127.0.0.1", port, key_id(user), False))
                clients[-1].next_seq = 2  # as after a Logon: the same frame sizes
            segments = _segments(orders, args)
            result = await _run_phases(clients, segments, args.window, process.pid or 0)
        finally:
            await asyncio.gather(*(client.close() for client in clients))
    finally:
        await stop_child(process, parent)
        parent.close()
    result["reply_bytes"] = len(reply)
    return result


# ------------------------------------------------------------------ report


def _us(sorted_ns: list[int], q: float) -> float:
    return percentile(sorted_ns, q) if sorted_ns else 0.0


def _per_rt(cpu_s: float | None, n: int) -> str:
    if cpu_s is None or not n:
        return "n/a"
    return f"{cpu_s:.2f} s = {cpu_s / n * 1e6:.1f} us/rt"


def _busy(phase: Result) -> str:
    """The server's CPU and run-queue wait over a phase, as shares of its wall time."""
    seconds = phase["seconds"]
    cpu, wait = phase["server_cpu_s"], phase["server_wait_s"]
    if not seconds or cpu is None:
        return ""
    text = f"; server on CPU {cpu / seconds:.0%} of the phase"
    if wait is not None:
        text += f", runnable but waiting for a CPU {wait / seconds:.0%}"
    return text


def _print_run(label: str, result: Result) -> int:
    """Both phases of one run; returns how many errors it saw."""
    print()
    print(f"{label}:")
    pings, pipelined = result["pings"], result["pipelined"]
    lat = pings["lat"]
    print(
        f"  ping-pong  {pings['orders']:>7,} round trips one at a time: p50 "
        f"{_us(lat, 0.50):8.1f} us  p99 {_us(lat, 0.99):8.1f} us  max {_us(lat, 1.0):8.1f} us  "
        f"({pings['rt_per_s']:,.0f} rt/s)"
    )
    print(
        f"             CPU: server {_per_rt(pings['server_cpu_s'], pings['orders'])}, "
        f"client {_per_rt(pings['client_cpu_s'], pings['orders'])}{_busy(pings)}"
    )
    lat = pipelined["lat"]
    print(
        f"  pipelined  {pipelined['orders']:>7,} round trips, window {pipelined['window']}, in "
        f"{pipelined['seconds']:.3f} s = {pipelined['rt_per_s']:,.0f} rt/s; latency p50 "
        f"{_us(lat, 0.50):,.1f} us  p99 {_us(lat, 0.99):,.1f} us"
    )
    print(
        f"             CPU: server {_per_rt(pipelined['server_cpu_s'], pipelined['orders'])}, "
        f"client {_per_rt(pipelined['client_cpu_s'], pipelined['orders'])}{_busy(pipelined)}"
    )
    print(
        f"             {pipelined['orders'] / max(1, pipelined['reads']):.1f} replies per "
        f"client read, {pipelined['orders'] / max(1, pipelined['writes']):.1f} orders per "
        "client write"
    )
    errors = result["warmup_error_count"] + pings["error_count"] + pipelined["error_count"]
    if result["others"]:
        print(f"  other messages: {result['others']}")
    if errors:
        shown = result["warmup_errors"] + pings["errors"] + pipelined["errors"]
        print(f"  WARNING: {errors:,} replies were not an ER New of a pending order; the first:")
        for text in shown[:ERRORS_SHOWN]:
            print(f"    {text}")
    return int(errors)


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


async def _run(args: argparse.Namespace, profile_path: Path | None) -> tuple[Result, Result]:
    with perps_sim(profile_path) as server:
        simulator = await _run_simulator(args, server)
    simulator["server_log"] = server.log  # complete once the server has exited
    if not simulator["sample"]:
        raise RuntimeError("no ER New was received alone in a read: no reply for the baseline")
    echo = await _run_echo(args, simulator["sample"])
    return simulator, echo


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse(argv)
    print(f"FIX order-entry benchmark on {python_version()} ({sys.executable})")
    print(machine_load())
    print(
        f"NewOrderSingle -> ExecutionReport New on {SESSION_TYPE}: {args.warmup:_} warm-up, "
        f"{args.pings:_} ping-pong, {args.orders:_} pipelined (window {args.window}) resting "
        f"1-contract GTC orders; client: one asyncio process, a raw Protocol per session"
    )
    with tempfile.TemporaryDirectory(prefix="bench-fix-prof-") as tmp:
        profile_path = Path(tmp) / "server.prof" if args.profile else None
        simulator, echo = asyncio.run(_run(args, profile_path))
        print()
        print(
            f"{simulator['users']} user(s) ({simulator['orders_per_user']:,.0f} orders each at "
            f"most, below the notional limit), one {SESSION_TYPE} session each, logged on in "
            f"{simulator['logon_s']:.2f} s; D {simulator['d_bytes']:.0f} bytes, ER New "
            f"{len(simulator['sample'])} bytes"
        )
        errors = _print_run("perps-sim FIX acceptor (perps-sim serve subprocess)", simulator)
        log = [line.rstrip() for line in simulator["server_log"] if line.strip()]
        if log:
            print(f"  WARNING: the server logged {len(log)} lines after its banner; the first:")
            for line in log[:SERVER_LOG_LINES]:
                print(f"    {line}")
        errors += _print_run(
            f"baseline: raw asyncio TCP echo server subprocess ({echo['reply_bytes']}-byte reply "
            "per D-sized request), same client",
            echo,
        )
        if profile_path is not None and profile_path.exists():
            _print_profile(profile_path, PROFILE_ROWS)
    rt_per_s = simulator["pipelined"]["rt_per_s"]
    echo_rt_per_s = echo["pipelined"]["rt_per_s"]
    ratio = rt_per_s / echo_rt_per_s if echo_rt_per_s else 0.0
    lat = simulator["pings"]["lat"]
    echo_lat = echo["pings"]["lat"]
    print()
    print(
        f"perps-sim / echo: {ratio:.3f} by pipelined round trips/s; ping-pong p50 "
        f"{_us(lat, 0.5):.1f} us vs {_us(echo_lat, 0.5):.1f} us"
    )
    met = rt_per_s >= TARGET_RT_PER_S
    print(f"target: >= {TARGET_RT_PER_S:,} round trips/s pipelined ({'met' if met else 'NOT met'})")
    if errors:
        print(f"WARNING: {errors:,} unexpected replies (above)")
    print(machine_load().replace("at start", "at end"))
    print(
        f"RESULT rt_per_s={rt_per_s:.0f} p50_us={_us(lat, 0.50):.1f} "
        f"p99_us={_us(lat, 0.99):.1f} echo_rt_per_s={echo_rt_per_s:.0f} "
        f"ratio_vs_echo={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
