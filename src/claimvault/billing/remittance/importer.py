"""Importing an 835 file: validate (pyx12), check every balance, recognise a file or payment seen before, match,
then post every transaction set in the caller's one transaction (all or nothing).

Refused before anything is written: a file pyx12 rejects or that cannot be read (``RemittanceRejected``), and a
file with any amount that does not add up (``RemittanceUnbalanced``: for each line SVC02 = SVC03 + CAS, for each
claim CLP03 = CLP04 + CAS, for each payment BPR02 = CLP04s - PLBs), reported by position, never by value.

Idempotent: the same content again (keyed digest) or a transaction set whose payer id and TRN02 were posted before
(a unique blind index; a concurrent import of the same payment waits on it, then finds it) posts nothing and says
so. ``dry_run`` runs the same posting inside a savepoint and rolls it back: the report says what would post and
nothing is written (the matching reads, which decrypt, stay audited).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from claimvault.billing.claims.models import X12File
from claimvault.billing.payers.models import Payer
from claimvault.billing.remittance.ledger import POST, ZERO, Ledger
from claimvault.billing.remittance.matching import (
    ClaimRef,
    LineMatch,
    claim_by_member_and_charge,
    claims_by_control_number,
    claims_by_payer_number,
    lines_of,
    match_lines,
)
from claimvault.billing.remittance.models import PostedProviderAdjustment, Remittance
from claimvault.billing.remittance.posting import Poster
from claimvault.billing.x12.remit_835 import ClaimPayment, balance_problems, parse_835_all
from claimvault.billing.x12.remit_835 import Remittance as Remittance835
from claimvault.errors import ValidationFailed
from claimvault.security.crypto.blobs import BlobStore
from claimvault.security.gate import PHIGate


class RemittanceUnbalanced(ValidationFailed):
    """Amounts of an 835 that do not add up: the whole file is refused. Details are positions only."""

    code = "x12_835_unbalanced"


@dataclass(frozen=True)
class UnmatchedItem:
    """A claim payment that did not post, by position (transaction set and CLP loop, 0-based) and reason."""

    transaction: int
    position: int
    status_code: str
    reason: str  # no_claim | reversal_without_original


@dataclass
class PostingReport:
    """What an import posted (or would post, for a dry run). Counts, codes, our claim numbers and totals only."""

    dry_run: bool = False
    file_id: uuid.UUID | None = None
    already_imported: bool = False
    transaction_sets: int = 0
    transaction_sets_already_posted: int = 0
    posted: int = 0  # claim payments posted (reversals included)
    reversals: int = 0
    duplicates: int = 0  # claim payments recognised as posted before and skipped
    denials_queued: int = 0
    lines_unmatched: int = 0  # lines posted at claim level because no service line matched
    unmatched: list[UnmatchedItem] = field(default_factory=list)
    status_refused: list[str] = field(default_factory=list)  # claims the lifecycle kept where they were
    claim_statuses: dict[str, str] = field(default_factory=dict)  # our claim number -> status after posting
    matched_by: dict[str, int] = field(default_factory=dict)  # rule -> claim payments matched by it
    paid: Decimal = ZERO  # CLP04 of what posted
    adjusted: Decimal = ZERO  # CO, OA, PI
    patient_responsibility: Decimal = ZERO  # PR
    provider_adjustments: Decimal = ZERO  # PLB
    payment_amount: Decimal = ZERO  # BPR02 of the transaction sets posted


@dataclass
class _Planned:
    transaction: int
    position: int
    payment: ClaimPayment
    claim: ClaimRef | None = None
    matched_by: str = "none"
    lines: list[LineMatch] = field(default_factory=list)


def check_balances(remittances: Sequence[Remittance835]) -> None:
    problems = [(n, p) for n, r in enumerate(remittances) for p in balance_problems(r)]
    if problems:
        details: list[dict[str, object]] = [
            {"transaction": n, "rule": p.rule, "claim": p.claim_index, "line": p.line_index} for n, p in problems[:50]
        ]
        where = "; ".join(f"transaction {n}: {p.describe()}" for n, p in problems[:5])
        raise RemittanceUnbalanced(f"835 file does not balance ({len(problems)} problem(s)): {where}", details=details)


def _match(gate: PHIGate, remittances: Sequence[Remittance835]) -> list[_Planned]:
    planned = [_Planned(t, p, c) for t, r in enumerate(remittances) for p, c in enumerate(r.claims)]
    by_number = claims_by_control_number(gate, [p.payment.patient_control_number for p in planned])
    for p in planned:
        p.claim = by_number.get(p.payment.patient_control_number)
        p.matched_by = "control_number" if p.claim else "none"
    if any(p.claim is None for p in planned):
        by_payer = claims_by_payer_number(gate)
        for p in (p for p in planned if p.claim is None):
            p.claim = by_payer.get(p.payment.payer_claim_control_number)
            p.matched_by = "payer_claim_number" if p.claim else "none"
    for p in (p for p in planned if p.claim is None):
        p.claim = claim_by_member_and_charge(gate, p.payment)
        p.matched_by = "member_charge" if p.claim else "none"
    lines = lines_of(gate, [p.claim.encounter_id for p in planned if p.claim])
    for p in planned:
        if p.claim is not None:
            p.lines = match_lines(p.payment, lines[p.claim.encounter_id])
    return planned


def import_835(*, gate: PHIGate, blobs: BlobStore, data: bytes, dry_run: bool = False) -> PostingReport:
    """Validate, match and post one 835 file in the gate's transaction (see the module docstring)."""
    gate.authorize(POST, entity_type=Remittance.__tablename__)
    remittances = parse_835_all(data)  # RemittanceRejected: nothing read, nothing posted
    check_balances(remittances)
    report = PostingReport(dry_run=dry_run, transaction_sets=len(remittances))
    content = gate.keyed_digest(name="x12_files.content", data=data)
    seen = gate.session.scalar(
        select(X12File.id).where(
            X12File.content_digest == content, X12File.kind == "835", X12File.direction == "inbound"
        )
    )
    if seen is not None:
        report.already_imported, report.file_id = True, seen
        report.transaction_sets_already_posted = len(remittances)
        return report
    fresh: list[Remittance835] = []
    for r in remittances:
        key = {"payer_identifier": r.payer_id, "trace_number": r.trace_number}
        before = gate.match_ids(Remittance, index="key_digest", values=key, permission=POST, limit=1)
        if before or any((f.payer_id, f.trace_number) == (r.payer_id, r.trace_number) for f in fresh):
            report.transaction_sets_already_posted += 1
        else:
            fresh.append(r)
    if not fresh:
        report.already_imported = True
        return report
    planned = _match(gate, fresh)  # reads (decryption, audited) happen before any write
    if dry_run:
        savepoint = gate.session.begin_nested()
        try:
            _post(gate, fresh, planned, report, file_id=None)
        finally:
            savepoint.rollback()
        return report
    remittance_ids = _create_remittances(gate, fresh, report)
    if remittance_ids is None:
        return report
    blob = blobs.store(gate=gate, kind="x12_inbound", content_type="application/edi-x12", data=data, permission=POST)
    first = remittances[0]
    payer = _payer_id(gate, first.payer_id)
    row = X12File(
        organization_id=gate.ctx.organization_id,
        kind="835",
        direction="inbound",
        payer_id=payer,
        interchange_control=int(first.interchange_control) if first.interchange_control.isdigit() else None,
        group_control=int(first.group_control) if first.group_control.isdigit() else None,
        transaction_controls=",".join(r.transaction_control for r in remittances)[:255],
        claim_count=sum(len(r.claims) for r in remittances),
        content_digest=content,
        blob_id=blob.id,
        status="applied",
        created_by=Ledger(gate).actor,
    )
    gate.session.add(row)
    gate.session.flush()
    report.file_id = row.id
    _post(gate, fresh, planned, report, file_id=row.id, remittance_ids=remittance_ids)
    return report


