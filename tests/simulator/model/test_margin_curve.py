"""The maintenance-margin schedule fitted from leverage estimates (MECHANICS 3.3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.model.margin_curve import MarginCurve

IM_MULT = 1_300_000_000_000


def test_flat_schedule_has_a_constant_rate():
    curve = MarginCurve.from_leverage_estimates({"1000": 6.0, "1000000": 6.0}, IM_MULT)

    assert curve.k == 0
    assert curve.rate_at(10**9) == curve.rate_at(10**12)


def test_growing_schedule_raises_margin_with_size():
    curve = MarginCurve.from_leverage_estimates(
        {"1000": 3.02, "10000": 2.96, "100000": 2.77, "1000000": 2.25}, IM_MULT
    )

    small = curve.maintenance_margin(1_000 * 10**6) / (1_000 * 10**6)
    large = curve.maintenance_margin(1_000_000 * 10**6) / (1_000_000 * 10**6)
    assert small == pytest.approx(1 / (1.3 * 3.02), rel=0.01)
    assert large == pytest.approx(1 / (1.3 * 2.25), rel=0.01)


def test_irregular_schedule_falls_back_to_interpolation():
    curve = MarginCurve.from_leverage_estimates(
        {"1000": 10.0, "10000": 2.0, "100000": 1.9, "1000000": 1.8}, IM_MULT
    )

    assert curve.piecewise
    assert curve.leverage_at(10_000) == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("bad", [{}, {"1000": 0.0}, {"1000": -2.0}])
def test_invalid_estimates_are_rejected(bad):
    with pytest.raises(ValueError):
        MarginCurve.from_leverage_estimates(bad, IM_MULT)


@given(st.integers(min_value=1, max_value=10**13))
def test_margin_rounds_up_to_a_centicent_and_im_exceeds_mm(notional):
    curve = MarginCurve.from_leverage_estimates({"1000": 5.899}, IM_MULT)

    mm = curve.maintenance_margin(notional)
    im = curve.initial_margin(mm)

    assert mm % 100 == 0
    assert mm * 10**12 >= notional * curve.rate_at(notional)
    assert im >= mm * 13 // 10
    assert curve.maintenance_margin(0) == 0


_SCHEDULES = {
    "flat": {"1000": 6.0, "1000000": 6.0},
    "growing": {"1000": 3.02, "10000": 2.96, "100000": 2.77, "1000000": 2.25},
    "irregular": {"1000": 10.0, "10000": 2.0, "100000": 1.9, "1000000": 1.8},
}


@pytest.mark.parametrize("name", sorted(_SCHEDULES))
@given(st.lists(st.integers(min_value=0, max_value=10**14), min_size=2, max_size=20).map(sorted))
def test_a_curve_said_non_decreasing_never_lowers_im_as_notional_grows(name, notionals):
    # what lets an amend that adds no resting value skip the risk check
    curve = MarginCurve.from_leverage_estimates(_SCHEDULES[name], IM_MULT)
    assert curve.non_decreasing() is (name != "irregular")
    if curve.non_decreasing():
        margins = [curve.initial_margin_for(n) for n in notionals]
        assert margins == sorted(margins)
