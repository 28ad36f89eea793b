"""HTTP routes for tokens (filled in by its implementation)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
