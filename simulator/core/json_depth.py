"""How deeply a JSON document nests, measured before it is parsed.

Parsers recurse once per nesting level: msgspec raises `RecursionError` on a document a few
thousand levels deep, and a Python walk over the parsed value would too. Every reader of
untrusted JSON (request bodies, WebSocket commands, state imports, journal lines) calls
`too_deep` first and refuses a document nested deeper than `MAX_DEPTH` with its own clean error.

The check costs two `bytes.count` calls for any document with at most `MAX_DEPTH` brackets
(every request a client sends); only a document with more brackets is scanned token by token
(strings skipped, so brackets inside them do not count), with a regular expression rather than
a Python loop over characters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["MAX_DEPTH", "too_deep"]

MAX_DEPTH = 64
"""Deepest nesting accepted from a client: the deepest document the API defines (a state
snapshot's command arguments) nests under 10 levels."""

_TOKENS_BYTES = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_TOKENS_STR = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_OPEN = frozenset((ord("["), ord("{"), "[", "{"))
_CLOSE = frozenset((ord("]"), ord("}"), "]", "}"))


def too_deep(data: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """Whether `data` (JSON text, well formed or not) opens more than `limit` nested arrays or
    objects at some point."""
    tokens: Iterator[re.Match[Any]]
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= limit:
            return False
        tokens = _TOKENS_STR.finditer(data)
    else:
        if data.count(b"[") + data.count(b"{") <= limit:
            return False
        tokens = _TOKENS_BYTES.finditer(data)
    depth = 0
    for match in tokens:
        first = match.group()[0]
        if first in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif first in _CLOSE:
            depth -= 1
    return False
