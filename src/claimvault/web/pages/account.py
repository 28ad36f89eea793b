"""The user's own account pages: security history (newest first) and password change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from claimvault.accounts.login import TooManyAttempts
from claimvault.accounts.models import SecurityEvent
from claimvault.accounts.password_change import change_password
from claimvault.accounts.security_events import security_events_of
from claimvault.accounts.sessions import aware
from claimvault.errors import ValidationFailed
from claimvault.security.password_policy import MAX_LENGTH, MIN_LENGTH, PasswordPolicyViolation
from claimvault.web.deps import RuntimeDep, client_address
from claimvault.web.pages.access import HOME_PATH, PASSWORD_PATH, AuthPage, PageRoute, PageSession, render, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)

HISTORY_LIMIT = 100
EVENT_LABELS: dict[str, str] = {
    "login": "Sign-in (password)",
    "login.locked": "Sign-in locked after failed attempts",
    "logout": "Signed out",
    "mfa.enrolled": "Second factor added",
    "mfa.removed": "Second factor removed",
    "mfa.verified": "Second factor verified",
    "mfa.failed": "Second factor failed",
    "mfa.reset": "Second factors reset by an administrator",
    "password.changed": "Password changed",
    "password.change_forced": "Password change required",
    "recovery_code.used": "Recovery code used",
    "recovery_codes.generated": "Recovery codes generated",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "user.terminated": "Account terminated",
    "user.disabled": "Account disabled",
    "user.reactivated": "Account re-activated",
    "reauthenticated": "Identity confirmed again",
}
PASSWORD_RULES = (
    f"is {MIN_LENGTH} to {MAX_LENGTH} characters long (a few unrelated words work well);",
    "is not a common or leaked password, even with characters added at an end;",
    'does not contain your username, your name, your organization\'s name or "ClaimVault";',
    "is different from your current password.",
)
OUTCOME_LABELS = {"success": "Succeeded", "failure": "Failed", "denied": "Refused"}


@dataclass(frozen=True)
class EventRow:
    iso: str
    when: str
    label: str
    outcome: str
    outcome_class: str
    source: str


def event_rows(events: list[SecurityEvent]) -> list[EventRow]:
    rows = []
    for event in events:
        at = aware(event.created_at).astimezone(UTC)
        outcome = event.outcome if event.outcome in OUTCOME_LABELS else "other"
        rows.append(
            EventRow(
                iso=at.isoformat(timespec="seconds"),
                when=at.strftime("%Y-%m-%d %H:%M:%S"),
                label=EVENT_LABELS.get(event.kind, "Account event"),
                outcome=OUTCOME_LABELS.get(event.outcome, "Other"),
                outcome_class=outcome,
                source=event.source_address or "-",
            )
        )
    return rows


@router.get(HOME_PATH)
async def security_history(page: AuthPage, runtime: RuntimeDep, request: Request) -> Response:
    events = await run_in_threadpool(security_events_of, db=runtime.db, user_id=page.auth.user.id, limit=HISTORY_LIMIT)
    notice = "Your password has been changed." if request.query_params.get("changed") == "password" else None
    return render("security.html", page=page, current="security", events=event_rows(events), notice=notice)


def _password_form(page: PageSession, *, status_code: int = 200, error: str | None = None, **extra: Any) -> Response:
    return render(
        "password.html",
        status_code=status_code,
        page=page,
        current="password",
        forced=page.auth.user.must_change_password,
        rules=PASSWORD_RULES,
        error=error,
        **extra,
    )


@router.get(PASSWORD_PATH)
async def password_page(page: AuthPage) -> Response:
    return _password_form(page)


@router.post(PASSWORD_PATH)
async def password_submit(
    page: AuthPage,
    runtime: RuntimeDep,
    request: Request,
    current_password: Annotated[str, Form(max_length=4096)] = "",
    new_password: Annotated[str, Form(max_length=4096)] = "",
    confirm_password: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    if not current_password or not new_password:
        return _password_form(page, status_code=422, error="Fill in your current password and a new one.")
    if new_password != confirm_password:
        return _password_form(page, status_code=422, error="The two new passwords do not match.")
    try:
        await run_in_threadpool(
            change_password,
            db=runtime.db,
            passwords=runtime.passwords,
            user_id=page.auth.user.id,
            current_password=current_password,
            new_password=new_password,
            source_address=client_address(request),
            keep_session_id=page.auth.session.id,
            limiter=runtime.limiter,
            hash_guard=runtime.hash_guard,
        )
    except PasswordPolicyViolation as exc:
        feedback = exc.result.feedback
        return _password_form(
            page,
            status_code=422,
            error="The new password was not accepted.",
            problems=[p.message for p in exc.result.problems],
            warning=feedback.warning,
            suggestions=list(feedback.suggestions),
        )
    except TooManyAttempts as exc:
        response = _password_form(page, status_code=429, error="Too many attempts. Wait a moment, then try again.")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ValidationFailed as exc:  # wrong current password, reuse, changed meanwhile: fixed messages
        return _password_form(page, status_code=422, error=exc.message)
    return see_other(f"{HOME_PATH}?changed=password")
