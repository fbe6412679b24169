"""Positions, balance, risk, notional risk limit, fee tiers and rates, transfers and subaccounts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
