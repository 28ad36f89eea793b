"""Relationship rules. (Placeholder until the authorization work lands: no partner access.)"""

from __future__ import annotations

import uuid

from claimvault.accounts.services import OrgMembership
from claimvault.storage.database import Database


def partner_membership(*, db: Database, user_id: uuid.UUID, org_slug: str) -> OrgMembership | None:
    """Roles a billing company's user holds for a client practice under an active service agreement."""
    return None
