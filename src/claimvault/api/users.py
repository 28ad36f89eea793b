"""HTTP routes for users (filled in by its implementation)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
