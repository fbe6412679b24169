"""Soak: REST, WebSocket and FIX clients against one server for a while; errors, RSS, throughput.

    .venv/bin/python benchmarks/soak.py [--minutes 3] [--sample-s 5] [--max-growth-pct 25]
        [--history short|default] [--warmup-s 60]

The server is a real `perps-sim serve` (default scenario, wall clock: the random walks, the
house market maker, marks and funding all run) with a state directory, as a user runs it. For
the whole run, at once:

- REST: a signed `httpx.AsyncClient` places a bid under the touch and cancels it, in a loop, and
  reads the balance and the book now and then;
- FIX: kalshi-sdk's `MarginFixClient` on KalshiNR places a bid and cancels it, in a loop;
- WebSocket: a client subscribed to `orderbook_delta`, `ticker` and `trade` on every market
  reads every frame;
- the control plane: a deposit every few seconds.

Every refused request, unexpected status, lost report, decode failure or dropped connection
counts as an error. The server's RSS (`/proc/<pid>/status` VmRSS) is sampled every `--sample-s`;
growth is the median of the last fifth of the samples against the median of the fifth that
starts one fifth into the run, or at the end of `--warmup-s` (default 60 s: the bounded
histories and caches fill up meanwhile) if that is later, in percent. Medians, because a
snapshot's transient memory makes a short peak that is handed back at once; the peak is
printed beside it. The run fails (exit status 1) with any error or a growth
above `--max-growth-pct`.

History limits (`--history`): the exchange keeps bounded histories (README "Retention"), but at
their defaults (50,000 done orders per user, 100,000 events) this load fills them for about
four minutes, so a short run would measure the histories filling up, not a leak. `short`
(default) runs the default scenario with small limits (`SHORT_HISTORY`), reached during the
warm-up, so whatever still grows afterwards grows without bound; `default` runs the scenario
as shipped (use it with `--minutes 10` or more).

Prints the samples and throughput per client; the last line is:

    RESULT errors=<int> rss_growth_pct=<float> minutes=<float>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from time import perf_counter as monotonic

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kalshi.fix.auth import FixSigner
from kalshi.fix.codec import RawMessage
from kalshi.fix.config import FixConfig, FixEnvironment
from kalshi.fix.enums import Side, TimeInForce
from kalshi.fix.messages.order_entry import NewOrderSingle, OrderCancelRequest
from kalshi.perps.fix import MarginFixClient
from websockets.asyncio.client import connect

from benchmarks.bench_rest import auth_headers
from benchmarks.harness import machine_load, python_version
from benchmarks.served import Served, serve_subprocess

DEFAULT_MINUTES = 3.0
DEFAULT_SAMPLE_S = 5.0
DEFAULT_MAX_GROWTH_PCT = 25.0
DEFAULT_WARMUP_S = 60.0
BTC = "KXBTCPERP"
TICKERS = ("KXBTCPERP", "KXETHPERP", "KXSOLPERP")
SHORT_HISTORY = {
    "retain_terminal_orders": 2_000,
    "retain_fills": 2_000,
    "retain_trades": 2_000,
    "journal_retain": 10_000,
}
"""The history limits of `--history short` (the scenario's `config`, README "Retention")."""


@dataclass
class Tally:
    """What each client did and what went wrong, and the price the clients bid at."""

    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    bid: Decimal = Decimal("6.00")

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def error(self, what: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(what)
        else:
            self.count("errors beyond the first 50")


def _private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _Signer(httpx.Auth):
    def __init__(self, key_id: str, private_pem: str) -> None:
        self.key_id = key_id
        self.key = _private_key(private_pem)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.raw_path.split(b"?", 1)[0].decode()
        request.headers.update(auth_headers(self.key, self.key_id, request.method, path))
        yield request


async def _rest(served: Served, user: dict[str, str], stop: asyncio.Event, tally: Tally) -> None:
    auth = _Signer(user["api_key_id"], user["private_key_pem"])
    async with httpx.AsyncClient(base_url=served.urls["rest_url"], auth=auth, timeout=30) as c:
        n = 0
        while not stop.is_set():
            if n % 50 == 0:  # bids 2 % under the index: they rest, inside the price band
                market = (await c.get(f"/margin/markets/{BTC}")).json()["market"]
                index = Decimal(market["reference_price"]["price"])
                tally.bid = (index * Decimal("0.98")).quantize(Decimal("0.01"))
            n += 1
            body = {
                "ticker": BTC,
                "client_order_id": f"soak-rest-{n}",
                "side": "bid",
                "count": "1.00",
                "price": f"{tally.bid:.4f}",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
            }
            placed = await c.post("/margin/orders", json=body)
            if placed.status_code != 201:
                tally.error(f"REST place {placed.status_code}: {placed.text[:200]}")
                await asyncio.sleep(0.1)
                continue
            tally.count("rest orders")
            order_id = placed.json()["order_id"]
            cancelled = await c.delete(f"/margin/orders/{order_id}")
            if cancelled.status_code != 200:
                tally.error(f"REST cancel {cancelled.status_code}: {cancelled.text[:200]}")
            if n % 20 == 0:
                for path in ("/margin/balance", f"/margin/markets/{BTC}/orderbook"):
                    read = await c.get(path)
                    if read.status_code != 200:
                        tally.error(f"REST GET {path} {read.status_code}")
                    tally.count("rest reads")


async def _fix(served: Served, user: dict[str, str], stop: asyncio.Event, tally: Tally) -> None:
    config = FixConfig.margin(
        FixEnvironment.DEMO,
        host="127.0.0.1",
        port=served.urls["fix"]["ports"]["KalshiNR"],
        use_tls=False,
        max_retries=0,
    )
    key = _private_key(user["private_key_pem"])
    client = MarginFixClient(FixSigner(user["api_key_id"], key), config=config)
    reports: asyncio.Queue[RawMessage] = asyncio.Queue()

    async def on_message(raw: RawMessage) -> None:
        await reports.put(raw)

    session = client.order_entry(on_message=on_message)
    await session.start()
    try:
        n = 0
        while not stop.is_set():
            n += 1
            cl = f"soak-fix-{n}"
            await session.send(
                NewOrderSingle(
                    cl_ord_id=cl,
                    order_qty=Decimal(1),
                    price=tally.bid - Decimal("0.01"),
                    side=Side.BUY_YES,
                    symbol=BTC,
                    time_in_force=TimeInForce.GTC,
                )
            )
            new = await asyncio.wait_for(reports.get(), 30)
            if new.msg_type != "8" or new.get(150) != "0":
                tally.error(f"FIX: expected a New report, got {new}")
                continue
            tally.count("fix orders")
            await session.send(
                OrderCancelRequest(
                    orig_cl_ord_id=cl, cl_ord_id=f"{cl}-x", order_id=str(new.get(37)), symbol=BTC,
                    side=Side.BUY_YES,
                )
            )  # fmt: skip
            cancelled = await asyncio.wait_for(reports.get(), 30)
            if cancelled.get(150) != "4":
                tally.error(f"FIX: expected a Canceled report, got {cancelled}")
    except (TimeoutError, ConnectionError) as exc:
        tally.error(f"FIX: {exc!r}")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.close(), 5)


async def _ws(served: Served, user: dict[str, str], stop: asyncio.Event, tally: Tally) -> None:
    key = _private_key(user["private_key_pem"])
    path = "/trade-api/ws/v2/margin"
    headers = auth_headers(key, user["api_key_id"], "GET", path)
    async with connect(served.urls["ws_url"], additional_headers=headers) as ws:
        command = {
            "id": 1,
            "cmd": "subscribe",
            "params": {
                "channels": ["orderbook_delta", "ticker", "trade"],
                "market_tickers": TICKERS,
            },
        }
        await ws.send(json.dumps(command))
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            frame = json.loads(text)
            if frame.get("type") == "error":
                tally.error(f"WS error frame {frame}")
            tally.count("ws frames")


async def _control(served: Served, user: dict[str, str], stop: asyncio.Event, tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=served.urls["control_url"], timeout=30) as c:
        while not stop.is_set():
            response = await c.post(f"/users/{user['user_id']}/deposit", json={"amount": "1.0000"})
            if response.status_code != 200:
                tally.error(f"deposit {response.status_code}")
            tally.count("deposits")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2)


