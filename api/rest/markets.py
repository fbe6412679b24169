"""Markets, order books (one and bulk), candlesticks and public trades."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
