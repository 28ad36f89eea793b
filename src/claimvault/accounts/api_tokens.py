"""API tokens for integrations. (Placeholder until the lifecycle work lands: no token is ever valid.)"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from claimvault.config import Settings
from claimvault.storage.database import Database


@dataclass(frozen=True)
class TokenPrincipal:
    token_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    permissions: frozenset[str]


def resolve_api_token(*, db: Database, settings: Settings, raw: str) -> TokenPrincipal | None:
    return None
