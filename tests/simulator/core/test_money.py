"""Decimal strings on the wire: exactly digits, one optional dot and sign; nothing around them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.money import (
    WireFormatError,
    _format_fixed,
    format_count,
    format_price,
    parse_count,
    parse_dollars,
    parse_price,
)


@pytest.mark.parametrize("text", [" 1", "1 ", "\t1", "1\n", "+1", "1e2", "", ".5", "1,5", "\u0661"])
def test_anything_but_a_plain_decimal_is_refused(text: str) -> None:
    for parse in (parse_count, parse_price, parse_dollars):
        with pytest.raises(WireFormatError):
            parse(text)


@pytest.mark.parametrize(
    ("text", "centi"), [("1", 100), ("1.", 100), ("0.50", 50), ("12.3", 1230), ("1.000", 100)]
)
def test_plain_decimals_parse(text: str, centi: int) -> None:
    assert parse_count(text) == centi


def test_negative_amounts_parse() -> None:
    assert parse_dollars("-0.0258") == -25_800


@given(value=st.integers(-(10**30), 10**30), decimals=st.integers(0, 12))
def test_fixed_point_text_is_the_whole_part_a_point_and_the_zero_padded_fraction(
    value: int, decimals: int
) -> None:
    whole, frac = divmod(abs(value), 10**decimals)
    sign = "-" if value < 0 else ""
    expected = f"{sign}{whole}" + (f".{frac:0{decimals}d}" if decimals else "")
    assert _format_fixed(value, decimals) == expected


@pytest.mark.parametrize(
    ("ticks", "text"), [(0, "0.0000"), (1, "0.0001"), (62590, "6.2590"), (-250, "-0.0250")]
)
def test_prices_render_with_four_decimals_and_round_trip(ticks: int, text: str) -> None:
    assert format_price(ticks) == text
    assert parse_price(text.removeprefix("-")) == abs(ticks)


def test_counts_render_with_two_decimals() -> None:
    assert [format_count(c) for c in (0, 5, 1000, -250)] == ["0.00", "0.05", "10.00", "-2.50"]
