"""The pycasbin engine: RBAC with domains, where a domain is an organization id.

Role-to-permission grants (``role_policy.csv``) hold in every domain (``*``); user-to-role groupings come from
memberships and are built for each decision, so no mutable enforcer is shared between threads (pycasbin's role
manager creates entries while it answers). Deny by default.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources

import casbin
from casbin.model import Model
from casbin.persist.adapters import StringAdapter

from claimvault.security.permissions import Permission, Role

ALL_DOMAINS = "*"

MODEL = """
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == r.dom || p.dom == "*") && r.act == p.act
"""

_CASBIN_LOGGERS = ("casbin", "casbin.policy", "casbin.enforcer", "casbin.role")
_KNOWN_ROLES = frozenset(r.value for r in Role)
_KNOWN_PERMISSIONS = frozenset(p.value for p in Permission)


@cache
def policy_rules() -> tuple[tuple[str, str], ...]:
    """The (role, permission) grants of ``role_policy.csv``, validated: an unknown name fails loudly."""
    text = resources.files("claimvault.security").joinpath("role_policy.csv").read_text("utf-8")
    rules = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or parts[0] != "p" or parts[1] not in _KNOWN_ROLES or parts[2] not in _KNOWN_PERMISSIONS:
            raise ValueError("role_policy.csv names an unknown role or permission, or a malformed line")
        rules.append((parts[1], parts[2]))
    if len(set(rules)) != len(rules):
        raise ValueError("role_policy.csv grants the same permission twice")
    return tuple(rules)


@cache
def _policy_lines() -> str:
    return "\n".join(f"p, {role}, {ALL_DOMAINS}, {permission}" for role, permission in policy_rules())


def build_enforcer(groupings: Iterable[tuple[str, str, str]] = ()) -> casbin.Enforcer:
    """A fresh enforcer: the cached grants plus ``(user, role, domain)`` groupings. Unknown roles are dropped."""
    lines = [_policy_lines()]
    for user, role, domain in groupings:
        if role in _KNOWN_ROLES and domain != ALL_DOMAINS:
            lines.append(f"g, {_atom(user)}, {role}, {_atom(domain)}")
    _quiet_casbin()
    model = Model()
    model.load_model_from_text(MODEL)
    return casbin.Enforcer(model, StringAdapter("\n".join(lines)))


def _quiet_casbin() -> None:
    """pycasbin logs the model, the policy and each decision at INFO while it builds and answers; one enforcer per
    decision would flood the log with ids. It disables its loggers only after its first build, so do it first."""
    for name in _CASBIN_LOGGERS:
        logging.getLogger(name).disabled = True


def _atom(value: str) -> str:
    if not value or any(ch in value for ch in ",\n\r\"'") or value.strip() != value:
        raise ValueError("an authorization subject or domain holds a reserved character")
    return value


def enforce(
    *,
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    permission: Permission,
    roles: Iterable[str] = (),
    memberships: Mapping[uuid.UUID, Iterable[str]] | None = None,
) -> bool:
    """Does ``user_id`` hold ``permission`` in organization ``org_id``?

    ``roles`` are the user's roles in ``org_id`` (as a request context carries them, already resolved);
    ``memberships`` may add roles per organization. A role held in one organization grants nothing in another.
    """
    groupings = [(str(user_id), role, str(org_id)) for role in roles]
    for domain, domain_roles in (memberships or {}).items():
        groupings.extend((str(user_id), role, str(domain)) for role in domain_roles)
    return bool(build_enforcer(groupings).enforce(str(user_id), str(org_id), permission.value))


@cache
def role_grants() -> Mapping[str, frozenset[Permission]]:
    """Each role's permissions, decided once by the engine (one probe user per role, in one probe domain)."""
    domain = "probe-domain"
    enforcer = build_enforcer((f"probe-{role}", role, domain) for role in _KNOWN_ROLES)
    return {
        role: frozenset(p for p in Permission if enforcer.enforce(f"probe-{role}", domain, p.value))
        for role in _KNOWN_ROLES
    }
