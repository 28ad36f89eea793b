"""A real browser through the login pages: Debian's headless Chromium, driven by Playwright, against the app
served over HTTPS (generated development certificate) by uvicorn in a thread.

Password, forced TOTP enrolment (the secret read from the page, the code computed with pyotp), the ten recovery
codes, then the security history page; and the same with a security key (Chromium's virtual authenticator)
registered and then used through the static WebAuthn script. The pages must work under the strict CSP: a
blocked script or stylesheet shows up as a console error, and the stylesheet must actually apply.

Both backends: the database is used in committed mode (the server thread has connections of its own; the
PostgreSQL harness truncates the tables afterwards). Skipped only when /usr/bin/chromium is missing
(``.ci/run`` installs it). Set ``CLAIMVAULT_SCREENSHOT_DIR`` to keep screenshots of the pages it passes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import pytest

from claimvault.accounts.services import create_user
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.web.app import create_app
from claimvault.web.server import BackgroundServer
from claimvault.web.tls import build_server_ssl_context, ensure_dev_certificate
from tests.harness import PostgresBackend, SQLiteBackend

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "vellum orchard lantern 2731"
TIMEOUT_MS = 20_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (Debian's chromium; .ci/run installs it)"
)


@pytest.fixture
def served_runtime(backend: SQLiteBackend | PostgresBackend, settings: Settings, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a committed database: the server thread uses connections of its own."""
    with backend.database(tmp_path, committed=True) as db:
        keyring = LocalKeyring.create(settings.resolved_keyring_path)
        yield build_runtime(settings, db=db, key_provider=keyring)


@pytest.fixture
def served(served_runtime: Runtime, tmp_path: Path) -> Iterator[str]:
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    cert.parent.mkdir()
    ensure_dev_certificate(cert, key)
    app = create_app(settings=served_runtime.settings, runtime=served_runtime)
    with BackgroundServer(app, ssl_context=build_server_ssl_context(cert, key)) as server:
        base = f"https://localhost:{server.port}"
        # WebAuthn checks the origin, which has the port uvicorn got; settings are read per request.
        served_runtime.settings = served_runtime.settings.model_copy(update={"webauthn_origin": base})
        yield base


@contextmanager
def browser_page(base_url: str) -> Iterator[tuple[Any, list[str]]]:
    """A fresh headless Chromium profile and page; yields the page and the console errors seen."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cv-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            ignore_https_errors=True,
            base_url=base_url,
            viewport={"width": 1024, "height": 820},
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            yield page, problems
        finally:
            context.close()


def _shot(page: Any, name: str) -> None:
    directory = os.environ.get("CLAIMVAULT_SCREENSHOT_DIR")
    if directory:
        page.screenshot(path=str(Path(directory) / name), full_page=True)


def _log_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_login_with_totp_enrolment_in_chromium(served: str, served_runtime: Runtime) -> None:
    from playwright.sync_api import expect

    runtime = served_runtime
    create_user(db=runtime.db, passwords=runtime.passwords, username="browser.user", password=PASSWORD)
    with browser_page(served) as (page, problems):
        page.goto("/login")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        # The stylesheet applied (a CSP block would leave the default white background).
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(243, 245, 248)"
        _shot(page, "login.png")
        _log_in(page, "browser.user")

        page.wait_for_url("**/mfa/enroll")
        expect(page.get_by_role("heading", name="Set up a second factor")).to_be_visible()
        expect(page.get_by_role("img", name="QR code to add ClaimVault to your authenticator app")).to_be_visible()
        assert page.evaluate("document.querySelector('img.qr').naturalWidth") > 0  # the data: image loaded
        _shot(page, "enroll.png")
        secret = page.locator("#totp-secret").get_attribute("data-secret")
        assert secret
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()

        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        codes = page.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10 and len(set(codes)) == 10
        _shot(page, "recovery-codes.png")
        page.get_by_role("link", name="I have saved my recovery codes").click()

        page.wait_for_url("**/account/security")
        events = page.locator("table.events")
        expect(events).to_contain_text("Sign-in (password)")
        expect(events).to_contain_text("Second factor added")
        expect(page.get_by_role("navigation", name="Account")).to_contain_text("browser.user")
        _shot(page, "security.png")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/login?ended=1")
        expect(page.get_by_role("status")).to_contain_text("logged out")
    assert problems == [], problems


def test_security_key_enrolment_and_login_in_chromium(served: str, served_runtime: Runtime) -> None:
    from playwright.sync_api import expect

    runtime = served_runtime
    create_user(db=runtime.db, passwords=runtime.passwords, username="key.user", password=PASSWORD)
    with browser_page(served) as (page, problems):
        cdp = page.context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        _log_in(page, "key.user")
        page.wait_for_url("**/mfa/enroll")
        page.get_by_label("Name for this key").fill("Virtual key")
        page.get_by_role("button", name="Register a security key").click()
        expect(page.get_by_role("status")).to_contain_text("Security key registered.")
        codes = page.locator("#webauthn-codes-list code")
        expect(codes).to_have_count(10)
        page.get_by_role("link", name="I have saved my recovery codes").click()
        page.wait_for_url("**/account/security")
        expect(page.locator("table.events")).to_contain_text("Second factor added")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url("**/login?ended=1")

        _log_in(page, "key.user")
        page.wait_for_url("**/mfa/challenge")
        _shot(page, "challenge.png")
        page.get_by_role("button", name="Use my security key").click()
        page.wait_for_url("**/account/security")
        expect(page.locator("table.events")).to_contain_text("Second factor verified")
    assert problems == [], problems
