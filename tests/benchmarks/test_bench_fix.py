"""Smoke run of the FIX benchmark: about a thousand orders over KalshiNR and its RESULT line."""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict

import pytest

from benchmarks import bench_fix
from fix_acceptor.codec import FrameDecoder
from fix_acceptor.message import Message, Tag
from simulator.core.money import parse_price


def test_quick_run_answers_every_order_with_an_er_new_and_ends_with_the_result_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_fix.main(["--quick"])

    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(
        r"RESULT rt_per_s=(\d+) p50_us=(\d+\.\d) p99_us=(\d+\.\d) echo_rt_per_s=(\d+) "
        r"ratio_vs_echo=(\d+\.\d{3})",
        lines[-1],
    )
    assert match is not None, lines[-1]
    rt_per_s, p50, p99, echo, _ = (float(g) for g in match.groups())
    assert rt_per_s > 0 and echo > 0
    assert 0 < p50 <= p99
    # every reply was the ER New of a pending order, and the server logged nothing
    assert not any("WARNING" in line for line in lines), "\n".join(lines)


def test_plan_rests_every_order_below_the_notional_limit_and_nothing_crosses() -> None:
    orders, users = bench_fix.plan_orders(12_000)
    markets, limit = bench_fix._markets()
    mids = {market.ticker: market.mid for market in markets}

    assert len(orders) == 12_000 and users >= 2
    assert len({(o.user, o.cl_ord_id) for o in orders}) == len(orders)
    exposure: dict[tuple[int, str, str], int] = defaultdict(int)
    prices: dict[tuple[int, str, str], set[int]] = defaultdict(set)
    for order in orders:
        fields = dict(field.split("=", 1) for field in order.body.decode().split("\x01")[:-1])
        key = (order.user, fields["55"], fields["54"])
        price = parse_price(fields["44"])
        exposure[key] += price * 100  # one contract, in micro-dollars
        prices[key].add(price)
        if fields["54"] == "1":
            assert price < mids[fields["55"]]
        else:
            assert price > mids[fields["55"]]
    assert all(value <= limit for value in exposure.values())
    # every order of a ladder at a price of its own
    per_ladder: dict[tuple[int, str, str], int] = defaultdict(int)
    for order in orders:
        fields = dict(field.split("=", 1) for field in order.body.decode().split("\x01")[:-1])
        per_ladder[(order.user, fields["55"], fields["54"])] += 1
    assert all(len(prices[key]) == n for key, n in per_ladder.items())


def test_frames_are_decoded_by_the_acceptor_codec() -> None:
    orders, _ = bench_fix.plan_orders(3)
    prefix = b"35=D\x0149=key\x0156=KalshiNR\x0134="
    stream = b"".join(
        bench_fix.frame(prefix, seq, b"20260615-00:00:00.000", order.body)
        for seq, order in enumerate(orders, start=2)
    )

    messages = FrameDecoder().feed(stream)

    assert all(isinstance(m, Message) for m in messages)
    decoded = [m for m in messages if isinstance(m, Message)]
    assert [m.get(Tag.MsgSeqNum) for m in decoded] == ["2", "3", "4"]
    assert [m.get(Tag.ClOrdID) for m in decoded] == [o.cl_ord_id for o in orders]
    assert all(m.get(Tag.SendingTime) == "20260615-00:00:00.000" for m in decoded)


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))


def test_echo_answers_each_complete_frame_once_however_the_stream_is_split() -> None:
    orders, _ = bench_fix.plan_orders(4)
    prefix = b"35=D\x0149=key\x0156=KalshiNR\x0134="
    stream = b"".join(
        bench_fix.frame(prefix, seq, b"20260615-00:00:00.000", order.body)
        for seq, order in enumerate(orders, start=2)
    )
    for split in range(1, len(stream)):
        echo = bench_fix._Echo(b"R")
        transport = _Transport()
        echo.connection_made(transport)
        echo.data_received(stream[:split])
        echo.data_received(stream[split:])
        assert b"".join(transport.written) == b"R" * 4, split
