"""The FastAPI application factory: wires settings, logging, routers and the HTTP protections."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from claimvault import __version__
from claimvault.api import (
    access_reviews,
    alerts,
    approvals,
    audit,
    auth,
    break_glass,
    claims,
    coverages,
    directory,
    disclosures,
    discovery,
    encounters,
    fhir,
    health,
    mfa,
    orgs,
    password,
    patients,
    payments,
    relationships,
    security_events,
    shredding,
    tokens,
    users,
)
from claimvault.config import Environment, Settings, check_database_role, check_production_safety, load_settings
from claimvault.observability.logging import configure_logging
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.data_policy import load_data_policy
from claimvault.storage.database import connection_role_problems
from claimvault.web.access_log import AccessLogMiddleware
from claimvault.web.deps import public
from claimvault.web.docs import install_docs
from claimvault.web.errors import install_error_handlers
from claimvault.web.middleware import install_http_protections
from claimvault.web.pages import routes as pages_routes

# Field names whose values the log redactor removes even when they are not encrypted columns.
ROUTERS = (
    health.router,
    auth.router,
    mfa.router,
    password.router,
    security_events.router,
    orgs.router,
    patients.router,
    payments.router,
    shredding.router,
    users.router,
    tokens.router,
    approvals.router,
    access_reviews.router,
    relationships.router,
    alerts.router,
    break_glass.router,
    audit.router,
    disclosures.router,
    coverages.router,
    directory.router,
    encounters.router,
    claims.router,
    fhir.router,
    discovery.router,
    pages_routes.router,
)

EXTRA_PROTECTED_NAMES = frozenset(
    {
        "password",
        "ssn",
        "member_id",
        "phone",
        "email",
        "name",
        "dob",
        "token",
        "number",
        "cvc",
        "account_number",
        "routing_number",
    }
)


def create_app(*, settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else load_settings())
    check_production_safety(settings)
    configure_logging(
        level=settings.log_level,
        protected_field_names=load_data_policy().protected_field_names() | EXTRA_PROTECTED_NAMES,
    )
    runtime = runtime or build_runtime(settings)
    if settings.env is Environment.PRODUCTION:  # one query to the database, for the production refusal only
        check_database_role(settings, connection_role_problems(runtime.db.engine))

    app = FastAPI(
        title="ClaimVault",
        version=__version__,
        summary="Medical billing built so that patient data cannot leak.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.runtime = runtime

    @app.get("/openapi.json", include_in_schema=False)
    @public
    def openapi_schema(request: Request) -> Any:
        return JSONResponse(app.openapi())

    app.openapi_url = "/openapi.json"  # for the docs page; the route above serves it
    install_error_handlers(app)
    install_docs(app)
    for router in ROUTERS:
        app.include_router(router)

    app.add_middleware(AccessLogMiddleware)
    install_http_protections(
        app,
        max_body_bytes=settings.max_body_bytes,
        route_limits=(
            (
                re.compile(r"/api/v1/orgs/[^/]+/discovery/scan"),
                discovery.MAX_UPLOAD_BYTES + discovery.MULTIPART_OVERHEAD,
            ),
            (re.compile(r"/api/v1/orgs/[^/]+/claims/acknowledgements"), claims.MAX_X12_BYTES),
        ),
    )
    return app
