"""Page routes (filled in by the pages implementation)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
