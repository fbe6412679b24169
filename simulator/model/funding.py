"""Funding mechanics: the impact-price premium, its per-second average, the rate, the payment.

Pure integer arithmetic in the units of `simulator.core.money` (MECHANICS §5.2, §5.3, §9 #9-#13):
prices in ticks, counts in 1/100 contract, money in micro-dollars, rates and premiums in 1e-12
(`RATE_SCALE`). Times are integer epoch milliseconds passed in by the caller.

Where a result is a quotient (premium, average) it is computed exactly and rounded half to
even to a 1e-12 integer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from simulator.core.money import (
    MONEY_SCALE,
    PRICE_SCALE,
    RATE_SCALE,
    ceil_div,
    round_away_to_centicent,
    round_half_even,
    round_toward_to_centicent,
)
from simulator.model.funding_schedule import SCHEDULE_NAMES

__all__ = [
    "FundingSettings",
    "ImpactPremium",
    "LimitUnit",
    "PremiumAccumulator",
    "PremiumHandling",
    "Weighting",
    "finalize_rate",
    "funding_payment",
    "impact_parts",
    "impact_prices",
    "premium",
    "premium_at",
]

LimitUnit = Literal["percentage", "dollar"]
PremiumHandling = Literal["dampen", "exclude"]
Weighting = Literal["twap", "linear_recency"]

_LIMIT_UNITS: tuple[str, ...] = ("percentage", "dollar")
_HANDLINGS: tuple[str, ...] = ("dampen", "exclude")
_WEIGHTINGS: tuple[str, ...] = ("twap", "linear_recency")
_PERCENT = 100


def impact_parts(levels: Iterable[tuple[int, int]], notional: int) -> tuple[int, int] | None:
    """The average price (ticks) of trading `notional` micro-dollars through `levels`.

    `levels` are `(price_ticks, count_centi)`, best first; they are read only until the
    notional is reached (a lazy `OrderBook.levels` reads no further). The last level used
    may be taken in part, in fractional contracts. Returns the price as an unreduced
    `(numerator, denominator)`, denominator > 0, or None when the levels hold less than
    `notional`. Levels with a non-positive price or count hold nothing.

    >>> impact_parts([(100, 50), (110, 100)], 10_000)  # 50 at 100, then 1,000/11 at 110
    (1100000, 10500)
    """
    remaining = notional
    whole = 0  # contracts of the levels taken in full
    for price, count in levels:
        if price <= 0 or count <= 0:
            continue
        level_notional = price * count
        if level_notional >= remaining:
            # notional / (whole + remaining / price), as one fraction
            return notional * price, whole * price + remaining
        remaining -= level_notional
        whole += count
    return None


def _impact_price(levels: Sequence[tuple[int, int]], notional: int) -> Fraction | None:
    """`impact_parts` as a `Fraction`."""
    parts = impact_parts(levels, notional)
    return None if parts is None else Fraction(*parts)


def premium(
    bids: Sequence[tuple[int, int]],
    asks: Sequence[tuple[int, int]],
    reference: int | None,
    impact_notional: int,
) -> int | None:
    """The impact-price premium of a book over its reference price (MECHANICS §5.2).

    IBP is the average price of selling `impact_notional` into the bids, IAP of buying it from
    the asks; the premium is `(max(0, IBP - I) - max(0, I - IAP)) / I`, computed exactly and
    rounded half to even to 1e-12 units.

    Args:
        bids: Bid levels `(price_ticks, count_centi)`, best (highest) first.
        asks: Ask levels `(price_ticks, count_centi)`, best (lowest) first.
        reference: Reference price I in ticks, or None when missing.
        impact_notional: Impact notional Q in micro-dollars (> 0).

    Returns:
        The signed premium in 1e-12 units, or None when undefined: the reference is missing or
        not positive, or a side cannot absorb Q.

    Raises:
        ValueError: `impact_notional` is not positive.

    >>> premium([(10_100, 1_000)], [(10_200, 1_000)], 10_000, 10_000_000)  # bids 1% above I
    10000000000
    >>> premium([(9_900, 1_000)], [(10_100, 1_000)], 10_000, 5_000_000)  # I inside the spread
    0
    """
    if reference is None or reference <= 0:
        if impact_notional <= 0:
            raise ValueError(f"impact notional must be positive, was {impact_notional}")
        return None
    return premium_at(impact_prices(bids, asks, impact_notional), reference)


def impact_prices(
    bids: Sequence[tuple[int, int]], asks: Sequence[tuple[int, int]], impact_notional: int
) -> tuple[Fraction, Fraction] | None:
    """(IBP, IAP) of a book at an impact notional; None when a side cannot absorb it.

    They depend on the book only, so a caller may keep them until the book changes.

    Raises:
        ValueError: `impact_notional` is not positive.
    """
    if impact_notional <= 0:
        raise ValueError(f"impact notional must be positive, was {impact_notional}")
    ibp = _impact_price(bids, impact_notional)
    iap = _impact_price(asks, impact_notional)
    if ibp is None or iap is None:
        return None
    return ibp, iap


def premium_at(impact: tuple[Fraction, Fraction] | None, reference: int | None) -> int | None:
    """The premium of impact prices `(IBP, IAP)` over a reference price (see `premium`)."""
    if impact is None or reference is None or reference <= 0:
        return None
    ibp, iap = impact
    # integer arithmetic on the fractions' parts: this runs once per market per second
    if ibp > reference:
        num, den = ibp.numerator, ibp.denominator
        return round_half_even((num - reference * den) * RATE_SCALE, reference * den)
    if iap < reference:
        num, den = iap.numerator, iap.denominator
        return -round_half_even((reference * den - num) * RATE_SCALE, reference * den)
    return 0


class ImpactPremium:
    """`premium_at` for one pair of impact prices, prepared to price many references.

    The impact prices depend on the book only, so a caller keeps this until the book changes;
    each reference then costs two integer comparisons when it sits between them (premium 0),
    as it does most of the time.

    >>> from fractions import Fraction
    >>> impact = (Fraction(20_101, 2), Fraction(10_200))
    >>> [ImpactPremium(impact).at(r) for r in (10_000, 10_050, 10_100, 10_300)]
    [5050000000, 49751244, 0, -9708737864]
    >>> [premium_at(impact, r) for r in (10_000, 10_050, 10_100, 10_300)]
    [5050000000, 49751244, 0, -9708737864]
    """

    __slots__ = ("_above", "_below", "_iap", "_ibp")

    def __init__(
        self, impact: tuple[Fraction, Fraction] | tuple[tuple[int, int], tuple[int, int]]
    ) -> None:
        """`impact` is `(IBP, IAP)`, as fractions or as `impact_parts` pairs."""
        ibp, iap = impact
        # the premium is a rounded quotient of these parts: unreduced ones give the same one
        self._ibp = (ibp.numerator, ibp.denominator) if isinstance(ibp, Fraction) else ibp
        self._iap = (iap.numerator, iap.denominator) if isinstance(iap, Fraction) else iap
        # for an integer r: IBP > r <=> r < ceil(IBP), and IAP < r <=> r > floor(IAP)
        self._above = -(-self._ibp[0] // self._ibp[1])
        self._below = self._iap[0] // self._iap[1]

    def at(self, reference: int | None) -> int | None:
        """The premium over `reference` in 1e-12 units; None without a positive reference."""
        if reference is None or reference <= 0:
            return None
        if reference < self._above:
            num, den = self._ibp
            return round_half_even((num - reference * den) * RATE_SCALE, reference * den)
        if reference > self._below:
            num, den = self._iap
            return -round_half_even((reference * den - num) * RATE_SCALE, reference * den)
        return 0


class PremiumAccumulator:
    """One market's premium history as a step function of time, averaged per whole second.

    `record(ts_ms, p)` means "from `ts_ms` on the premium is `p`" (None: invalid, i.e. not
    measurable). The sample of second `k` (epoch seconds) is the state in force at `k * 1000`
    ms. Seconds before the first kept record are unrecorded: they average as invalid seconds
    and are left out of `points`.

    The history holds one segment per change, so averages cost time proportional to the
    number of changes in the window, never to the number of seconds.

    >>> acc = PremiumAccumulator()
    >>> acc.record(0, 100)
    >>> acc.record(2_000, None)
    >>> acc.record(3_500, 400)
    >>> acc.points(0, 4)
    [(0, 100), (1, 100), (2, None), (3, None), (4, 400)]
    >>> acc.average(0, 5_000, handling="dampen", weighting="twap")  # (100+100+0+0+400)/5
    120
    >>> acc.average(0, 5_000, handling="exclude", weighting="twap")  # (100+100+400)/3
    200
    >>> acc.average(0, 5_000, handling="dampen", weighting="linear_recency")  # 2300/15
    153
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._values: list[int | None] = []
        self._last_record_ms: int | None = None

    @property
    def segment_count(self) -> int:
        """How many segments (changes of state) the history holds."""
        return len(self._starts)

    @property
    def last_record_ms(self) -> int | None:
        """When the last record was made (None before any): later records come no earlier,
        so the samples of seconds before it are final."""
        return self._last_record_ms

    def record(self, ts_ms: int, premium: int | None) -> None:
        """Set the premium in force from `ts_ms` on (None: invalid).

        A record at the same instant as the previous one replaces it; a record repeating the
        state in force adds nothing to the history.

        Args:
            ts_ms: Epoch milliseconds, not earlier than the previous record.
            premium: Premium in 1e-12 units, or None for an invalid (unmeasurable) premium.

        Raises:
            ValueError: `ts_ms` is earlier than the previous record.
        """
        if self._last_record_ms is not None and ts_ms < self._last_record_ms:
            raise ValueError(
                f"premium recorded at {ts_ms} ms, before the previous record at "
                f"{self._last_record_ms} ms"
            )
        self._last_record_ms = ts_ms
        if self._starts and self._starts[-1] == ts_ms:
            self._values[-1] = premium
            if len(self._values) >= 2 and self._values[-2] == premium:
                self._starts.pop()
                self._values.pop()
        elif not self._starts or self._values[-1] != premium:
            self._starts.append(ts_ms)
            self._values.append(premium)

    def prune(self, before_ms: int) -> None:
        """Drop history no longer needed for seconds at or after `before_ms`.

        The state in force at `before_ms` is kept, so samples from `before_ms` on are
        unchanged; earlier seconds may become unrecorded.

        Args:
            before_ms: Epoch milliseconds.
        """
        keep_from = bisect_right(self._starts, before_ms) - 1
        if keep_from > 0:
            del self._starts[:keep_from]
            del self._values[:keep_from]

    def average(
        self,
        start_ms: int,
        end_ms: int,
        *,
        handling: PremiumHandling,
        weighting: Weighting,
    ) -> int:
        """Weighted average premium over seconds `k` with `start_ms <= k * 1000 < end_ms`.

        Invalid (and unrecorded) seconds count as premium 0 with `dampen` and are skipped with
        `exclude`. Weights are 1 with `twap` and `k - first + 1` with `linear_recency`, where
        `first` is the window's first second (skipped seconds keep their place in the count).

        Args:
            start_ms: Window start, epoch milliseconds.
            end_ms: Window end (exclusive), epoch milliseconds.
            handling: `dampen` or `exclude`.
            weighting: `twap` or `linear_recency`.

        Returns:
            `sum(w * p) / sum(w)` rounded half to even, in 1e-12 units; 0 when no second counts.

        Raises:
            ValueError: Unknown `handling` or `weighting`.
        """
        first = ceil_div(start_ms, 1000)
        weighted_sum, weight_total = self.sums(
            start_ms, end_ms, handling=handling, weighting=weighting, first_second=first
        )
        if weight_total == 0:
            return 0
        return round(Fraction(weighted_sum, weight_total))

    def sums(
        self,
        start_ms: int,
        end_ms: int,
        *,
        handling: PremiumHandling,
        weighting: Weighting,
        first_second: int,
    ) -> tuple[int, int]:
        """`(sum(w * p), sum(w))` over seconds `k` with `start_ms <= k * 1000 < end_ms`.

        Weights count from `first_second` (see `average`), so the sums of adjacent windows
        with the same `first_second` add up to the sums of their union: a caller can extend
        a running average without rescanning history.

        Raises:
            ValueError: Unknown `handling` or `weighting`.
        """
        if handling not in _HANDLINGS:
            raise ValueError(f"unknown invalid-premium handling {handling!r}")
        if weighting not in _WEIGHTINGS:
            raise ValueError(f"unknown premium weighting {weighting!r}")
        first = first_second
        weighted_sum = 0
        weight_total = 0
        for lo, hi, value, _ in self._runs(ceil_div(start_ms, 1000), ceil_div(end_ms, 1000) - 1):
            if value is None and handling == "exclude":
                continue
            seconds = hi - lo + 1
            # linear recency: the arithmetic series (lo - first + 1) + ... + (hi - first + 1)
            weight = seconds if weighting == "twap" else seconds * (lo + hi - 2 * first + 2) // 2
            weight_total += weight
            weighted_sum += weight * (value or 0)
        return weighted_sum, weight_total

    def points(self, start_s: int, end_s: int) -> list[tuple[int, int | None]]:
        """Per-second samples `(second, premium)` for recorded seconds in `[start_s, end_s]`.

        Args:
            start_s: First second (epoch seconds), inclusive.
            end_s: Last second (epoch seconds), inclusive. Callers cap the window (1 hour).

        Returns:
            One point per recorded second, ascending; premium None for an invalid second.
            Unrecorded seconds (before the first kept record) are left out.
        """
        result: list[tuple[int, int | None]] = []
        for lo, hi, value, recorded in self._runs(start_s, end_s):
            if recorded:
                result.extend((second, value) for second in range(lo, hi + 1))
        return result

    def last_point(self, now_ms: int) -> tuple[int, int | None] | None:
        """The sample of the last whole second at or before `now_ms`.

        Args:
            now_ms: Epoch milliseconds.

        Returns:
            `(second, premium)`, premium None when invalid; None when that second is
            unrecorded.
        """
        second = now_ms // 1000
        index = bisect_right(self._starts, second * 1000) - 1
        if index < 0:
            return None
        return second, self._values[index]

    def _runs(self, first: int, last: int) -> Iterator[tuple[int, int, int | None, bool]]:
        """Maximal runs `(lo, hi, value, recorded)` of seconds with one sample, covering
        `[first, last]` in order; unrecorded seconds come as `(lo, hi, None, False)`."""
        if last < first:
            return
        index = bisect_right(self._starts, first * 1000) - 1
        lo = first
        while lo <= last:
            if index + 1 < len(self._starts):
                # seconds k with k * 1000 < next start
                hi = min(last, ceil_div(self._starts[index + 1], 1000) - 1)
            else:
                hi = last
            if hi >= lo:
                value = self._values[index] if index >= 0 else None
                yield lo, hi, value, index >= 0
                lo = hi + 1
            index += 1


