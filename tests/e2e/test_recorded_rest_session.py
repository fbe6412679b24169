"""The recorded REST session replays byte for byte: wire output is frozen at 0.1.

`fixtures/recordings/rest-session.jsonl` holds every request of a scripted session (two signed
users and public calls over all but one of the spec's operations, control-plane calls and
rejected requests; see `tests.recordings.record`) with the status and body the server gave.
Replaying the requests in order against a fresh server built the same way must give the same
status and the same body bytes, whatever changes inside the exchange. A deliberate change of
wire output means regenerating the recording (`python -m tests.recordings.record`) and
reviewing its diff.

The session runs in process (`harness.InProcessClient`) and over a real socket
(`harness.SocketClient` against uvicorn), which also shows that both transports give the same
bytes. The recording itself is checked against the vendored spec, and its coverage of the
spec's operations is pinned so a regenerated recording cannot silently cover less.
"""

from __future__ import annotations

import difflib
import json
from urllib.parse import urlsplit

import pytest

from tests.api import spec
from tests.api.live import live_server
from tests.recordings import harness

PROMISE = (
    "REST wire output must stay byte-identical to the 0.1 recording for the same seed and "
    "commands (fixtures/recordings/rest-session.jsonl)"
)
_PREFIX = "/trade-api/v2"

UNRECORDED_OPERATIONS: set[tuple[str, str]] = set()
"""Spec operations the session does not call (none)."""

UNDECLARED_STATUSES = {("GET", "/margin/orders/{order_id}", 400)}
"""Statuses the simulator answers that the spec does not declare for the operation: a
malformed order id is 400 `invalid_parameters` (tests/api/test_orders.py)."""


def _pretty(text: str) -> list[str]:
    try:
        return json.dumps(json.loads(text), indent=1).splitlines()
    except ValueError:
        return text.splitlines()


def _mismatch(index: int, expected: harness.Exchange, actual: harness.Exchange) -> str:
    lines = [
        PROMISE,
        f"first difference at exchange #{index}: {expected.method} {expected.path}"
        f" (signed by {expected.user or 'nobody'})",
        f"request body: {expected.body}",
        f"status: expected {expected.status}, got {actual.status}",
    ]
    if actual.content_type != expected.content_type:
        lines.append(f"content-type: expected {expected.content_type}, got {actual.content_type}")
    if actual.response != expected.response:
        diff = difflib.unified_diff(
            _pretty(expected.response),
            _pretty(actual.response),
            "recorded",
            "replayed",
            lineterm="",
            n=2,
        )
        shown = list(diff)
        lines.append("body (recorded vs replayed, pretty-printed):")
        lines.extend(shown[:80])
        if len(shown) > 80:
            lines.append(f"... {len(shown) - 80} more diff lines")
        if not shown:  # same JSON value, different bytes (key order, spacing, escapes)
            lines.append(f"recorded bytes: {expected.response[:500]}")
            lines.append(f"replayed bytes: {actual.response[:500]}")
    return "\n".join(lines)


def _replay(client: harness.InProcessClient | harness.SocketClient) -> None:
    recorded = harness.load()
    assert recorded, f"{harness.RECORDING} is empty"
    for index, expected in enumerate(recorded):
        actual = client.send(expected.method, expected.path, expected.body, expected.user)
        if actual != expected:
            pytest.fail(_mismatch(index, expected, actual), pytrace=False)


def test_recorded_session_replays_byte_identical_in_process() -> None:
    client = harness.InProcessClient(harness.runtime())
    try:
        _replay(client)
    finally:
        client.close()


def test_recorded_session_replays_byte_identical_over_a_socket() -> None:
    with live_server(harness.scenario(), seed=harness.SEED) as server:
        client = harness.SocketClient(server.base)
        try:
            _replay(client)
        finally:
            client.close()


def _rest_exchanges() -> list[tuple[harness.Exchange, str, str]]:
    found = []
    for exchange in harness.load():
        path = urlsplit(exchange.path).path
        if path.startswith(_PREFIX):
            relative = path[len(_PREFIX) :]
            try:
                template = spec.template_for(relative)
            except KeyError:  # a path outside the spec (the session's 404 probe)
                continue
            found.append((exchange, relative, template))
    return found


def test_recorded_responses_match_the_spec() -> None:
    undeclared = set()
    for exchange, relative, template in _rest_exchanges():
        declared = spec.operation(exchange.method, template)["responses"]
        if str(exchange.status) not in declared:
            undeclared.add((exchange.method, template, exchange.status))
            continue
        spec.validate_response(
            exchange.method, relative, exchange.status, exchange.response.encode()
        )
    assert undeclared == UNDECLARED_STATUSES


def test_recording_covers_the_spec_operations() -> None:
    called = {(exchange.method, template) for exchange, _, template in _rest_exchanges()}
    operations = {(method, template) for method, template, _ in spec.operations()}
    assert len(operations) == 54
    assert operations - called == UNRECORDED_OPERATIONS, (
        "the recorded session no longer calls every spec operation it used to"
    )


def test_recording_signs_as_two_users_and_trades_between_them() -> None:
    recorded = harness.load()
    assert {exchange.user for exchange in recorded} == {"demo", "second", None}
    second_fills = [
        json.loads(e.response)["fills"]
        for e in recorded
        if e.user == "second" and urlsplit(e.path).path == f"{_PREFIX}/margin/fills"
    ]
    assert any(second_fills), "the second user never traded"
