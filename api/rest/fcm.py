"""FCM endpoints: subtraders, subtrader risk controls, notional risk limits."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
