"""HTTP routes for approvals (filled in by its implementation)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
