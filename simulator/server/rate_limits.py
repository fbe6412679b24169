"""Per-user token buckets, separate for reads and writes, shared by every transport.

Kalshi meters REST calls and FIX application messages against the same two buckets per user
(REST.md (d), FIX.md §2.11). Tier budgets are tokens per second; the read bucket holds one second
of budget and the write bucket two. Buckets refill on the wall clock, never the simulated one.
What a call costs and how a refusal looks is the transport's business (`api.ratelimit`,
`fix_acceptor.limits`); this module only keeps the buckets.

Off by default (`ServerSettings.rate_limits`); the control plane switches it per user and sets
a user's tier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from simulator.core.clock import WallClock

__all__ = ["TIERS", "Bucket", "RateLimiter", "TierLimits", "UserLimits"]

Bucket = Literal["read", "write"]


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


@dataclass(slots=True)
class _Tokens:
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
    read: _Tokens | None = None
    write: _Tokens | None = None


class RateLimiter:
    """Token buckets for every user of a runtime.

    Args:
        default_enabled: Whether limits apply to a user nobody switched (read at each call: the
            server setting).
        wall_clock: Where refills read the time.
    """

    def __init__(
        self, default_enabled: Callable[[], bool], wall_clock: WallClock | None = None
    ) -> None:
        self._default_enabled = default_enabled
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
        return self._default_enabled()

    def take(self, user_id: str, bucket: Bucket, cost: int) -> bool:
        """Take `cost` tokens from the user's `bucket`; False (nothing taken) when too few."""
        if not self.enabled_for(user_id):
            return True
        limits = self.limits(user_id)
        tier = TIERS[limits.tier]
        now = self._wall.now_ms()
        if bucket == "read":
            if limits.read is None:
                limits.read = _Tokens(float(tier.read_capacity), now)
            return limits.read.take(cost, tier.read_rate, tier.read_capacity, now)
        if limits.write is None:
            limits.write = _Tokens(float(tier.write_capacity), now)
        return limits.write.take(cost, tier.write_rate, tier.write_capacity, now)

    def reset(self) -> None:
        """Forget every bucket and per-user setting (control-plane reset)."""
        self._users.clear()
