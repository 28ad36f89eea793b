"""The real application's HTTP surface: security headers and the error format on its own routes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from claimvault.web.middleware import CONTENT_SECURITY_POLICY
from tests.conftest import World

MARKER = "ZZ-marker-7731"


def _assert_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-request-id"]


def _assert_error(response: object, status: int, code: str) -> None:
    r = response
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["request_id"] == r.headers["x-request-id"]  # type: ignore[attr-defined]
    for leak in (MARKER, "Traceback", "sqlalchemy", "SELECT", "pydantic", 'File "'):
        assert leak not in r.text, leak  # type: ignore[attr-defined]
    _assert_headers(r)


def test_headers_on_data_and_service_routes(world: World) -> None:
    c = world.client(world.member("alpha", "biller"))
    created = c.post(
        "/api/v1/orgs/alpha/patients", json={"given_name": "A", "family_name": "B", "birth_date": "1990-01-01"}
    )
    for response in (created, c.get("/api/v1/orgs/alpha/patients"), c.get("/health"), c.get("/docs")):
        _assert_headers(response)
    assert created.headers["cache-control"] == "no-store"
    assert c.get("/api/v1/orgs/alpha/patients").headers["cache-control"] == "no-store"


def test_error_format_on_real_routes(world: World, client: TestClient) -> None:
    c = world.client(world.member("alpha", "biller"))
    base = "/api/v1/orgs/alpha/patients"
    _assert_error(
        c.post(
            base, content=b'{"given_name": "' + MARKER.encode() + b'", ', headers={"content-type": "application/json"}
        ),
        400,
        "malformed_json",
    )
    _assert_error(
        c.post(base, json={"given_name": MARKER, "family_name": 7, "birth_date": MARKER}), 422, "validation_failed"
    )
    _assert_error(c.get(f"/api/v1/{MARKER}"), 404, "not_found")
    _assert_error(c.delete(f"{base}/00000000-0000-7000-8000-000000000000"), 405, "method_not_allowed")
    _assert_error(c.get(f"{base}/{MARKER}"), 422, "validation_failed")
    big = {"given_name": MARKER * 100_000, "family_name": "B", "birth_date": "1990-01-01"}
    _assert_error(c.post(base, json=big), 413, "payload_too_large")
    _assert_error(client.get(base), 401, "authentication_required")
