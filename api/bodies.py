"""JSON request bodies: content type, size cap and strict decoding into msgspec structs.

Every failure is a 400 in Kalshi's envelope before anything reaches the exchange:
`invalid_content_type` when a POST/PUT body is not declared JSON, `invalid_parameters` when it
is oversized, nested deeper than
`simulator.core.json_depth.MAX_DEPTH`, malformed (not UTF-8 included), mistyped or out of
bounds.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
from starlette.requests import Request

from api.errors import BadRequestError
from simulator.core.json_depth import MAX_DEPTH, too_deep

__all__ = ["read_json"]

T = TypeVar("T")


async def read_json(request: Request, model: type[T]) -> T:
    """Decode the body of `request` as `model` (a msgspec struct), or raise a 400."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise BadRequestError(
            "request body must be JSON (Content-Type: application/json)",
            code="invalid_content_type",
        )
    limit: int = request.app.state.runtime.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BadRequestError(f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestError(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if too_deep(body):
        raise BadRequestError(f"request body nests deeper than {MAX_DEPTH} levels")
    try:
        return msgspec.json.decode(body, type=model, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequestError(f"invalid request body: {exc}") from None
    except msgspec.DecodeError:
        raise BadRequestError("request body is not valid JSON") from None
    except UnicodeDecodeError:  # msgspec's error for bytes that are not UTF-8 inside a string
        raise BadRequestError("request body is not valid JSON: it is not UTF-8") from None