def _limits_as_rates(
    deadband: int, cap: int, limit_unit: LimitUnit, settlement_mark: int | None
) -> tuple[Fraction, Fraction]:
    """Deadband and cap as exact rates (fractions, not 1e-12 units) for this mark."""
    if limit_unit == "percentage":
        return Fraction(deadband, RATE_SCALE * _PERCENT), Fraction(cap, RATE_SCALE * _PERCENT)
    if limit_unit == "dollar":
        if settlement_mark is None or settlement_mark <= 0:
            raise ValueError("a dollar funding limit needs a positive settlement mark")
        mark_dollars = Fraction(settlement_mark, PRICE_SCALE)
        return (
            Fraction(deadband, RATE_SCALE) / mark_dollars,
            Fraction(cap, RATE_SCALE) / mark_dollars,
        )
    raise ValueError(f"unknown funding limit unit {limit_unit!r}")


def finalize_rate(
    raw_rate: int,
    *,
    deadband: int,
    cap: int,
    limit_unit: LimitUnit,
    settlement_mark: int | None = None,
) -> int:
    """Apply the deadband, then the cap, to a raw funding rate (MECHANICS §5.2, §9 #11).

    `deadband` and `cap` are the market's wire numbers scaled by 1e12 (what
    `money.parse_rate` gives for the wire text): with `percentage` they are percent (wire 0.01
    -> 10_000_000_000 -> a rate of 0.0001); with `dollar` they are dollars per contract and
    compare with `|raw_rate| x settlement_mark`.

    The rate is 0 when its magnitude is strictly below the deadband, else clamped to +/-cap.

    Assumption: a dollar cap converts back to a rate by `cap / settlement_mark`, rounded
    toward zero so the capped payment per contract never exceeds the dollar cap.

    Args:
        raw_rate: Raw (averaged) rate in 1e-12 units.
        deadband: Deadband wire number x 1e12 (>= 0).
        cap: Cap wire number x 1e12 (>= 0).
        limit_unit: `percentage` or `dollar`.
        settlement_mark: Settlement mark in ticks; required (> 0) for `dollar`.

    Returns:
        The final rate in 1e-12 units.

    Raises:
        ValueError: Negative deadband or cap, unknown unit, or a dollar unit without a positive
            settlement mark.

    >>> finalize_rate(90_000_000, deadband=10_000_000_000, cap=2 * 10**12,
    ...               limit_unit="percentage")  # 0.00009 < 0.01%
    0
    >>> finalize_rate(-30_000_000_000, deadband=10_000_000_000, cap=2 * 10**12,
    ...               limit_unit="percentage")  # -3% clamps to -2%
    -20000000000
    """
    if deadband < 0 or cap < 0:
        raise ValueError("funding deadband and cap must not be negative")
    deadband_rate, cap_rate = _limits_as_rates(deadband, cap, limit_unit, settlement_mark)
    magnitude = Fraction(abs(raw_rate), RATE_SCALE)
    if magnitude < deadband_rate:
        return 0
    if magnitude <= cap_rate:
        return raw_rate
    capped = int(cap_rate * RATE_SCALE)  # toward zero; exact for percentage limits
    return capped if raw_rate > 0 else -capped


