"""Market definitions: the validated `fixtures/markets/*.json` data and what it turns into.

`load_markets(path)` decodes a market file with msgspec (unknown keys and wrong types are
errors) and returns `MarketSpec`s with every wire string already converted to integer units.
Mutable per-market state (status, version, halts) lives on `Market`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from simulator.core.money import parse_dollars, parse_price, parse_rate
from simulator.model.margin_curve import MarginCurve

__all__ = [
    "DEFAULT_MARKETS_FILE",
    "FundingConfig",
    "Market",
    "MarketSpec",
    "MarketStatus",
    "load_markets",
    "parse_market_file",
]

_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MARKETS_FILE = _ROOT / "fixtures" / "markets" / "default.json"

MarketStatus = Literal["inactive", "active", "closed"]


class _FundingFile(msgspec.Struct, forbid_unknown_fields=True):
    schedule: Literal["crypto_8h", "metals_daily"] = "crypto_8h"
    deadband: str = "0.01"
    cap: str = "2"
    limit_unit: Literal["percentage", "dollar"] = "percentage"
    invalid_premium_handling: Literal["dampen", "exclude"] = "dampen"
    weighting: Literal["twap", "linear_recency"] = "twap"
    impact_notional: str = "1000"


class _MarketFile(msgspec.Struct, forbid_unknown_fields=True):
    ticker: str
    title: str
    market_id: str
    contract_size: str
    underlying_multiplier: str
    tick_size: str
    asset_class: str
    status: MarketStatus
    fractional_trading_enabled: bool
    leverage_estimates: dict[str, float]
    initial_margin_multiplier: str
    maker_fee_rate: str
    taker_fee_rate: str
    funding: _FundingFile
    reference: dict[str, Any]
    exchange_index: int = 0
    halt_sources: list[str] = msgspec.field(default_factory=list)
    long_leverage_estimates: dict[str, float] | None = None
    short_leverage_estimates: dict[str, float] | None = None
    notional_risk_limit: str | None = None
    price_band_percent: int = 20
    price_band_ticks: int = 1000
    schedule: dict[str, Any] | None = None
    product_metadata: dict[str, Any] | None = None


class _MarketsFile(msgspec.Struct, forbid_unknown_fields=True):
    markets: list[_MarketFile]
    description: str = ""


@dataclass(frozen=True, slots=True)
class FundingConfig:
    """Funding settings of a market, as declared (wire numbers kept as 1e-12 ints)."""

    schedule: str
    deadband: int
    cap: int
    limit_unit: str
    invalid_premium_handling: str
    weighting: str
    impact_notional: int


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Static definition of a perps market, in integer units.

    Attributes:
        tick: price increment in ticks of $0.0001.
        count_step: count granularity in 1/100 contracts (100 unless fractional trading).
        maker_fee_rate, taker_fee_rate: fractions of notional in 1e-12 units.
        curve: maintenance/initial margin schedule (long and short sides).
    """

    ticker: str
    title: str
    market_id: str
    contract_size: str
    underlying_multiplier: str
    tick: int
    asset_class: str
    fractional_trading_enabled: bool
    exchange_index: int
    leverage_estimates: dict[str, float]
    long_leverage_estimates: dict[str, float] | None
    short_leverage_estimates: dict[str, float] | None
    im_multiplier: int
    long_curve: MarginCurve
    short_curve: MarginCurve
    maker_fee_rate: int
    taker_fee_rate: int
    funding: FundingConfig
    reference: dict[str, Any]
    initial_status: MarketStatus
    initial_halt_sources: tuple[str, ...]
    notional_risk_limit: int | None
    price_band_percent: int
    price_band_ticks: int
    schedule: dict[str, Any] | None
    product_metadata: dict[str, Any] | None

    @property
    def count_step(self) -> int:
        return 1 if self.fractional_trading_enabled else 100

    def curve(self, long: bool) -> MarginCurve:
        """The margin curve for a long (True) or short (False) position."""
        return self.long_curve if long else self.short_curve


@dataclass(slots=True)
class Market:
    """A market's mutable state next to its spec."""

    spec: MarketSpec
    status: MarketStatus
    market_version: int = 1
    halt_sources: list[str] = field(default_factory=list)

    @property
    def ticker(self) -> str:
        return self.spec.ticker


def _spec(raw: _MarketFile) -> MarketSpec:
    tick = parse_price(raw.tick_size)
    if tick <= 0:
        raise ValueError(f"{raw.ticker}: tick_size must be positive, was {raw.tick_size!r}")
    im_mult = parse_rate(raw.initial_margin_multiplier)
    long_est = raw.long_leverage_estimates or raw.leverage_estimates
    short_est = raw.short_leverage_estimates or raw.leverage_estimates
    funding = FundingConfig(
        schedule=raw.funding.schedule,
        deadband=parse_rate(raw.funding.deadband),
        cap=parse_rate(raw.funding.cap),
        limit_unit=raw.funding.limit_unit,
        invalid_premium_handling=raw.funding.invalid_premium_handling,
        weighting=raw.funding.weighting,
        impact_notional=parse_dollars(raw.funding.impact_notional),
    )
    if "price" not in raw.reference and raw.reference.get("kind") != "replay":
        raise ValueError(f"{raw.ticker}: reference needs a price, was {raw.reference!r}")
    return MarketSpec(
        ticker=raw.ticker,
        title=raw.title,
        market_id=raw.market_id,
        contract_size=raw.contract_size,
        underlying_multiplier=raw.underlying_multiplier,
        tick=tick,
        asset_class=raw.asset_class,
        fractional_trading_enabled=raw.fractional_trading_enabled,
        exchange_index=raw.exchange_index,
        leverage_estimates=dict(raw.leverage_estimates),
        long_leverage_estimates=raw.long_leverage_estimates,
        short_leverage_estimates=raw.short_leverage_estimates,
        im_multiplier=im_mult,
        long_curve=MarginCurve.from_leverage_estimates(long_est, im_mult),
        short_curve=MarginCurve.from_leverage_estimates(short_est, im_mult),
        maker_fee_rate=parse_rate(raw.maker_fee_rate),
        taker_fee_rate=parse_rate(raw.taker_fee_rate),
        funding=funding,
        reference=dict(raw.reference),
        initial_status=raw.status,
        initial_halt_sources=tuple(raw.halt_sources),
        notional_risk_limit=(
            parse_dollars(raw.notional_risk_limit) if raw.notional_risk_limit else None
        ),
        price_band_percent=raw.price_band_percent,
        price_band_ticks=raw.price_band_ticks,
        schedule=raw.schedule,
        product_metadata=raw.product_metadata,
    )


def parse_market_file(data: bytes) -> list[MarketSpec]:
    """Validate a market file's bytes and convert it; raise ValueError on any problem."""
    try:
        decoded = msgspec.json.decode(data, type=_MarketsFile)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid market file: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValueError(f"market file is not JSON: {exc}") from exc
    except UnicodeDecodeError:  # msgspec's error for bytes that are not UTF-8 inside a string
        raise ValueError("market file is not JSON: it is not UTF-8 text") from None
    specs = [_spec(raw) for raw in decoded.markets]
    tickers = [spec.ticker for spec in specs]
    if len(set(tickers)) != len(tickers):
        raise ValueError(f"duplicate tickers in market file: {tickers}")
    return specs


def load_markets(path: Path = DEFAULT_MARKETS_FILE) -> list[MarketSpec]:
    """Read and validate a market file (default: the built-in realistic markets)."""
    return parse_market_file(path.read_bytes())
