"""Account services: organizations, users, memberships, password login and server-side sessions.

Service functions are keyword-only. None of them returns or touches patient data; login and session events are
written to the audit trail.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from claimvault.accounts.models import Membership, Organization, User
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.security.audit import build_event, record
from claimvault.security.context import AccessContext
from claimvault.security.crypto.keys import KeyService
from claimvault.security.password_policy import validate_new_password
from claimvault.security.passwords import PasswordHashing
from claimvault.security.permissions import Role
from claimvault.storage.database import Database

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")
ORG_KINDS = ("practice", "billing_company")


# Organizations ------------------------------------------------------------------------------------------------
def create_organization(
    *,
    db: Database,
    keys: KeyService,
    ctx: AccessContext | None,
    slug: str,
    name: str,
    kind: str = "practice",
    time_zone: str = "America/New_York",
) -> Organization:
    if not SLUG.match(slug):
        raise ValidationFailed("The slug must be 1-40 lowercase letters, digits or inner hyphens.")
    if kind not in ORG_KINDS:
        raise ValidationFailed("The organization kind must be 'practice' or 'billing_company'.")
    if not name.strip() or len(name) > 200:
        raise ValidationFailed("The organization name must be 1-200 characters.")
    org = Organization(slug=slug, name=name.strip(), kind=kind, time_zone=time_zone)
    try:
        with db.session(tenant_id=None) as session:
            if session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
                raise Conflict("An organization with this slug already exists.")
            session.add(org)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("An organization with this slug already exists.") from exc
    with db.session(tenant_id=org.id) as session:
        keys.provision(session, org.id)
        record(
            session,
            build_event(
                ctx,
                action="org.create",
                organization_id=org.id,
                entity_type="organizations",
                entity_id=org.id,
            ),
        )
    return org


def list_organizations(*, db: Database) -> list[Organization]:
    with db.session(tenant_id=None) as session:
        return list(session.scalars(select(Organization).order_by(Organization.slug)))


def get_organization_by_slug(*, db: Database, slug: str) -> Organization:
    with db.session(tenant_id=None) as session:
        org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound("No such organization.")
    return org


# Users and memberships ----------------------------------------------------------------------------------------
def normalize_username(username: str) -> str:
    return username.strip().lower()


def create_user(
    *,
    db: Database,
    passwords: PasswordHashing,
    username: str,
    password: str,
    must_change_password: bool = False,
) -> User:
    username = normalize_username(username)
    if not USERNAME.match(username):
        raise ValidationFailed("Usernames are 3-64 lowercase letters, digits, dots, hyphens or underscores.")
    password = validate_new_password(password, username=username)
    user = User(username=username, password_hash=passwords.hash(password), must_change_password=must_change_password)
    try:
        with db.session(tenant_id=None) as session:
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise Conflict("This username is taken.")
            session.add(user)
    except IntegrityError as exc:
        raise Conflict("This username is taken.") from exc
    return user


def add_membership(*, db: Database, user_id: uuid.UUID, organization_id: uuid.UUID, role: str) -> Membership:
    if role not in set(Role):
        raise ValidationFailed("Unknown role.")
    membership = Membership(user_id=user_id, organization_id=organization_id, role=role)
    with db.session(tenant_id=None) as session:
        session.add(membership)
    return membership


@dataclass(frozen=True)
class OrgMembership:
    organization: Organization
    roles: frozenset[str]


def memberships_of(*, db: Database, user_id: uuid.UUID) -> list[OrgMembership]:
    with db.session(tenant_id=None) as session:
        rows = session.execute(
            select(Organization, Membership.role)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == user_id)
            .order_by(Organization.slug)
        ).all()
    grouped: dict[uuid.UUID, tuple[Organization, set[str]]] = {}
    for org, role in rows:
        grouped.setdefault(org.id, (org, set()))[1].add(role)
    return [OrgMembership(org, frozenset(roles)) for org, roles in grouped.values()]


def membership_in(*, db: Database, user_id: uuid.UUID, org_slug: str) -> OrgMembership | None:
    """The user's roles in the organization named by ``org_slug``, or None when not a member."""
    for membership in memberships_of(db=db, user_id=user_id):
        if membership.organization.slug == org_slug:
            return membership
    return None
