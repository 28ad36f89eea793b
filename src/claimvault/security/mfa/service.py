"""MFA services. (Placeholder until the MFA work lands: nobody is enrolled.)"""

from __future__ import annotations

import uuid

from claimvault.storage.database import Database


def enrolled_methods(*, db: Database, user_id: uuid.UUID) -> list[str]:
    """The confirmed second factors of a user: any of "totp", "webauthn" (recovery codes are a fallback)."""
    return []
