"""Rate limits on FIX application messages (FIX.md §2.11).

FIX draws on the user's REST token buckets (`simulator.server.rate_limits`, the runtime's one
limiter), at the cost of the equivalent REST call: order entry (D, F, G, q, UOG) and the Logon
take 10 write tokens, a market-data request (V) and a drop-copy request (U1) 10 read tokens.
Heartbeat (0), TestRequest (1), Logout (5) and the other session messages are free. On top of
that a session may send one OrderMassCancelRequest (q) a second. A refused application message
is answered with BusinessMessageReject (35=j) 380=8 "Rate limit exceeded"; a refused Logon with a
Logout "rate limit exceeded".

Assumption: 380=8 (RATE_LIMIT_EXCEEDED in the FIX dictionary; the margin page lists 0-5 only).
Assumption: the Logon costs what an order costs (the docs only say that it is counted).
Off unless rate limits are on for the user (`--rate-limits`, or the control plane per user).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from simulator.server.rate_limits import Bucket, RateLimiter

__all__ = ["MASS_CANCEL_INTERVAL_MS", "REJECT_REASON", "REJECT_TEXT", "FixLimits"]

REJECT_REASON: Final = 8
REJECT_TEXT: Final = "Rate limit exceeded"
MASS_CANCEL_INTERVAL_MS: Final = 1_000

_COST: Final = 10
_BUCKETS: Final[dict[str, Bucket]] = {
    "A": "write",
    "D": "write",
    "F": "write",
    "G": "write",
    "q": "write",
    "UOG": "write",
    "V": "read",
    "U1": "read",
}


class FixLimits:
    """Admission of one acceptor's messages against the runtime's token buckets.

    Args:
        limiter: The runtime's limiter (read at each call: tests and the control plane may
            replace it).
    """

    def __init__(self, limiter: Callable[[], RateLimiter]) -> None:
        self._limiter = limiter
        self._last_mass_cancel: dict[tuple[str, str], int] = {}

    def admit(self, user_id: str, session: tuple[str, str], msg_type: str, now_ms: int) -> bool:
        """Whether `session` (of `user_id`) may send `msg_type` now; takes its tokens if so."""
        bucket = _BUCKETS.get(msg_type)
        if bucket is None:
            return True
        limiter = self._limiter()
        if not limiter.enabled_for(user_id):
            return True
        if msg_type == "q":
            last = self._last_mass_cancel.get(session)
            if last is not None and now_ms - last < MASS_CANCEL_INTERVAL_MS:
                return False
        if not limiter.take(user_id, bucket, _COST):
            return False
        if msg_type == "q":
            self._last_mass_cancel[session] = now_ms
        return True
