"""Applying acknowledgements: a 999 moves the claims of each acknowledged 837P transaction from exported to
submitted (accepted) or rejected (with the IK3/IK4 codes); a 277CA moves each claim it names (by CLM01) to
accepted or rejected (with its STC codes) and keeps the payer's claim number. The file is validated by pyx12 first
(a malformed one changes nothing), stored encrypted, and recognised by a keyed digest so that importing it again
changes nothing. Statuses a transition does not allow (a claim already paid, say) are reported, not forced."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from claimvault.billing.claims.lifecycle import TRANSITIONS
from claimvault.billing.claims.models import Claim, X12File
from claimvault.billing.claims.service import actor_of, move
from claimvault.billing.x12.acks import AckFile, parse_ack
from claimvault.security.crypto.blobs import BlobStore
from claimvault.security.gate import PHIGate
from claimvault.security.permissions import Permission

SUBMIT = Permission.CLAIM_SUBMIT


@dataclass
class AckResult:
    kind: str
    file_id: uuid.UUID | None
    already_imported: bool = False
    accepted: list[str] = field(default_factory=list)  # claim control numbers (CLM01): ours, not PHI
    rejected: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    unmatched: int = 0  # acknowledged items we could not match to a claim of this organization
    not_applied: list[str] = field(default_factory=list)  # matched, but the lifecycle refused the change


def _apply(
    gate: PHIGate,
    result: AckResult,
    claim: Claim,
    target: str,
    source: str,
    reasons: list[dict[str, object]],
    extra: dict[str, object] | None = None,
) -> None:
    allowed = TRANSITIONS.get(claim.status, {}).get(target, frozenset())
    if source not in allowed:
        result.not_applied.append(claim.control_number)
        return
    values: dict[str, object] = dict(extra or {})
    if reasons:
        values["status_reasons"] = json.dumps(reasons)
    move(
        gate=gate,
        claim_id=claim.id,
        to_status=target,
        source=source,
        permission=SUBMIT,
        reason=",".join(sorted({str(r.get("code") or r.get("status")) for r in reasons}))[:255] or None,
        extra=values,
    )
    (result.accepted if target in ("submitted", "accepted") else result.rejected).append(claim.control_number)


def _apply_999(gate: PHIGate, ack: AckFile, result: AckResult) -> None:
    for group in ack.groups:
        if not group.group_control.isdigit():
            result.unmatched += len(group.transactions) or 1
            continue
        sent = gate.session.scalar(
            select(X12File).where(
                X12File.kind == "837P",
                X12File.direction == "outbound",
                X12File.group_control == int(group.group_control),
            )
        )
        if sent is None:
            result.unmatched += len(group.transactions) or 1
            continue
        claims = list(gate.session.scalars(select(Claim).where(Claim.x12_file_id == sent.id).order_by(Claim.id)))
        transactions = group.transactions
        rejected_all = group.code == "R" or (transactions and not any(t.accepted for t in transactions))
        for claim in claims:
            # One transaction per file is the norm; a file split into several transactions is judged as a whole
            # unless every transaction agrees (we do not keep which claim went into which ST).
            if rejected_all:
                reasons: list[dict[str, object]] = [
                    {"source": "999", "segment": e.segment_id, "position": e.position, "code": e.code}
                    for t in transactions
                    for e in t.segment_errors
                ] or [{"source": "999", "code": group.code}]
                _apply(gate, result, claim, "rejected", "999", reasons)
            else:
                _apply(gate, result, claim, "submitted", "999", [])
        sent.status = "rejected" if rejected_all else "accepted"


def _apply_277ca(gate: PHIGate, ack: AckFile, result: AckResult) -> None:
    for item in ack.claims:
        claim = gate.session.scalar(select(Claim).where(Claim.control_number == item.patient_control_number))
        if claim is None:
            result.unmatched += 1
            continue
        if item.outcome == "pending":
            result.pending.append(claim.control_number)
            continue
        reasons: list[dict[str, object]] = [
            {"source": "277CA", "category": c, "status": s, "entity": e} for c, s, e in item.reasons
        ]
        extra: dict[str, object] = {}
        if item.payer_claim_control_number:
            extra["payer_claim_number"] = item.payer_claim_control_number
        target = "accepted" if item.outcome == "accepted" else "rejected"
        _apply(gate, result, claim, target, "277CA", reasons, extra)


def import_ack(*, gate: PHIGate, blobs: BlobStore, data: bytes) -> AckResult:
    """Validate, store and apply one 999 or 277CA file, in the gate's transaction."""
    gate.authorize(SUBMIT, entity_type=Claim.__tablename__)
    ack = parse_ack(data)  # pyx12 first: AckFileRejected on any problem, nothing applied
    digest = gate.keyed_digest(name="x12_files.content", data=data)
    seen = gate.session.scalar(
        select(X12File.id).where(X12File.content_digest == digest, X12File.direction == "inbound")
    )
    if seen is not None:
        return AckResult(kind=ack.kind, file_id=seen, already_imported=True)
    blob = blobs.store(gate=gate, kind="x12_inbound", content_type="application/edi-x12", data=data, permission=SUBMIT)
    row = X12File(
        organization_id=gate.ctx.organization_id,
        kind=ack.kind,
        direction="inbound",
        interchange_control=int(ack.interchange_control) if ack.interchange_control.isdigit() else None,
        group_control=int(ack.group_control) if ack.group_control.isdigit() else None,
        claim_count=len(ack.claims),
        content_digest=digest,
        blob_id=blob.id,
        status="applied",
        created_by=actor_of(gate),
    )
    gate.session.add(row)
    gate.session.flush()
    result = AckResult(kind=ack.kind, file_id=row.id)
    if ack.kind == "999":
        _apply_999(gate, ack, result)
    else:
        _apply_277ca(gate, ack, result)
    return result
