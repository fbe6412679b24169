"""Decimal strings on the wire: exactly digits, one optional dot and sign; nothing around them."""

from __future__ import annotations

import pytest

from simulator.core.money import WireFormatError, parse_count, parse_dollars, parse_price


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
