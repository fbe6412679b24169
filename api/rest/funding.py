"""Funding history, historical rates, the live estimate, the premium index; corporate actions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
