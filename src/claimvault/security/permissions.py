"""Permissions and roles. Every route and command declares one permission, or declares that it is public.

The role-to-permission grants are data (``role_policy.csv``) enforced with pycasbin (RBAC with domains, see
``authorization.engine``); deny by default. Administration roles hold no permission on protected data.
Relationship limits (care assignments, service agreements, break-the-glass) are code in ``authorization``.
"""

from __future__ import annotations

from enum import StrEnum


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
    PAYMENT_METHOD_READ = "payment_method:read"
    PAYMENT_METHOD_MANAGE = "payment_method:manage"
    PATIENT_SHRED = "patient:shred"
    RETENTION_HOLD_MANAGE = "retention_hold:manage"
    PATIENT_EXPORT = "patient:export"
    PATIENT_MERGE = "patient:merge"
    COVERAGE_READ = "coverage:read"
    COVERAGE_MANAGE = "coverage:manage"
    DISCLOSURE_RECORD = "disclosure:record"
    DISCLOSURE_READ = "disclosure:read"
    PROVIDER_READ = "provider:read"
    PROVIDER_MANAGE = "provider:manage"
    PAYER_READ = "payer:read"
    PAYER_MANAGE = "payer:manage"
    ENCOUNTER_READ = "encounter:read"
    ENCOUNTER_MANAGE = "encounter:manage"
    CLAIM_READ = "claim:read"
    CLAIM_MANAGE = "claim:manage"
    CLAIM_SUBMIT = "claim:submit"
    REMITTANCE_READ = "remittance:read"
    REMITTANCE_POST = "remittance:post"
    ELIGIBILITY_CHECK = "eligibility:check"
    PAYMENT_POST = "payment:post"
    STATEMENT_RUN = "statement:run"
    REPORT_READ = "report:read"
    DISCOVERY_CONFIGURE = "discovery:configure"  # the organization's MRN formats for the scanner
    DISCOVERY_SCAN = "discovery:scan"  # scan an uploaded file; nothing is kept, previews only come back
    DISCOVERY_READ = "discovery:read"  # the compliance view of blob-store scans (levels, scores, counts)
    DISCOVERY_SCAN_STORE = "discovery:scan_store"  # decrypt stored files to scan them: system command only


# Permissions that reach protected data (PHI, PII, financial): these go through the PHI gate.
PROTECTED_DATA_PERMISSIONS = frozenset(
    {
        Permission.PATIENT_READ,
        Permission.PATIENT_LIST,
        Permission.PATIENT_SEARCH,
        Permission.PATIENT_CREATE,
        Permission.PATIENT_UPDATE,
        Permission.PAYMENT_METHOD_READ,
        Permission.PAYMENT_METHOD_MANAGE,
        Permission.PATIENT_EXPORT,
        Permission.PATIENT_MERGE,
        Permission.COVERAGE_READ,
        Permission.COVERAGE_MANAGE,
        Permission.DISCLOSURE_RECORD,
        Permission.DISCLOSURE_READ,
        Permission.PROVIDER_READ,
        Permission.PROVIDER_MANAGE,
        Permission.PAYER_READ,
        Permission.PAYER_MANAGE,
        Permission.ENCOUNTER_READ,
        Permission.ENCOUNTER_MANAGE,
        Permission.CLAIM_READ,
        Permission.CLAIM_MANAGE,
        Permission.CLAIM_SUBMIT,
        Permission.REMITTANCE_READ,
        Permission.REMITTANCE_POST,
        Permission.ELIGIBILITY_CHECK,
        Permission.PAYMENT_POST,
        Permission.STATEMENT_RUN,
        Permission.REPORT_READ,
        Permission.DISCOVERY_SCAN_STORE,
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


# Roles whose protected-data permissions reach only the patients of a relationship (``authorization.scope``):
# a provider's care assignments (and, later, encounters); a partner biller's client practices under an active
# service agreement. Active break-the-glass grants add patients to either.
RELATIONSHIP_LIMITED_ROLES = frozenset({Role.PROVIDER.value, Role.PARTNER_BILLER.value})

# Administration roles: they never hold a permission on protected data (a test reads the policy to prove it).
ADMINISTRATION_ROLES = frozenset({Role.SECURITY_ADMIN.value, Role.ORG_ADMIN.value})


def role_allows(role: str, permission: Permission) -> bool:
    from claimvault.security.authorization.engine import role_grants  # the engine imports this module

    return permission in role_grants().get(role, frozenset())


def roles_allow(roles: frozenset[str], permission: Permission) -> bool:
    """True when any of ``roles`` is granted ``permission``. Unknown roles grant nothing.

    ``roles`` are already resolved for one organization (a request context carries them); for a decision across
    organizations use ``authorization.engine.enforce``.
    """
    return any(role_allows(role, permission) for role in roles)


def granted_permissions(role: str) -> frozenset[Permission]:
    return frozenset(p for p in Permission if role_allows(role, p))
