"""End to end: `claimvault init`, `demo seed` and `serve` as a newcomer runs them (what `make run` does), then
HTTPS requests against the real server on loopback."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

CLI = [sys.executable, "-m", "claimvault.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    workdir = tmp_path_factory.mktemp("run")
    port = _free_port()
    env = {
        **os.environ,
        "CLAIMVAULT_PORT": str(port),
        "CLAIMVAULT_ARGON2_TIME_COST": "1",
        "CLAIMVAULT_ARGON2_MEMORY_COST_KIB": "64",
        "CLAIMVAULT_ARGON2_PARALLELISM": "1",
    }
    env.pop("CLAIMVAULT_DATABASE_URL", None)
    for step in (["init"], ["demo", "seed", "--if-empty", "--patients", "5"]):
        done = subprocess.run([*CLI, *step], cwd=workdir, env=env, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen([*CLI, "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"https://localhost:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError((workdir / "server.log").read_text()) from None
            time.sleep(0.05)
    try:
        yield base, workdir, proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _context(workdir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(workdir / "var" / "tls" / "localhost-cert.pem"))


def test_health_over_tls_with_generated_certificate(served: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, workdir, _ = served
    with urllib.request.urlopen(f"{base}/health", context=_context(workdir), timeout=5) as r:  # noqa: S310
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}
        assert "max-age" in r.headers["Strict-Transport-Security"]
    with urllib.request.urlopen(f"{base}/ready", context=_context(workdir), timeout=5) as r:  # noqa: S310
        assert json.loads(r.read())["status"] == "ready"


class _Browser:
    """A tiny HTTPS client keeping the session cookie and the CSRF token, as a script or SPA would."""

    def __init__(self, base: str, ctx: ssl.SSLContext) -> None:
        self.base, self.ctx, self.cookie, self.csrf = base, ctx, "", ""

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
        headers = {"Content-Type": "application/json"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, context=self.ctx, timeout=10) as r:  # noqa: S310
                status, raw, cookie = r.status, r.read(), r.headers.get("Set-Cookie")
        except urllib.error.HTTPError as e:
            status, raw, cookie = e.code, e.read(), e.headers.get("Set-Cookie")
        if cookie and cookie.startswith("cv_session="):
            self.cookie = cookie.split(";")[0]
        payload = json.loads(raw) if raw else {}
        if isinstance(payload, dict) and isinstance(payload.get("csrf_token"), str):
            self.csrf = payload["csrf_token"]
        return status, payload


def test_demo_user_first_login_enrols_mfa_changes_password_then_reads_patients(
    served: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, workdir, _ = served
    creds = workdir / "var" / "demo-credentials.txt"
    assert creds.stat().st_mode & 0o777 == 0o600
    rows = [line.split("\t") for line in creds.read_text().splitlines() if not line.startswith("#")]
    _, username, password = next(r for r in rows if r[0] == "biller")
    b = _Browser(base, _context(workdir))

    status, body = b.call("POST", "/api/v1/auth/login", {"username": username, "password": password})
    assert (status, body["status"]) == (200, "mfa_enrollment_required")
    assert b.call("GET", "/api/v1/orgs/demo/patients")[0] == 403  # nothing protected before the second factor

    status, setup = b.call("POST", "/api/v1/auth/mfa/totp/setup")
    assert status == 200, setup
    code = pyotp.TOTP(str(setup["secret"])).now()
    status, enrolled = b.call("POST", "/api/v1/auth/mfa/totp/confirm", {"code": code})
    assert status == 200 and len(enrolled["recovery_codes"]) == 10  # type: ignore[arg-type]

    status, refused = b.call("GET", "/api/v1/orgs/demo/patients")
    assert (status, refused["error"]["code"]) == (403, "password_change_required")  # type: ignore[index]
    new_password = "quiet harbor lantern seventeen"
    assert (
        b.call("POST", "/api/v1/auth/password", {"current_password": password, "new_password": new_password})[0] == 204
    )
    status, page = b.call("GET", "/api/v1/orgs/demo/patients")
    assert status == 200 and len(page["items"]) == 5  # type: ignore[arg-type]


def test_server_logs_are_json_and_free_of_patient_data(served: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, workdir, _ = served
    with urllib.request.urlopen(f"{base}/health?ssn=123-45-6789", context=_context(workdir), timeout=5):  # noqa: S310
        pass
    text = (workdir / "server.log").read_text()
    assert "123-45-6789" not in text
    json_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(entry.get("logger") == "claimvault.access" and entry.get("path") == "/health" for entry in json_lines)
