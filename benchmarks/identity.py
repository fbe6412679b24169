"""Identity harness: one digest per shipped scenario, to check a change alters no result.

    [PYTHONPATH=/some/checkout] .venv/bin/python benchmarks/identity.py [--hours 3] [scenario ...]

For each scenario (default: every shipped one) the exchange is built on a manual clock with
the scenario's seed, then a scripted workload runs: a few users with deposits, a seeded mix of
resting, crossing (IOC) and far-away orders, cancels and amends across the markets, each round
followed by an advance of minutes to an hour, so the house market maker, noise takers, funding,
marks, tickers and liquidations fire. A bus subscriber hashes every event of every batch
(seq and canonical JSON, in order). Printed per scenario:

    <scenario> events=<n> rejects=<n> stream=<sha256> state=<state_hash> candles=<sha256>

`candles` hashes the candlesticks read between advances and, at the end, those of every market
and period length over the whole run (quote history is not part of the state hash).

It uses only APIs present before the speed work (commit 46228a6^1), so the same file, run
with PYTHONPATH pointing at any checkout, compares that checkout's results with another's.
Without PYTHONPATH it runs the checkout it is in; either way it names the checkout it ran on
stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from pathlib import Path
from typing import Any

import msgspec

if __package__ in (None, "") and not os.environ.get("PYTHONPATH"):
    # run as a script: the checkout it is in comes first, unless PYTHONPATH names one
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from matching import Side, TimeInForce
from simulator.core.bus import Batch, Reset
from simulator.core.clock import ManualClock
from simulator.core.errors import RejectError
from simulator.model.candles import candles
from simulator.model.orders import AmendOrder, PlaceOrder
from simulator.server.scenarios import build_exchange, load_scenario
from simulator.server.state_hash import state_hash

SCENARIOS = ("default", "bare", "volatile", "funding", "liquidation-cascade")
MINUTE_MS = 60_000
PERIODS = (1, 60, 1440)  # candle period lengths, minutes
COUNT_SCALE = 100  # 1/100 contracts
MONEY_SCALE = 1_000_000  # micro-dollars per dollar


class StreamDigest:
    """A bus subscriber hashing every event it is delivered, with its seq, in order."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.count = 0

    def deliver(self, batch: Batch, /) -> None:
        for seq, event in batch:
            self.sha.update(seq.to_bytes(8, "big"))
            self.sha.update(type(event).__name__.encode())
            self.sha.update(msgspec.json.encode(event))
        self.count += len(batch)

    def reset(self, notice: Reset, /) -> None:
        raise AssertionError(notice)


def run(name: str, hours: float) -> str:
    """Build `name`, run the workload for about `hours` simulated hours, return the line."""
    scenario = load_scenario(name)
    exchange = build_exchange(scenario, ManualClock(scenario.start_ms))
    digest = StreamDigest()
    exchange.bus.subscribe(digest)
    rng = random.Random(f"identity-{name}")
    tickers = sorted(exchange.markets)
    users = []
    for index in range(4):
        user_id = f"identity-{index}"
        exchange.create_user(
            user_id=user_id, api_key_id=f"#identity-{index}", balance=5_000 * MONEY_SCALE
        )
        users.append(user_id)
    bars = hashlib.sha256()
    rejects = 0
    live: list[tuple[str, str, str]] = []  # (user, order id, ticker)
    serial = 0
    budget_ms = int(hours * 3_600_000)
    spent = 0
    while spent < budget_ms:
        for _ in range(rng.randint(3, 12)):
            serial += 1
            user_id = rng.choice(users)
            ticker = rng.choice(tickers)
            data = exchange.markets[ticker]
            tick = data.market.spec.tick
            centre = data.mark or (data.reference[0] if data.reference else None)
            if centre is None:
                continue
            side = rng.choice((Side.BID, Side.ASK))
            roll = rng.random()
            try:
                if roll < 0.15 and live:  # cancel
                    who, order_id, _ = live.pop(rng.randrange(len(live)))
                    exchange.cancel_order(who, order_id)
                elif roll < 0.3 and live:  # amend: new price, new total count
                    who, order_id, where = live[rng.randrange(len(live))]
                    current = exchange.orders[order_id]
                    shift = rng.randint(-30, 30) * tick
                    new_price = max(tick, (current.price + shift) // tick * tick)
                    new_count = current.count + rng.randint(0, 5) * COUNT_SCALE
                    exchange.amend_order(
                        who,
                        order_id,
                        AmendOrder(
                            ticker=where,
                            side=current.side,
                            price=new_price,
                            count=new_count,
                        ),
                    )
                else:
                    crossing = roll > 0.75
                    away = rng.randint(1, 60) * tick
                    if crossing:
                        price = centre + away if side is Side.BID else centre - away
                        tif = TimeInForce.IMMEDIATE_OR_CANCEL
                    else:
                        price = centre - away if side is Side.BID else centre + away
                        tif = TimeInForce.GOOD_TILL_CANCELED
                    price = max(tick, price // tick * tick)
                    count = rng.randint(1, 20) * COUNT_SCALE
                    result = exchange.place_order(
                        user_id,
                        PlaceOrder(
                            ticker=ticker,
                            side=side,
                            price=price,
                            count=count,
                            client_order_id=f"id-{serial}",
                            time_in_force=tif,
                        ),
                    )
                    if result.order.remaining_count > 0:
                        live.append((user_id, result.order.order_id, ticker))
            except (RejectError, KeyError, ValueError):
                rejects += 1
        if rng.random() < 0.2:
            exchange.deposit(rng.choice(users), rng.randint(1, 500) * MONEY_SCALE)
        step = rng.choice((MINUTE_MS, 5 * MINUTE_MS, 17 * MINUTE_MS, 60 * MINUTE_MS))
        step += rng.randint(0, 999)  # off the second grid as well
        exchange.advance(step)
        spent += step
        live = [entry for entry in live if _live(exchange, entry[1])]
        # a read between advances: the candles of the last three hours of one market
        end_s = exchange.now() // 1000
        _digest_candles(
            bars, exchange, rng.choice(tickers), end_s - 3 * 3_600, end_s, rng.choice(PERIODS)
        )
    start_s, end_s = scenario.start_ms // 1000, exchange.now() // 1000
    for ticker in tickers:
        for period in PERIODS:
            _digest_candles(bars, exchange, ticker, start_s, end_s, period)
    return (
        f"{name} events={digest.count} rejects={rejects} "
        f"stream={digest.sha.hexdigest()} state={state_hash(exchange)} "
        f"candles={bars.hexdigest()}"
    )


def _digest_candles(
    sha: Any, exchange: Any, ticker: str, start_s: int, end_s: int, period: int
) -> None:
    # what GET /margin/markets/{ticker}/candlesticks reads (the state hash leaves it out)
    for candle in candles(exchange, ticker, start_s, end_s, period):
        sha.update(repr(candle).encode())


def _live(exchange: object, order_id: str) -> bool:
    record = exchange.orders.get(order_id)  # type: ignore[attr-defined]
    return record is not None and record.remaining > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours (default 3)")
    args = parser.parse_args(argv)
    checkout = Path(sys.modules["simulator"].__file__ or ".").absolute().parent.parent
    print(f"checkout {checkout}", file=sys.stderr)  # which one ran (stdout is the digests)
    for name in args.scenarios:
        print(run(name, args.hours), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