def funding_payment(position: int, settlement_mark: int, rate: int) -> int:
    """The funding cash flow of one position (MECHANICS §5.3, §9 #13).

    The exact amount `-position x settlement_mark x rate` is rounded to $0.0001: a payer's
    (negative) amount away from zero, a receiver's (positive) amount toward zero.

    Args:
        position: Signed position in 1/100 contracts (long > 0).
        settlement_mark: Settlement mark price in ticks.
        rate: Final funding rate in 1e-12 units (positive: longs pay shorts).

    Returns:
        Micro-dollars, a multiple of 100; positive = received, negative = paid.

    >>> funding_payment(100, 63_329, 100_000_000)  # 1 long at $6.3329, rate 0.0001 pays
    -700
    >>> funding_payment(-100, 63_329, 100_000_000)  # the short receives
    600
    """
    exact = -position * settlement_mark * rate  # micro-dollars x 1e12
    if exact < 0:
        # ceil of the whole-micro ceiling to a centicent equals the exact ceiling
        return round_away_to_centicent(-ceil_div(-exact, RATE_SCALE))
    return round_toward_to_centicent(exact // RATE_SCALE)


@dataclass(frozen=True)
class FundingSettings:
    """A market's funding parameters (MECHANICS §12 defaults).

    Attributes:
        deadband: Deadband wire number x 1e12 (default 0.01, i.e. 0.01% with `percentage`).
        cap: Cap wire number x 1e12 (default 2, i.e. 2% with `percentage`).
        limit_unit: Unit of `deadband` and `cap`: `percentage` or `dollar`.
        invalid_premium_handling: `dampen` (invalid second = 0) or `exclude` (skipped).
        weighting: Per-second weights: `twap` (equal) or `linear_recency`.
        impact_notional: Impact notional Q in micro-dollars (default $1,000; market data picks
            $10,000 for BTC/ETH).
        schedule: Funding schedule name (see `funding_schedule.SCHEDULE_NAMES`).

    >>> FundingSettings().finalize_rate(150_000_000)
    150000000
    """

    deadband: int = 10_000_000_000
    cap: int = 2 * RATE_SCALE
    limit_unit: LimitUnit = "percentage"
    invalid_premium_handling: PremiumHandling = "dampen"
    weighting: Weighting = "twap"
    impact_notional: int = 1_000 * MONEY_SCALE
    schedule: str = "crypto_8h"

    def __post_init__(self) -> None:
        if self.deadband < 0 or self.cap < 0:
            raise ValueError("funding deadband and cap must not be negative")
        if self.limit_unit not in _LIMIT_UNITS:
            raise ValueError(f"unknown funding limit unit {self.limit_unit!r}")
        if self.invalid_premium_handling not in _HANDLINGS:
            raise ValueError(f"unknown invalid-premium handling {self.invalid_premium_handling!r}")
        if self.weighting not in _WEIGHTINGS:
            raise ValueError(f"unknown premium weighting {self.weighting!r}")
        if self.impact_notional <= 0:
            raise ValueError("impact notional must be positive")
        if self.schedule not in SCHEDULE_NAMES:
            raise ValueError(f"unknown funding schedule {self.schedule!r}")

    def average(self, accumulator: PremiumAccumulator, start_ms: int, end_ms: int) -> int:
        """Raw rate: `accumulator`'s average over `[start_ms, end_ms)` with these settings."""
        return accumulator.average(
            start_ms,
            end_ms,
            handling=self.invalid_premium_handling,
            weighting=self.weighting,
        )

    def finalize_rate(self, raw_rate: int, settlement_mark: int | None = None) -> int:
        """`finalize_rate` with these settings' deadband, cap and unit."""
        return finalize_rate(
            raw_rate,
            deadband=self.deadband,
            cap=self.cap,
            limit_unit=self.limit_unit,
            settlement_mark=settlement_mark,
        )
