"""Unit and property tests of `simulator.model.funding`: premium, accumulator, rate, payment.

The accumulator is checked against a naive model that walks every second.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.core.money import RATE_SCALE, parse_rate
from simulator.model.funding import (
    FundingSettings,
    ImpactPremium,
    PremiumAccumulator,
    PremiumHandling,
    Weighting,
    finalize_rate,
    funding_payment,
    impact_parts,
    impact_prices,
    premium,
    premium_at,
)

PERCENT_DEADBAND = parse_rate("0.01")  # wire 0.01 with unit percentage = 0.01%
PERCENT_CAP = parse_rate("2")  # 2%

# --- premium -------------------------------------------------------------------------------

levels_lists = st.lists(
    st.tuples(st.integers(-5, 200_000), st.integers(-5, 100_000)), min_size=0, max_size=12
)


def fraction_impact_price(levels: list[tuple[int, int]], notional: int) -> Fraction | None:
    # the definition: the average price of `notional` taken through the levels, in fractions
    remaining = Fraction(notional)
    contracts = Fraction(0)
    for price, count in levels:
        if price <= 0 or count <= 0:
            continue
        if price * count >= remaining:
            return notional / (contracts + remaining / price)
        remaining -= price * count
        contracts += count
    return None


@settings(max_examples=300)
@given(bids=levels_lists, asks=levels_lists, notional=st.integers(1, 10**10))
def test_impact_prices_equal_the_fraction_definition(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]], notional: int
) -> None:
    ibp, iap = fraction_impact_price(bids, notional), fraction_impact_price(asks, notional)
    expected = None if ibp is None or iap is None else (ibp, iap)

    assert impact_prices(bids, asks, notional) == expected


@settings(max_examples=300)
@given(levels=levels_lists, notional=st.integers(1, 10**10), reference=st.integers(1, 250_000))
def test_impact_parts_are_the_impact_price_and_price_the_same_premium(
    levels: list[tuple[int, int]], notional: int, reference: int
) -> None:
    expected = fraction_impact_price(levels, notional)
    parts = impact_parts(iter(levels), notional)  # any iterable, read once

    assert (None if parts is None else Fraction(*parts)) == expected
    if parts is not None and expected is not None:
        assert parts[1] > 0
        # unreduced parts prepare the same premium as the reduced fraction
        reduced = ImpactPremium((expected, expected))
        assert ImpactPremium((parts, parts)).at(reference) == reduced.at(reference)


@settings(max_examples=300)
@given(
    ibp=st.fractions(min_value=1, max_value=300_000, max_denominator=10**9),
    iap=st.fractions(min_value=1, max_value=300_000, max_denominator=10**9),
    reference=st.one_of(st.none(), st.integers(-5, 300_000)),
)
def test_impact_premium_prepared_equals_premium_at(
    ibp: Fraction, iap: Fraction, reference: int | None
) -> None:
    prepared = ImpactPremium((ibp, iap))

    assert prepared.at(reference) == premium_at((ibp, iap), reference)


@settings(max_examples=300)
@given(
    ibp=st.fractions(min_value=2, max_value=300_000, max_denominator=10**6),
    iap=st.fractions(min_value=2, max_value=300_000, max_denominator=10**6),
    offset=st.integers(-1, 2),
    near_iap=st.booleans(),
)
def test_impact_premium_at_references_next_to_the_impact_prices_equals_premium_at(
    ibp: Fraction, iap: Fraction, offset: int, near_iap: bool
) -> None:
    # the whole ticks on either side of an impact price are where the prepared bounds cut
    reference = math.floor(iap if near_iap else ibp) + offset

    assert ImpactPremium((ibp, iap)).at(reference) == premium_at((ibp, iap), reference)


@pytest.mark.parametrize("reference", [10_049, 10_050, 10_051, 10_199, 10_200, 10_201])
def test_impact_premium_at_integer_impact_prices_is_zero_only_between_them(
    reference: int,
) -> None:
    impact = (Fraction(10_050), Fraction(10_200))  # both on a whole tick

    assert ImpactPremium(impact).at(reference) == premium_at(impact, reference)
    assert (ImpactPremium(impact).at(reference) == 0) == (10_050 <= reference <= 10_200)


def test_premium_book_above_index_is_positive() -> None:
    # selling $10 into bids at $1.01 against I = $1.00: IBP 1.01, p = +1%
    assert premium([(10_100, 1_000)], [(10_200, 1_000)], 10_000, 10_000_000) == 10**10


def test_premium_book_below_index_is_negative() -> None:
    # buying $10 from asks at $0.99 against I = $1.00: IAP 0.99, p = -1%
    assert premium([(9_800, 2_000)], [(9_900, 2_000)], 10_000, 10_000_000) == -(10**10)


def test_premium_index_inside_impact_spread_is_zero() -> None:
    assert premium([(9_900, 2_000)], [(10_100, 2_000)], 10_000, 10_000_000) == 0


def test_premium_partial_last_level_uses_fractional_contracts() -> None:
    # Q = $5: 1 contract at $1.00 ($1), then $4 at $0.90 = 40/9 contracts; 49/9 in all.
    # IBP = 5 / (49/9) = 45/49; p = (45/49 - 9/10) / (9/10) = 1/49
    bids = [(10_000, 100), (9_000, 1_000)]
    result = premium(bids, [(9_100, 10_000)], 9_000, 5_000_000)

    assert result == round(Fraction(RATE_SCALE, 49)) == 20_408_163_265


def test_premium_exact_half_rounds_to_even() -> None:
    # I = 8192 ticks: p = 1/8192 = 122070312.5e-12 and 3/8192 = 366210937.5e-12
    asks = [(8_300, 1_000)]
    assert premium([(8_193, 100)], asks, 8_192, 8_193 * 100) == 122_070_312
    assert premium([(8_195, 100)], asks, 8_192, 8_195 * 100) == 366_210_938


def test_premium_walks_levels_for_the_ask_side() -> None:
    # buy $3: 1 contract at $0.90, then $2.10 of 2 contracts at $1.05; IAP = 3/3 = $1.00
    asks = [(9_000, 100), (10_500, 200), (20_000, 100)]
    assert premium([(8_000, 1_000)], asks, 10_000, 3_000_000) == 0
    assert premium([(8_000, 1_000)], asks, 11_000, 3_000_000) == round(
        Fraction(-1_000, 11_000) * RATE_SCALE
    )


@pytest.mark.parametrize(
    ("bids", "asks"),
    [
        ([(10_000, 50)], [(10_100, 1_000)]),  # bids hold $0.50 < $1
        ([(10_000, 1_000)], [(10_100, 99)]),  # asks hold $0.9999 < $1
        ([], [(10_100, 1_000)]),
        ([(10_000, 1_000)], []),
    ],
)
def test_premium_side_too_thin_is_none(
    bids: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> None:
    assert premium(bids, asks, 10_000, 1_000_000) is None


@pytest.mark.parametrize("reference", [None, 0, -5])
def test_premium_missing_or_bad_reference_is_none(reference: int | None) -> None:
    assert premium([(10_000, 1_000)], [(10_100, 1_000)], reference, 1_000_000) is None


def test_premium_non_positive_impact_notional_raises() -> None:
    with pytest.raises(ValueError, match="impact notional"):
        premium([(10_000, 1_000)], [(10_100, 1_000)], 10_000, 0)


# --- accumulator: naive model --------------------------------------------------------------


def naive_samples(
    records: list[tuple[int, int | None]], first: int, last: int
) -> list[tuple[int, bool, int | None]]:
    """(second, recorded, premium) per second, by scanning every record for every second."""
    result = []
    for second in range(first, last + 1):
        applicable = [value for ts, value in records if ts <= second * 1000]
        if applicable:
            result.append((second, True, applicable[-1]))
        else:
            result.append((second, False, None))
    return result


def naive_average(
    records: list[tuple[int, int | None]],
    start_ms: int,
    end_ms: int,
    handling: str,
    weighting: str,
) -> int:
    first = -(-start_ms // 1000)
    seconds = [k for k in range(first - 1, end_ms // 1000 + 2) if start_ms <= k * 1000 < end_ms]
    if not seconds:
        return 0
    total = Fraction(0)
    weights = 0
    for second, _, value in naive_samples(records, seconds[0], seconds[-1]):
        if value is None and handling == "exclude":
            continue
        weight = 1 if weighting == "twap" else second - first + 1
        total += weight * (value or 0)
        weights += weight
    return round(total / weights) if weights else 0


def build(records: list[tuple[int, int | None]]) -> PremiumAccumulator:
    accumulator = PremiumAccumulator()
    for ts, value in records:
        accumulator.record(ts, value)
    return accumulator


premium_values = st.one_of(
    st.none(),
    st.sampled_from([0, 7, -7, 10**8]),
    st.integers(-(10**11), 10**11),
)


@st.composite
def record_lists(draw: st.DrawFn) -> list[tuple[int, int | None]]:
    """Monotonic (ts_ms, premium) records with repeats, same-ms records and sub-second steps."""
    ts = draw(st.integers(-5_000, 5_000))
    records = []
    for _ in range(draw(st.integers(0, 12))):
        ts += draw(st.one_of(st.just(0), st.integers(1, 999), st.integers(1_000, 20_000)))
        records.append((ts, draw(premium_values)))
    return records


HANDLINGS: list[PremiumHandling] = ["dampen", "exclude"]
WEIGHTINGS: list[Weighting] = ["twap", "linear_recency"]


@settings(max_examples=300)
@given(
    records=record_lists(),
    start_ms=st.integers(-10_000, 120_000),
    length_ms=st.integers(0, 150_000),
    handling=st.sampled_from(HANDLINGS),
    weighting=st.sampled_from(WEIGHTINGS),
)
def test_accumulator_average_matches_naive_per_second_model(
    records: list[tuple[int, int | None]],
    start_ms: int,
    length_ms: int,
    handling: PremiumHandling,
    weighting: Weighting,
) -> None:
    end_ms = start_ms + length_ms
    accumulator = build(records)

    result = accumulator.average(start_ms, end_ms, handling=handling, weighting=weighting)

    assert result == naive_average(records, start_ms, end_ms, handling, weighting)


@settings(max_examples=200)
@given(
    records=record_lists(),
    start_s=st.integers(-10, 120),
    length_s=st.integers(-1, 150),
)
def test_accumulator_points_match_naive_per_second_model(
    records: list[tuple[int, int | None]], start_s: int, length_s: int
) -> None:
    end_s = start_s + length_s
    expected = [
        (second, value)
        for second, recorded, value in naive_samples(records, start_s, end_s)
        if recorded
    ]

    assert build(records).points(start_s, end_s) == expected


@settings(max_examples=200)
@given(
    records=record_lists(),
    prune_ms=st.integers(-10_000, 120_000),
    length_ms=st.integers(0, 100_000),
    handling=st.sampled_from(HANDLINGS),
    weighting=st.sampled_from(WEIGHTINGS),
)
def test_accumulator_prune_keeps_everything_from_the_prune_time_on(
    records: list[tuple[int, int | None]],
    prune_ms: int,
    length_ms: int,
    handling: PremiumHandling,
    weighting: Weighting,
) -> None:
    whole = build(records)
    pruned = build(records)
    pruned.prune(prune_ms)
    end_ms = prune_ms + length_ms

    assert pruned.segment_count <= whole.segment_count
    assert pruned.average(prune_ms, end_ms, handling=handling, weighting=weighting) == (
        whole.average(prune_ms, end_ms, handling=handling, weighting=weighting)
    )
    first_s = -(-prune_ms // 1000)
    assert pruned.points(first_s, end_ms // 1000) == whole.points(first_s, end_ms // 1000)
    if end_ms // 1000 * 1000 >= prune_ms:  # that second's sample is from the prune time on
        assert pruned.last_point(end_ms) == whole.last_point(end_ms)


# --- accumulator: hand cases ---------------------------------------------------------------


def test_accumulator_eight_hours_with_few_changes_keeps_few_segments() -> None:
    start = 1_781_409_600_000  # a funding instant
    end = start + 8 * 3_600_000
    accumulator = PremiumAccumulator()
    accumulator.record(start, 100)
    accumulator.record(start + 2 * 3_600_000, None)
    accumulator.record(start + 4 * 3_600_000, 300)
    for second in range(start // 1000 + 14_400, start // 1000 + 15_400):  # repeats are free
        accumulator.record(second * 1000, 300)

    assert accumulator.segment_count == 3
    # twap/dampen: (7200 x 100 + 7200 x 0 + 14400 x 300) / 28800 = 175
    assert accumulator.average(start, end, handling="dampen", weighting="twap") == 175
    # exclude: (7200 x 100 + 14400 x 300) / 21600 = 233.33
    assert accumulator.average(start, end, handling="exclude", weighting="twap") == 233
    # linear recency: weights 1..28800; closed form against the naive loop over seconds
    records: list[tuple[int, int | None]] = [
        (start, 100),
        (start + 7_200_000, None),
        (start + 14_400_000, 300),
    ]
    assert accumulator.average(start, end, handling="dampen", weighting="linear_recency") == (
        naive_average(records, start, end, "dampen", "linear_recency")
    )


def test_accumulator_average_with_sub_second_window_edges_uses_whole_seconds() -> None:
    accumulator = build([(0, 10), (1_500, 40)])

    # seconds 1 (k*1000 = 1000 >= 999) and 2 (2000 < 2001): 10 and 40
    assert accumulator.average(999, 2_001, handling="dampen", weighting="twap") == 25
    # second 2 only: 2000 < 2000 is false, so the window [1001, 2000) holds no second
    assert accumulator.average(1_001, 2_000, handling="dampen", weighting="twap") == 0


def test_accumulator_empty_history_averages_to_zero() -> None:
    accumulator = PremiumAccumulator()

    assert accumulator.average(0, 60_000, handling="dampen", weighting="twap") == 0
    assert accumulator.points(0, 59) == []
    assert accumulator.last_point(60_000) is None


def test_accumulator_unrecorded_seconds_count_as_invalid() -> None:
    accumulator = build([(2_000, 90)])

    assert accumulator.average(0, 4_000, handling="dampen", weighting="twap") == 45
    assert accumulator.average(0, 4_000, handling="exclude", weighting="twap") == 90
    assert accumulator.points(0, 3) == [(2, 90), (3, 90)]


def test_accumulator_all_invalid_excluded_averages_to_zero() -> None:
    accumulator = build([(0, None)])

    assert accumulator.average(0, 10_000, handling="exclude", weighting="linear_recency") == 0


def test_accumulator_linear_recency_weights_count_from_the_window_start() -> None:
    # seconds 10..13 weigh 1..4; second 10 and 11 are invalid and skipped
    accumulator = build([(0, None), (12_000, 70)])

    assert accumulator.average(10_000, 14_000, handling="exclude", weighting="linear_recency") == 70
    # dampen: (3 x 70 + 4 x 70) / 10 = 49
    assert accumulator.average(10_000, 14_000, handling="dampen", weighting="linear_recency") == 49


def test_accumulator_record_earlier_than_previous_raises() -> None:
    accumulator = build([(5_000, 1)])

    with pytest.raises(ValueError, match="before the previous record"):
        accumulator.record(4_999, 2)


def test_accumulator_record_same_value_twice_does_not_grow() -> None:
    accumulator = build([(0, 5), (1_000, 5), (2_000, None), (3_000, None)])

    assert accumulator.segment_count == 2


def test_accumulator_record_at_same_instant_replaces_the_previous_record() -> None:
    accumulator = build([(0, 5), (1_000, 6), (1_000, 5)])

    assert accumulator.segment_count == 1
    assert accumulator.points(0, 1) == [(0, 5), (1, 5)]


def test_accumulator_repeated_value_still_advances_the_monotonic_floor() -> None:
    accumulator = build([(0, 5), (3_000, 5)])

    with pytest.raises(ValueError):
        accumulator.record(2_000, 6)


def test_accumulator_last_point_is_the_last_whole_second_at_or_before_now() -> None:
    accumulator = build([(1_000, 3), (2_500, None)])

    assert accumulator.last_point(999) is None
    assert accumulator.last_point(2_999) == (2, 3)
    assert accumulator.last_point(3_000) == (3, None)


def test_accumulator_average_rejects_unknown_modes() -> None:
    accumulator = build([(0, 1)])

    with pytest.raises(ValueError, match="handling"):
        accumulator.average(0, 1_000, handling="ignore", weighting="twap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weighting"):
        accumulator.average(0, 1_000, handling="dampen", weighting="ewma")  # type: ignore[arg-type]


# --- finalize_rate -------------------------------------------------------------------------


def test_finalize_rate_below_deadband_is_zero() -> None:
    assert percentage(parse_rate("0.00009")) == 0
    assert percentage(-parse_rate("0.00009")) == 0


def test_finalize_rate_at_deadband_is_kept() -> None:
    assert percentage(parse_rate("0.0001")) == parse_rate("0.0001")
    assert percentage(-parse_rate("0.0001")) == -parse_rate("0.0001")


def percentage(raw: int) -> int:
    return finalize_rate(raw, deadband=PERCENT_DEADBAND, cap=PERCENT_CAP, limit_unit="percentage")


def dollar(raw: int, mark: int) -> int:
    """Dollar limits: deadband $0.001 and cap $0.50 per contract."""
    return finalize_rate(
        raw,
        deadband=parse_rate("0.001"),
        cap=parse_rate("0.5"),
        limit_unit="dollar",
        settlement_mark=mark,
    )


def test_finalize_rate_beyond_cap_clamps_to_two_percent() -> None:
    assert percentage(parse_rate("0.025")) == parse_rate("0.02")
    assert percentage(-parse_rate("0.5")) == -parse_rate("0.02")
    assert percentage(parse_rate("0.02")) == parse_rate("0.02")


def test_finalize_rate_dollar_unit_compares_per_contract_dollars() -> None:
    mark = 500_000  # $50

    assert dollar(parse_rate("0.00001"), mark) == 0  # $0.0005 < $0.001
    assert dollar(parse_rate("0.0001"), mark) == parse_rate("0.0001")  # $0.005 is kept
    assert dollar(-parse_rate("0.02"), mark) == -parse_rate("0.01")  # -$1 caps at -$0.50


def test_finalize_rate_dollar_cap_rounds_the_rate_toward_zero() -> None:
    # cap $0.0001 at mark $3: 0.0001 / 3 = 0.0000333... -> 33_333_333 (1e-12)
    rate = finalize_rate(
        parse_rate("0.01"),
        deadband=0,
        cap=parse_rate("0.0001"),
        limit_unit="dollar",
        settlement_mark=30_000,
    )
    assert rate == 33_333_333


def test_finalize_rate_dollar_unit_without_mark_raises() -> None:
    with pytest.raises(ValueError, match="settlement mark"):
        finalize_rate(1, deadband=0, cap=1, limit_unit="dollar")


def test_finalize_rate_negative_limits_raise() -> None:
    with pytest.raises(ValueError, match="negative"):
        finalize_rate(1, deadband=-1, cap=1, limit_unit="percentage")


# --- funding_payment -----------------------------------------------------------------------


def test_funding_payment_long_pays_rounded_away_from_zero() -> None:
    # 2.5 long x $6.3329 x 0.0001 = $0.001583225 paid -> $0.0016
    assert funding_payment(250, 63_329, parse_rate("0.0001")) == -1_600


def test_funding_payment_short_receives_rounded_toward_zero() -> None:
    assert funding_payment(-250, 63_329, parse_rate("0.0001")) == 1_500


def test_funding_payment_negative_rate_makes_shorts_pay_and_longs_receive() -> None:
    assert funding_payment(-250, 63_329, -parse_rate("0.0001")) == -1_600
    assert funding_payment(250, 63_329, -parse_rate("0.0001")) == 1_500


def test_funding_payment_zero_rate_or_flat_position_is_zero() -> None:
    assert funding_payment(250, 63_329, 0) == 0
    assert funding_payment(0, 63_329, parse_rate("0.0001")) == 0


def test_funding_payment_exact_centicent_amount_is_not_rounded() -> None:
    # 10 long x $5.0000 x 0.0002 = $0.01 exactly
    assert funding_payment(1_000, 50_000, parse_rate("0.0002")) == -10_000
    assert funding_payment(-1_000, 50_000, parse_rate("0.0002")) == 10_000


def test_funding_payment_tiny_sub_micro_amount_rounds_by_side() -> None:
    # 0.01 contract x $0.0001 x 1e-12: the payer still pays $0.0001, the receiver gets 0
    assert funding_payment(1, 1, 1) == -100
    assert funding_payment(-1, 1, 1) == 0


@settings(max_examples=200)
@given(
    position=st.integers(-(10**8), 10**8),
    mark=st.integers(1, 10**7),
    rate=st.integers(-(2 * 10**10), 2 * 10**10),
)
def test_funding_payment_bounds_the_exact_amount_by_side(
    position: int, mark: int, rate: int
) -> None:
    exact = Fraction(-position * mark * rate, RATE_SCALE)
    amount = funding_payment(position, mark, rate)

    assert amount % 100 == 0
    assert abs(amount - exact) < 100
    if exact < 0:
        assert amount <= exact
    else:
        assert 0 <= amount <= exact


# --- FundingSettings -----------------------------------------------------------------------


def test_settings_defaults_follow_the_mechanics_table() -> None:
    defaults = FundingSettings()

    assert defaults.deadband == PERCENT_DEADBAND
    assert defaults.cap == PERCENT_CAP
    assert defaults.limit_unit == "percentage"
    assert defaults.invalid_premium_handling == "dampen"
    assert defaults.weighting == "twap"
    assert defaults.impact_notional == 1_000_000_000
    assert defaults.schedule == "crypto_8h"


def test_settings_finalize_and_average_use_their_fields() -> None:
    accumulator = build([(0, None), (2_000, 3 * 10**8)])
    excluding = FundingSettings(invalid_premium_handling="exclude")

    assert FundingSettings().average(accumulator, 0, 4_000) == 15 * 10**7
    assert excluding.average(accumulator, 0, 4_000) == 3 * 10**8
    assert FundingSettings().finalize_rate(parse_rate("0.00005")) == 0
    assert FundingSettings().finalize_rate(parse_rate("0.03")) == parse_rate("0.02")


@pytest.mark.parametrize(
    "bad",
    [
        {"deadband": -1},
        {"limit_unit": "bps"},
        {"invalid_premium_handling": "skip"},
        {"weighting": "ewma"},
        {"impact_notional": 0},
        {"schedule": "hourly"},
    ],
)
def test_settings_invalid_field_raises(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FundingSettings(**bad)  # type: ignore[arg-type]
