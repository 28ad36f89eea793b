"""Request dependencies: the runtime, the logged-in session, and the access context behind each route.

Every route declares what it needs, exactly one of:
- ``requires(Permission.X)``: a member of the organization in the path whose roles grant X;
- ``authenticated``: any logged-in user, for routes that touch no protected data;
- ``@public``: no login (health, readiness, login itself, docs).
A test walks the route table and fails on a route that declares none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Request

from claimvault.accounts.models import AuthSession, User
from claimvault.accounts.services import membership_in, resolve_session
from claimvault.errors import AuthenticationRequired, NotFound, PermissionDenied, ValidationFailed
from claimvault.runtime import Runtime
from claimvault.security.audit import build_event, record
from claimvault.security.context import DEFAULT_PURPOSE, PURPOSES_OF_USE, UserContext
from claimvault.security.permissions import Permission

PERMISSION_ATTR = "__claimvault_permission__"
PUBLIC_ATTR = "__claimvault_public__"
F = TypeVar("F", bound=Callable[..., Any])


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


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def authenticated(request: Request, runtime: RuntimeDep) -> Authenticated:
    """The live session behind the request's cookie; 401 when there is none."""
    token = request.cookies.get(runtime.settings.session_cookie_name)
    if not token or len(token) > 128:
        raise AuthenticationRequired("Log in to continue.")
    found = resolve_session(db=runtime.db, settings=runtime.settings, token=token)
    if found is None:
        raise AuthenticationRequired("Your session has ended; log in again.")
    session, user = found
    return Authenticated(user=user, session=session, token=token)


setattr(authenticated, PERMISSION_ATTR, "authenticated")
AuthDep = Annotated[Authenticated, Depends(authenticated)]


def requires(permission: Permission) -> Callable[..., UserContext]:
    """Dependency factory: the access context of a member of ``{org}`` holding ``permission``.

    The tenant is set only after the membership check. Non-members get 404 (organization slugs are not
    enumerable); members without the permission get 403. Both refusals are audited.
    """

    def dependency(
        request: Request,
        runtime: RuntimeDep,
        auth: AuthDep,
        org: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")],
        purpose: Annotated[str | None, Header(alias="X-Purpose-Of-Use")] = None,
    ) -> UserContext:
        purpose_of_use = (purpose or DEFAULT_PURPOSE).upper()
        if purpose_of_use not in PURPOSES_OF_USE:
            raise ValidationFailed("Unknown purpose of use.", code="invalid_purpose_of_use")
        source = _client_address(request)
        membership = membership_in(db=runtime.db, user_id=auth.user.id, org_slug=org)
        request_id = getattr(request.state, "request_id", None) or ""
        if membership is None:
            _audit_refusal(runtime, None, auth, permission, "not_a_member", source, request_id)
            raise NotFound("No such organization.")
        ctx = UserContext(
            user_id=auth.user.id,
            organization_id=membership.organization.id,
            roles=membership.roles,
            purpose_of_use=purpose_of_use,
            request_id=request_id,
            source_address=source,
            session_id=auth.session.id,
        )
        if not ctx.allows(permission):
            _audit_refusal(runtime, ctx, auth, permission, "permission_not_granted", source, request_id)
            raise PermissionDenied("You do not have permission to do this.")
        return ctx

    setattr(dependency, PERMISSION_ATTR, permission)
    return dependency


def _audit_refusal(
    runtime: Runtime,
    ctx: UserContext | None,
    auth: Authenticated,
    permission: Permission,
    reason: str,
    source: str | None,
    request_id: str,
) -> None:
    event = build_event(
        ctx,
        action="denied",
        outcome="denied",
        permission=permission.value,
        reason=reason,
        actor_id=auth.user.id,
        source_address=source,
    )
    if ctx is None:
        event.actor_type = "user"
        event.request_id = request_id or None
        event.session_id = auth.session.id
    with runtime.db.session(tenant_id=ctx.organization_id if ctx else None) as session:
        record(session, event)
