"""Wire mapping of the FCM resources: subtraders, their risk controls, the member notional limit.

Caps and limits arrive as dollar strings matching `^[0-9]+(\\.[0-9]{1,4})?$` (at most 20
characters) and leave as 4-decimal strings.

Assumption: `subtrader_suffix` follows the spec's pattern `^[A-Za-z0-9]{1,16}$` (kalshi-sdk only
sends lowercase, which it includes).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from api.errors import BadRequestError
from simulator.core.money import format_dollars, parse_dollars
from simulator.risk.fcm import RiskControlsView

__all__ = [
    "AssetClass",
    "CreateSubtraderBody",
    "NotionalLimitBody",
    "RiskControlsBody",
    "amount",
    "risk_controls",
]

AssetClass = Literal[
    "Crypto", "Equities", "Metals", "FX", "Energy", "Indices", "Rates", "Compute", "GPU"
]

_AMOUNT = re.compile(r"[0-9]+(\.[0-9]{1,4})?")
_MAX_AMOUNT_LENGTH = 20


class CreateSubtraderBody(msgspec.Struct, forbid_unknown_fields=True):
    """CreateMarginFCMSubtraderRequest."""

    subtrader_suffix: str
    require_category_cap: bool


class RiskControlsBody(msgspec.Struct, forbid_unknown_fields=True):
    """UpdateFCMSubtraderRiskControlsRequest."""

    subtrader_id: str
    im_cap: str
    market_ticker: str | None = None
    asset_class: AssetClass | None = None


class NotionalLimitBody(msgspec.Struct, forbid_unknown_fields=True):
    """UpdateFCMNotionalRiskLimitRequest."""

    notional_value_risk_limit: str


def amount(value: str, name: str) -> int:
    """A non-negative dollar string with at most 4 decimals, in micro-dollars."""
    if len(value) > _MAX_AMOUNT_LENGTH or _AMOUNT.fullmatch(value) is None:
        raise BadRequestError(
            f"{name} must be a non-negative dollar amount with at most 4 decimals, was {value!r}"
        )
    return parse_dollars(value)


def risk_controls(view: RiskControlsView) -> dict[str, Any]:
    """GetFCMSubtraderRiskControlsResponse."""
    caps = []
    for cap in view.risk_controls:
        row: dict[str, Any] = {"subtrader_id": cap.subtrader_id}
        if cap.market_ticker is not None:
            row["market_ticker"] = cap.market_ticker
        if cap.asset_class is not None:
            row["asset_class"] = cap.asset_class
        row["im_cap"] = format_dollars(cap.im_cap)
        row["current_im"] = format_dollars(cap.current_im)
        caps.append(row)
    limits = []
    for limit in view.notional_limits:
        entry: dict[str, Any] = {"subtrader_id": limit.subtrader_id}
        if limit.market_ticker is not None:
            entry["market_ticker"] = limit.market_ticker
        entry["notional_value_risk_limit"] = format_dollars(limit.limit)
        entry["current_notional"] = format_dollars(limit.current_notional)
        limits.append(entry)
    return {"risk_controls": caps, "notional_limits": limits}