async def _soak(served: Served, minutes: float, sample_s: float, tally: Tally) -> list[int]:
    async with httpx.AsyncClient(base_url=served.urls["control_url"], timeout=30) as c:
        users = []
        for _ in range(3):
            created = await c.post("/users", json={"balance": "1000000.0000"})
            created.raise_for_status()
            users.append(created.json())
    stop = asyncio.Event()
    clients = [
        asyncio.create_task(_rest(served, users[0], stop, tally)),
        asyncio.create_task(_fix(served, users[1], stop, tally)),
        asyncio.create_task(_ws(served, users[2], stop, tally)),
        asyncio.create_task(_control(served, users[2], stop, tally)),
    ]
    samples: list[int] = []
    started = monotonic()
    pid = served.process.pid
    while monotonic() - started < minutes * 60:
        samples.append(_rss_kb(pid))
        print(f"  t={monotonic() - started:7.1f}s rss={samples[-1] / 1024:7.1f} MB {tally.counts}")
        for task in clients:
            if task.done() and not task.cancelled() and task.exception() is not None:
                tally.error(f"a client failed: {task.exception()!r}")
                clients.remove(task)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.sleep(sample_s)), sample_s + 1)
    stop.set()
    done = await asyncio.gather(*clients, return_exceptions=True)
    for result in done:
        if isinstance(result, BaseException):
            tally.error(f"a client failed: {result!r}")
    samples.append(_rss_kb(pid))
    return samples


