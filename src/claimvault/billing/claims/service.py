"""Claim services: create a claim from a coded encounter, read and list, move it through its lifecycle (every
transition recorded and audited, illegal ones refused), correct it with a new version, and scrub it. Keyword-only;
everything through the PHI gate. Export and acknowledgements live in ``release`` and ``acknowledgements``."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from claimvault.accounts.models import Organization
from claimvault.billing.claims.assembly import claim_documents
from claimvault.billing.claims.lifecycle import CORRECTIONS, LIVE, check_transition
from claimvault.billing.claims.models import Claim, ClaimTransition
from claimvault.billing.claims.schemas import (
    ClaimCorrection,
    ClaimCreate,
    ClaimOut,
    ClaimTransitionRequest,
    FindingOut,
    ScrubResultOut,
    TransitionOut,
)
from claimvault.billing.claims.scrubber import ScrubContext, claim_fingerprint, scrub
from claimvault.billing.codesets.interfaces import CodeLookup
from claimvault.billing.codesets.lookup import DatabaseCodeLookup
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.encounters.models import Encounter, ServiceLine
from claimvault.errors import Conflict, NotFound, ValidationFailed
from claimvault.security.gate import PHIGate, Record
from claimvault.security.permissions import Permission
from claimvault.storage.base import utcnow

READ = Permission.CLAIM_READ
MANAGE = Permission.CLAIM_MANAGE
SCRUBBABLE = ("draft", "scrubbed", "ready")


def actor_of(gate: PHIGate) -> str:
    ctx = gate.ctx
    if ctx.actor_type == "system":
        return f"system:{getattr(ctx, 'command', 'job')}"[:64]
    return f"user:{ctx.actor_id}"


def _out(record: Record) -> ClaimOut:
    values = dict(record.values)
    findings = json.loads(values.pop("scrub_findings") or "[]")
    reasons = json.loads(values.pop("status_reasons") or "[]")
    return ClaimOut.model_validate(
        {"id": record.id, **values, "findings": findings, "status_reasons": reasons, "withheld": sorted(record.masked)}
    )


def _next_control_number(gate: PHIGate) -> str:
    """C + 8 digits, per organization; the organization row lock serialises concurrent claim creation."""
    gate.session.scalar(select(Organization.id).where(Organization.id == gate.ctx.organization_id).with_for_update())
    count = gate.session.scalar(select(func.count()).select_from(Claim).where(Claim.version == 1)) or 0
    return f"C{count + 1:08d}"


def create_claim(*, gate: PHIGate, data: ClaimCreate) -> ClaimOut:
    """A draft claim for a coded encounter, billed to the patient's active coverage of ``rank`` on the date of
    service (which must be linked to a configured payer)."""
    gate.authorize(MANAGE, entity_type=Claim.__tablename__)
    encounter = gate.get(Encounter, data.encounter_id, permission=MANAGE)
    if encounter["status"] == "needs_coding":
        raise Conflict("The encounter needs ICD-10-CM coding before it can be billed.")
    if encounter["status"] == "void":
        raise Conflict("The encounter is void.")
    service_date: date = encounter["service_date"]
    patient_id: uuid.UUID = encounter["patient_id"]
    coverage = gate.session.scalars(
        select(Coverage).where(
            Coverage.patient_id == patient_id,
            Coverage.rank == data.rank,
            Coverage.status == "active",
            Coverage.effective_from <= service_date,
        )
    ).all()
    coverage = [c for c in coverage if c.effective_to is None or c.effective_to >= service_date]
    if not coverage:
        raise ValidationFailed(f"The patient has no active {data.rank} coverage on the date of service.")
    if coverage[0].payer_id is None:
        raise ValidationFailed("The coverage is not linked to a configured payer (set its payer_id).")
    open_claims = gate.session.scalar(
        select(func.count())
        .select_from(Claim)
        .where(Claim.encounter_id == encounter.id, Claim.rank == data.rank, Claim.status.in_(LIVE))
    )
    if open_claims:
        raise Conflict("This encounter already has a live claim to this coverage; correct that claim instead.")
    charges = gate.session.scalars(select(ServiceLine.charge).where(ServiceLine.encounter_id == encounter.id)).all()
    if not charges:
        raise ValidationFailed("The encounter has no service lines.")
    values: dict[str, Any] = {
        "patient_id": patient_id,
        "encounter_id": encounter.id,
        "coverage_id": coverage[0].id,
        "payer_id": coverage[0].payer_id,
        "rank": data.rank,
        "control_number": _next_control_number(gate),
        "family_id": uuid.uuid4(),  # placeholder: a first version's family is its own id, set once it exists
        "version": 1,
        "frequency_code": "1",
        "status": "draft",
        "total_charge": sum(charges, Decimal("0.00")),
        "created_by": gate.ctx.actor_id,
    }
    record = gate.create(Claim, values, permission=MANAGE)
    gate.session.get(Claim, record.id).family_id = record.id  # type: ignore[union-attr]
    _record_transition(gate, claim_id=record.id, from_status=None, to_status="draft", source="user")
    return get_claim(gate=gate, claim_id=record.id, permission=MANAGE)


def get_claim(*, gate: PHIGate, claim_id: uuid.UUID, permission: Permission = READ) -> ClaimOut:
    return _out(gate.get(Claim, claim_id, permission=permission))


def list_claims(
    *, gate: PHIGate, status: str | None = None, patient_id: uuid.UUID | None = None, limit: int = 100
) -> list[ClaimOut]:
    stmt = select(Claim).order_by(Claim.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Claim.status == status)
    if patient_id is not None:
        stmt = stmt.where(Claim.patient_id == patient_id)
    return [_out(r) for r in gate.select(stmt, model=Claim, permission=READ, action="list", about_patient=patient_id)]


def claim_history(*, gate: PHIGate, claim_id: uuid.UUID) -> list[TransitionOut]:
    gate.get(Claim, claim_id, permission=READ)  # tenant, authorization, scope and the audit event
    rows = gate.session.scalars(
        select(ClaimTransition).where(ClaimTransition.claim_id == claim_id).order_by(ClaimTransition.id)
    )
    return [TransitionOut.model_validate(r, from_attributes=True) for r in rows]


def _record_transition(
    gate: PHIGate,
    *,
    claim_id: uuid.UUID,
    from_status: str | None,
    to_status: str,
    source: str,
    reason: str | None = None,
) -> None:
    gate.session.add(
        ClaimTransition(
            organization_id=gate.ctx.organization_id,
            claim_id=claim_id,
            from_status=from_status,
            to_status=to_status,
            source=source,
            actor=actor_of(gate),
            reason=reason,
        )
    )


def move(
    *,
    gate: PHIGate,
    claim_id: uuid.UUID,
    to_status: str,
    source: str,
    permission: Permission = MANAGE,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Apply one transition after the state machine allows it: the claim row (audited update) and its
    ``claim_transitions`` row, in the caller's transaction."""
    row = gate.session.get(Claim, claim_id, with_for_update=True)
    if row is None:
        raise NotFound("No such record.")
    current = row.status
    check_transition(current=current, target=to_status, source=source)
    gate.update(Claim, claim_id, {"status": to_status, **(extra or {})}, permission=permission)
    _record_transition(gate, claim_id=claim_id, from_status=current, to_status=to_status, source=source, reason=reason)


