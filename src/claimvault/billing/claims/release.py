"""Releasing claims: every ready claim of a payer goes into one 837P interchange for the payer's trading partner,
with control numbers drawn from per-partner database sequences, validated by pyx12 before anything leaves. A file
that fails is never released: its claims stay ready and the report (positions and codes only) is returned. A
released file is stored encrypted (blob kind ``x12_outbound``), its claims become ``exported``, and each patient
gets a disclosure recorded for payment (exempt from the accounting, kept for completeness)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select

from claimvault.billing.claims.assembly import claim_documents
from claimvault.billing.claims.models import Claim, X12File
from claimvault.billing.claims.service import actor_of, move
from claimvault.billing.encounters.models import Encounter
from claimvault.billing.payers.models import ControlNumber, Payer, TradingPartner
from claimvault.billing.x12.claim_837p import write_837p
from claimvault.billing.x12.envelope import ControlNumbersExhausted
from claimvault.billing.x12.envelope import TradingPartner as PartnerEnvelope
from claimvault.billing.x12.validation import ReleaseRefused, X12Report, release_837p
from claimvault.errors import ValidationFailed
from claimvault.privacy.disclosures.schemas import DisclosureIn
from claimvault.privacy.disclosures.service import record_disclosure
from claimvault.security.crypto.blobs import BlobStore
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission

SUBMIT = Permission.CLAIM_SUBMIT
_MAX = {"interchange": 999_999_999, "group": 999_999_999, "transaction": 999_999_999}


class DatabaseControlNumbers:
    """ISA13/GS06/ST02 sequences per trading partner in ``x12_control_numbers``, incremented under a row lock in
    the releasing transaction: a number is never handed out twice, and a refused file's numbers are burnt, not
    reused (its transaction still commits the counters)."""

    def __init__(self, gate: PHIGate, partner_id: uuid.UUID) -> None:
        self._gate = gate
        self._partner_id = partner_id

    def _next(self, kind: str) -> int:
        session = self._gate.session
        session.scalar(select(TradingPartner.id).where(TradingPartner.id == self._partner_id).with_for_update())
        row = session.get(ControlNumber, (self._partner_id, kind), with_for_update=True)
        if row is None:
            row = ControlNumber(
                organization_id=self._gate.ctx.organization_id,
                trading_partner_id=self._partner_id,
                kind=kind,
                last_value=0,
            )
            session.add(row)
        if row.last_value >= _MAX[kind]:
            raise ControlNumbersExhausted("The trading partner's control numbers are exhausted.")
        row.last_value += 1
        session.flush()
        return row.last_value

    def next_interchange(self, *, partner: str) -> int:
        return self._next("interchange")

    def next_group(self, *, partner: str) -> int:
        return self._next("group")

    def next_transaction(self, *, partner: str) -> int:
        return self._next("transaction")


def _envelope(row: TradingPartner) -> PartnerEnvelope:
    return PartnerEnvelope(
        key=str(row.id),
        isa_sender_qualifier=row.isa_sender_qualifier,
        isa_sender_id=row.isa_sender_id,
        isa_receiver_qualifier=row.isa_receiver_qualifier,
        isa_receiver_id=row.isa_receiver_id,
        gs_sender_code=row.gs_sender_code,
        gs_receiver_code=row.gs_receiver_code,
        submitter_name=row.submitter_name,
        submitter_id=row.submitter_id,
        submitter_contact_name=row.submitter_contact_name,
        submitter_contact_phone=row.submitter_contact_phone,
        receiver_name=row.receiver_name,
        receiver_id=row.receiver_id,
        usage="P" if row.usage == "P" else "T",
    )


@dataclass
class ReleasedFile:
    """One released interchange. ``content`` is PHI: written only to the 0600 output or the transport."""

    file_id: uuid.UUID
    payer_id: str
    interchange_control: int
    claim_count: int
    content: str = field(repr=False)


@dataclass
class RefusedFile:
    payer_id: str
    claim_count: int
    report: X12Report


@dataclass
class ExportResult:
    released: list[ReleasedFile] = field(default_factory=list)
    refused: list[RefusedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # payer ids without a trading partner


def export_837p(
    *, gate: PHIGate, blobs: BlobStore, payer: str | None = None, now: datetime | None = None
) -> ExportResult:
    """Release every ready claim (of one payer, given its payer id, or of all), one file per payer."""
    gate.authorize(SUBMIT, entity_type=Claim.__tablename__)
    now = now or datetime.now(UTC)
    stmt = select(Claim.id, Claim.payer_id).where(Claim.status == "ready").order_by(Claim.id)
    if payer is not None:
        payer_row = gate.session.scalar(select(Payer).where(Payer.payer_id == payer.upper()))
        if payer_row is None:
            raise ValidationFailed("No payer with this payer id.")
        stmt = stmt.where(Claim.payer_id == payer_row.id)
    by_payer: dict[uuid.UUID, list[uuid.UUID]] = {}
    for claim_id, payer_id in gate.session.execute(stmt):
        by_payer.setdefault(payer_id, []).append(claim_id)
    result = ExportResult()
    for payer_id, claim_ids in by_payer.items():
        payer_row = gate.session.get(Payer, payer_id)
        assert payer_row is not None
        if payer_row.trading_partner_id is None:
            result.skipped.append(payer_row.payer_id)
            continue
        partner = gate.session.get(TradingPartner, payer_row.trading_partner_id)
        assert partner is not None
        documents = claim_documents(gate=gate, claim_ids=claim_ids, permission=SUBMIT)
        claims = [documents[c] for c in claim_ids if c in documents]
        if not claims:
            continue
        interchange = write_837p(
            claims=claims,
            partner=_envelope(partner),
            numbers=DatabaseControlNumbers(gate, partner.id),
            created=now,
        )
        try:
            text = release_837p(interchange)
        except ReleaseRefused as refused:
            result.refused.append(
                RefusedFile(payer_id=payer_row.payer_id, claim_count=len(claims), report=refused.report)
            )
            continue
        data = text.encode("ascii")
        blob = blobs.store(
            gate=gate, kind="x12_outbound", content_type="application/edi-x12", data=data, permission=SUBMIT
        )
        file_row = X12File(
            organization_id=gate.ctx.organization_id,
            trading_partner_id=partner.id,
            payer_id=payer_id,
            kind="837P",
            direction="outbound",
            interchange_control=interchange.interchange_number,
            group_control=interchange.group_number,
            transaction_controls=",".join(str(n) for n in interchange.transaction_numbers),
            claim_count=len(claims),
            content_digest=gate.keyed_digest(name="x12_files.content", data=data),
            blob_id=blob.id,
            status="released",
            created_by=actor_of(gate),
        )
        gate.session.add(file_row)
        gate.session.flush()
        for doc in claims:
            move(
                gate=gate,
                claim_id=doc.claim_id,
                to_status="exported",
                source="export",
                permission=SUBMIT,
                reason=f"ISA {interchange.interchange_number}",
                extra={"x12_file_id": file_row.id},
            )
            encounter_id = gate.session.scalar(select(Claim.encounter_id).where(Claim.id == doc.claim_id))
            gate.update(Encounter, encounter_id, {"status": "billed"}, permission=SUBMIT)  # type: ignore[arg-type]
            assert doc.patient_id is not None
            record_disclosure(
                gate=gate,
                patient_id=doc.patient_id,
                data=DisclosureIn(
                    disclosed_on=_today(now),
                    recipient_name=payer_row.name,
                    description="Claim (X12 837P) with demographics, coverage, diagnoses and services",
                    purpose="Payment: claim submission",
                    purpose_code="other",
                    excluded_category="payment",
                ),
            )
        result.released.append(
            ReleasedFile(
                file_id=file_row.id,
                payer_id=payer_row.payer_id,
                interchange_control=interchange.interchange_number,
                claim_count=len(claims),
                content=text,
            )
        )
    return result


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()
