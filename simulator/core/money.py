"""Integer units of the exchange and the one place that converts them to and from wire strings.

- Prices are integer ticks of $0.0001 (`PRICE_SCALE` ticks per dollar).
- Counts are integers in 1/100 contract (`COUNT_SCALE` per contract).
- Money is integer micro-dollars (`MONEY_SCALE` per dollar). A count times a price is then an
  exact amount of money: 1/100 contract x $0.0001 = $0.000001, so notionals never round.
- Rates (fee rates, margin rates, multipliers, funding rates, premiums) are integers in units of
  1e-12 (`RATE_SCALE`). The wire shows rates as JSON numbers; `rate_to_float` renders them.

Kalshi keeps balances at $0.0001 precision; the documented rounding points (fees, margin,
funding) round to `CENTICENT` micro-dollars. Money strings on the wire carry 4 decimals, or 6
when an amount has a finer part (the spec allows up to 6).
"""

from __future__ import annotations

import re

__all__ = [
    "CENTICENT",
    "COUNT_SCALE",
    "MICROS_PER_TICK",
    "MONEY_SCALE",
    "PRICE_SCALE",
    "RATE_SCALE",
    "WireFormatError",
    "ceil_div",
    "ceil_to_centicent",
    "format_count",
    "format_dollars",
    "format_price",
    "format_rate",
    "money_from_centicents",
    "money_from_cents",
    "notional",
    "parse_count",
    "parse_dollars",
    "parse_price",
    "parse_rate",
    "rate_to_float",
    "round_away_to_centicent",
    "round_half_even",
    "round_toward_to_centicent",
]

PRICE_SCALE = 10_000
COUNT_SCALE = 100
MONEY_SCALE = 1_000_000
RATE_SCALE = 10**12
CENTICENT = MONEY_SCALE // 10_000
MICROS_PER_TICK = MONEY_SCALE // PRICE_SCALE

_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]*))?")


class WireFormatError(ValueError):
    """A decimal string is malformed or has more decimals than its field allows."""


def _parse_fixed(text: str, decimals: int, what: str) -> int:
    # the common shapes, "12" and "12.34", without the regex (order entry parses two a request)
    whole, dot, frac = text.partition(".") if type(text) is str else ("", "", "")
    if (
        whole.isdigit()
        and whole.isascii()
        and len(text) <= 40
        and (not dot or (len(frac) <= decimals and frac.isdigit() and frac.isascii()))
    ):
        scaled: int = int(whole) * 10**decimals
        return scaled + (int(frac.ljust(decimals, "0")) if frac else 0)
    if not isinstance(text, str):
        raise WireFormatError(f"{what} must be a decimal string, was {text!r}")
    match = _DECIMAL.fullmatch(text)
    if match is None or len(text) > 40:
        raise WireFormatError(f"{what} must be a decimal string, was {text!r}")
    sign, whole, frac = match.groups()
    frac = (frac or "").rstrip("0")
    if len(frac) > decimals:
        raise WireFormatError(f"{what} has more than {decimals} decimals, was {text!r}")
    value: int = int(whole) * 10**decimals + int(frac.ljust(decimals, "0") or "0")
    return -value if sign else value


def _format_fixed(value: int, decimals: int) -> str:
    # the integer's digits with the point put in: every price and count of every REST answer
    # and WebSocket frame comes through here, and this is 2.7 times as fast as `divmod` and a
    # format spec built at run time (211 against 580 ns, measured)
    if decimals == 0:
        return str(value)
    sign = ""
    if value < 0:
        sign, value = "-", -value
    text = str(value)
    if len(text) <= decimals:
        text = text.rjust(decimals + 1, "0")
    return f"{sign}{text[:-decimals]}.{text[-decimals:]}"


def parse_price(text: str) -> int:
    """Parse a dollar price with at most 4 decimals into ticks.

    >>> parse_price("6.3587"), parse_price("0.56"), parse_price("2")
    (63587, 5600, 20000)
    """
    return _parse_fixed(text, 4, "price")


def format_price(ticks: int) -> str:
    """Render ticks as a dollar string with 4 decimals.

    >>> format_price(63587)
    '6.3587'
    """
    return _format_fixed(ticks, 4)


