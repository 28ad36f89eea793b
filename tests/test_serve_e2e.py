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


def test_demo_users_must_enrol_mfa_before_reaching_patients(served: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, workdir, _ = served
    creds = workdir / "var" / "demo-credentials.txt"
    assert creds.stat().st_mode & 0o777 == 0o600
    rows = [line.split("\t") for line in creds.read_text().splitlines() if not line.startswith("#")]
    biller = next(r for r in rows if r[0] == "biller")
    ctx = _context(workdir)
    login = urllib.request.Request(  # noqa: S310
        f"{base}/api/v1/auth/login",
        data=json.dumps({"username": biller[1], "password": biller[2]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(login, context=ctx, timeout=10) as r:  # noqa: S310
        cookie = r.headers["Set-Cookie"].split(";")[0]
        assert json.loads(r.read())["status"] == "mfa_enrollment_required"
    listing = urllib.request.Request(f"{base}/api/v1/orgs/demo/patients", headers={"Cookie": cookie})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(listing, context=ctx, timeout=10)  # noqa: S310
    assert refused.value.code == 403 and json.loads(refused.value.read())["error"]["code"] == "mfa_required"


def test_server_logs_are_json_and_free_of_patient_data(served: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, workdir, _ = served
    with urllib.request.urlopen(f"{base}/health?ssn=123-45-6789", context=_context(workdir), timeout=5):  # noqa: S310
        pass
    text = (workdir / "server.log").read_text()
    assert "123-45-6789" not in text
    json_lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(entry.get("logger") == "claimvault.access" and entry.get("path") == "/health" for entry in json_lines)
