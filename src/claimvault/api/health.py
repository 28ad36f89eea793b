"""Liveness, readiness and the service root. Public: they reveal no data and no internals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from claimvault import __version__
from claimvault.storage.migrate import current_revision, head_revision
from claimvault.web.deps import RuntimeDep, public

router = APIRouter(tags=["service"])


@router.get("/health", summary="Liveness: the process is up")
@public
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the database answers, the schema is current and keys are loaded")
@public
def ready(runtime: RuntimeDep) -> Any:
    checks: dict[str, str] = {}
    try:
        with runtime.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["schema"] = "ok" if current_revision(conn) == head_revision() else "outdated"
    except Exception:  # noqa: BLE001 - any failure means "not ready"; details stay in the logs
        checks["database"] = "unavailable"
    try:
        runtime.keys.provider.current_kek_id()
        checks["keys"] = "ok"
    except Exception:  # noqa: BLE001
        checks["keys"] = "unavailable"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/", summary="Service root", include_in_schema=False)
@public
def root() -> dict[str, str]:
    return {"service": "ClaimVault", "version": __version__, "docs": "/docs"}
