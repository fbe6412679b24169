"""`too_deep`: the nesting of JSON text measured without parsing it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.json_depth import MAX_DEPTH, too_deep

_LEAVES = st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\ ', max_size=6)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet='k[{"\\', max_size=3), children, max_size=3)
    ),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


@given(_VALUES, st.integers(min_value=0, max_value=8))
def test_agrees_with_the_depth_of_the_parsed_value(value: Any, limit: int) -> None:
    text = json.dumps(value)
    expected = _depth(value) > limit
    assert too_deep(text, limit) is expected
    assert too_deep(text.encode(), limit) is expected


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 500 + '\\"{' * 100})
    assert not too_deep(text)
    assert not too_deep(text.encode())


@pytest.mark.parametrize("data", [b"[" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000])
def test_a_document_thousands_deep_is_too_deep(data: bytes) -> None:
    assert too_deep(data)
    assert too_deep(data.decode())


def test_the_limit_itself_is_accepted() -> None:
    assert not too_deep(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert too_deep(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))


def test_an_unterminated_string_ends_the_scan() -> None:
    assert not too_deep(b'"' + b"[" * 100)
