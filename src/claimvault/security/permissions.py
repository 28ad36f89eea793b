"""Permissions and roles. Every route and command declares one permission, or declares that it is public.

The role-to-permission grants are data (``role_policy.csv``) enforced with pycasbin; deny by default.
Administration roles hold no permission on protected data. Relationship checks (care assignments) and
break-the-glass are code, layered on top by the identity work.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources

import casbin
from casbin.model import Model
from casbin.persist.adapters import StringAdapter


class Permission(StrEnum):
    PATIENT_READ = "patient:read"
    PATIENT_LIST = "patient:list"
    PATIENT_SEARCH = "patient:search"
    PATIENT_CREATE = "patient:create"
    PATIENT_UPDATE = "patient:update"
    AUDIT_READ = "audit:read"
    ORG_READ = "org:read"
    ORG_MANAGE = "org:manage"
    MEMBERSHIP_MANAGE = "membership:manage"
    USER_MANAGE = "user:manage"
    USER_READ = "user:read"
    SECURITY_EVENT_READ = "security_event:read"
    ACCESS_REVIEW_MANAGE = "access_review:manage"
    APPROVAL_DECIDE = "approval:decide"
    TOKEN_MANAGE = "token:manage"  # noqa: S105 - a permission name
    ALERT_READ = "alert:read"
    ALERT_MANAGE = "alert:manage"
    BREAK_GLASS = "break_glass:invoke"
    BREAK_GLASS_REVIEW = "break_glass:review"
    CARE_ASSIGNMENT_MANAGE = "care_assignment:manage"
    SERVICE_AGREEMENT_MANAGE = "service_agreement:manage"
    KEY_MANAGE = "key:manage"


# Permissions that reach protected data (PHI, PII, financial): these go through the PHI gate.
PROTECTED_DATA_PERMISSIONS = frozenset(
    {
        Permission.PATIENT_READ,
        Permission.PATIENT_LIST,
        Permission.PATIENT_SEARCH,
        Permission.PATIENT_CREATE,
        Permission.PATIENT_UPDATE,
    }
)


class Role(StrEnum):
    FRONT_DESK = "front_desk"
    CODER = "coder"
    BILLER = "biller"
    BILLING_MANAGER = "billing_manager"
    PROVIDER = "provider"
    COMPLIANCE_OFFICER = "compliance_officer"
    AUDITOR = "auditor"
    SECURITY_ADMIN = "security_admin"
    ORG_ADMIN = "org_admin"
    PARTNER_BILLER = "partner_biller"


_MODEL = """
[request_definition]
r = sub, act

[policy_definition]
p = sub, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && r.act == p.act
"""


@cache
def _enforcer() -> casbin.Enforcer:
    model = Model()
    model.load_model_from_text(_MODEL)
    policy = resources.files("claimvault.security").joinpath("role_policy.csv").read_text("utf-8")
    lines = [ln for ln in policy.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    enforcer = casbin.Enforcer(model, StringAdapter("\n".join(lines)))
    for rule in enforcer.get_policy():
        if rule[0] not in set(Role) or rule[1] not in set(Permission):
            raise ValueError("role_policy.csv names an unknown role or permission")
    return enforcer


def role_allows(role: str, permission: Permission) -> bool:
    return bool(_enforcer().enforce(role, permission.value))


def roles_allow(roles: frozenset[str], permission: Permission) -> bool:
    """True when any of ``roles`` is granted ``permission``. Unknown roles grant nothing."""
    return any(role_allows(role, permission) for role in roles)


def granted_permissions(role: str) -> frozenset[Permission]:
    return frozenset(p for p in Permission if role_allows(role, p))
