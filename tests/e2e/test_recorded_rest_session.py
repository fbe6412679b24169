"""The REST wire output of a recorded session stays byte for byte what version 0.1 answered.

`fixtures/recordings/rest-session.jsonl` was recorded by `tests/recordings/record.py` (see its
docstring): 328 requests by two signed users and the public covering market reads, orders,
fills, positions, transfers, order groups, exit triggers, funding, FCM and the control plane,
with clock advances and rejected requests. Replaying it against a fresh server built the same
way must give every status and body unchanged: a restructuring of the simulator that changes
one byte of what a client sees fails here.

Deliberate wire changes since the recording are listed in `CHANGED` with the reason, and only
those requests may differ.
"""

from __future__ import annotations

import difflib

import pytest

from tests.recordings import harness


def _diff(expected: str, actual: str) -> str:
    lines = difflib.unified_diff(
        expected.replace(",", ",\n").splitlines(),
        actual.replace(",", ",\n").splitlines(),
        "recorded",
        "replayed",
        lineterm="",
        n=1,
    )
    return "\n".join(list(lines)[:40])


@pytest.fixture(scope="module")
def replayed() -> list[tuple[harness.Exchange, harness.Exchange]]:
    recorded = harness.load()
    client = harness.InProcessClient(harness.runtime())
    try:
        pairs = [
            (item, client.send(item.method, item.path, item.body, item.user)) for item in recorded
        ]
    finally:
        client.close()
    return pairs


def test_the_recording_covers_a_whole_session() -> None:
    recorded = harness.load()
    assert len(recorded) >= 300
    assert {item.user for item in recorded} == {"demo", "second", None}
    assert any(item.status >= 400 for item in recorded)


def test_every_recorded_answer_is_replayed_byte_for_byte(
    replayed: list[tuple[harness.Exchange, harness.Exchange]],
) -> None:
    for index, (expected, actual) in enumerate(replayed):
        request = f"#{index} {expected.method} {expected.path} by {expected.user}"
        if expected.body is not None:
            request += f" body {expected.body[:200]}"
        assert (actual.status, actual.content_type) == (expected.status, expected.content_type), (
            f"REST wire output changed since 0.1 at {request}:\n{actual.response[:400]}"
        )
        assert actual.response == expected.response, (
            f"REST wire output changed since 0.1 at {request}:\n"
            + _diff(expected.response, actual.response)
        )
