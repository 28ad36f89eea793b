"""Account lifecycle: members and their roles, termination, re-activation through a second approver, and the
dormant-account job.

- ``terminate_user`` takes effect at once: the account is marked terminated and every session and API token is
  revoked, so the very next request with any of them is refused.
- Re-activation and MFA resets are never direct: ``request_reactivation`` / ``request_mfa_reset`` create approval
  requests that a different security administrator decides (``security.approvals``); the approved re-activation
  runs ``reactivate_user`` (password change required, sessions stay revoked).
- ``disable_dormant_accounts`` disables accounts unused for N days (a job for a scheduler and the CLI).
- Role changes (``set_roles``) end the target's sessions so the next request reflects them.

Every change is audited under the acting context, and mirrored as the target's security event where one exists.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from claimvault.accounts.api_tokens import revoke_tokens_of_users
from claimvault.accounts.models import Membership, User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.services import USERNAME, normalize_username
from claimvault.accounts.sessions import aware, now_utc, revoke_all_for_user
from claimvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.approvals.service import request_approval
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext, SystemContext, UserContext
from claimvault.security.passwords import PasswordHashing
from claimvault.security.permissions import Permission, Role
from claimvault.storage.database import Database

DORMANT_DAYS = 90


# Members -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MemberInfo:
    user_id: uuid.UUID
    username: str
    roles: list[str]
    state: str  # active | disabled | terminated | inactive
    disabled_reason: str | None
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime


def account_state(user: User) -> str:
    if user.terminated_at is not None:
        return "terminated"
    if user.disabled_at is not None:
        return "disabled"
    return "active" if user.is_active else "inactive"


def _require(ctx: AccessContext, permission: Permission) -> None:
    if not ctx.allows(permission):
        raise PermissionDenied("You do not have permission to do this.")


def _org(ctx: AccessContext) -> uuid.UUID:
    if ctx.organization_id is None:
        raise ValidationFailed("Name the organization.")
    return ctx.organization_id


def require_member(*, db: Database, organization_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """The user, if a member of the organization; otherwise NotFound (other organizations' users stay unseen)."""
    with db.session(tenant_id=None) as session:
        user = session.scalar(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == user_id, Membership.organization_id == organization_id)
            .limit(1)
        )
    if user is None:
        raise NotFound("No such user.")
    return user


def member_by_username(*, db: Database, organization_id: uuid.UUID, username: str) -> User:
    with db.session(tenant_id=None) as session:
        user_id = session.scalar(select(User.id).where(User.username == normalize_username(username)))
    if user_id is None:
        raise NotFound("No such user.")
    return require_member(db=db, organization_id=organization_id, user_id=user_id)


def list_members(*, db: Database, ctx: AccessContext) -> list[MemberInfo]:
    _require(ctx, Permission.USER_READ)
    with db.session(tenant_id=None) as session:
        rows = session.execute(
            select(User, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id == _org(ctx))
            .order_by(User.username, Membership.role)
        ).all()
    grouped: dict[uuid.UUID, tuple[User, list[str]]] = {}
    for user, role in rows:
        grouped.setdefault(user.id, (user, []))[1].append(role)
    return [
        MemberInfo(
            user_id=user.id,
            username=user.username,
            roles=roles,
            state=account_state(user),
            disabled_reason=user.disabled_reason,
            must_change_password=user.must_change_password,
            last_login_at=user.last_login_at,
            created_at=user.created_at,
        )
        for user, roles in grouped.values()
    ]


def _valid_roles(roles: list[str]) -> list[str]:
    wanted = sorted(set(roles))
    known = {r.value for r in Role}
    if not wanted or any(r not in known for r in wanted):
        raise ValidationFailed("Name one or more known roles.", code="invalid_roles")
    return wanted


