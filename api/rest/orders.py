"""Orders: create, get, list, amend, decrease, cancel, cancel-all, and the FCM order list."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