def request_transition(*, gate: PHIGate, claim_id: uuid.UUID, request: ClaimTransitionRequest) -> ClaimOut:
    """A user's move: acknowledge a scrubbed claim's warnings (ready), send it back to draft, appeal or close."""
    gate.authorize(MANAGE, entity_type=Claim.__tablename__, entity_id=claim_id)
    gate.check_in_scope(Claim, claim_id, MANAGE)
    move(gate=gate, claim_id=claim_id, to_status=request.to_status, source="user", reason=request.reason)
    return get_claim(gate=gate, claim_id=claim_id, permission=MANAGE)


def correct_claim(*, gate: PHIGate, claim_id: uuid.UUID, data: ClaimCorrection) -> ClaimOut:
    """A new version of the claim in the same family, starting as a draft; the old one is superseded. A
    replacement (7) or void (8) carries the payer's original claim number (REF*F8): the one given, else the one
    the payer sent back."""
    old = gate.get(Claim, claim_id, permission=MANAGE)
    allowed = CORRECTIONS.get(old["status"], frozenset())
    if data.frequency_code not in allowed:
        options = ", ".join(sorted(allowed)) or "none"
        raise Conflict(
            f"A {old['status']} claim cannot be corrected with frequency {data.frequency_code} (allowed: {options})."
        )
    reference = data.original_reference or old.values.get("payer_claim_number")
    if data.frequency_code in ("7", "8") and not reference:
        raise ValidationFailed("A replacement or void needs the payer's original claim number.")
    base = old["control_number"].split("-")[0]
    version = old["version"] + 1
    values: dict[str, Any] = {
        key: old[key]
        for key in ("patient_id", "encounter_id", "coverage_id", "payer_id", "rank", "family_id", "total_charge")
    }
    values.update(
        control_number=f"{base}-{version}",
        version=version,
        frequency_code=data.frequency_code,
        status="draft",
        created_by=gate.ctx.actor_id,
    )
    if data.frequency_code in ("7", "8"):
        values["original_reference"] = reference
    move(gate=gate, claim_id=claim_id, to_status="superseded", source="correction", reason=f"version {version}")
    if data.frequency_code == "1":  # a rejected claim's encounter may be recoded before the new version leaves
        gate.update(Encounter, old["encounter_id"], {"status": "open"}, permission=MANAGE)
    record = gate.create(Claim, values, permission=MANAGE)
    _record_transition(gate, claim_id=record.id, from_status=None, to_status="draft", source="correction")
    return get_claim(gate=gate, claim_id=record.id, permission=MANAGE)


