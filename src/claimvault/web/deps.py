"""Request dependencies: the runtime, the logged-in session, and the access context behind each route.

Every route declares what it needs, exactly one of:
- ``requires(Permission.X)``: a member of the organization in the path (or a partner under an active service
  agreement, or an API token scoped to it) whose roles grant X;
- ``authenticated``: any fully logged-in user (password and second factor), for routes without protected data;
- ``pending_login``: a session whose second factor is still pending (MFA enrolment and challenge only);
- ``@public``: no login (health, readiness, login itself, docs).
A test walks the route table and fails on a route that declares none of them.

Cookie-authenticated state changes need the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Request

from claimvault.accounts.api_tokens import TokenPrincipal, resolve_api_token
from claimvault.accounts.models import AuthSession, User
from claimvault.accounts.services import OrgMembership, membership_in
from claimvault.accounts.sessions import csrf_matches, recently_reauthenticated, resolve_session
from claimvault.errors import AuthenticationRequired, NotFound, PermissionDenied, ValidationFailed
from claimvault.runtime import Runtime
from claimvault.security.audit import build_event, record
from claimvault.security.authorization.relationships import partner_membership
from claimvault.security.context import DEFAULT_PURPOSE, PURPOSES_OF_USE, UserContext
from claimvault.security.permissions import Permission

PERMISSION_ATTR = "__claimvault_permission__"
PUBLIC_ATTR = "__claimvault_public__"
F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKEN_LENGTH = 128


def public(endpoint: F) -> F:
    """Mark a route as reachable without login. It must not touch protected data."""
    setattr(endpoint, PUBLIC_ATTR, True)
    return endpoint


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Authenticated:
    user: User
    session: AuthSession
    token: str

    @property
    def recently_reauthenticated(self) -> bool:
        return recently_reauthenticated(self.session)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def user_agent(request: Request) -> str | None:
    """The client's User-Agent for the audit trail: printable ASCII only, at most 200 characters."""
    raw = request.headers.get("user-agent", "")
    cleaned = "".join(ch for ch in raw[:200] if " " <= ch <= "~")
    return cleaned or None


def _session_from_cookie(request: Request, runtime: Runtime) -> Authenticated:
    token = request.cookies.get(runtime.settings.session_cookie_name)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationRequired("Log in to continue.")
    found = resolve_session(db=runtime.db, settings=runtime.settings, token=token)
    if found is None:
        raise AuthenticationRequired("Your session has ended; log in again.")
    session, user = found
    if request.method not in SAFE_METHODS and not csrf_matches(
        runtime.settings, token, request.headers.get("x-csrf-token")
    ):
        raise PermissionDenied("Missing or invalid CSRF token.", code="csrf_failed")
    return Authenticated(user=user, session=session, token=token)


def pending_login(request: Request, runtime: RuntimeDep) -> Authenticated:
    """A live session, whether or not its second factor is done (for MFA enrolment and challenge)."""
    return _session_from_cookie(request, runtime)


def authenticated(request: Request, runtime: RuntimeDep) -> Authenticated:
    """A fully logged-in session: password and second factor, and no password change outstanding."""
    auth = _session_from_cookie(request, runtime)
    if auth.session.mfa_verified_at is None:
        raise PermissionDenied("Complete the second factor first.", code="mfa_required")
    if auth.user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PermissionDenied("Change your password before continuing.", code="password_change_required")
    return auth


# Routes a user who must change their password may still reach (besides MFA, which happens before).
PASSWORD_CHANGE_PATHS: set[str] = {
    "/api/v1/auth/me",
    "/api/v1/auth/logout",
    "/api/v1/auth/password",
    "/api/v1/auth/password/check",
}

setattr(pending_login, PERMISSION_ATTR, "pending_login")
setattr(authenticated, PERMISSION_ATTR, "authenticated")
AuthDep = Annotated[Authenticated, Depends(authenticated)]
PendingDep = Annotated[Authenticated, Depends(pending_login)]


