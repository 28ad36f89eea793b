"""The server-rendered pages: no inline script or style anywhere (the CSP forbids it), a CSRF token in every form
and refusal without it, login with generic errors, forced MFA enrolment with recovery codes shown once, the MFA
challenge, password change with policy feedback, and the user's own security history. Runs on both backends."""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from claimvault.accounts.models import User
from claimvault.security.mfa import totp
from claimvault.web.middleware import CONTENT_SECURITY_POLICY
from tests.conftest import Member, World, complete_mfa_for_test

COOKIE = "cv_session"
NEW_PASSWORD = "plover quartz sundial 4819"


# HTML audit ----------------------------------------------------------------------------------------------------
class _Audit(HTMLParser):
    """Collects what the CSP and the page rules forbid, and what accessibility and password managers need."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.labels: set[str] = set()
        self.inputs: list[dict[str, str]] = []
        self.forms: list[dict[str, Any]] = []
        self.html_lang: str | None = None
        self._in_script = False
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag == "script":
            self._in_script = True
            if not a.get("src", "").startswith("/static/"):
                self.problems.append("script without a same-origin src")
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "link" and a.get("rel") == "stylesheet" and not a.get("href", "").startswith("/static/"):
            self.problems.append("stylesheet not served by us")
        for name, value in a.items():
            if name == "style":
                self.problems.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"event handler attribute {name} on <{tag}>")
            if name in ("href", "src", "action") and value.strip().lower().startswith("javascript:"):
                self.problems.append("javascript: URL")
        if tag == "label" and "for" in a:
            self.labels.add(a["for"])
        if tag == "form":
            self._form = {"method": a.get("method", "get").lower(), "action": a.get("action"), "fields": {}}
            self.forms.append(self._form)
        if tag == "input":
            self.inputs.append(a)
            if self._form is not None and "name" in a:
                self._form["fields"][a["name"]] = a

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        if tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("inline script content")


def audit(response: Any) -> _Audit:
    """Fail on anything the strict CSP would block or the page rules forbid; return the parsed page."""
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["cache-control"] == "no-store"
    parser = _Audit()
    parser.feed(response.text)
    assert parser.problems == [], parser.problems
    assert parser.html_lang == "en"
    for form in parser.forms:
        if form["method"] == "post":
            assert "csrf_token" in form["fields"], f"POST form to {form['action']} without a CSRF token"
            assert form["fields"]["csrf_token"].get("type") == "hidden"
    for field in parser.inputs:
        kind = field.get("type", "text")
        if kind == "hidden" or "hidden" in field:
            continue
        assert field.get("id") in parser.labels, f"input {field.get('name') or field.get('id')} has no label"
        if kind == "password":
            assert field.get("autocomplete") in ("current-password", "new-password")
    return parser


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} field"
    return found.group(1)


# Flows ---------------------------------------------------------------------------------------------------------
def new_client(world: World) -> TestClient:
    return TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False)


def login(c: TestClient, username: str, password: str) -> Any:
    form = c.get("/login")
    return c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": field(form.text, "csrf_token")},
        follow_redirects=False,
    )


def enrol_totp(c: TestClient) -> tuple[str, list[str], Any]:
    """From a pending session with no factor: open the enrolment page, confirm the shown secret."""
    page = c.get("/mfa/enroll")
    assert page.status_code == 200
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
    assert secret
    done = c.post(
        "/mfa/enroll/totp",
        data={
            "code": pyotp.TOTP(secret.group(1)).now(),
            "secret": secret.group(1),
            "csrf_token": field(page.text, "csrf_token"),
        },
    )
    return secret.group(1), re.findall(r"<code>([A-Z2-7-]+)</code>", done.text), done


def enrolled_client(world: World, member: Member) -> tuple[TestClient, str, list[str]]:
    c = new_client(world)
    assert login(c, member.username, member.password).headers["location"] == "/mfa/enroll"
    secret, codes, done = enrol_totp(c)
    assert done.status_code == 200 and len(codes) == 10
    return c, secret, codes


def fully_logged_in(world: World, member: Member) -> TestClient:
    """Password through the page, second factor marked done directly (for tests not about MFA)."""
    c = new_client(world)
    login(c, member.username, member.password)
    complete_mfa_for_test(world.runtime, c)
    return c


# Tests ---------------------------------------------------------------------------------------------------------
def test_every_page_renders_without_inline_script_or_style(world: World) -> None:
    member = world.member("alpha", "biller")
    c = new_client(world)
    audit(c.get("/login"))
    login(c, member.username, member.password)
    enrol_page = c.get("/mfa/enroll")
    parsed = audit(enrol_page)
    scripts = re.findall(r'<script src="([^"]+)"', enrol_page.text)
    assert scripts == ["/static/pages/webauthn.js"]
    assert re.search(r'<img class="qr" src="data:image/svg\+xml', enrol_page.text)
    assert any(i.get("autocomplete") == "one-time-code" for i in parsed.inputs)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', enrol_page.text)
    assert secret
    codes_page = c.post(
        "/mfa/enroll/totp",
        data={
            "code": pyotp.TOTP(secret.group(1)).now(),
            "secret": secret.group(1),
            "csrf_token": field(enrol_page.text, "csrf_token"),
        },
    )
    audit(codes_page)
    for path in ("/account/security", "/account/password"):
        response = c.get(path)
        assert response.status_code == 200, path
        audit(response)
    fresh = new_client(world)
    login(fresh, member.username, member.password)
    challenge = fresh.get("/mfa/challenge")
    assert challenge.status_code == 200
    audit(challenge)


def test_static_assets_are_served_with_the_right_types(client: TestClient) -> None:
    css = client.get("/static/pages/pages.css")
    js = client.get("/static/pages/webauthn.js")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "X-CSRF-Token" in js.text  # the script sends the CSRF header to the JSON API


def test_wrong_password_and_unknown_user_get_the_same_generic_error(world: World) -> None:
    member = world.member("alpha", "biller")
    c = new_client(world)
    wrong = login(c, member.username, "Wrong-Password-Typed-Here")
    unknown = login(c, "no-such-user", "Wrong-Password-Typed-Here")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Invalid username or password." in response.text
        assert "Wrong-Password-Typed-Here" not in response.text
        assert COOKIE not in response.cookies
        audit(response)
    assert 'role="alert"' in wrong.text


def test_login_form_needs_its_csrf_token(world: World) -> None:
    member = world.member("alpha", "biller")
    c = new_client(world)
    c.get("/login")
    refused = c.post("/login", data={"username": member.username, "password": member.password}, follow_redirects=False)
    assert refused.status_code == 403
    assert COOKIE not in refused.cookies
    forged = c.post(
        "/login",
        data={"username": member.username, "password": member.password, "csrf_token": "0" * 64},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    ok = login(c, member.username, member.password)
    assert ok.status_code == 303 and ok.headers["location"] == "/mfa/enroll"
    assert ok.cookies.get(COOKIE)


def test_page_forms_refuse_a_missing_or_wrong_csrf_token(world: World) -> None:
    member = world.member("alpha", "biller")
    pending = new_client(world)
    login(pending, member.username, member.password)
    page = pending.get("/mfa/enroll")
    token = field(page.text, "csrf_token")
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page.text)
    assert secret
    good_code = pyotp.TOTP(secret.group(1)).now()
    for data in ({"code": good_code}, {"code": good_code, "csrf_token": "f" * 64}):
        refused = pending.post("/mfa/enroll/totp", data=data)
        assert refused.status_code == 403
        assert "<code>" not in refused.text
    # The header the JSON API accepts is not enough for a page form.
    refused = pending.post("/mfa/enroll/totp", data={"code": good_code}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 403

    full = fully_logged_in(world, member)
    token = field(full.get("/account/password").text, "csrf_token")
    change = {"current_password": member.password, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    assert full.post("/account/password", data=change).status_code == 403
    assert full.post("/logout", data={}).status_code == 403
    assert full.get("/account/security").status_code == 200  # still logged in: nothing happened
    out = full.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    assert full.get("/account/security", follow_redirects=False).headers["location"] == "/login"


def test_login_enrolment_recovery_codes_once_then_protected_pages(world: World) -> None:
    member = world.member("alpha", "biller")
    c = new_client(world)
    # Before login, every protected page sends the browser to the login page.
    for path in ("/account/security", "/account/password", "/mfa/enroll", "/mfa/challenge"):
        assert c.get(path, follow_redirects=False).headers["location"] == "/login"
    first = login(c, member.username, member.password)
    assert first.status_code == 303 and first.headers["location"] == "/mfa/enroll"
    pending_token = first.cookies.get(COOKIE)
    # A pending session cannot reach account pages: it is sent to enrolment.
    assert c.get("/account/security", follow_redirects=False).headers["location"] == "/mfa/enroll"
    secret, codes, done = enrol_totp(c)
    assert done.status_code == 200
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "will not be shown again" in done.text
    assert done.cookies.get(COOKIE) and done.cookies.get(COOKIE) != pending_token  # the session id rotated
    history = c.get("/account/security")
    assert history.status_code == 200
    assert "Sign-in (password)" in history.text and "Second factor added" in history.text
    # The codes are never shown again: enrolment is closed, and no page repeats them.
    again = c.get("/mfa/enroll", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/account/security"
    for path in ("/account/security", "/account/password"):
        body = c.get(path).text
        assert not any(code in body for code in codes)
        assert secret not in body
    # The old (pending) session id is dead.
    stale = new_client(world)
    stale.cookies.set(COOKIE, str(pending_token))
    assert stale.get("/account/security", follow_redirects=False).headers["location"] == "/login"


def test_a_password_alone_cannot_enrol_another_factor(world: World) -> None:
    member = world.member("alpha", "biller")
    enrolled_client(world, member)
    thief = new_client(world)
    assert login(thief, member.username, member.password).headers["location"] == "/mfa/challenge"
    assert thief.get("/mfa/enroll", follow_redirects=False).headers["location"] == "/mfa/challenge"
    token = field(thief.get("/mfa/challenge").text, "csrf_token")
    attempt = thief.post("/mfa/enroll/totp", data={"code": "123456", "csrf_token": token}, follow_redirects=False)
    assert attempt.status_code == 303 and attempt.headers["location"] == "/mfa/challenge"
    assert thief.get("/account/security", follow_redirects=False).headers["location"] == "/mfa/challenge"


def test_totp_and_recovery_code_challenge(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = world.member("alpha", "biller")
    _, secret, codes = enrolled_client(world, member)
    later = time.time() + 30  # the enrolment used the current step; each step is accepted once
    monkeypatch.setattr(totp, "current_time", lambda: later)

    c = new_client(world)
    assert login(c, member.username, member.password).headers["location"] == "/mfa/challenge"
    page = c.get("/mfa/challenge")
    token = field(page.text, "csrf_token")
    wrong = c.post("/mfa/challenge", data={"code": "000000", "csrf_token": token}, follow_redirects=False)
    assert wrong.status_code in (401, 422) and 'role="alert"' in wrong.text
    audit(wrong)
    code = pyotp.TOTP(secret).at(later)
    ok = c.post("/mfa/challenge", data={"code": code, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/account/security"
    assert c.get("/account/security").status_code == 200
    # The same code (same step) does not work twice.
    replay = new_client(world)
    login(replay, member.username, member.password)
    token = field(replay.get("/mfa/challenge").text, "csrf_token")
    refused = replay.post("/mfa/challenge", data={"code": code, "csrf_token": token}, follow_redirects=False)
    assert refused.status_code != 303
    # A recovery code works once.
    used = replay.post(
        "/mfa/challenge/recovery", data={"code": codes[0].lower(), "csrf_token": token}, follow_redirects=False
    )
    assert used.status_code == 303 and used.headers["location"] == "/account/security"
    other = new_client(world)
    login(other, member.username, member.password)
    token = field(other.get("/mfa/challenge").text, "csrf_token")
    again = other.post("/mfa/challenge/recovery", data={"code": codes[0], "csrf_token": token}, follow_redirects=False)
    assert again.status_code != 303
    assert "Recovery code used" in replay.get("/account/security").text


def test_password_change_with_policy_feedback(world: World) -> None:
    member = world.member("alpha", "biller")
    c = fully_logged_in(world, member)
    page = c.get("/account/password")
    token = field(page.text, "csrf_token")
    assert "12 to 256 characters" in page.text

    def submit(current: str, new: str, confirm: str | None = None) -> Any:
        data = {
            "current_password": current,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
            "csrf_token": token,
        }
        return c.post("/account/password", data=data, follow_redirects=False)

    weak = submit(member.password, "password1234")
    assert weak.status_code == 422
    assert "common or leaked" in weak.text and "password1234" not in weak.text
    audit(weak)
    mismatch = submit(member.password, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert mismatch.status_code == 422 and "do not match" in mismatch.text
    wrong_current = submit("not my password at all", NEW_PASSWORD)
    assert wrong_current.status_code == 422 and "current password is not correct" in wrong_current.text
    assert "not my password at all" not in wrong_current.text
    done = submit(member.password, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/account/security?changed=password"
    history = c.get(done.headers["location"])
    assert "Your password has been changed." in history.text and "Password changed" in history.text
    fresh = new_client(world)
    assert login(fresh, member.username, member.password).status_code == 401
    assert login(fresh, member.username, NEW_PASSWORD).status_code == 303


def test_forced_password_change_sends_the_user_to_the_password_page(world: World) -> None:
    member = world.member("alpha", "biller")
    c = fully_logged_in(world, member)
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(User).where(User.id == member.user_id).values(must_change_password=True))
    moved = c.get("/account/security", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/account/password"
    page = c.get("/account/password")
    assert page.status_code == 200 and "You must choose a new password" in page.text


def test_security_history_is_the_users_own_newest_first(world: World) -> None:
    member = world.member("alpha", "biller")
    other = world.member("alpha", "biller")
    login(new_client(world), other.username, "someone else's wrong password")
    c = fully_logged_in(world, member)
    login(new_client(world), member.username, "a wrong password of mine")
    page = c.get("/account/security")
    times = re.findall(r'<time datetime="([^"]+)">', page.text)
    assert len(times) == 2  # this user's successful and failed sign-ins only
    assert times == sorted(times, reverse=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, flags=re.S)
    assert "Failed" in rows[1] and "Succeeded" in rows[2]  # rows[0] is the header