def scrub_claims(
    *,
    gate: PHIGate,
    claim_ids: list[uuid.UUID] | None = None,
    today: date | None = None,
    codes: CodeLookup | None = None,
) -> list[ScrubResultOut]:
    """Scrub the given claims (default: every draft, scrubbed or ready claim). A claim with errors goes (back)
    to draft; with warnings only it is scrubbed and waits for a user to acknowledge them; a clean one becomes
    ready. Findings are stored on the claim."""
    gate.authorize(MANAGE, entity_type=Claim.__tablename__)
    today = today or date.today()
    stmt = select(Claim.id).where(Claim.status.in_(SCRUBBABLE)).order_by(Claim.id)
    if claim_ids is not None:
        stmt = stmt.where(Claim.id.in_(claim_ids))
    ids = list(gate.session.scalars(stmt))
    documents = claim_documents(gate=gate, claim_ids=ids, permission=MANAGE)
    lookup = codes or DatabaseCodeLookup(gate.session)
    results = []
    for claim_id in ids:
        if claim_id not in documents:
            continue  # out of the caller's reach
        doc = documents[claim_id]
        row = gate.session.get(Claim, claim_id)
        assert row is not None
        fingerprint = claim_fingerprint(doc)
        keyed = gate.keyed_digest(name="claims.fingerprint", data=fingerprint.encode())[:32]
        others = gate.session.scalars(
            select(Claim.id).where(Claim.fingerprint == keyed, Claim.id != claim_id, Claim.status.in_(LIVE))
        ).all()
        replaces = None
        if row.version > 1:
            replaces = gate.session.scalar(
                select(Claim.id).where(Claim.family_id == row.family_id, Claim.version == row.version - 1)
            )
        report = scrub(
            claim=doc,
            context=ScrubContext(today=today, codes=lookup, existing_claims={fingerprint: others}, replaces=replaces),
        )
        findings = [
            FindingOut(rule=f.rule, severity=f.severity, message=f.message, fix=f.fix, field=f.field)
            for f in report.findings
        ]
        row.fingerprint = keyed  # a keyed digest, derived here: never written through the gate
        stored = {"scrub_findings": json.dumps([f.model_dump() for f in findings]), "scrubbed_at": utcnow()}
        if report.errors:
            if row.status != "draft":
                move(
                    gate=gate, claim_id=claim_id, to_status="draft", source="scrub", reason="scrub errors", extra=stored
                )
            else:
                gate.update(Claim, claim_id, stored, permission=MANAGE)
        else:
            if row.status == "draft":
                move(gate=gate, claim_id=claim_id, to_status="scrubbed", source="scrub", extra=stored)
            else:
                gate.update(Claim, claim_id, stored, permission=MANAGE)
            current = gate.session.get(Claim, claim_id).status  # type: ignore[union-attr]
            if not report.warnings and current == "scrubbed":
                move(gate=gate, claim_id=claim_id, to_status="ready", source="scrub")
            elif report.warnings and current == "ready":
                move(gate=gate, claim_id=claim_id, to_status="draft", source="scrub", reason="new warnings")
                move(gate=gate, claim_id=claim_id, to_status="scrubbed", source="scrub")
        final = gate.session.get(Claim, claim_id)
        assert final is not None
        results.append(
            ScrubResultOut(
                claim_id=claim_id,
                control_number=final.control_number,
                status=final.status,
                errors=len(report.errors),
                warnings=len(report.warnings),
                findings=findings,
            )
        )
    return results
