"""FIX application messages draw on the user's REST token buckets (FIX.md §2.11).

The limiter's wall clock is frozen, so buckets refill only when a test moves it.
"""

from __future__ import annotations

import asyncio

from fix_acceptor import codec
from fix_acceptor.limits import MASS_CANCEL_INTERVAL_MS, FixLimits
from fix_acceptor.message import Message
from fix_acceptor.server import FixServer
from simulator.core.clock import WallClock
from simulator.server.rate_limits import TIERS, RateLimiter
from simulator.server.runtime import Runtime, ServerSettings
from simulator.server.scenarios import load_scenario
from tests.api import signing
from tests.fix_acceptor.test_server import KEY_ID, logon

USER = "u-1"
SESSION = ("key-1", "KalshiNR")
WRITE_CAPACITY = TIERS["basic"].write_capacity  # 200 tokens: 20 orders
T0 = 1_781_481_600_000


class FrozenWall(WallClock):
    def __init__(self, now_ms: int) -> None:
        self.ms = now_ms

    def now_ms(self) -> int:
        return self.ms


def _limits(enabled: bool = True) -> tuple[FixLimits, RateLimiter, FrozenWall]:
    wall = FrozenWall(T0)
    limiter = RateLimiter(lambda: enabled, wall_clock=wall)
    return FixLimits(lambda: limiter), limiter, wall


def test_order_entry_spends_the_write_bucket_ten_tokens_a_message() -> None:
    limits, limiter, wall = _limits()
    admitted = [limits.admit(USER, SESSION, "D", T0) for _ in range(WRITE_CAPACITY // 10 + 1)]
    assert admitted == [True] * (WRITE_CAPACITY // 10) + [False]
    assert not limits.admit(USER, SESSION, "G", T0)
    assert not limits.admit(USER, SESSION, "UOG", T0)
    assert not limiter.take(USER, "write", 1)  # the same bucket REST charges
    assert limits.admit(USER, SESSION, "V", T0)  # market data reads: the other bucket
    assert limits.admit(USER, SESSION, "0", T0)  # heartbeats are free
    wall.ms += 100  # 100 write tokens a second: 10 in 100 ms
    assert limits.admit(USER, SESSION, "F", wall.ms)
    assert not limits.admit(USER, SESSION, "F", wall.ms)


def test_mass_cancel_is_limited_to_one_a_second_per_session() -> None:
    limits, _, _ = _limits()
    assert limits.admit(USER, SESSION, "q", T0)
    assert not limits.admit(USER, SESSION, "q", T0 + MASS_CANCEL_INTERVAL_MS - 1)
    assert limits.admit(USER, ("key-1", "KalshiRT"), "q", T0 + 1)  # another session
    assert limits.admit(USER, SESSION, "q", T0 + MASS_CANCEL_INTERVAL_MS)


def test_nothing_is_counted_while_limits_are_off_for_the_user() -> None:
    limits, limiter, _ = _limits(enabled=False)
    assert all(limits.admit(USER, SESSION, "D", T0) for _ in range(100))
    assert all(limits.admit(USER, SESSION, "q", T0) for _ in range(3))
    limiter.configure(USER, enabled=True)
    assert sum(limits.admit(USER, SESSION, "D", T0) for _ in range(100)) == WRITE_CAPACITY // 10


def _order(seq: int, cl_ord_id: str) -> bytes:
    message = Message(
        [
            (35, "D"),
            (49, KEY_ID),
            (56, "KalshiNR"),
            (34, str(seq)),
            (52, codec.timestamp(WallClock().now_ms())),
            (11, cl_ord_id),
            (38, "1"),
            (40, "2"),
            (44, "5.5000"),
            (54, "1"),
            (55, "KXBTCPERP"),
            (59, "1"),
        ]
    )
    return codec.encode(message)


def _limited_runtime() -> Runtime:
    """The default scenario with rate limits on, its limiter on a frozen wall clock."""
    runtime = Runtime(
        load_scenario("default"), clock_mode="manual", settings=ServerSettings(rate_limits=True)
    )
    runtime.rate_limiter = RateLimiter(lambda: True, wall_clock=FrozenWall(T0))
    return runtime


def _replies(runtime: Runtime, payload: bytes, count: int | None = None) -> list[Message]:
    """Send `payload` on a KalshiNR connection; the first `count` replies (None: until closed)."""

    async def run() -> list[Message]:
        server = FixServer(runtime)
        port = (await server.start("127.0.0.1", {"KalshiNR": 0}))["KalshiNR"]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(payload)
            decoder = codec.FrameDecoder()
            replies: list[Message] = []
            while count is None or len(replies) < count:
                data = await asyncio.wait_for(reader.read(65536), 10)
                if not data:
                    assert count is None, f"connection closed after {replies}"
                    break
                replies += [m for m in decoder.feed(data) if isinstance(m, Message)]
            return replies
        finally:
            writer.close()
            await writer.wait_closed()
            await server.close()

    return asyncio.run(run())


def test_an_order_past_the_budget_gets_business_reject_380_8_over_a_socket() -> None:
    runtime = _limited_runtime()
    orders = WRITE_CAPACITY // 10  # the Logon took 10 tokens: the last one is refused
    payload = logon() + b"".join(_order(2 + i, f"c{i}") for i in range(orders))

    logon_reply, *replies = _replies(runtime, payload, 1 + orders)

    assert logon_reply.msg_type == "A"
    assert [m.msg_type for m in replies] == ["8"] * (orders - 1) + ["j"]
    assert {m.get(150) for m in replies[:-1]} == {"0"}, replies[0]
    reject = replies[-1]
    assert (reject.get(45), reject.get(372), reject.get(379)) == (
        str(1 + orders),
        "D",
        f"c{orders - 1}",
    )
    assert (reject.get(380), reject.get(58)) == ("8", "Rate limit exceeded")
    demo = runtime.exchange.user_for_key(signing.DEMO_KEY_ID)
    assert demo is not None
    live = [o for o in runtime.exchange.orders.values() if o.user_id == demo.user_id]
    assert len(live) == orders - 1  # the refused order never reached the exchange


def test_a_logon_past_the_budget_is_refused_with_a_logout() -> None:
    runtime = _limited_runtime()
    demo = runtime.exchange.user_for_key(signing.DEMO_KEY_ID)
    assert demo is not None
    assert runtime.rate_limiter.take(demo.user_id, "write", WRITE_CAPACITY)  # spent over REST

    (logout,) = _replies(runtime, logon())

    assert (logout.msg_type, logout.get(58)) == ("5", "rate limit exceeded")
