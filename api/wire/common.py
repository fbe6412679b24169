"""Wire times and query values shared by every REST resource (REST.md (d)).

- `rfc3339(ms)`: response date-times, UTC with millisecond precision (`2026-06-15T00:00:00.000Z`);
- `seconds(ms)`: Unix seconds fields (`end_period_ts`, `expires_ts`, ...);
- `parse_bool`: `true` / `false` query strings;
- `split_list`: comma lists, which arrive percent-encoded (`A%2CB`) and are decoded by then.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.errors import BadRequestError

__all__ = ["parse_bool", "rfc3339", "seconds", "split_list"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC string.

    >>> rfc3339(1_781_481_600_123)
    '2026-06-15T00:00:00.123Z'
    """
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def seconds(ms: int) -> int:
    """Epoch milliseconds as whole Unix seconds (floor)."""
    return ms // 1000


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    """A `true`/`false` query value (case-insensitive)."""
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise BadRequestError(f"{name} must be true or false")


def split_list(value: str | None) -> list[str]:
    """Items of a comma-joined query value, blanks dropped."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]
