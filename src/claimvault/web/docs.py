"""Swagger UI at /docs, served from local files with no inline script so it works under the strict CSP."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

SWAGGER_PREFIX = "/static/swagger"
STATIC_PREFIX = "/static"
STATIC_DIR = Path(__file__).with_name("static")
SWAGGER_DIR = Path(str(swagger_ui_path))
# Only what /docs loads; the bundle's index.html and initializer point at the public petstore demo.
SWAGGER_FILES = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui.css", "index.css", "favicon-16x16.png", "favicon-32x32.png"}
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{title} - API docs</title>
    <link rel="stylesheet" href="{swagger}/swagger-ui.css">
    <link rel="stylesheet" href="{swagger}/index.css">
    <link rel="icon" type="image/png" href="{swagger}/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
    <script src="{swagger}/swagger-ui-bundle.js"></script>
    <script src="{static}/docs-init.js"></script>
  </body>
</html>
"""


class _AllowListStaticFiles(StaticFiles):
    """Static files restricted to an explicit set of file names."""

    def __init__(self, *, directory: Path, allowed: frozenset[str]) -> None:
        super().__init__(directory=directory)
        self.allowed = allowed

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in self.allowed:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)


def install_docs(app: FastAPI) -> None:
    """Add the public ``/docs`` page and mount Swagger UI's files and ours under ``/static``."""
    page = _PAGE.format(
        title=html.escape(app.title),
        swagger=SWAGGER_PREFIX,
        static=STATIC_PREFIX,
        openapi_url=html.escape(app.openapi_url or "/openapi.json"),
    )

    async def api_docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    api_docs.__claimvault_public__ = True  # type: ignore[attr-defined]
    app.add_api_route("/docs", api_docs, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    # The more specific mount must come first: routes match in order.
    app.mount(SWAGGER_PREFIX, _AllowListStaticFiles(directory=SWAGGER_DIR, allowed=SWAGGER_FILES), "swagger-ui")
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), "static")