def parse_count(text: str) -> int:
    """Parse a contract count with at most 2 decimals into 1/100 contracts.

    >>> parse_count("10"), parse_count("10.00"), parse_count("0.5")
    (1000, 1000, 50)
    """
    return _parse_fixed(text, 2, "count")


def format_count(centi: int) -> str:
    """Render 1/100 contracts with 2 decimals (signed for positions).

    >>> format_count(1000), format_count(-250)
    ('10.00', '-2.50')
    """
    return _format_fixed(centi, 2)


def parse_dollars(text: str) -> int:
    """Parse a dollar amount with at most 6 decimals into micro-dollars.

    >>> parse_dollars("5000.0000"), parse_dollars("-0.0258")
    (5000000000, -25800)
    """
    return _parse_fixed(text, 6, "amount")


def format_dollars(micros: int) -> str:
    """Render micro-dollars with 4 decimals, or 6 when the amount has a finer part.

    >>> format_dollars(50_024_200), format_dollars(-25_800), format_dollars(63_587)
    ('50.0242', '-0.0258', '0.063587')
    """
    if micros % CENTICENT == 0:
        return _format_fixed(micros // CENTICENT, 4)
    return _format_fixed(micros, 6)


def parse_rate(text: str) -> int:
    """Parse a decimal rate (at most 12 decimals) into 1e-12 units.

    >>> parse_rate("0.0012"), parse_rate("1.3")
    (1200000000, 1300000000000)
    """
    return _parse_fixed(text, 12, "rate")


def format_rate(rate: int) -> str:
    """Render a 1e-12 rate as a plain decimal string without trailing zeros.

    >>> format_rate(-397_137_868_729), format_rate(0)
    ('-0.397137868729', '0')
    """
    text = _format_fixed(rate, 12).rstrip("0").rstrip(".")
    return text if text not in ("", "-") else "0"


def rate_to_float(rate: int) -> float:
    """The wire's JSON number for a 1e-12 rate (rates are numbers on the wire).

    >>> rate_to_float(1_200_000_000)
    0.0012
    """
    return rate / RATE_SCALE


def notional(count: int, price: int) -> int:
    """Exact money value of `count` (1/100 contracts) at `price` (ticks), in micro-dollars.

    >>> notional(100, 63329)
    6332900
    """
    return count * price


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding toward positive infinity (denominator > 0).

    >>> ceil_div(7, 2), ceil_div(-7, 2)
    (4, -3)
    """
    return -((-numerator) // denominator)


def round_half_even(numerator: int, denominator: int) -> int:
    """Integer division rounding to the nearest integer, ties to even (denominator > 0).

    >>> round_half_even(5, 2), round_half_even(7, 2), round_half_even(-5, 2), round_half_even(8, 3)
    (2, 4, -2, 3)
    """
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def ceil_to_centicent(micros: int) -> int:
    """Round money up (toward +infinity) to a multiple of $0.0001.

    >>> ceil_to_centicent(825_818)
    825900
    """
    return ceil_div(micros, CENTICENT) * CENTICENT


def round_away_to_centicent(micros: int) -> int:
    """Round money away from zero to a multiple of $0.0001 (what a payer pays).

    >>> round_away_to_centicent(-12_345), round_away_to_centicent(12_301)
    (-12400, 12400)
    """
    magnitude = ceil_div(abs(micros), CENTICENT) * CENTICENT
    return -magnitude if micros < 0 else magnitude


def round_toward_to_centicent(micros: int) -> int:
    """Round money toward zero to a multiple of $0.0001 (what a receiver receives).

    >>> round_toward_to_centicent(-12_345), round_toward_to_centicent(12_399)
    (-12300, 12300)
    """
    magnitude = abs(micros) // CENTICENT * CENTICENT
    return -magnitude if micros < 0 else magnitude


def money_from_centicents(centicents: int) -> int:
    """Convert centicents (1/10,000 $, the intra-exchange transfer unit) to micro-dollars."""
    return centicents * CENTICENT


def money_from_cents(cents: int) -> int:
    """Convert cents (the subaccount transfer unit) to micro-dollars."""
    return cents * 100 * CENTICENT