def require_recent_reauthentication(auth: Authenticated | Request | None) -> None:
    """Sensitive actions (export, break-the-glass, role changes, key operations) need password + MFA within
    the last five minutes. Accepts the Authenticated, or the request (API-token requests never qualify)."""
    if isinstance(auth, Request):
        auth = getattr(auth.state, "auth", None)
    if not isinstance(auth, Authenticated) or not auth.recently_reauthenticated:
        raise PermissionDenied("Confirm your password and second factor to continue.", code="reauthentication_required")


@dataclass(frozen=True)
class _Principal:
    user_id: Any
    session_id: Any
    token: TokenPrincipal | None


def _principal(request: Request, runtime: Runtime) -> _Principal:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        raw = header[7:].strip()
        principal = resolve_api_token(db=runtime.db, settings=runtime.settings, raw=raw) if len(raw) <= 256 else None
        if principal is None:
            raise AuthenticationRequired("Invalid or expired API token.", code="invalid_token")
        return _Principal(principal.user_id, None, principal)
    auth = authenticated(request, runtime)
    request.state.auth = auth
    return _Principal(auth.user.id, auth.session.id, None)


def requires(permission: Permission) -> Callable[..., UserContext]:
    """Dependency factory: the access context of a member of ``{org}`` holding ``permission``.

    The tenant is set only after the membership (or service agreement, or token scope) check. Non-members get
    404 (organization slugs are not enumerable); members without the permission get 403. Both are audited.
    """

    def dependency(
        request: Request,
        runtime: RuntimeDep,
        org: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")],
        purpose: Annotated[str | None, Header(alias="X-Purpose-Of-Use")] = None,
    ) -> UserContext:
        principal = _principal(request, runtime)
        purpose_of_use = (purpose or DEFAULT_PURPOSE).upper()
        if purpose_of_use not in PURPOSES_OF_USE:
            raise ValidationFailed("Unknown purpose of use.", code="invalid_purpose_of_use")
        source = client_address(request)
        request_id = getattr(request.state, "request_id", None) or ""
        membership: OrgMembership | None = membership_in(db=runtime.db, user_id=principal.user_id, org_slug=org)
        if membership is None:
            membership = partner_membership(db=runtime.db, user_id=principal.user_id, org_slug=org)
        if (
            membership is not None
            and principal.token is not None
            and membership.organization.id != principal.token.organization_id
        ):
            membership = None
        if membership is None:
            _audit_refusal(
                runtime, None, principal, permission, "not_a_member", source, request_id, user_agent(request)
            )
            raise NotFound("No such organization.")
        ctx = UserContext(
            user_id=principal.user_id,
            organization_id=membership.organization.id,
            roles=membership.roles,
            purpose_of_use=purpose_of_use,
            request_id=request_id,
            source_address=source,
            session_id=principal.session_id,
            user_agent=user_agent(request),
        )
        allowed = ctx.allows(permission)
        if principal.token is not None:
            allowed = allowed and permission.value in principal.token.permissions
        if not allowed:
            _audit_refusal(
                runtime, ctx, principal, permission, "permission_not_granted", source, request_id, user_agent(request)
            )
            raise PermissionDenied("You do not have permission to do this.")
        return ctx

    setattr(dependency, PERMISSION_ATTR, permission)
    return dependency


def _audit_refusal(
    runtime: Runtime,
    ctx: UserContext | None,
    principal: _Principal,
    permission: Permission,
    reason: str,
    source: str | None,
    request_id: str,
    agent: str | None,
) -> None:
    event = build_event(
        ctx,
        action="denied",
        outcome="denied",
        permission=permission.value,
        reason=reason,
        actor_id=principal.user_id,
        source_address=source,
        user_agent=agent,
    )
    if ctx is None:
        event.request_id = request_id or None
        event.session_id = principal.session_id
    with runtime.db.session(tenant_id=ctx.organization_id if ctx else None) as session:
        record(session, event)
