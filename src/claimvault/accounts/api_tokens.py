"""API tokens for integrations: one organization, a fixed set of permissions, an expiry, revocable.

A token reads ``cvt_<organization id hex>_<token id hex>_<secret>``. It is shown once; only a keyed hash
(HMAC-SHA256 under the secret key, as for session tokens) is stored. The organization id in the token lets the
lookup open that tenant's session (the table is tenant-scoped, under row-level security on PostgreSQL); the token
id finds the row, and the hash is compared in constant time.

A token carries the permissions its creator chose among those they held in the organization at creation. Each use
re-checks the creator: able to log in, still a member, and the token's permissions are intersected with what the
creator's roles grant now. Termination, dormancy and access-review revocation revoke tokens outright.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from claimvault.accounts.lifecycle_models import ApiToken
from claimvault.accounts.models import Membership, Organization, User
from claimvault.accounts.security_events import add_security_event
from claimvault.accounts.sessions import aware, now_utc, token_hash
from claimvault.config import Settings
from claimvault.errors import NotFound, PermissionDenied, ValidationFailed
from claimvault.ids import uuid7
from claimvault.security.audit import build_event, record
from claimvault.security.authorization.relationships import partner_membership
from claimvault.security.context import AccessContext, UserContext
from claimvault.security.permissions import Permission, roles_allow
from claimvault.storage.database import Database

PREFIX = "cvt"
MAX_DAYS = 365
LAST_USED_RESOLUTION = timedelta(minutes=1)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,99}$")


@dataclass(frozen=True)
class TokenPrincipal:
    token_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    permissions: frozenset[str]


def _parse(raw: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    parts = raw.split("_", 3)
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    _, org_hex, id_hex, secret = parts
    if not (_HEX32.match(org_hex) and _HEX32.match(id_hex) and _SECRET.match(secret)):
        return None
    return uuid.UUID(hex=org_hex), uuid.UUID(hex=id_hex)


def _granted(permissions: list[str], roles: frozenset[str]) -> frozenset[str]:
    known = {p.value: p for p in Permission}
    return frozenset(p for p in permissions if p in known and roles_allow(roles, known[p]))


def resolve_api_token(*, db: Database, settings: Settings, raw: str) -> TokenPrincipal | None:
    """The principal behind a presented token, or None (unknown, revoked, expired, creator unable to log in or
    no longer a member). Records ``last_used_at`` at most once a minute."""
    parsed = _parse(raw)
    if parsed is None:
        return None
    org_id, token_id = parsed
    presented = token_hash(settings, raw)
    now = now_utc()
    with db.session(tenant_id=org_id) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.id == token_id))
        if row is None or not hmac.compare_digest(row.token_hash, presented):
            return None
        if row.revoked_at is not None or now >= aware(row.expires_at):
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.can_log_in:
            return None
        roles = frozenset(
            session.scalars(
                select(Membership.role).where(Membership.user_id == row.user_id, Membership.organization_id == org_id)
            )
        )
        slug = session.scalar(select(Organization.slug).where(Organization.id == org_id))
        if row.last_used_at is None or now - aware(row.last_used_at) >= LAST_USED_RESOLUTION:
            row.last_used_at = now
        user_id, wanted = row.user_id, list(row.permissions)
    if not roles and slug is not None:
        partner = partner_membership(db=db, user_id=user_id, org_slug=slug)
        roles = partner.roles if partner is not None and partner.organization.id == org_id else frozenset()
    if not roles:
        return None
    return TokenPrincipal(
        token_id=token_id, user_id=user_id, organization_id=org_id, permissions=_granted(wanted, roles)
    )


def create_api_token(
    *,
    db: Database,
    settings: Settings,
    ctx: UserContext,
    name: str,
    permissions: list[str],
    expires_in_days: int,
) -> tuple[str, ApiToken]:
    """Create a token for ``ctx``'s user in ``ctx``'s organization; return the raw token (shown once) and the row.

    Every permission must be one the creator's roles grant in the organization now.
    """
    if not _NAME.match(name or ""):
        raise ValidationFailed("Token names are 1-100 letters, digits, spaces or . _ : -")
    if not 1 <= expires_in_days <= MAX_DAYS:
        raise ValidationFailed("Tokens expire within 1 to 365 days.", code="invalid_expiry")
    wanted = sorted(set(permissions))
    known = {p.value for p in Permission}
    if not wanted or any(p not in known for p in wanted):
        raise ValidationFailed("Name one or more known permissions.", code="invalid_permissions")
    if any(not ctx.allows(Permission(p)) for p in wanted):
        raise PermissionDenied("A token can only carry permissions you hold here.", code="token_scope_exceeded")
    token_id = uuid7()
    raw = f"{PREFIX}_{ctx.organization_id.hex}_{token_id.hex}_{secrets.token_urlsafe(32)}"
    now = now_utc()
    row = ApiToken(
        id=token_id,
        organization_id=ctx.organization_id,
        user_id=ctx.user_id,
        name=name,
        token_hash=token_hash(settings, raw),
        permissions=wanted,
        expires_at=now + timedelta(days=expires_in_days),
        created_at=now,
    )
    with db.session(tenant_id=ctx.organization_id) as session:
        session.add(row)
        session.flush()
        add_security_event(
            session,
            user_id=ctx.user_id,
            kind="token.created",
            organization_id=ctx.organization_id,
            source_address=ctx.source_address,
            detail={"token_id": str(token_id), "permissions": wanted},
        )
    return raw, row


def list_api_tokens(*, db: Database, ctx: AccessContext) -> list[ApiToken]:
    """The organization's tokens, newest first (hashes stay in storage; callers show metadata only)."""
    with db.session(tenant_id=ctx.organization_id) as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_api_token(*, db: Database, ctx: AccessContext, token_id: uuid.UUID) -> None:
    now = now_utc()
    with db.session(tenant_id=ctx.organization_id) as session:
        row = session.scalar(select(ApiToken).where(ApiToken.id == token_id))
        if row is None:
            raise NotFound("No such token.")
        if row.revoked_at is not None:
            return
        row.revoked_at = now
        add_security_event(
            session,
            user_id=row.user_id,
            kind="token.revoked",
            organization_id=ctx.organization_id,
            source_address=ctx.source_address,
            detail={"token_id": str(row.id)},
        )
        if ctx.actor_id != row.user_id:
            record(session, build_event(ctx, action="token.revoke", entity_type="api_tokens", entity_id=row.id))


def revoke_tokens_of_users(*, db: Database, user_ids: list[uuid.UUID], organization_id: uuid.UUID | None = None) -> int:
    """Revoke every live token of these users, in one organization or in all of them. Returns how many."""
    if not user_ids:
        return 0
    if organization_id is not None:
        org_ids = [organization_id]
    else:
        with db.session(tenant_id=None) as session:
            org_ids = list(session.scalars(select(Organization.id)))
    revoked = 0
    now = now_utc()
    for org_id in org_ids:
        with db.session(tenant_id=org_id) as session:
            result = session.execute(
                update(ApiToken)
                .where(ApiToken.user_id.in_(user_ids), ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            revoked += int(getattr(result, "rowcount", 0) or 0)
    return revoked
