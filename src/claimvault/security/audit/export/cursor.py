"""Reading, creating and locking export cursors.

A cursor is created on its first real run (never by a dry run) with the format and organization it will keep;
a later run that names a different format or organization is refused, so one cursor always feeds one destination
the same way. Each batch locks the cursor row for its whole transaction (``SELECT … FOR UPDATE`` on PostgreSQL;
on SQLite every write transaction starts with ``BEGIN IMMEDIATE``, whose write lock serialises exports the same
way), so two exports on the same cursor never send the same batch.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from claimvault.errors import ClaimVaultError, ValidationFailed
from claimvault.security.audit.export.models import AuditExportCursor
from claimvault.storage.database import Database

FORMATS = ("fhir", "jsonl", "syslog")
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class AuditExportError(ClaimVaultError):
    """An export could not proceed; the message names the problem, never an event's contents."""

    code = "audit_export_failed"


@dataclass(frozen=True)
class CursorState:
    name: str
    format: str
    organization_id: uuid.UUID | None
    next_position: int
    exists: bool


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValidationFailed("A cursor name is 1-64 characters: lowercase letters, digits, '.', '_' or '-'.")
    return name


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValidationFailed("The export format must be one of: " + ", ".join(FORMATS) + ".")
    return fmt


def _check_matches(row: AuditExportCursor, *, fmt: str, organization_id: uuid.UUID | None) -> None:
    if row.format != fmt:
        raise AuditExportError(f"Cursor '{row.name}' exports the '{row.format}' format; use a new cursor for another.")
    if row.organization_id != organization_id:
        raise AuditExportError(f"Cursor '{row.name}' belongs to another scope (organization); use a new cursor.")


def _state(row: AuditExportCursor, *, exists: bool = True) -> CursorState:
    return CursorState(row.name, row.format, row.organization_id, int(row.next_position), exists)


def peek_cursor(*, db: Database, name: str, fmt: str, organization_id: uuid.UUID | None) -> CursorState:
    """The cursor as it stands (or as it would be created), changing nothing."""
    check_name(name)
    check_format(fmt)
    with db.session(tenant_id=organization_id) as session:
        row = session.get(AuditExportCursor, name)
        if row is None:
            return CursorState(name, fmt, organization_id, 0, exists=False)
        _check_matches(row, fmt=fmt, organization_id=organization_id)
        return _state(row)


def ensure_cursor(*, db: Database, name: str, fmt: str, organization_id: uuid.UUID | None) -> CursorState:
    """The cursor, created at position 0 if it does not exist yet (a concurrent creation is tolerated)."""
    state = peek_cursor(db=db, name=name, fmt=fmt, organization_id=organization_id)
    if state.exists:
        return state
    try:
        with db.session(tenant_id=organization_id) as session:
            session.add(AuditExportCursor(name=name, format=fmt, organization_id=organization_id, next_position=0))
    except IntegrityError:  # another export created it first: use theirs (checked below)
        pass
    return peek_cursor(db=db, name=name, fmt=fmt, organization_id=organization_id)


def lock_cursor(session: Session, *, name: str) -> AuditExportCursor:
    """The cursor row, locked until the session's transaction ends."""
    row = session.scalars(select(AuditExportCursor).where(AuditExportCursor.name == name).with_for_update()).first()
    if row is None:
        raise AuditExportError(f"Cursor '{name}' does not exist.")
    return row