def growth_pct(samples: list[int], warmup: int = 0) -> float:
    """RSS growth, in percent, from the level just after the warm-up to the level at the end.

    A level is the median of a fifth of the samples: the fifth starting one fifth into the run
    (or at the `warmup`-th sample, if later), and the last fifth. Medians, so that the
    transient peak of a snapshot (memory handed back right after it) is not read as growth;
    `peak_pct` reports the peak.
    """
    if len(samples) < 5:
        return 0.0
    _, base = _after_warmup(samples, warmup)
    end = statistics.median(samples[-(len(samples) // 5) :])
    return (end - base) / base * 100 if base else 0.0


def peak_pct(samples: list[int], warmup: int = 0) -> float:
    """The highest sample after the warm-up, in percent above the level just after it."""
    if len(samples) < 5:
        return 0.0
    start, base = _after_warmup(samples, warmup)
    return (max(samples[start:]) - base) / base * 100 if base else 0.0


def _after_warmup(samples: list[int], warmup: int) -> tuple[int, float]:
    # where the level after the warm-up starts, and that level (a fifth's median)
    fifth = len(samples) // 5
    start = min(max(fifth, warmup), len(samples) - 2 * fifth)
    return start, statistics.median(samples[start : start + fifth])


def _short_history_scenario(directory: Path) -> str:
    # the default scenario with `SHORT_HISTORY` merged into its config, as a scenario file
    default = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / "default.json"
    scenario = json.loads(default.read_text())
    scenario["config"] = {**scenario.get("config", {}), **SHORT_HISTORY}
    path = directory / "default-short-history.json"
    path.write_text(json.dumps(scenario))
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES)
    parser.add_argument("--sample-s", type=float, default=DEFAULT_SAMPLE_S)
    parser.add_argument("--max-growth-pct", type=float, default=DEFAULT_MAX_GROWTH_PCT)
    parser.add_argument("--history", choices=("short", "default"), default="short")
    parser.add_argument("--warmup-s", type=float, default=DEFAULT_WARMUP_S)
    args = parser.parse_args(argv)
    print(
        f"python {python_version()}; {machine_load()}; soak of {args.minutes:g} min; "
        f"{args.history} history limits"
    )
    tally = Tally()
    started = monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        state = str(Path(tmp) / "state")
        flags = ["--clock", "wall", "--state-dir", state]
        if args.history == "short":
            flags += ["--scenario", _short_history_scenario(Path(tmp))]
        with serve_subprocess(flags, prefix="soak-") as served:
            samples = asyncio.run(_soak(served, args.minutes, args.sample_s, tally))
            if served.process.poll() is not None:
                tally.error(f"the server exited with {served.process.returncode}")
    minutes = (monotonic() - started) / 60
    warmup = round(args.warmup_s / args.sample_s)
    growth = growth_pct(samples, warmup)
    print(f"  RSS peak after the warm-up: {peak_pct(samples, warmup):+.1f} % (transient)")
    for what, count in sorted(tally.counts.items()):
        print(f"  {what}: {count} ({count / (minutes * 60):.1f}/s)")
    for error in tally.errors:
        print(f"  error: {error}")
    errors = len(tally.errors)
    print(f"RESULT errors={errors} rss_growth_pct={growth:.2f} minutes={minutes:.2f}")
    return 0 if errors == 0 and growth <= args.max_growth_pct else 1


if __name__ == "__main__":
    raise SystemExit(main())
