"""Builders for exchange tests: markets with chosen parameters and a manual-clock exchange."""

from __future__ import annotations

import dataclasses
from typing import Any

from simulator.core.clock import ManualClock
from simulator.core.config import ExchangeConfig
from simulator.core.money import parse_dollars
from simulator.exchange import Exchange
from simulator.model.margin_curve import MarginCurve
from simulator.model.markets import MarketSpec, load_markets

# 2026-06-14 00:00:00 UTC (20:00 EDT the day before); the next crypto funding is 04:00 UTC.
T0 = 1_781_395_200_000


def make_spec(
    ticker: str = "KXBTCPERP",
    *,
    reference: str = "6.2590",
    leverage: dict[str, float] | None = None,
    **overrides: Any,
) -> MarketSpec:
    """A default market with a static reference price and optional leverage estimates."""
    base = {spec.ticker: spec for spec in load_markets()}[ticker]
    spec = dataclasses.replace(base, reference={"kind": "static", "price": reference})
    if leverage is not None:
        curve = MarginCurve.from_leverage_estimates(leverage, spec.im_multiplier)
        spec = dataclasses.replace(
            spec, leverage_estimates=leverage, long_curve=curve, short_curve=curve
        )
    return dataclasses.replace(spec, **overrides)


def make_exchange(*specs: MarketSpec, start_ms: int = T0, seed: int = 1, **config: Any) -> Exchange:
    """An exchange on a manual clock (default: BTC, ETH and SOL with static references)."""
    chosen = list(specs) or [
        make_spec("KXBTCPERP", reference="6.2590"),
        make_spec("KXETHPERP", reference="3.4120"),
        make_spec("KXSOLPERP", reference="14.8350"),
    ]
    return Exchange(chosen, clock=ManualClock(start_ms), seed=seed, config=ExchangeConfig(**config))


def dollars(text: str) -> int:
    """Micro-dollars from a dollar string."""
    return parse_dollars(text)
