"""Maintenance and initial margin of one position from a market's `leverage_estimates`.

MECHANICS.md 3.3: `leverage_estimate(N) = notional / IM`, so the maintenance-margin rate at
notional N is `1 / (IM_mult x lev(N))`. The four published points ($1k, $10k, $100k, $1M) are
fitted with `rate(N) = r0 + k N^gamma` (gamma in [0.3, 1.0], least squares); a flat schedule
gives `k = 0`. `MM = ceil_0.0001(N x rate(N))`, `IM = ceil_0.0001(IM_mult x MM)`.

Assumption: the fit is computed in floating point once per market at load time; evaluating it
yields an integer rate (1e-12 units) so money stays integer from there on. Deviation: where the
power law misses a published point by more than 2% of its rate, the schedule falls back to
piecewise-linear interpolation in log10(N) (flat below $1k, last slope above $1M).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator.core.money import CENTICENT, MONEY_SCALE, RATE_SCALE

__all__ = ["MarginCurve"]

_FIT_TOLERANCE = 0.02
_IM_MEMO_SIZE = 65_536  # notionals whose IM a curve keeps (all dropped when it is full)
_GAMMAS = [0.3 + i * 0.005 for i in range(141)]


@dataclass(frozen=True, slots=True)
class MarginCurve:
    """A market's maintenance-margin rate as a function of position notional.

    Attributes:
        im_multiplier: IM / MM, in 1e-12 units (1.3 is 1_300_000_000_000).
        r0, k, gamma: the power-law fit `rate(N) = r0 + k N^gamma` (N in dollars).
        points: (log10 notional, rate) pairs used by the piecewise-linear fallback.
        piecewise: whether the fallback is in use.
        flat_rate: the rate of a flat schedule (1e-12 units), else None.

    `initial_margin_for` keeps the IM of the notionals it was last asked for (a pure
    function of the notional; the house maker's ladders ask for the same few again and again).
    """

    im_multiplier: int
    r0: float
    k: float
    gamma: float
    points: tuple[tuple[float, float], ...]
    piecewise: bool
    flat_rate: int | None = None
    _im_memo: dict[int, int] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def from_leverage_estimates(
        cls, estimates: Mapping[str, float], im_multiplier: int
    ) -> MarginCurve:
        """Fit the curve to `{"1000": lev, "10000": lev, ...}` (notional dollars -> leverage).

        >>> curve = MarginCurve.from_leverage_estimates({"1000": 5.899}, 1_300_000_000_000)
        >>> curve.maintenance_margin(6_332_900), curve.initial_margin(825_900)
        (825900, 1073700)
        """
        if not estimates:
            raise ValueError("leverage_estimates must have at least one point")
        if im_multiplier <= 0:
            raise ValueError(f"initial margin multiplier must be positive, was {im_multiplier}")
        mult = im_multiplier / RATE_SCALE
        if any(not float(lev) > 0 for lev in estimates.values()):
            raise ValueError(f"leverage_estimates must be positive, was {dict(estimates)}")
        pts = sorted((float(n), 1.0 / (mult * float(lev))) for n, lev in estimates.items())
        if any(n <= 0 for n, _ in pts) or any(r <= 0 or math.isinf(r) for _, r in pts):
            raise ValueError(f"leverage_estimates must be positive, was {dict(estimates)}")
        log_points = tuple((math.log10(n), r) for n, r in pts)
        rates = [r for _, r in pts]
        if len(pts) == 1 or max(rates) - min(rates) <= 1e-12 or rates[-1] <= rates[0]:
            flat = max(0, round(rates[0] * RATE_SCALE))
            return cls(im_multiplier, rates[0], 0.0, 1.0, log_points, False, flat)
        r0, k, gamma = _fit_power_law(pts)
        worst = max(abs(r0 + k * n**gamma - r) / r for n, r in pts)
        return cls(im_multiplier, r0, k, gamma, log_points, worst > _FIT_TOLERANCE)

    def non_decreasing(self) -> bool:
        """Whether IM never falls as notional grows: a flat rate, or a power law with k >= 0
        (the piecewise fallback may slope down, so it does not count)."""
        return self.flat_rate is not None or (not self.piecewise and self.k >= 0)

    def rate_at(self, notional: int) -> int:
        """Maintenance-margin rate (1e-12 units) at a notional in micro-dollars."""
        dollars = notional / MONEY_SCALE
        if self.piecewise:
            rate = _interpolate(self.points, math.log10(dollars) if dollars > 0 else -math.inf)
        else:
            rate = float(self.r0 + self.k * dollars**self.gamma) if self.k else self.r0
        return max(0, round(rate * RATE_SCALE))

    def maintenance_margin(self, notional: int) -> int:
        """MM of a position of this notional (micro-dollars), rounded up to $0.0001."""
        if notional <= 0:
            return 0
        rate = self.flat_rate if self.flat_rate is not None else self.rate_at(notional)
        exact = -(-notional * rate // RATE_SCALE)
        return -(-exact // CENTICENT) * CENTICENT

    def initial_margin(self, maintenance_margin: int) -> int:
        """IM from a (rounded) MM, rounded up to $0.0001."""
        if maintenance_margin <= 0:
            return 0
        exact = -(-maintenance_margin * self.im_multiplier // RATE_SCALE)
        return -(-exact // CENTICENT) * CENTICENT

    def initial_margin_for(self, notional: int) -> int:
        """IM of a position of this notional (`initial_margin(maintenance_margin(notional))`).

        Spelled out in one body, and kept per notional: every pre-trade check evaluates it
        for the new worst case.
        """
        memo = self._im_memo
        im = memo.get(notional)
        if im is None:
            im = self._initial_margin_for(notional)
            if len(memo) >= _IM_MEMO_SIZE:
                memo.clear()
            memo[notional] = im
        return im

    def _initial_margin_for(self, notional: int) -> int:
        if notional <= 0:
            return 0
        rate = self.flat_rate
        if rate is None:
            rate = self.rate_at(notional)
        exact = -(-notional * rate // RATE_SCALE)
        mm = -(-exact // CENTICENT) * CENTICENT
        if mm <= 0:
            return 0
        exact = -(-mm * self.im_multiplier // RATE_SCALE)
        return -(-exact // CENTICENT) * CENTICENT

    def marginal_rate(self, notional: int) -> float:
        """Upper estimate of d(MM)/d(notional) near a notional; used only to schedule checks."""
        dollars = max(notional / MONEY_SCALE, 1.0)
        if self.piecewise:
            return max(r for _, r in self.points) * 2.0
        return float(self.r0 + self.k * (1.0 + self.gamma) * dollars**self.gamma)

    def leverage_at(self, notional_dollars: int) -> float:
        """The `leverage_estimate` this curve implies at a notional in dollars."""
        rate = self.rate_at(notional_dollars * MONEY_SCALE) / RATE_SCALE
        return 1.0 / (rate * self.im_multiplier / RATE_SCALE) if rate > 0 else math.inf


def _fit_power_law(pts: list[tuple[float, float]]) -> tuple[float, float, float]:
    best: tuple[float, float, float, float] | None = None
    for gamma in _GAMMAS:
        xs = [n**gamma for n, _ in pts]
        ys = [r for _, r in pts]
        count = len(xs)
        mean_x, mean_y = sum(xs) / count, sum(ys) / count
        var = sum((x - mean_x) ** 2 for x in xs)
        if var == 0:
            continue
        k = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var
        k = max(k, 0.0)
        r0 = mean_y - k * mean_x
        sse = sum((r0 + k * x - y) ** 2 for x, y in zip(xs, ys, strict=True))
        if best is None or sse < best[0]:
            best = (sse, r0, k, gamma)
    assert best is not None
    return best[1], best[2], best[3]


def _interpolate(points: tuple[tuple[float, float], ...], x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return y1 + (y1 - y0) * (x - x1) / (x1 - x0)
