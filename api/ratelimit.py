"""Per-user token buckets, separate for reads and writes (REST.md (d), rate limits).

A request costs 10 tokens unless listed in `_COSTS`; GET/HEAD are reads, everything else writes.
Tier budgets are tokens per second; the read bucket holds one second of budget and the write
bucket two. An exhausted bucket answers 429 `{"error": "too many requests"}` with no
`Retry-After` header, as documented. Buckets refill on the wall clock, never the simulated one.

Off by default (`ServerSettings.rate_limits`); the control plane switches it per user and sets
a user's tier. Assumption: cancel-all costs 10 tokens (the older documented value; the newer
"cost of a max-size batch cancel" is not given as a number).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from api.errors import RateLimitedError
from simulator.core.clock import WallClock
from simulator.server.runtime import Runtime

__all__ = ["TIERS", "RateLimiter", "TierLimits", "UserLimits"]

DEFAULT_COST = 10


@dataclass(frozen=True, slots=True)
class TierLimits:
    """Refill rates (tokens per second) of one usage tier."""

    read_rate: int
    write_rate: int

    @property
    def read_capacity(self) -> int:
        return self.read_rate

    @property
    def write_capacity(self) -> int:
        return 2 * self.write_rate


TIERS: dict[str, TierLimits] = {
    "basic": TierLimits(200, 100),
    "advanced": TierLimits(300, 300),
    "premier": TierLimits(1_000, 1_000),
    "paragon": TierLimits(2_000, 2_000),
    "prime": TierLimits(4_000, 4_000),
}


def _cost(request: Request) -> int:
    path = request.url.path
    if request.method == "GET" and path.endswith("/margin/balance"):
        flag = request.query_params.get("compute_available_balance", "")
        return 50 if flag.lower() == "true" else 5
    return DEFAULT_COST


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp_ms: int

    def take(self, cost: int, rate: int, capacity: int, now_ms: int) -> bool:
        elapsed = max(0, now_ms - self.stamp_ms)
        self.tokens = min(float(capacity), self.tokens + elapsed * rate / 1000)
        self.stamp_ms = now_ms
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


@dataclass(slots=True)
class UserLimits:
    """One user's tier, whether limits apply to them, and their two buckets."""

    tier: str
    enabled: bool | None = None
    read: _Bucket | None = None
    write: _Bucket | None = None


class RateLimiter:
    """Token buckets for every user of a runtime."""

    def __init__(self, runtime: Runtime, wall_clock: WallClock | None = None) -> None:
        self._runtime = runtime
        self._wall = wall_clock or WallClock()
        self._users: dict[str, UserLimits] = {}

    def limits(self, user_id: str) -> UserLimits:
        found = self._users.get(user_id)
        if found is None:
            found = self._users[user_id] = UserLimits("basic")
        return found

    def configure(self, user_id: str, *, enabled: bool | None, tier: str | None = None) -> None:
        """Switch limits for a user (None: follow the server setting) and set their tier."""
        if tier is not None and tier not in TIERS:
            raise ValueError(f"unknown usage tier {tier!r}; tiers: {sorted(TIERS)}")
        limits = self.limits(user_id)
        limits.enabled = enabled
        if tier is not None:
            limits.tier = tier
        limits.read = limits.write = None

    def enabled_for(self, user_id: str) -> bool:
        limits = self._users.get(user_id)
        if limits is not None and limits.enabled is not None:
            return limits.enabled
        return self._runtime.settings.rate_limits

    def charge(self, user_id: str, request: Request) -> None:
        """Take the request's cost from the right bucket, or raise `RateLimitedError`."""
        if not self.enabled_for(user_id):
            return
        limits = self.limits(user_id)
        tier = TIERS[limits.tier]
        now = self._wall.now_ms()
        if request.method in ("GET", "HEAD"):
            if limits.read is None:
                limits.read = _Bucket(float(tier.read_capacity), now)
            bucket, rate, capacity = limits.read, tier.read_rate, tier.read_capacity
        else:
            if limits.write is None:
                limits.write = _Bucket(float(tier.write_capacity), now)
            bucket, rate, capacity = limits.write, tier.write_rate, tier.write_capacity
        if not bucket.take(_cost(request), rate, capacity, now):
            raise RateLimitedError("too many requests")

    def reset(self) -> None:
        """Forget every bucket and per-user setting (control-plane reset)."""
        self._users.clear()
