"""The caller's fills, cursor-paginated."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
