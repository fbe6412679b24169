"""What a REST request costs in the user's token buckets (REST.md (d), rate limits).

The buckets themselves are the runtime's (`simulator.server.rate_limits`: shared with FIX).
A request costs 10 tokens unless listed in `_cost`; GET/HEAD are reads, everything else writes.
An exhausted bucket answers 429 `{"error": "too many requests"}` with no `Retry-After` header, as
documented. Assumption: cancel-all costs 10 tokens (the older documented value; the newer "cost
of a max-size batch cancel" is not given as a number).
"""

from __future__ import annotations

from starlette.requests import Request

from api.errors import RateLimitedError
from simulator.server.rate_limits import Bucket, RateLimiter

__all__ = ["DEFAULT_COST", "charge"]

DEFAULT_COST = 10


def _cost(request: Request) -> int:
    path = request.url.path
    if request.method == "GET" and path.endswith("/margin/balance"):
        flag = request.query_params.get("compute_available_balance", "")
        return 50 if flag.lower() == "true" else 5
    return DEFAULT_COST


def charge(limiter: RateLimiter, user_id: str, request: Request) -> None:
    """Take the request's cost from the right bucket, or raise `RateLimitedError`."""
    bucket: Bucket = "read" if request.method in ("GET", "HEAD") else "write"
    if not limiter.take(user_id, bucket, _cost(request)):
        raise RateLimitedError("too many requests")
