"""Order groups: list, create, get, delete, reset, trigger and limit."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
