"""Access contexts: who stands behind an operation. Every service touching protected data requires one.

A ``UserContext`` is built only after the user's membership in the organization was checked. A
``SystemContext`` names the CLI command or job and the permissions it declared; it is audited like a user.
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass, field

from claimvault.ids import uuid7
from claimvault.security.permissions import Permission, roles_allow

# HL7 v3 PurposeOfUse codes we accept.
PURPOSES_OF_USE = frozenset({"TREAT", "HPAYMT", "HOPERAT", "HRESCH", "PUBHLTH", "HSYSADMIN", "ETREAT", "PATRQT"})
DEFAULT_PURPOSE = "HPAYMT"


@dataclass(frozen=True)
class UserContext:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    roles: frozenset[str]
    purpose_of_use: str = DEFAULT_PURPOSE
    request_id: str = field(default_factory=lambda: uuid7().hex)
    source_address: str | None = None
    session_id: uuid.UUID | None = None
    user_agent: str | None = None

    actor_type = "user"

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.user_id

    @property
    def actor_name(self) -> str | None:
        return None

    def allows(self, permission: Permission) -> bool:
        return roles_allow(self.roles, permission)


@dataclass(frozen=True)
class SystemContext:
    """A CLI command or background job, acting on one organization with the permissions it declared."""

    command: str
    organization_id: uuid.UUID | None
    permissions: frozenset[Permission]
    operator: str | None = None
    purpose_of_use: str = "HOPERAT"
    request_id: str = field(default_factory=lambda: uuid7().hex)

    actor_type = "system"
    source_address = None
    session_id = None
    user_agent = None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset({"system"})

    @property
    def actor_id(self) -> uuid.UUID | None:
        return None

    @property
    def actor_name(self) -> str | None:
        return f"{self.command} (operator {self.operator})" if self.operator else self.command

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions


AccessContext = UserContext | SystemContext


def system_context(
    command: str, *, organization_id: uuid.UUID | None, permissions: frozenset[Permission] | set[Permission]
) -> SystemContext:
    try:
        operator: str | None = getpass.getuser()
    except (OSError, KeyError):
        operator = None
    return SystemContext(
        command=command,
        organization_id=organization_id,
        permissions=frozenset(permissions),
        operator=operator,
    )
