"""835 posting on both databases, with exact Decimal balances: full payment, CO-45, PR-1/2/3, denial to the work
queue, reversal then correction, PLB, matching fallbacks (payer claim number, a modifier the payer changed or
dropped), unmatched claim payments, the same file twice, a manual posting recognised by a later file, refused
malformed and unbalanced files, dry runs, patient payments, 20 parallel posters on PostgreSQL, and the CLI."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from claimvault.billing.claims.models import Claim, ClaimTransition
from claimvault.billing.remittance.importer import PostingReport, RemittanceUnbalanced, import_835
from claimvault.billing.remittance.ledger import (
    BalanceOut,
    claim_balance,
    line_balances,
    receivables,
    record_patient_payment,
)
from claimvault.billing.remittance.manual import post_manual_payment
from claimvault.billing.remittance.models import (
    ClaimBalance,
    ClaimPaymentPosting,
    DenialWorkItem,
    LedgerEntry,
    LinePosting,
    PostedAdjustment,
    PostedProviderAdjustment,
    PostedRemark,
    Remittance,
)
from claimvault.billing.x12.remit_835 import Adjustment, Procedure, ProviderAdjustment, RemittanceRejected
from claimvault.billing.x12.remit_835_writer import adjudicate_line, reversal_of
from claimvault.runtime import Runtime, build_runtime
from tests.billing_world import SERVICE_DATE, BillingWorld, build_billing_world
from tests.remit_world import (
    ECG,
    MARKER,
    NPI,
    Accepted,
    accept_claims,
    denied,
    paid,
    remittance_file,
)

D = Decimal
ZERO = D("0.00")


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _import(world: BillingWorld, data: bytes, *, dry_run: bool = False) -> PostingReport:
    with world.gate("remit import") as gate:
        return import_835(gate=gate, blobs=world.runtime.blobs, data=data, dry_run=dry_run)


def _balance(world: BillingWorld, claim_id: uuid.UUID) -> BalanceOut:
    with world.gate() as gate:
        return claim_balance(gate=gate, claim_id=claim_id)


def _status(world: BillingWorld, claim_id: uuid.UUID) -> str:
    with world.gate() as gate:
        return str(gate.session.scalar(select(Claim.status).where(Claim.id == claim_id)))


def _count(world: BillingWorld, model: Any) -> int:
    with world.gate() as gate:
        return int(gate.session.scalar(select(func.count()).select_from(model)) or 0)


def _ledger_matches_balances(world: BillingWorld) -> None:
    """The running balances are exactly the sums of the ledger, claim by claim."""
    with world.gate() as gate:
        sums = {
            claim_id: (ins, pat)
            for claim_id, ins, pat in gate.session.execute(
                select(
                    LedgerEntry.claim_id, func.sum(LedgerEntry.insurance_amount), func.sum(LedgerEntry.patient_amount)
                ).group_by(LedgerEntry.claim_id)
            )
        }
        rows = gate.session.scalars(select(ClaimBalance)).all()
        assert {r.claim_id: (r.insurance_balance, r.patient_balance) for r in rows} == sums
        for r in rows:
            assert r.charge == r.insurance_paid + r.adjusted + r.insurance_balance + r.patient_balance + r.patient_paid


def test_full_partial_and_patient_responsibility(world: BillingWorld) -> None:
    full, partial, shared = accept_claims(world, 3)
    shares = ({"deductible": D("20.00"), "coinsurance": D("8.50")}, {"copay": D("10.00")})
    data = remittance_file(
        [
            paid(full),
            paid(partial, allowed=(D("100.00"), D("30.00"))),
            paid(shared, allowed=(D("100.00"), D("30.00")), shares=shares),
        ]
    )
    report = _import(world, data)
    assert (report.posted, report.duplicates, report.unmatched, report.denials_queued) == (3, 0, [], 0)
    assert report.matched_by == {"control_number": 3}
    assert report.paid == D("165.00") + D("130.00") + D("91.50")
    assert report.patient_responsibility == D("38.50") and report.adjusted == D("70.00")

    assert _balance(world, full.id) == BalanceOut(full.id, D("165.00"), D("165.00"), ZERO, ZERO, ZERO, ZERO)
    assert _balance(world, partial.id) == BalanceOut(partial.id, D("165.00"), D("130.00"), D("35.00"), ZERO, ZERO, ZERO)
    assert _balance(world, shared.id) == BalanceOut(
        shared.id, D("165.00"), D("91.50"), D("35.00"), ZERO, ZERO, D("38.50")
    )
    assert {_status(world, c.id) for c in (full, partial, shared)} == {"paid"}
    with world.gate() as gate:
        lines = line_balances(gate=gate, claim_id=shared.id)
        assert sorted(lines.values()) == [(ZERO, D("10.00")), (ZERO, D("28.50"))]
        codes = gate.session.execute(
            select(PostedAdjustment.group_code, PostedAdjustment.reason_code, PostedAdjustment.amount)
            .join(ClaimPaymentPosting, ClaimPaymentPosting.id == PostedAdjustment.claim_payment_id)
            .where(ClaimPaymentPosting.claim_id == shared.id)
        ).all()
        assert sorted(codes) == [
            ("CO", "45", D("10.00")),
            ("CO", "45", D("25.00")),
            ("PR", "1", D("20.00")),
            ("PR", "2", D("8.50")),
            ("PR", "3", D("10.00")),
        ]
        allowed = gate.session.scalars(select(LinePosting.allowed).where(LinePosting.claim_id == partial.id)).all()
        assert set(allowed) == {D("30.00"), D("100.00")}
        assert (
            gate.session.scalar(
                select(func.count()).select_from(LinePosting).where(LinePosting.service_line_id.is_(None))
            )
            == 0
        )
        moved = gate.session.scalars(select(ClaimTransition).where(ClaimTransition.claim_id == full.id)).all()
        assert (moved[-1].from_status, moved[-1].to_status, moved[-1].source) == ("accepted", "paid", "835")

    with world.gate() as gate:
        after = record_patient_payment(gate=gate, claim_id=shared.id, amount=D("10.00"), method="cash")
    assert (after.patient, after.patient_paid) == (D("28.50"), D("10.00"))
    with world.gate() as gate:
        assert receivables(gate=gate).patient == D("28.50")
    _ledger_matches_balances(world)


def test_denial_goes_to_the_work_queue_and_stays_receivable(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    report = _import(world, remittance_file([denied(claim)]))
    assert (report.posted, report.denials_queued) == (1, 1)
    assert _status(world, claim.id) == "denied"
    assert _balance(world, claim.id) == BalanceOut(claim.id, D("165.00"), ZERO, ZERO, ZERO, D("165.00"), ZERO)
    with world.gate() as gate:
        (item,) = gate.session.scalars(select(DenialWorkItem)).all()
        assert (item.claim_id, item.status, item.reason_codes) == (claim.id, "open", "CO-96;N130")
        assert gate.session.scalars(select(PostedRemark.code)).all() == ["N130"]
    _ledger_matches_balances(world)


def test_reversal_then_corrected_payment(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    first = paid(claim)
    assert _import(world, remittance_file([first], trace="EFT-A")).posted == 1
    corrected = paid(claim, allowed=(D("110.00"), D("40.00")), shares=({"coinsurance": D("22.00")}, {}))
    report = _import(world, remittance_file([reversal_of(first), corrected], trace="EFT-B", interchange="000000836"))
    assert (report.posted, report.reversals, report.duplicates) == (2, 1, 0)
    assert report.paid == D("-165.00") + D("128.00")
    assert _balance(world, claim.id) == BalanceOut(
        claim.id, D("165.00"), D("128.00"), D("15.00"), ZERO, ZERO, D("22.00")
    )
    assert _status(world, claim.id) == "paid"
    with world.gate() as gate:
        outcomes = gate.session.execute(
            select(ClaimPaymentPosting.status_code, ClaimPaymentPosting.outcome, ClaimPaymentPosting.paid)
        ).all()
    assert sorted(outcomes) == [
        ("1", "posted", D("128.00")),
        ("1", "reversed", D("165.00")),
        ("22", "posted", D("-165.00")),
    ]
    _ledger_matches_balances(world)


def test_provider_level_adjustment(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    plb = [ProviderAdjustment(NPI, date(2026, 12, 31), "WO", claim.payer_claim_number, D("12.50"))]
    report = _import(world, remittance_file([paid(claim)], plb=plb))
    assert report.provider_adjustments == D("12.50") and report.payment_amount == D("152.50")
    with world.gate() as gate:
        (row,) = gate.session.scalars(select(PostedProviderAdjustment)).all()
        assert (row.reason_code, row.amount, row.reference != claim.payer_claim_number.encode()) == (
            "WO",
            D("12.50"),
            True,
        )
    assert _balance(world, claim.id).insurance == ZERO  # a PLB is the provider's, not the claim's


def test_matching_fallbacks_and_the_unmatched_report(world: BillingWorld) -> None:
    by_payer_number, by_modifier = accept_claims(world, 2)
    changed = [  # the payer dropped the modifier (SVC06 says what was billed) and adjudicated 93000 without one
        adjudicate_line(
            procedure=Procedure("HC", "99213"),
            submitted=Procedure("HC", "99213", ("25",)),
            charge=D("125.00"),
            allowed=D("90.00"),
        ),
        adjudicate_line(procedure=Procedure("HC", "93000", ("59",)), charge=D("40.00"), allowed=D("40.00")),
    ]
    stranger = paid(by_payer_number, pcn="C99999999", payer_number="NOSUCHNUMBER", member="NOPE0")
    data = remittance_file([paid(by_payer_number, pcn="GARBLED01"), paid(by_modifier, lines=changed), stranger])
    report = _import(world, data)
    assert report.matched_by == {"payer_claim_number": 1, "control_number": 1}
    assert [(u.position, u.status_code, u.reason) for u in report.unmatched] == [(2, "1", "no_claim")]
    assert MARKER not in repr(report) and "NOSUCHNUMBER" not in repr(report)
    with world.gate() as gate:
        rules = gate.session.scalars(
            select(LinePosting.matched_by).where(LinePosting.claim_id == by_modifier.id).order_by(LinePosting.position)
        ).all()
        assert rules == ["procedure", "code"]
        stored = gate.session.scalar(select(ClaimPaymentPosting).where(ClaimPaymentPosting.outcome == "unmatched"))
        assert stored is not None and stored.claim_id is None
        assert (
            gate.session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.claim_payment_id == stored.id)
            )
            == 0
        )
    assert _balance(world, by_modifier.id).adjusted == D("35.00")
    assert _balance(world, by_payer_number.id).insurance == ZERO


def test_the_same_file_twice_posts_once(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    data = remittance_file([paid(claim)])
    assert _import(world, data).posted == 1
    entries = _count(world, LedgerEntry)
    again = _import(world, data)
    assert again.already_imported and again.posted == 0
    resent = _import(world, remittance_file([paid(claim)], interchange="000000999"))  # same payer and TRN02
    assert resent.already_imported and resent.transaction_sets_already_posted == 1
    assert (_count(world, LedgerEntry), _count(world, Remittance)) == (entries, 1)
    assert _balance(world, claim.id).insurance_paid == D("165.00")


def test_a_manual_posting_is_recognised_by_the_file(world: BillingWorld) -> None:
    first, second = accept_claims(world, 2)
    with world.gate() as gate:
        manual = post_manual_payment(gate=gate, claim_id=first.id, payment=paid(first))
    assert (manual.outcome, manual.claim_status) == ("posted", "paid")
    report = _import(world, remittance_file([paid(first), paid(second)], trace="EFT-M"))
    assert (report.posted, report.duplicates) == (1, 1)
    assert _balance(world, first.id).insurance_paid == D("165.00")
    assert _balance(world, second.id).insurance_paid == D("165.00")
    with world.gate() as gate:
        again = post_manual_payment(gate=gate, claim_id=second.id, payment=paid(second))
    assert again.outcome == "duplicate"
    _ledger_matches_balances(world)


def test_malformed_truncated_and_unbalanced_files_post_nothing(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    data = remittance_file([paid(claim)])
    with pytest.raises(RemittanceRejected) as truncated:
        _import(world, data[: len(data) // 2])
    with pytest.raises(RemittanceRejected):
        _import(world, b"this is not an 835 " + MARKER.encode())
    bad_line = paid(claim)
    bad_line = replace(
        bad_line,
        lines=(replace(bad_line.lines[0], adjustments=(Adjustment("CO", "45", D("1.00")),)), bad_line.lines[1]),
    )
    with pytest.raises(RemittanceUnbalanced) as unbalanced:
        _import(world, remittance_file([bad_line]))
    for error in (truncated.value, unbalanced.value):
        assert MARKER not in str(error) and claim.payer_claim_number not in str(error)
    assert "claim 0 line 0" in unbalanced.value.message
    assert (_count(world, Remittance), _count(world, ClaimPaymentPosting), _count(world, LedgerEntry)) == (0, 0, 0)
    assert _status(world, claim.id) == "accepted"


def test_dry_run_reports_and_writes_nothing(world: BillingWorld) -> None:
    first, second = accept_claims(world, 2)
    data = remittance_file([paid(first), denied(second)])
    report = _import(world, data, dry_run=True)
    assert report.dry_run and (report.posted, report.denials_queued) == (2, 1)
    assert report.claim_statuses == {first.control_number: "paid", second.control_number: "denied"}
    for model in (Remittance, ClaimPaymentPosting, LedgerEntry, ClaimBalance, DenialWorkItem):
        assert _count(world, model) == 0, model
    assert {_status(world, first.id), _status(world, second.id)} == {"accepted"}
    assert _import(world, data).posted == 2  # the dry run left nothing that blocks the real import


# --- PostgreSQL: parallel posters and patient payments on the same accounts -------------------------------------
ACCOUNTS = 20


def _half(claim: Accepted, line: int, number: str) -> Any:
    """A claim payment of one line only (payers split claims): line 0 allowed 100 (PR copay 15), line 1 40."""
    if line == 0:
        svc = adjudicate_line(
            procedure=Procedure("HC", "99213", ("25",)),
            charge=D("125.00"),
            allowed=D("100.00"),
            patient={"copay": D("15.00")},
        )
    else:
        svc = adjudicate_line(procedure=ECG, charge=D("40.00"), allowed=D("40.00"), service_date=SERVICE_DATE)
    return paid(claim, lines=[svc], payer_number=number)


def test_parallel_posters_and_patient_payments_leave_exact_balances(committed_world: BillingWorld) -> None:
    world = committed_world
    claims = accept_claims(world, ACCOUNTS)
    files = [  # file i pays line 0 of claim i and line 1 of claim i+1: every claim is touched by two files
        remittance_file(
            [_half(claims[i], 0, f"P{i}A"), _half(claims[(i + 1) % ACCOUNTS], 1, f"P{i}B")],
            trace=f"EFT-P{i:03d}",
            interchange=f"{700 + i:09d}",
        )
        for i in range(ACCOUNTS)
    ]
    start = threading.Barrier(2 * ACCOUNTS)
    failures: list[str] = []

    def poster(data: bytes) -> None:
        start.wait()
        try:
            assert _import(world, data).posted == 2
        except Exception as exc:
            failures.append(type(exc).__name__)

    def payer_of_copays(claim: Accepted) -> None:
        start.wait()
        try:
            for _ in range(3):
                with world.gate() as gate:
                    record_patient_payment(gate=gate, claim_id=claim.id, amount=D("5.00"), method="card")
        except Exception as exc:
            failures.append(type(exc).__name__)

    threads = [threading.Thread(target=poster, args=(f,)) for f in files]
    threads += [threading.Thread(target=payer_of_copays, args=(c,)) for c in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for c in claims:
        assert _balance(world, c.id) == BalanceOut(c.id, D("165.00"), D("125.00"), D("25.00"), D("15.00"), ZERO, ZERO)
        assert _status(world, c.id) == "paid"
    _ledger_matches_balances(world)


def test_cli_import_dry_run_then_post_then_again(tmp_path: Path) -> None:
    from tests.test_cli import _everything, _ok, _run, _settings

    var = tmp_path / "var"
    _ok(var, "init")
    rt = build_runtime(_settings(var))
    try:
        world = build_billing_world(rt)
        first, second = accept_claims(world, 2)
    finally:
        rt.close()
    path = tmp_path / "remit.835"
    path.write_bytes(
        remittance_file([paid(first), denied(second), paid(first, pcn="C77777777", payer_number="X1", member="NOPE0")])
    )
    dry = _everything(_ok(var, "remit", "import", str(path), "--org", "clinic", "--dry-run"))
    assert "Dry run" in dry and "Would post: 2 claim payment(s)" in dry and "1 unmatched" in dry
    posted = _everything(_ok(var, "remit", "import", str(path), "--org", "clinic"))
    assert "Posted: 2 claim payment(s)" in posted and "1 denial(s) queued" in posted and "paid 165.00" in posted
    again = _everything(_ok(var, "remit", "import", str(path), "--org", "clinic"))
    assert "posted before" in again
    broken = tmp_path / "broken.835"
    broken.write_bytes(path.read_bytes()[:400])
    refused = _run(var, "remit", "import", str(broken), "--org", "clinic")
    assert refused.exit_code == 1
    for output in (dry, posted, again, _everything(refused)):
        assert MARKER not in output and first.payer_claim_number not in output and first.member_id not in output
