"""Isolated and cross exit triggers: set, get, update, delete."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
