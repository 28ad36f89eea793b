"""Password routes: change your own password, check a candidate against the policy (the UI's strength meter),
and force a member's password change on evidence of compromise (administrators, after recent re-authentication).

Refusals list policy problem codes, fixed messages and zxcvbn's feedback; a password is never echoed back.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from claimvault.accounts.password_change import change_password, context_words_for, force_password_change
from claimvault.errors import PermissionDenied
from claimvault.security.context import UserContext
from claimvault.security.password_policy import PasswordPolicyViolation, check_password
from claimvault.security.permissions import Permission
from claimvault.web.deps import (
    AuthDep,
    Authenticated,
    RuntimeDep,
    client_address,
    require_recent_reauthentication,
    requires,
)
from claimvault.web.errors import current_request_id, error_body

router = APIRouter(prefix="/api/v1", tags=["password"])

# Generous bound on what is even parsed; the policy refuses anything over its own maximum with a clear message.
MAX_SUBMITTED = 4096


class PasswordChangeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(max_length=MAX_SUBMITTED)


class PasswordCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    password: str = Field(max_length=MAX_SUBMITTED)


class ProblemOut(BaseModel):
    code: str
    message: str


class FeedbackOut(BaseModel):
    score: int
    warning: str
    suggestions: list[str]


class PasswordCheckOut(BaseModel):
    ok: bool
    length: int
    min_length: int
    max_length: int
    problems: list[ProblemOut]
    feedback: FeedbackOut


def policy_error(request: Request, exc: PasswordPolicyViolation) -> JSONResponse:
    """422 in the standard error format, with the problems as details and zxcvbn's feedback alongside."""
    view: dict[str, Any] = exc.result.as_dict()
    body = error_body(
        exc.code,
        "The new password does not meet the password policy.",
        details=view["problems"],
        request_id=current_request_id(request),
    )
    body["error"]["feedback"] = view["feedback"]
    return JSONResponse(body, status_code=422)


@router.post(
    "/auth/password",
    status_code=204,
    summary="Change your password (other sessions end; this one continues)",
    responses={422: {"description": "Wrong current password, reuse, or policy problems with feedback"}},
)
def change_own_password(body: PasswordChangeRequest, request: Request, auth: AuthDep, runtime: RuntimeDep) -> Response:
    try:
        change_password(
            db=runtime.db,
            passwords=runtime.passwords,
            user_id=auth.user.id,
            current_password=body.current_password,
            new_password=body.new_password,
            source_address=client_address(request),
            keep_session_id=auth.session.id,
            limiter=runtime.limiter,
            hash_guard=runtime.hash_guard,
        )
    except PasswordPolicyViolation as exc:
        return policy_error(request, exc)
    return Response(status_code=204)


@router.post("/auth/password/check", summary="Check a candidate password against the policy; changes nothing")
def check_candidate(body: PasswordCheckRequest, auth: AuthDep, runtime: RuntimeDep) -> PasswordCheckOut:
    words = context_words_for(db=runtime.db, user_id=auth.user.id, username=auth.user.username)
    return PasswordCheckOut.model_validate(check_password(body.password, context_words=words).as_dict())


@router.post(
    "/orgs/{org}/users/{user_id}/force-password-change",
    status_code=204,
    summary="Require a new password and end every session of a member (evidence of compromise)",
)
def force_change(
    user_id: uuid.UUID,
    request: Request,
    runtime: RuntimeDep,
    ctx: Annotated[UserContext, Depends(requires(Permission.USER_MANAGE))],
) -> Response:
    auth = getattr(request.state, "auth", None)
    if not isinstance(auth, Authenticated):  # API tokens cannot re-authenticate
        raise PermissionDenied("Confirm your password and second factor to continue.", code="reauthentication_required")
    require_recent_reauthentication(auth)
    force_password_change(
        db=runtime.db, user_id=user_id, actor_user_id=ctx.user_id, ctx=ctx, source_address=client_address(request)
    )
    return Response(status_code=204)
