"""HTTP hardening: security headers, the JSON error format, request ids, body limits and CSP-safe docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict

from claimvault.errors import NotFound
from claimvault.web.docs import install_docs
from claimvault.web.errors import install_error_handlers
from claimvault.web.middleware import CONTENT_SECURITY_POLICY, install_http_protections
from tests.needles import without_ids

MAX_BODY = 1024
MARKER = "ZZmarker123"

EXPECTED_HEADERS = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


class Patient(BaseModel):
    birth_date: date
    visits: int


class StrictPatient(Patient):
    model_config = ConfigDict(extra="forbid")


def build_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    install_http_protections(app, max_body_bytes=MAX_BODY)
    install_error_handlers(app)
    install_docs(app)

    @app.get("/items")
    def list_items() -> JSONResponse:
        return JSONResponse({"items": [1, 2]}, headers={"Cache-Control": "public, max-age=600"})

    @app.post("/patients")
    def create_patient(patient: Patient) -> dict[str, int]:
        return {"visits": patient.visits}

    @app.post("/strict-patients")
    def create_strict_patient(patient: StrictPatient) -> dict[str, int]:
        return {"visits": patient.visits}

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("No such claim.")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret Zebulon Quixote")

    return app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(build_app(), base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def chunks(total: int, size: int = 256) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) - {"details"} == {"code", "message", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def assert_security_headers(response: httpx.Response, *, cacheable: bool = False) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, name
    if cacheable:
        assert response.headers["cache-control"] == "public, max-age=3600"
    else:
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"


def test_csp_is_strict() -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/items", {}, 200),
        ("GET", "/nowhere", {}, 404),
        ("GET", "/missing", {}, 404),
        ("POST", "/patients", {"json": {"birth_date": "x", "visits": "y"}}, 422),
        ("GET", "/boom", {}, 500),
        ("POST", "/patients", {"content": b"x" * (MAX_BODY + 1)}, 413),
    ],
)
def test_security_headers_on_every_response(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    assert_security_headers(response)


def test_api_cache_control_overrides_the_app(client: TestClient) -> None:
    response = client.get("/items")
    assert response.json() == {"items": [1, 2]}
    assert response.headers["cache-control"] == "no-store"


def test_static_files_may_be_cached(client: TestClient) -> None:
    response = client.get("/static/docs-init.js")
    assert response.status_code == 200
    assert_security_headers(response, cacheable=True)
    assert "pragma" not in response.headers


def test_missing_static_file_is_not_cached(client: TestClient) -> None:
    response = client.get("/static/nope.js")
    assert_error(response, 404, "not_found")
    assert_security_headers(response)


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/patients", content=b'{"birth_date": "ZZmarker123', headers={"content-type": "application/json"}
    )
    error = assert_error(response, 400, "malformed_json")
    assert error["message"] == "The request body is not valid JSON."
    assert "details" not in error
    assert MARKER not in response.text


def test_validation_error_has_details_without_values(client: TestClient) -> None:
    payload = {"birth_date": f"{MARKER}-1980", "visits": f"{MARKER}-visits", f"{MARKER}extra": MARKER}
    response = client.post("/patients", json=payload)
    error = assert_error(response, 422, "validation_failed")
    assert MARKER not in response.text
    assert "1980" not in without_ids(response.text)
    locations = [d["location"] for d in error["details"]]
    assert ["body", "birth_date"] in locations
    assert ["body", "visits"] in locations
    for detail in error["details"]:
        assert set(detail) == {"location", "problem"}
        assert isinstance(detail["problem"], str) and detail["problem"]


def test_client_invented_field_names_are_not_echoed(client: TestClient) -> None:
    payload = {"birth_date": "2001-02-03", "visits": 1, f"{MARKER}key": 1}
    response = client.post("/strict-patients", json=payload)
    error = assert_error(response, 422, "validation_failed")
    assert error["details"] == [{"location": ["body", "(field)"], "problem": "unexpected field"}]
    assert MARKER not in response.text


def test_missing_field_is_reported_by_location(client: TestClient) -> None:
    response = client.post("/patients", json={"birth_date": "2001-02-03"})
    error = assert_error(response, 422, "validation_failed")
    assert error["details"] == [{"location": ["body", "visits"], "problem": "field required"}]


def test_valid_post_succeeds(client: TestClient) -> None:
    response = client.post("/patients", json={"birth_date": "2001-02-03", "visits": 4})
    assert response.status_code == 200
    assert response.json() == {"visits": 4}


def test_unknown_route_is_404(client: TestClient) -> None:
    error = assert_error(client.get(f"/claims/{MARKER}"), 404, "not_found")
    assert error["message"] == "No such resource."
    assert MARKER not in str(error)
    assert assert_error(client.get("/missing"), 404, "not_found")["message"] == "No such claim."


def test_wrong_method_is_405_with_allow(client: TestClient) -> None:
    response = client.delete("/items")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_unhandled_exception_is_opaque_500(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    response = client.get("/boom")
    error = assert_error(response, 500, "internal_error")
    assert error["message"] == "An internal error occurred. Quote the request id when reporting it."
    for leak in ("Traceback", "RuntimeError", "Zebulon", "Quixote", "boom"):
        assert leak not in response.text
    records = [r for r in caplog.records if r.name == "claimvault.errors"]
    assert len(records) == 1
    assert records[0].getMessage() == "unhandled error"


def test_oversized_body_with_content_length_is_413(client: TestClient) -> None:
    body = (MARKER * 200).encode()
    assert len(body) > MAX_BODY
    response = client.post("/patients", content=body, headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")
    assert MARKER not in response.text


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    response = client.post("/patients", content=chunks(MAX_BODY * 4), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large")
    assert "xxxx" not in response.text


def test_chunked_body_within_limit_is_read(client: TestClient) -> None:
    body = b'{"birth_date": "2001-02-03", "visits": 7}'
    response = client.post(
        "/patients", content=iter([body[:10], body[10:]]), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"visits": 7}


def test_request_id_generated_when_absent(client: TestClient) -> None:
    first = client.get("/items").headers["x-request-id"]
    second = client.get("/items").headers["x-request-id"]
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", first)
    assert first != second


def test_well_formed_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/missing", headers={"X-Request-ID": "abc-123_def.456"})
    assert response.headers["x-request-id"] == "abc-123_def.456"
    assert response.json()["error"]["request_id"] == "abc-123_def.456"


@pytest.mark.parametrize("bad", ["has spaces in it", "a" * 500, "short", "<script>alert(1)</script>", ""])
def test_malformed_request_id_is_replaced(client: TestClient, bad: str) -> None:
    response = client.get("/missing", headers={"X-Request-ID": bad})
    request_id = response.headers["x-request-id"]
    assert request_id != bad
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", request_id)
    assert_error(response, 404, "not_found")


def test_docs_page_has_no_inline_script_and_assets_load(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_security_headers(response)
    page = response.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S | re.I)
    assert scripts
    for attributes, content in scripts:
        assert "src=" in attributes
        assert content.strip() == ""
    assert "<style" not in page.lower()
    assert " style=" not in page.lower()
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", page, flags=re.I)  # no inline event handlers
    assets = [src for _, src in re.findall(r'<(script|link)\b[^>]*(?:src|href)="([^"]+)"', page)]
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    assert all(a.startswith("/") and not a.startswith("//") for a in assets)
    for asset in assets:
        loaded = client.get(asset)
        assert loaded.status_code == 200, asset
        if asset.endswith(".js"):
            assert "javascript" in loaded.headers["content-type"]
        if asset.endswith(".css"):
            assert loaded.headers["content-type"].startswith("text/css")
    init = client.get("/static/docs-init.js").text
    assert "SwaggerUIBundle(" in init and "#swagger-ui" in init
    assert client.get("/openapi.json").status_code == 200


def test_docs_route_is_public_and_hidden_from_schema(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    docs = [r for r in app.routes if isinstance(r, APIRoute) and r.path == "/docs"]
    assert len(docs) == 1
    assert getattr(docs[0].endpoint, "__claimvault_public__", False) is True
    assert "/docs" not in app.openapi()["paths"]


def test_only_needed_swagger_files_are_served(client: TestClient) -> None:
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert_error(client.get("/static/swagger/index.html"), 404, "not_found")
    assert_error(client.get("/static/swagger/oauth2-redirect.html"), 404, "not_found")
