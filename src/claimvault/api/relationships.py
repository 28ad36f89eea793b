"""HTTP routes for relationships (filled in by its implementation)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
