"""JSON responses encoded with msgspec (the handlers build plain dicts and lists)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

__all__ = ["EMPTY", "json_response", "no_content"]

_encode = msgspec.json.encode
EMPTY: dict[str, Any] = {}


def json_response(content: Any, status: int = 200) -> Response:
    """`content` as a JSON response."""
    return Response(_encode(content), status, media_type="application/json")


def no_content() -> Response:
    """204 with no body (cancel-all and the exit-trigger deletes)."""
    return Response(status_code=204)