def create_member(
    *, db: Database, passwords: PasswordHashing, ctx: AccessContext, username: str, roles: list[str]
) -> tuple[User, str]:
    """Create a user with ``roles`` in the organization and a one-time password (returned once; a change is
    required at first login)."""
    _require(ctx, Permission.USER_MANAGE)
    org_id = _org(ctx)
    name = normalize_username(username)
    if not USERNAME.match(name):
        raise ValidationFailed("Usernames are 3-64 lowercase letters, digits, dots, hyphens or underscores.")
    wanted = _valid_roles(roles)
    password = secrets.token_urlsafe(18)
    user = User(username=name, password_hash=passwords.hash(password), must_change_password=True)
    try:
        with db.session(tenant_id=org_id) as session:
            if session.scalar(select(User.id).where(User.username == name)) is not None:
                raise Conflict("This username is taken.")
            session.add(user)
            session.flush()
            session.add_all(Membership(user_id=user.id, organization_id=org_id, role=r) for r in wanted)
            record(
                session,
                build_event(
                    ctx, action="user.create", entity_type="users", entity_id=user.id, detail={"roles": wanted}
                ),
            )
    except IntegrityError as exc:
        raise Conflict("This username is taken.") from exc
    return user, password


def set_roles(*, db: Database, ctx: AccessContext, user_id: uuid.UUID, roles: list[str]) -> list[str]:
    """Make ``roles`` the member's roles in the organization; end their sessions. Nobody changes their own."""
    _require(ctx, Permission.MEMBERSHIP_MANAGE)
    org_id = _org(ctx)
    wanted = _valid_roles(roles)
    require_member(db=db, organization_id=org_id, user_id=user_id)
    if isinstance(ctx, UserContext) and ctx.user_id == user_id:
        raise PermissionDenied("Another administrator must change your roles.", code="own_roles")
    with db.session(tenant_id=org_id) as session:
        current = set(
            session.scalars(
                select(Membership.role).where(Membership.user_id == user_id, Membership.organization_id == org_id)
            )
        )
        added, removed = sorted(set(wanted) - current), sorted(current - set(wanted))
        if removed:
            session.execute(
                delete(Membership).where(
                    Membership.user_id == user_id, Membership.organization_id == org_id, Membership.role.in_(removed)
                )
            )
        session.add_all(Membership(user_id=user_id, organization_id=org_id, role=r) for r in added)
        record(
            session,
            build_event(
                ctx,
                action="membership.change",
                permission=Permission.MEMBERSHIP_MANAGE.value,
                entity_type="users",
                entity_id=user_id,
                detail={"added": added, "removed": removed},
            ),
        )
    if added or removed:
        revoke_all_for_user(db=db, user_id=user_id)
    return wanted


# Termination and re-activation ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TerminationReport:
    user_id: uuid.UUID
    sessions_revoked: int
    tokens_revoked: int


def terminate_user(*, db: Database, user_id: uuid.UUID, actor: AccessContext) -> TerminationReport:
    """Terminate an account now: no login, every session and token revoked. Nobody terminates themselves."""
    _require(actor, Permission.USER_MANAGE)
    if isinstance(actor, UserContext) and actor.user_id == user_id:
        raise PermissionDenied("You cannot terminate your own account.", code="own_account")
    if actor.organization_id is not None:
        require_member(db=db, organization_id=actor.organization_id, user_id=user_id)
    now = now_utc()
    with db.session(tenant_id=actor.organization_id) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        if user.terminated_at is not None:
            raise Conflict("This account is already terminated.", code="already_terminated")
        user.terminated_at = now
        user.is_active = False
        user.disabled_reason = "terminated"
        add_security_event(session, user_id=user_id, kind="user.terminated", organization_id=actor.organization_id)
        record(session, build_event(actor, action="user.terminate", entity_type="users", entity_id=user_id))
    sessions = revoke_all_for_user(db=db, user_id=user_id)
    tokens = revoke_tokens_of_users(db=db, user_ids=[user_id])
    return TerminationReport(user_id=user_id, sessions_revoked=sessions, tokens_revoked=tokens)


def _account_request(*, db: Database, ctx: AccessContext, user_id: uuid.UUID, kind: str) -> ApprovalRequest:
    with db.session(tenant_id=_org(ctx)) as session:
        return request_approval(session, ctx=ctx, kind=kind, subject_type="users", subject_id=user_id, payload={})


def request_reactivation(*, db: Database, ctx: AccessContext, user_id: uuid.UUID) -> ApprovalRequest:
    """Ask for a terminated or disabled member to be re-activated; a different security admin must approve."""
    _require(ctx, Permission.USER_MANAGE)
    user = require_member(db=db, organization_id=_org(ctx), user_id=user_id)
    if user.can_log_in:
        raise Conflict("This account is active.", code="account_active")
    return _account_request(db=db, ctx=ctx, user_id=user_id, kind="user_reactivation")