def _payer_id(gate: PHIGate, code: str) -> uuid.UUID | None:
    return gate.session.scalar(select(Payer.id).where(Payer.payer_id == code))


def _create_remittances(gate: PHIGate, fresh: Sequence[Remittance835], report: PostingReport) -> list[uuid.UUID] | None:
    """One row per transaction set. The unique key makes a concurrent import of the same payment wait here and
    then fail: that import reports the payment as already posted and writes nothing."""
    ids = []
    try:
        with gate.session.begin_nested():
            for r in fresh:
                values = {
                    "payer_id": _payer_id(gate, r.payer_id),
                    "payer_identifier": r.payer_id,
                    "trace_number": r.trace_number,
                    "transaction_control": r.transaction_control,
                    "payment_method": r.payment_method,
                    "payment_date": r.payment_date,
                    "payment_amount": r.payment_amount,
                    "claim_payment_count": len(r.claims),
                    "status": "dry" if report.dry_run else "posted",
                    "created_by": Ledger(gate).actor,
                }
                ids.append(gate.create(Remittance, values, permission=POST).id)
    except IntegrityError:
        report.already_imported = True
        report.transaction_sets_already_posted = report.transaction_sets
        return None
    return ids


def _post(
    gate: PHIGate,
    fresh: Sequence[Remittance835],
    planned: Sequence[_Planned],
    report: PostingReport,
    *,
    file_id: uuid.UUID | None,
    remittance_ids: Sequence[uuid.UUID] | None = None,
) -> None:
    if remittance_ids is None:  # dry run: the rows exist only inside the savepoint
        remittance_ids = _create_remittances(gate, fresh, report)
        if remittance_ids is None:
            return
    for rid in remittance_ids:
        gate.session.get(Remittance, rid).x12_file_id = file_id  # type: ignore[union-attr]
    ledger = Ledger(gate)
    ledger.lock(p.claim.id for p in planned if p.claim is not None)  # row locks, ordered by claim id
    posters = [Poster(gate, ledger, source="835", remittance_id=rid) for rid in remittance_ids]
    posters[0].load_known([posters[0].digest(p.payment.payer_claim_control_number) for p in planned])
    for poster in posters[1:]:  # one view of what is posted, shared by the file's transaction sets
        poster.known, poster.digests = posters[0].known, posters[0].digests
    for p in planned:
        poster = posters[p.transaction]
        if p.claim is None:
            poster.unmatched(p.payment, position=p.position)
            report.unmatched.append(UnmatchedItem(p.transaction, p.position, p.payment.status, "no_claim"))
            continue
        outcome = poster.post(p.payment, claim=p.claim, matches=p.lines, position=p.position, matched_by=p.matched_by)
        if outcome.outcome == "duplicate":
            report.duplicates += 1
            continue
        if outcome.outcome == "reversal_without_original":
            report.unmatched.append(
                UnmatchedItem(p.transaction, p.position, p.payment.status, "reversal_without_original")
            )
            continue
        report.posted += 1
        report.reversals += outcome.outcome == "reversal"
        report.matched_by[p.matched_by] = report.matched_by.get(p.matched_by, 0) + 1
        report.denials_queued += outcome.denial_queued
        report.lines_unmatched += outcome.lines_unmatched
        if outcome.status_refused and outcome.control_number:
            report.status_refused.append(outcome.control_number)
        if outcome.control_number and outcome.claim_status:
            report.claim_statuses[outcome.control_number] = outcome.claim_status
        adjustments = [*p.payment.adjustments, *(a for ln in p.payment.lines for a in ln.adjustments)]
        report.paid += p.payment.paid
        report.patient_responsibility += sum((a.amount for a in adjustments if a.group == "PR"), ZERO)
        report.adjusted += sum((a.amount for a in adjustments if a.group != "PR"), ZERO)
    for r, rid in zip(fresh, remittance_ids, strict=True):
        report.payment_amount += r.payment_amount
        for a in r.provider_adjustments:
            values = {
                "remittance_id": rid,
                "provider_identifier": a.provider_id,
                "fiscal_period": a.fiscal_period,
                "reason_code": a.reason,
                "reference": a.reference,
                "amount": a.amount,
            }
            gate.create(PostedProviderAdjustment, values, permission=POST)
            report.provider_adjustments += a.amount
    ledger.flush()
