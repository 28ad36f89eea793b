"""The PHI gate: the one code path by which protected data leaves (or enters) storage.

Every read runs, in this order: check the tenant, authorize (deny by default: the role policy, then the row scope
of relationship-limited roles), decrypt (masking what the reader's roles may not see), write the audit event.
Writes run: check the tenant, authorize, encrypt, write the row and its audit event in one transaction.
Nothing else in ClaimVault decrypts; a test walks the source tree to prove it.

A row outside the context's relationships (a provider's patient without a care assignment) answers "not found",
never "forbidden", so its existence is not revealed; the refusal is audited all the same.

Models opt in with two class attributes:
- ``__patient_key__``: the attribute holding the patient id this row belongs to (``"id"`` for patients);
- ``__blind_indexes__``: ``{index_column: (source columns...)}`` maintained automatically on write.

Encrypted values of a model with ``__patient_key__`` are encrypted for that patient (their own data key joins
the organization's): once the patient is crypto-shredded they read back as ``None`` and the record carries
``values["shredded"] = True``. ``reencrypt_rows`` moves rows to the active organization key (key lifecycle).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Select, Uuid, false, func, inspect, literal, select
from sqlalchemy.orm import Session

from claimvault.errors import Conflict, NotFound, PermissionDenied, TenantViolation, ValidationFailed
from claimvault.ids import uuid7
from claimvault.security.audit import build_event, record
from claimvault.security.audit.pending import AuditRecord
from claimvault.security.authorization.engine import enforce
from claimvault.security.authorization.masking import apply_masking, load_masking_rules, view_for
from claimvault.security.authorization.scope import PatientScope, granting_roles, patient_scope
from claimvault.security.context import AccessContext, UserContext
from claimvault.security.crypto.fields import FORMAT_PATIENT, FORMAT_V1, OrgCrypto, header_key_id
from claimvault.security.crypto.keys import KeyDestroyed, KeyService
from claimvault.security.data_policy import DataPolicy, decode_value, encode_value, load_data_policy
from claimvault.security.permissions import Permission
from claimvault.storage.base import Base
from claimvault.storage.database import Database
from claimvault.storage.tenancy import session_tenant

log = logging.getLogger(__name__)

# Actions that disclose protected data to the caller: recorded even when the transaction fails afterwards.
READ_ACTIONS = frozenset({"read", "list", "search", "export", "print"})

M = TypeVar("M", bound=Base)

# Columns the gate never returns: they are derived or internal.
_HIDDEN_CLASSES = frozenset({"blind_index", "wrapped_key", "credential_hash"})


@dataclass(frozen=True)
class Record:
    """Decrypted values of one row, as handed to a domain service. Never logged, never put in an exception."""

    id: uuid.UUID
    values: Mapping[str, Any]
    masked: frozenset[str] = frozenset()  # fields masked or removed for this reader (minimum necessary)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __repr__(self) -> str:  # keep values out of reprs, tracebacks and debuggers' summaries
        return f"Record(id={self.id}, fields={sorted(self.values)})"


class PHIGate:
    """Bound to one access context and one tenant-scoped transaction. Obtain it with ``open_gate``."""

    def __init__(
        self,
        *,
        session: Session,
        ctx: AccessContext,
        keys: KeyService,
        denials: list[AuditRecord],
        reads: list[AuditRecord] | None = None,
    ) -> None:
        self.session = session
        self.ctx = ctx
        self._policy: DataPolicy = load_data_policy()
        self._denials = denials
        self._reads = reads if reads is not None else []
        if ctx.organization_id is None:
            raise TenantViolation("This operation needs an organization context.")
        self._crypto = OrgCrypto(keys=keys, session=session, org_id=ctx.organization_id)
        self._scopes: dict[Permission, PatientScope] = {}

    # 1. tenant --------------------------------------------------------------------------------------------------
    def _check_tenant(self) -> None:
        if self.ctx.organization_id is None or session_tenant(self.session) != self.ctx.organization_id:
            raise TenantViolation("The request is not scoped to this organization.")

    # 2. authorize -----------------------------------------------------------------------------------------------
    def authorize(
        self, permission: Permission, *, entity_type: str | None = None, entity_id: uuid.UUID | None = None
    ) -> None:
        self._check_tenant()
        if not self._granted(permission):
            self._denials.append(
                build_event(
                    self.ctx,
                    action="denied",
                    outcome="denied",
                    permission=permission.value,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    reason="permission_not_granted",
                )
            )
            raise PermissionDenied("You do not have permission to do this.")

    def _granted(self, permission: Permission) -> bool:
        ctx = self.ctx
        if isinstance(ctx, UserContext):
            return enforce(user_id=ctx.user_id, org_id=ctx.organization_id, permission=permission, roles=ctx.roles)
        return ctx.allows(permission)

    def scope(self, permission: Permission) -> PatientScope:
        """The patients this context reaches with ``permission`` (computed once per gate)."""
        if permission not in self._scopes:
            self._scopes[permission] = patient_scope(self.session, self.ctx, permission)
        return self._scopes[permission]

    def _scope_criterion(self, model: type[Base], permission: Permission) -> Any:
        """None when the context reaches every row of the tenant; else a condition on the row's patient id (a row
        of a model without one is out of reach)."""
        scope = self.scope(permission)
        if scope.unrestricted:
            return None
        key = getattr(model, "__patient_key__", None)
        return false() if key is None else scope.criterion(getattr(model, key))

    def _preload_patient_keys(self, model: type[Base], rows: Sequence[Base]) -> None:
        key = getattr(model, "__patient_key__", None)
        if key and rows:
            self._crypto.preload_patients({getattr(r, key) for r in rows if getattr(r, key) is not None})

    def check_in_scope(self, model: type[Base], row_id: uuid.UUID, permission: Permission) -> None:
        """Public form of the relationship-scope check (404 and an audited denial when out of scope)."""
        self._check_in_scope(model, row_id, permission)

    def check_create_in_scope(self, model: type[Base], values: Mapping[str, Any], permission: Permission) -> None:
        """Public form of the scope check for a new row (refused when its patient is out of reach)."""
        self._check_create_in_scope(model, values, permission)

    def _check_in_scope(self, model: type[Base], row_id: uuid.UUID, permission: Permission) -> None:
        """Refuse, as "not found", a row of a patient outside the context's relationships (and audit it)."""
        criterion = self._scope_criterion(model, permission)
        if criterion is None:
            return
        stmt = select(func.count()).select_from(model).where(model.id == row_id, criterion)  # type: ignore[attr-defined]
        if not self.session.scalar(stmt):
            self._denials.append(
                build_event(
                    self.ctx,
                    action="denied",
                    outcome="denied",
                    permission=permission.value,
                    entity_type=model.__tablename__,
                    entity_id=row_id,
                    reason=self.scope(permission).reason or "no_relationship",
                )
            )
            raise NotFound("No such record.")

    def _scoped(self, stmt: Select[Any], model: type[Base], permission: Permission) -> Select[Any]:
        criterion = self._scope_criterion(model, permission)
        return stmt if criterion is None else stmt.where(criterion)

    # 3. decrypt -------------------------------------------------------------------------------------------------
    def _decrypt_row(self, row: Base, permission: Permission | None = None) -> Record:
        """Decrypt ``row``; with ``permission``, mask it for the reader (without, it is for internal use only)."""
        table = row.__table__.name  # type: ignore[attr-defined]
        row_id: uuid.UUID = row.id  # type: ignore[attr-defined]
        patient_id = _patient_of(row)
        values: dict[str, Any] = {}
        shredded = False
        for column in row.__table__.columns:
            policy = self._policy.column(table, column.name)
            if policy.classification in _HIDDEN_CLASSES:
                continue
            raw = getattr(row, column.key)
            if policy.encrypted and raw is not None:
                assert policy.value_type is not None
                try:
                    plain = self._crypto.decrypt(
                        table=table, column=column.name, row_id=row_id, ciphertext=raw, patient_id=patient_id
                    )
                except KeyDestroyed:
                    values[column.key], shredded = None, True
                    continue
                values[column.key] = decode_value(plain, policy.value_type)
            else:
                values[column.key] = raw
        if shredded:
            values["shredded"] = True
        return self._present(table, row_id, values, permission)

    def _present(
        self, table: str, row_id: uuid.UUID, values: Mapping[str, Any], permission: Permission | None
    ) -> Record:
        if permission is None:
            return Record(id=row_id, values=values)
        roles = granting_roles(self.ctx.roles, permission) if isinstance(self.ctx, UserContext) else ()
        view = view_for(load_masking_rules(), self._policy, table=table, roles=roles)
        shown, masked = apply_masking(values, view)
        return Record(id=row_id, values=shown, masked=masked)

    # 4. audit ---------------------------------------------------------------------------------------------------
    def _audit(
        self,
        *,
        action: str,
        permission: Permission,
        model: type[Base],
        rows: Sequence[Base],
        entity_id: uuid.UUID | None = None,
        fields: Sequence[str] = (),
        about_patient: uuid.UUID | None = None,
    ) -> None:
        key = getattr(model, "__patient_key__", None)
        patient_ids = {getattr(r, key) for r in rows} if key else set()
        if about_patient is not None:  # a query about one patient touches them even when it finds nothing
            patient_ids.add(about_patient)
        detail = {"count": len(rows)} if entity_id is None else {}

        def event(outcome: str, extra: dict[str, Any]) -> AuditRecord:
            return build_event(
                self.ctx,
                action=action,
                outcome=outcome,
                permission=permission.value,
                entity_type=model.__tablename__,
                entity_id=entity_id,
                patient_ids=patient_ids,
                fields=fields,
                detail={**detail, **extra},
            )

        record(self.session, event("success", {}))
        if action in READ_ACTIONS:
            # Kept aside: if the transaction rolls back after this read, open_gate records it again on its own.
            self._reads.append(event("failure", {"rolled_back": True}))

    # Reads ------------------------------------------------------------------------------------------------------
    def get(self, model: type[M], row_id: uuid.UUID, *, permission: Permission) -> Record:
        self.authorize(permission, entity_type=model.__tablename__, entity_id=row_id)
        row = self.session.get(model, row_id)
        if row is None:
            raise NotFound("No such record.")
        self._check_in_scope(model, row_id, permission)
        result = self._decrypt_row(row, permission)
        self._audit(action="read", permission=permission, model=model, rows=[row], entity_id=row_id)
        return result

    def select(
        self,
        stmt: Select[Any],
        *,
        model: type[M],
        permission: Permission,
        action: str = "list",
        about_patient: uuid.UUID | None = None,
    ) -> list[Record]:
        """Run a tenant-scoped select of ``model`` rows and return them decrypted; one audit event for all.

        ``about_patient`` names the patient a per-patient query is about, so the event lists them even when no row
        matched (an empty answer still tells something about that patient)."""
        self.authorize(permission, entity_type=model.__tablename__)
        rows: list[Base] = list(self.session.scalars(self._scoped(stmt, model, permission)))
        self._preload_patient_keys(model, rows)
        results = [self._decrypt_row(r, permission) for r in rows]
        self._audit(action=action, permission=permission, model=model, rows=rows, about_patient=about_patient)
        return results

    def find_by_index(
        self,
        model: type[M],
        *,
        index: str,
        values: Mapping[str, Any],
        permission: Permission,
        limit: int = 50,
    ) -> list[Record]:
        """Exact-match search over encrypted columns through a blind index (no plaintext ever queried)."""
        self.authorize(permission, entity_type=model.__tablename__)
        sources = self._index_sources(model, index)
        if set(values) != set(sources):
            raise ValidationFailed("Search needs exactly the fields of the chosen index.")
        token = self._index_token(model, index, values)
        stmt = select(model).where(getattr(model, index) == token).order_by(model.id).limit(limit)  # type: ignore[attr-defined]
        rows = list(self.session.scalars(self._scoped(stmt, model, permission)))
        self._preload_patient_keys(model, rows)
        results = [self._decrypt_row(r, permission) for r in rows]
        self._audit(action="search", permission=permission, model=model, rows=rows)
        return results

    def match_ids(
        self, model: type[M], *, index: str, values: Mapping[str, Any], permission: Permission, limit: int = 20
    ) -> list[uuid.UUID]:
        """Ids of the rows whose blind index matches (duplicate detection): nothing is decrypted, and the lookup
        is audited as a search naming the rows it matched."""
        self.authorize(permission, entity_type=model.__tablename__)
        sources = self._index_sources(model, index)
        if set(values) != set(sources):
            raise ValidationFailed("Search needs exactly the fields of the chosen index.")
        token = self._index_token(model, index, values)
        stmt = select(model).where(getattr(model, index) == token).order_by(model.id).limit(limit)  # type: ignore[attr-defined]
        rows = list(self.session.scalars(self._scoped(stmt, model, permission)))
        if rows:
            self._audit(action="search", permission=permission, model=model, rows=rows)
        return [r.id for r in rows]

    def keyed_digest(self, *, name: str, data: bytes) -> str:
        """A keyed digest of content (the organization's index key): recognises a file seen before without
        storing anything an outsider could confirm a guess against."""
        return self._crypto.blind_index(name=name, value=hashlib.sha256(data).hexdigest()).hex()

    # Writes -----------------------------------------------------------------------------------------------------
    def create(self, model: type[M], values: Mapping[str, Any], *, permission: Permission) -> Record:
        self.authorize(permission, entity_type=model.__tablename__)
        self._check_create_in_scope(model, values, permission)
        row_id = uuid7()
        row = model(id=row_id, organization_id=self.ctx.organization_id)
        self._assign(row, dict(values))
        self._refresh_indexes(model, row, dict(values))
        self.session.add(row)
        self.session.flush()
        self._audit(
            action="create",
            permission=permission,
            model=model,
            rows=[row],
            entity_id=row_id,
            fields=sorted(values),
        )
        return self._decrypt_row_from_plain(row, values, permission)

    def _check_create_in_scope(self, model: type[Base], values: Mapping[str, Any], permission: Permission) -> None:
        """A relationship-limited context adds rows only for patients it reaches, and registers no new patient
        (there is no relationship with a patient who does not exist yet)."""
        scope = self.scope(permission)
        if scope.unrestricted:
            return
        key = getattr(model, "__patient_key__", None)
        patient_id = values.get(key) if key and key != "id" else None
        reachable = patient_id is not None and bool(
            self.session.scalar(select(scope.criterion(literal(patient_id, type_=Uuid()))))
        )
        if not reachable:
            self._denials.append(
                build_event(
                    self.ctx,
                    action="denied",
                    outcome="denied",
                    permission=permission.value,
                    entity_type=model.__tablename__,
                    reason=scope.reason or "no_relationship",
                )
            )
            raise PermissionDenied("You do not have permission to do this.")

    def update(
        self,
        model: type[M],
        row_id: uuid.UUID,
        changes: Mapping[str, Any],
        *,
        permission: Permission,
        expected_version: int | None = None,
        action: str = "update",
    ) -> Record:
        """Change ``row_id``; ``action="delete"`` records a soft delete (a row marked removed, secrets cleared)."""
        self.authorize(permission, entity_type=model.__tablename__, entity_id=row_id)
        row = self.session.get(model, row_id, with_for_update=True)
        if row is None:
            raise NotFound("No such record.")
        self._check_in_scope(model, row_id, permission)
        if expected_version is not None and getattr(row, "row_version", None) != expected_version:
            raise Conflict("The record was changed by someone else; reload it and try again.")
        current = dict(self._decrypt_row(row).values)
        changed = {k: v for k, v in changes.items() if current.get(k) != v}
        if changed:
            self._assign(row, changed)
            current.update(changed)
            self._refresh_indexes(model, row, current)
            if hasattr(row, "row_version"):
                row.row_version = (row.row_version or 0) + 1
            self.session.flush()
        self._audit(
            action=action,
            permission=permission,
            model=model,
            rows=[row],
            entity_id=row_id,
            fields=sorted(changed),
        )
        current["row_version"] = getattr(row, "row_version", None)
        current["updated_at"] = getattr(row, "updated_at", None)
        return self._present(model.__tablename__, row_id, current, permission)

    def delete_rows(self, model: type[M], row_ids: Sequence[uuid.UUID], *, permission: Permission) -> int:
        """Remove rows that are replaced as a whole (an encounter's diagnoses when a coder recodes it): tenant- and
        scope-checked like a read, and one audited ``delete`` event naming the rows' patients."""
        self.authorize(permission, entity_type=model.__tablename__)
        if not row_ids:
            return 0
        id_column = model.id  # type: ignore[attr-defined]
        stmt = self._scoped(select(model).where(id_column.in_(list(row_ids))), model, permission)
        rows: list[Base] = list(self.session.scalars(stmt))
        for row in rows:
            self.session.delete(row)
        self.session.flush()
        if rows:
            self._audit(action="delete", permission=permission, model=model, rows=rows)
        return len(rows)

    def move_to_patient(
        self, model: type[M], ids: Sequence[uuid.UUID], *, to_patient: uuid.UUID, permission: Permission
    ) -> int:
        """Give these rows to another patient (merging duplicates): values are re-encrypted under the new patient's
        key, and an ``update`` event of field ``patient_id`` names both patients."""
        key = getattr(model, "__patient_key__", None)
        if key is None or key == "id":
            raise ValidationFailed("These records do not belong to a patient.")
        self.authorize(permission, entity_type=model.__tablename__)
        table = model.__tablename__
        columns = [c.column for c in self._policy.encrypted_columns(table)]
        id_column = model.id  # type: ignore[attr-defined]
        stmt = self._scoped(select(model).where(id_column.in_(list(ids))), model, permission)
        rows: list[Base] = list(self.session.scalars(stmt.order_by(id_column).with_for_update()))
        if len(rows) != len(set(ids)):
            raise NotFound("No such record.")
        self._preload_patient_keys(model, rows)
        self._crypto.preload_patients({to_patient})
        came_from: dict[uuid.UUID, list[Base]] = {}
        for row in rows:
            came_from.setdefault(getattr(row, key), []).append(row)
            cell = {"table": table, "row_id": row.id}  # type: ignore[attr-defined]
            for name in (c for c in columns if getattr(row, c) is not None):  # a shredded row raises KeyDestroyed
                plain = self._crypto.decrypt(
                    **cell, column=name, ciphertext=getattr(row, name), patient_id=getattr(row, key)
                )
                setattr(row, name, self._crypto.encrypt(**cell, column=name, plaintext=plain, patient_id=to_patient))
            setattr(row, key, to_patient)
        self.session.flush()
        for old, moved in sorted(came_from.items()):
            self._audit(
                action="update", permission=permission, model=model, rows=moved, fields=[key], about_patient=old
            )
        return len(rows)

    # Key lifecycle ----------------------------------------------------------------------------------------------
    def reencrypt_rows(
        self, model: type[M], ids: Sequence[uuid.UUID], *, permission: Permission = Permission.KEY_MANAGE
    ) -> int:
        """Move the encrypted values of these rows to the active organization key (patient-linked rows also to
        their patient's key). Values already there, and values of shredded patients, are left alone. Runs tenant
        check, authorization (``key:manage``), decrypt, encrypt, and one audit event for the batch (no values)."""
        self.authorize(permission, entity_type=model.__tablename__)
        table = model.__tablename__
        columns = [c.column for c in self._policy.encrypted_columns(table)]
        active = self._crypto.active_field_key_id()
        rows = list(
            self.session.scalars(
                select(model).where(model.id.in_(list(ids))).order_by(model.id).with_for_update()  # type: ignore[attr-defined]
            )
        )
        moved: list[Base] = []
        for row in rows:
            row_id: uuid.UUID = row.id  # type: ignore[attr-defined]
            patient_id = _patient_of(row)
            wanted = FORMAT_V1 if patient_id is None else FORMAT_PATIENT
            changed = False
            for name in columns:
                raw = getattr(row, name)
                header = header_key_id(raw) if raw is not None else None
                if raw is None or header == (wanted, active):
                    continue
                try:
                    plain = self._crypto.decrypt(
                        table=table,
                        column=name,
                        row_id=row_id,
                        ciphertext=raw,
                        patient_id=patient_id,
                    )
                    fresh = self._crypto.encrypt(
                        table=table,
                        column=name,
                        row_id=row_id,
                        plaintext=plain,
                        patient_id=patient_id,
                    )
                except KeyDestroyed:
                    continue  # shredded: nothing to move, and nothing may be recovered
                setattr(row, name, fresh)
                changed = True
            if changed:
                moved.append(row)
        self.session.flush()
        if moved:
            self._audit(action="reencrypt", permission=permission, model=model, rows=moved)
        return len(moved)

    # Internals --------------------------------------------------------------------------------------------------
    def _assign(self, row: Base, values: dict[str, Any]) -> None:
        table = row.__table__.name  # type: ignore[attr-defined]
        key = getattr(type(row), "__patient_key__", None)
        patient_id = (values.get(key) or getattr(row, key, None)) if key else None
        for name, value in values.items():
            policy = self._policy.columns.get((table, name))
            if policy is None or name in {"id", "organization_id"} or policy.classification in _HIDDEN_CLASSES:
                raise ValidationFailed("A field that cannot be written was given.")
            if policy.encrypted:
                assert policy.value_type is not None
                value = (
                    None
                    if value is None
                    else self._crypto.encrypt(
                        table=table,
                        column=name,
                        row_id=row.id,  # type: ignore[attr-defined]
                        plaintext=encode_value(value, policy.value_type),
                        patient_id=patient_id,
                    )
                )
            setattr(row, name, value)

    def _index_sources(self, model: type[Base], index: str) -> tuple[str, ...]:
        indexes: dict[str, tuple[str, ...]] = getattr(model, "__blind_indexes__", {})
        if index not in indexes:
            raise ValidationFailed("Unknown search index.")
        return indexes[index]

    def _index_token(self, model: type[Base], index: str, values: Mapping[str, Any]) -> bytes:
        parts = []
        for source in self._index_sources(model, index):
            value = values[source]
            parts.append(value.isoformat() if isinstance(value, date) else str(value))
        return self._crypto.blind_index(name=f"{model.__tablename__}.{index}", value="\x1f".join(parts))

    def _refresh_indexes(self, model: type[Base], row: Base, plain: dict[str, Any]) -> None:
        for index, sources in getattr(model, "__blind_indexes__", {}).items():
            if any(plain.get(s) is None for s in sources):
                setattr(row, index, None)
            else:
                setattr(row, index, self._index_token(model, index, {s: plain[s] for s in sources}))

    def _decrypt_row_from_plain(self, row: Base, plain: Mapping[str, Any], permission: Permission) -> Record:
        values: dict[str, Any] = {}
        table = row.__table__.name  # type: ignore[attr-defined]
        for column in inspect(type(row)).columns:
            policy = self._policy.column(table, column.name)
            if policy.classification in _HIDDEN_CLASSES:
                continue
            values[column.key] = plain.get(column.key) if policy.encrypted else getattr(row, column.key)
        return self._present(table, row.id, values, permission)  # type: ignore[attr-defined]


def _patient_of(row: Base) -> uuid.UUID | None:
    key = getattr(type(row), "__patient_key__", None)
    return getattr(row, key) if key else None


@contextmanager
def open_gate(*, db: Database, keys: KeyService, ctx: AccessContext) -> Iterator[PHIGate]:
    """Open a tenant-scoped transaction for ``ctx`` and the gate over it.

    The transaction commits when the block ends normally. A denial rolls the work back, then its audit event is
    written in a transaction of its own, so refused attempts are always on record.
    """
    if ctx.organization_id is None:
        raise TenantViolation("This operation needs an organization context.")
    denials: list[AuditRecord] = []
    reads: list[AuditRecord] = []
    try:
        with db.session(tenant_id=ctx.organization_id) as session:
            yield PHIGate(session=session, ctx=ctx, keys=keys, denials=denials, reads=reads)
    except BaseException:
        # The work rolled back. Refusals, and reads that already happened, stay on record all the same.
        if denials or reads:
            try:
                with db.session(tenant_id=ctx.organization_id) as session:
                    for event in (*denials, *reads):
                        record(session, event)
            except Exception:  # the original error matters more; this message carries no event data
                log.exception("could not record audit events after a failed operation")
        raise