def request_mfa_reset(*, db: Database, ctx: AccessContext, user_id: uuid.UUID) -> ApprovalRequest:
    """Ask for a member's second factors to be cleared; a different security admin must approve."""
    _require(ctx, Permission.USER_MANAGE)
    require_member(db=db, organization_id=_org(ctx), user_id=user_id)
    return _account_request(db=db, ctx=ctx, user_id=user_id, kind="mfa_reset")


def reactivate_user(*, db: Database, ctx: AccessContext, user_id: uuid.UUID) -> None:
    """Executor of an approved re-activation: the account may log in again, after changing its password."""
    with db.session(tenant_id=ctx.organization_id) as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        user.terminated_at = None
        user.disabled_at = None
        user.disabled_reason = None
        user.is_active = True
        user.must_change_password = True
        add_security_event(session, user_id=user_id, kind="user.reactivated", organization_id=ctx.organization_id)
        record(session, build_event(ctx, action="user.reactivate", entity_type="users", entity_id=user_id))
    revoke_all_for_user(db=db, user_id=user_id)


# Dormant accounts ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DormantReport:
    user_id: uuid.UUID
    username: str
    last_login_at: datetime | None  # None: never logged in (measured from creation)
    idle_days: int


def find_dormant_accounts(*, db: Database, now: datetime, days: int = DORMANT_DAYS) -> list[DormantReport]:
    """Accounts able to log in whose last login (or creation, if never) is older than ``days``."""
    if days < 1:
        raise ValidationFailed("Dormancy is at least one day.")
    cutoff = now - timedelta(days=days)
    with db.session(tenant_id=None) as session:
        users = list(
            session.scalars(
                select(User)
                .where(User.is_active.is_(True), User.terminated_at.is_(None), User.disabled_at.is_(None))
                .order_by(User.username)
            )
        )
    found = []
    for user in users:
        reference = aware(user.last_login_at or user.created_at)
        if reference < cutoff:
            found.append(DormantReport(user.id, user.username, user.last_login_at, (now - reference).days))
    return found


def disable_dormant_accounts(
    *,
    db: Database,
    now: datetime,
    days: int = DORMANT_DAYS,
    dry_run: bool = False,
    actor: AccessContext | None = None,
) -> list[DormantReport]:
    """Disable dormant accounts (reason ``dormant``), revoke their sessions and tokens, and report them.

    A job entry point: ``actor`` defaults to a system context named after the job.
    """
    found = find_dormant_accounts(db=db, now=now, days=days)
    if dry_run or not found:
        return found
    ctx = actor or SystemContext(
        command="disable-dormant", organization_id=None, permissions=frozenset({Permission.USER_MANAGE})
    )
    _require(ctx, Permission.USER_MANAGE)
    ids = [r.user_id for r in found]
    with db.session(tenant_id=None) as session:
        for user in session.scalars(select(User).where(User.id.in_(ids))):
            user.disabled_at = now
            user.disabled_reason = "dormant"
            add_security_event(session, user_id=user.id, kind="user.disabled", reason="dormant")
        pairs = session.execute(
            select(Membership.organization_id, Membership.user_id).where(Membership.user_id.in_(ids)).distinct()
        ).all()
    # The audit record goes to each organization the user belongs to, so its own auditors see it.
    by_org: dict[uuid.UUID | None, set[uuid.UUID]] = {}
    for member_org, member_id in pairs:
        by_org.setdefault(member_org, set()).add(member_id)
    by_org[None] = set(ids) - {u for _, u in pairs}
    for org_id, members in by_org.items():
        if not members:
            continue
        with db.session(tenant_id=org_id if org_id is not None else ctx.organization_id) as session:
            for user_id in sorted(members):
                record(
                    session,
                    build_event(
                        ctx,
                        action="user.disable",
                        organization_id=org_id,
                        entity_type="users",
                        entity_id=user_id,
                        reason="dormant",
                    ),
                )
    for user_id in ids:
        revoke_all_for_user(db=db, user_id=user_id)
    revoke_tokens_of_users(db=db, user_ids=ids)
    return found
