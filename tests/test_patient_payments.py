"""Patient payments on both backends, with exact Decimal balances: cash, check and card applied oldest claim first
or to chosen claims, credit on account, refunds (card and check) bounded by what was paid, write-offs and refunds
under the two-person rule (threshold, a second person's approval runs the action, self-approval refused, rejected
or expired approvals change nothing), payment plans charged once per installment, processor failures that write
nothing, no card, check or patient data in outputs or logs, and payments racing remittance postings on
PostgreSQL."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from claimvault.billing.claims.acknowledgements import import_ack
from claimvault.billing.claims.models import X12File
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.schemas import ClaimCreate
from claimvault.billing.claims.service import create_claim, get_claim, scrub_claims
from claimvault.billing.encounters.schemas import DiagnosisIn, EncounterCreate, ServiceLineIn
from claimvault.billing.encounters.service import create_encounter
from claimvault.billing.patient_payments import service as pp_service
from claimvault.billing.patient_payments.adjustments import (
    ApprovalExpired,
    ExceedsAllowed,
    register_executors,
    request_refund,
    request_write_off,
)
from claimvault.billing.patient_payments.plans import (
    cancel_payment_plan,
    create_payment_plan,
    due_dates,
    get_payment_plan,
    run_due_installments,
)
from claimvault.billing.patient_payments.service import (
    PatientAdjustment,
    PatientPayment,
    PatientRefund,
    PaymentApplication,
    PaymentDeclined,
    Receipt,
    account_credit,
    apply_account_credit,
    get_receipt,
    record_payment,
)
from claimvault.billing.payments.processor import FAKE_DECLINED_CARD, Charge, FakeProcessor, Refund
from claimvault.billing.payments.service import PaymentProcessorUnavailable, add_card
from claimvault.billing.remittance.importer import import_835
from claimvault.billing.remittance.ledger import BalanceOut, claim_balance
from claimvault.billing.remittance.models import ClaimBalance, LedgerEntry
from claimvault.billing.x12.remit_835_writer import adjudicate_line
from claimvault.errors import NotFound, PermissionDenied, ValidationFailed
from claimvault.runtime import Runtime
from claimvault.security.approvals import service as approvals
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.approvals.service import decide_request
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from tests.ack_files import make_277ca, make_999
from tests.billing_world import SCRUB_DAY, SERVICE_DATE, BillingWorld, build_billing_world
from tests.conftest import World, captured_logs
from tests.remit_world import (
    E_M,
    ECG,
    Accepted,
    paid,
    remittance_file,
)

D = Decimal
ZERO = D("0.00")
VISA = "4242424242424242"
CHECK = "40417"
FAMILY = "Zyxwquorn"  # the patients' family name: must never appear in output
SHARES = ({"deductible": D("20.00")}, {"copay": D("10.00")})  # each claim leaves the patient 30.00


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


@pytest.fixture
def processor() -> FakeProcessor:
    return FakeProcessor(clock=lambda: date(2026, 1, 1))


@pytest.fixture
def executors(runtime: Runtime, processor: FakeProcessor) -> Iterator[None]:
    saved = {k: approvals.executor_for(k) for k in ("refund", "write_off", "adjustment")}
    register_executors(keys=runtime.keys, processor=processor)
    yield
    for kind, previous in saved.items():
        if previous is None:
            approvals._EXECUTORS.pop(kind, None)
        else:
            approvals.register_executor(kind, previous)


# Set-up ------------------------------------------------------------------------------------------------------
def _encounter(world: BillingWorld, patient_id: uuid.UUID, service_date: date) -> uuid.UUID:
    lines = [
        ServiceLineIn(procedure_code="99213", modifiers=["25"], diagnosis_pointers=[1], charge=D("125.00")),
        ServiceLineIn(procedure_code="93000", diagnosis_pointers=[1, 2], charge=D("40.00")),
    ]
    data = EncounterCreate(
        service_date=service_date,
        billing_provider_id=world.billing_provider_id,
        rendering_provider_id=world.rendering_provider_id,
        diagnoses=[DiagnosisIn(code="E119"), DiagnosisIn(code="I10")],
        lines=lines,
    )
    with world.gate() as gate:
        return create_encounter(gate=gate, patient_id=patient_id, data=data).id


def _accept(world: BillingWorld, encounters: list[uuid.UUID], members: list[str], seed: int) -> list[Accepted]:
    """Claims of these encounters taken to ``accepted`` (scrub, 837P, 999, 277CA), oldest first."""
    claim_ids = []
    for encounter_id in encounters:
        with world.gate() as gate:
            claim_ids.append(create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id)).id)
    with world.gate() as gate:
        results = scrub_claims(gate=gate, claim_ids=claim_ids, today=SCRUB_DAY)
        assert all(r.status == "ready" for r in results), [f.rule for r in results for f in r.findings]
    blobs = world.runtime.blobs
    with world.gate() as gate:
        (released,) = export_837p(gate=gate, blobs=blobs).released
        group = gate.session.scalar(select(X12File.group_control).where(X12File.id == released.file_id))
    assert group is not None
    with world.gate() as gate:
        import_ack(gate=gate, blobs=blobs, data=make_999(group_control=group, transaction_controls=[1]).encode())
        claims = [get_claim(gate=gate, claim_id=c) for c in claim_ids]
    with world.gate() as gate:
        ack = make_277ca(claims=[(c.control_number, c.total_charge) for c in claims], seed=seed)
        import_ack(gate=gate, blobs=blobs, data=ack.encode())
        claims = [get_claim(gate=gate, claim_id=c) for c in claim_ids]
    assert all(c.status == "accepted" for c in claims)
    return [
        Accepted(c.id, c.control_number, str(c.payer_claim_number), m, c.total_charge)
        for c, m in zip(claims, members, strict=True)
    ]


def _patient_owing(
    world: BillingWorld, claims: int = 2, *, seed: int = 11, trace: str = "EFT-PP1"
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A patient with ``claims`` claims (oldest first), each paid by the payer leaving the patient 30.00."""
    patient_id, first = world.patient(family=FAMILY, seed=seed)
    member = f"XYZ{random.Random(seed).randrange(10**8):08d}"
    encounters = [first] + [
        _encounter(world, patient_id, SERVICE_DATE - timedelta(days=7 * n)) for n in range(1, claims)
    ]
    accepted = _accept(world, encounters[:claims], [member] * claims, seed)
    data = remittance_file([paid(c, allowed=(D("100.00"), D("30.00")), shares=SHARES) for c in accepted], trace=trace)
    with world.gate("remit import") as gate:
        assert import_835(gate=gate, blobs=world.runtime.blobs, data=data).posted == claims
    return patient_id, [c.id for c in accepted]


def _balance(world: BillingWorld, claim_id: uuid.UUID) -> BalanceOut:
    with world.gate() as gate:
        return claim_balance(gate=gate, claim_id=claim_id)


def _owed(world: BillingWorld, claim_id: uuid.UUID) -> Decimal:
    return _balance(world, claim_id).patient


def _credit(world: BillingWorld, patient_id: uuid.UUID) -> Decimal:
    with world.gate() as gate:
        return account_credit(gate=gate, patient_id=patient_id)


def _count(world: BillingWorld, model: Any) -> int:
    with world.gate() as gate:
        return int(gate.session.scalar(select(func.count()).select_from(model)) or 0)


def _card(world: BillingWorld, processor: FakeProcessor, patient_id: uuid.UUID, pan: str = VISA) -> uuid.UUID:
    with world.gate() as gate:
        return add_card(gate=gate, processor=processor, patient_id=patient_id, pan=pan, exp_month=12, exp_year=2030).id


def _pay(world: BillingWorld, **kw: Any) -> Receipt:
    with world.gate() as gate:
        return record_payment(gate=gate, **kw)


def _ledger_matches_balances(world: BillingWorld) -> None:
    with world.gate() as gate:
        sums = {
            c: (i, p)
            for c, i, p in gate.session.execute(
                select(
                    LedgerEntry.claim_id, func.sum(LedgerEntry.insurance_amount), func.sum(LedgerEntry.patient_amount)
                ).group_by(LedgerEntry.claim_id)
            )
        }
        rows = gate.session.scalars(select(ClaimBalance)).all()
        assert {r.claim_id: (r.insurance_balance, r.patient_balance) for r in rows} == sums
        for r in rows:
            assert r.charge == r.insurance_paid + r.adjusted + r.insurance_balance + r.patient_balance + r.patient_paid


def _users(world: BillingWorld) -> World:
    users = World(world.runtime, None)
    users._orgs["clinic"] = world.org_id
    return users


def _as(world: BillingWorld, user_id: uuid.UUID, *roles: str) -> Any:
    ctx = UserContext(user_id=user_id, organization_id=world.org_id, roles=frozenset(roles))
    return open_gate(db=world.runtime.db, keys=world.runtime.keys, ctx=ctx)


def _ctx(world: BillingWorld, user_id: uuid.UUID, *roles: str) -> UserContext:
    return UserContext(user_id=user_id, organization_id=world.org_id, roles=frozenset(roles))


# Payments ----------------------------------------------------------------------------------------------------
def test_cash_check_and_card_apply_oldest_first_exactly(world: BillingWorld, processor: FakeProcessor) -> None:
    patient_id, (older, newer) = _patient_owing(world)
    assert (_owed(world, older), _owed(world, newer)) == (D("30.00"), D("30.00"))
    cash = _pay(world, patient_id=patient_id, amount=D("20.00"), method="cash")
    assert cash.applied == (pp_service.Applied(older, D("20.00")),) and cash.unapplied == ZERO
    check = _pay(world, patient_id=patient_id, amount=D("25.00"), method="check", check_number=CHECK)
    assert check.applied == (pp_service.Applied(older, D("10.00")), pp_service.Applied(newer, D("15.00")))
    method_id = _card(world, processor, patient_id)
    card = _pay(
        world, patient_id=patient_id, amount=D("30.01"), method="card", processor=processor, payment_method_id=method_id
    )
    assert card.applied == (pp_service.Applied(newer, D("15.00")),) and card.unapplied == D("15.01")
    assert _balance(world, older) == BalanceOut(older, D("165.00"), D("100.00"), D("35.00"), D("30.00"), ZERO, ZERO)
    assert _balance(world, newer) == BalanceOut(newer, D("165.00"), D("100.00"), D("35.00"), D("30.00"), ZERO, ZERO)
    assert _credit(world, patient_id) == D("15.01")
    with world.gate() as gate:
        assert get_receipt(gate=gate, payment_id=check.payment_id) == check
        stored = gate.session.scalar(select(PatientPayment).where(PatientPayment.id == check.payment_id))
        assert stored is not None and stored.check_number is not None and CHECK.encode() not in stored.check_number
        charged = gate.session.scalar(select(PatientPayment).where(PatientPayment.id == card.payment_id))
        assert charged is not None and charged.charge_reference is not None
    _ledger_matches_balances(world)


def test_chosen_claims_then_credit_applied_later(world: BillingWorld) -> None:
    patient_id, (older, newer) = _patient_owing(world)
    receipt = _pay(world, patient_id=patient_id, amount=D("45.50"), method="cash", claim_ids=[newer])
    assert receipt.applied == (pp_service.Applied(newer, D("30.00")),) and receipt.unapplied == D("15.50")
    assert (_owed(world, older), _owed(world, newer), _credit(world, patient_id)) == (D("30.00"), ZERO, D("15.50"))
    with world.gate() as gate:
        applied = apply_account_credit(gate=gate, patient_id=patient_id)
    assert applied == (pp_service.Applied(older, D("15.50")),)
    assert (_owed(world, older), _credit(world, patient_id)) == (D("14.50"), ZERO)
    other_patient, (foreign, _) = _patient_owing(world, seed=12, trace="EFT-PP2")
    with pytest.raises(NotFound):  # a claim of another patient
        _pay(world, patient_id=patient_id, amount=D("1.00"), method="cash", claim_ids=[foreign])
    for bad in (D("0.00"), D("-1.00"), D("1.001"), 1.5, D("NaN")):
        with pytest.raises(ValidationFailed):
            _pay(world, patient_id=patient_id, amount=bad, method="cash")
    with pytest.raises(ValidationFailed):
        _pay(world, patient_id=patient_id, amount=D("1.00"), method="check")  # no check number
    assert _owed(world, foreign) == D("30.00") and _credit(world, other_patient) == ZERO
    _ledger_matches_balances(world)


# Refunds -----------------------------------------------------------------------------------------------------
def test_card_and_check_refunds_are_bounded(world: BillingWorld, processor: FakeProcessor) -> None:
    patient_id, (older,) = _patient_owing(world, claims=1)
    method_id = _card(world, processor, patient_id)
    card = _pay(
        world,
        patient_id=patient_id,
        amount=D("50.00"),
        method="card",
        processor=processor,
        payment_method_id=method_id,
        claim_ids=[older],
    )
    assert card.unapplied == D("20.00")

    def refund(payment_id: uuid.UUID, amount: Decimal, method: str, **kw: Any) -> Any:
        with world.gate() as gate:
            return request_refund(
                gate=gate,
                processor=processor,
                payment_id=payment_id,
                amount=amount,
                method=method,
                reason_code="overpaid",
                **kw,
            )

    assert refund(card.payment_id, D("15.00"), "card").status == "completed"
    assert _credit(world, patient_id) == D("5.00") and _owed(world, older) == ZERO
    with pytest.raises(ExceedsAllowed):
        refund(card.payment_id, D("35.01"), "card")
    assert refund(card.payment_id, D("35.00"), "card").status == "completed"  # 5.00 credit, then 30.00 of the claim
    assert _credit(world, patient_id) == ZERO and _owed(world, older) == D("30.00")
    with world.gate() as gate:
        charge_id = gate.get(PatientPayment, card.payment_id, permission=pp_service.PAY)["charge_reference"]
    assert processor.refunded_total(charge_id) == D("50.00")
    with pytest.raises(ExceedsAllowed):
        refund(card.payment_id, D("0.01"), "card")

    cash = _pay(world, patient_id=patient_id, amount=D("10.00"), method="cash", claim_ids=[older])
    with pytest.raises(ValidationFailed):
        refund(cash.payment_id, D("1.00"), "card")  # only a card payment goes back to a card
    out = refund(cash.payment_id, D("10.00"), "check", check_number="5501")
    assert out.status == "completed" and _owed(world, older) == D("30.00")
    with world.gate() as gate:
        row = gate.session.scalar(select(PatientRefund).where(PatientRefund.id == out.id))
        assert row is not None and row.check_number is not None and b"5501" not in row.check_number
        kinds = sorted(gate.session.scalars(select(LedgerEntry.kind).where(LedgerEntry.kind == "patient_refund")))
    assert kinds == ["patient_refund", "patient_refund"]
    _ledger_matches_balances(world)


def test_refund_above_threshold_runs_once_a_second_person_approves(
    world: BillingWorld, processor: FakeProcessor, executors: None
) -> None:
    patient_id, _ = _patient_owing(world, claims=1)
    users = _users(world)
    biller, manager = users.member("clinic", "biller"), users.member("clinic", "billing_manager")
    method_id = _card(world, processor, patient_id)
    card = _pay(
        world, patient_id=patient_id, amount=D("80.00"), method="card", processor=processor, payment_method_id=method_id
    )
    with _as(world, biller.user_id, "biller") as gate:
        out = request_refund(
            gate=gate,
            processor=processor,
            payment_id=card.payment_id,
            amount=D("40.00"),
            method="card",
            reason_code="duplicate_charge",
            threshold=D("40.00"),
        )
    assert out.status == "pending_approval" and out.approval_request_id is not None
    assert _credit(world, patient_id) == D("50.00")  # nothing moved yet
    with _as(world, biller.user_id, "biller") as gate, pytest.raises(ExceedsAllowed):  # 40.00 is reserved
        request_refund(
            gate=gate,
            processor=processor,
            payment_id=card.payment_id,
            amount=D("40.01"),
            method="check",
            check_number="77",
            reason_code="overpaid",
            threshold=D("1000.00"),
        )
    done = decide_request(
        db=world.runtime.db,
        ctx=_ctx(world, manager.user_id, "billing_manager"),
        request_id=out.approval_request_id,
        approve=True,
        reason_code="verified",
    )
    assert done.status == "executed"
    assert _credit(world, patient_id) == D("10.00")
    with world.gate() as gate:
        row = gate.session.scalar(select(PatientRefund).where(PatientRefund.id == out.id))
        assert row is not None and row.status == "completed" and row.completed_by == f"user:{manager.user_id}"


# Write-offs --------------------------------------------------------------------------------------------------
def test_write_off_below_threshold_applies_at_once_and_never_exceeds_the_balance(world: BillingWorld) -> None:
    patient_id, (older, newer) = _patient_owing(world)
    with world.gate() as gate:
        out = request_write_off(
            gate=gate, claim_id=older, amount=D("4.99"), category="small_balance", reason_code="under_5"
        )
    assert out.status == "applied" and _owed(world, older) == D("25.01")
    assert _balance(world, older).adjusted == D("35.00") + D("4.99")
    with world.gate() as gate, pytest.raises(ExceedsAllowed):
        request_write_off(gate=gate, claim_id=newer, amount=D("30.01"), category="courtesy", reason_code="staff")
    with world.gate() as gate, pytest.raises(ValidationFailed):
        request_write_off(gate=gate, claim_id=newer, amount=D("1.00"), category="theft", reason_code="x")
    assert _owed(world, newer) == D("30.00") and _count(world, PatientAdjustment) == 1
    del patient_id
    _ledger_matches_balances(world)


def test_write_off_at_threshold_needs_a_second_person(world: BillingWorld, executors: None) -> None:
    _, (older, newer) = _patient_owing(world)
    users = _users(world)
    requester = users.member("clinic", "billing_manager", "biller")
    approver = users.member("clinic", "billing_manager")

    def ask(claim_id: uuid.UUID) -> Any:
        with _as(world, requester.user_id, "billing_manager", "biller") as gate:
            return request_write_off(
                gate=gate,
                claim_id=claim_id,
                amount=D("25.00"),
                category="bad_debt",
                reason_code="collections_exhausted",
                threshold=D("25.00"),
            )

    def decide(member: Any, request_id: uuid.UUID, approve: bool = True) -> Any:
        return decide_request(
            db=world.runtime.db,
            ctx=_ctx(world, member.user_id, "billing_manager"),
            request_id=request_id,
            approve=approve,
            reason_code="reviewed",
        )

    held = ask(older)
    assert held.status == "pending_approval" and _owed(world, older) == D("30.00")
    with pytest.raises(PermissionDenied) as refused:
        decide(requester, held.approval_request_id)
    assert refused.value.code == "approval_same_person" and _owed(world, older) == D("30.00")

    assert decide(approver, held.approval_request_id).status == "executed"
    assert _owed(world, older) == D("5.00") and _balance(world, older).adjusted == D("60.00")

    rejected = ask(newer)
    assert decide(approver, rejected.approval_request_id, approve=False).status == "rejected"
    assert _owed(world, newer) == D("30.00")

    expired = ask(newer)
    with world.runtime.db.session(tenant_id=world.org_id) as s:
        row = s.scalar(select(ApprovalRequest).where(ApprovalRequest.id == expired.approval_request_id))
        assert row is not None
        row.requested_at = row.requested_at - timedelta(days=8)
    with pytest.raises(ApprovalExpired):
        decide(approver, expired.approval_request_id)
    assert _owed(world, newer) == D("30.00")
    with world.gate() as gate:
        statuses = dict(gate.session.execute(select(PatientAdjustment.id, PatientAdjustment.status)).all())
    assert statuses == {held.id: "applied", rejected.id: "pending_approval", expired.id: "expired"}
    _ledger_matches_balances(world)


# Payment plans -----------------------------------------------------------------------------------------------
class CountingProcessor(FakeProcessor):
    """Counts the charges the processor really made (replays of an idempotency key are not new charges)."""

    def __init__(self) -> None:
        super().__init__(clock=lambda: date(2026, 1, 1))
        self.made: set[str] = set()

    def charge(self, token: str, amount: Decimal, *, idempotency_key: str) -> Charge:
        result = super().charge(token, amount, idempotency_key=idempotency_key)
        self.made.add(result.id)
        return result


def test_due_dates_clamp_to_month_end() -> None:
    assert due_dates(date(2026, 1, 31), "monthly", 3) == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    assert due_dates(date(2026, 12, 20), "biweekly", 2) == [date(2026, 12, 20), date(2027, 1, 3)]


def test_payment_plan_installments_are_charged_once(world: BillingWorld) -> None:
    processor = CountingProcessor()
    patient_id, (older, newer) = _patient_owing(world)
    method_id = _card(world, processor, patient_id)
    with world.gate() as gate:
        plan = create_payment_plan(
            gate=gate,
            patient_id=patient_id,
            payment_method_id=method_id,
            total=D("60.00"),
            installment_amount=D("25.00"),
            schedule="monthly",
            start_date=date(2026, 1, 31),
        )
    assert [(i.due_date, i.amount) for i in plan.installments] == [
        (date(2026, 1, 31), D("25.00")),
        (date(2026, 2, 28), D("25.00")),
        (date(2026, 3, 31), D("10.00")),
    ]
    with pytest.raises(RuntimeError), world.gate() as gate:  # the job's transaction fails after charging
        run_due_installments(gate=gate, processor=processor, today=date(2026, 2, 28))
        raise RuntimeError("crash")
    assert len(processor.made) == 2 and _count(world, PatientPayment) == 0
    with world.gate() as gate:
        run = run_due_installments(gate=gate, processor=processor, today=date(2026, 2, 28))
    assert len(run.charged) == 2 and len(processor.made) == 2  # the same two charges, replayed
    with world.gate() as gate:
        assert run_due_installments(gate=gate, processor=processor, today=date(2026, 2, 28)).charged == ()
    assert (_owed(world, older), _owed(world, newer)) == (ZERO, D("10.00"))
    with world.gate() as gate:
        last = run_due_installments(gate=gate, processor=processor, today=date(2026, 4, 1))
        final = get_payment_plan(gate=gate, plan_id=plan.id)
    assert len(last.charged) == 1 and len(processor.made) == 3 and _owed(world, newer) == ZERO
    assert final.status == "completed" and final.paid == D("60.00") and final.missed_count == 0
    _ledger_matches_balances(world)


def test_declined_installments_are_flagged_missed(world: BillingWorld, processor: FakeProcessor) -> None:
    patient_id, (older,) = _patient_owing(world, claims=1)
    method_id = _card(world, processor, patient_id, pan=FAKE_DECLINED_CARD)
    with world.gate() as gate:
        plan = create_payment_plan(
            gate=gate,
            patient_id=patient_id,
            payment_method_id=method_id,
            total=D("30.00"),
            installment_amount=D("10.00"),
            schedule="biweekly",
            start_date=date(2026, 3, 1),
        )
    with world.gate() as gate:
        run = run_due_installments(gate=gate, processor=processor, today=date(2026, 3, 16))
    assert run.charged == () and len(run.missed) == 2
    with world.gate() as gate:
        again = run_due_installments(gate=gate, processor=processor, today=date(2026, 3, 16))
        seen = get_payment_plan(gate=gate, plan_id=plan.id)
    assert again.missed == () and seen.missed_count == 2
    assert [(i.status, i.failure_code) for i in seen.installments] == [
        ("missed", "card_declined"),
        ("missed", "card_declined"),
        ("due", None),
    ]
    assert _owed(world, older) == D("30.00") and _count(world, PatientPayment) == 0
    with world.gate() as gate:
        assert cancel_payment_plan(gate=gate, plan_id=plan.id).installments[2].status == "cancelled"


# Failures and leaks ------------------------------------------------------------------------------------------
class BrokenProcessor(FakeProcessor):
    def charge(self, token: str, amount: Decimal, *, idempotency_key: str) -> Charge:
        raise RuntimeError(f"gateway timeout for card {VISA}")


def test_processor_failures_write_nothing(
    world: BillingWorld, processor: FakeProcessor, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient_id, (older,) = _patient_owing(world, claims=1)
    declined = _card(world, processor, patient_id, pan=FAKE_DECLINED_CARD)
    before = (_count(world, PatientPayment), _count(world, PaymentApplication), _count(world, LedgerEntry))
    with pytest.raises(PaymentDeclined):
        _pay(
            world,
            patient_id=patient_id,
            amount=D("30.00"),
            method="card",
            processor=processor,
            payment_method_id=declined,
        )
    good = _card(world, processor, patient_id)
    with pytest.raises(PaymentProcessorUnavailable) as unavailable:
        _pay(
            world,
            patient_id=patient_id,
            amount=D("30.00"),
            method="card",
            processor=BrokenProcessor(),
            payment_method_id=good,
        )
    assert VISA not in str(unavailable.value) and unavailable.value.__cause__ is None
    charges: list[Charge] = []
    real_charge, real_refund = processor.charge, processor.refund

    def spy_charge(token: str, amount: Decimal, *, idempotency_key: str) -> Charge:
        charges.append(real_charge(token, amount, idempotency_key=idempotency_key))
        return charges[-1]

    voided: list[Refund] = []

    def spy_refund(charge_id: str, amount: Decimal, *, idempotency_key: str | None = None) -> Refund:
        voided.append(real_refund(charge_id, amount, idempotency_key=idempotency_key))
        return voided[-1]

    monkeypatch.setattr(processor, "charge", spy_charge)
    monkeypatch.setattr(processor, "refund", spy_refund)

    def fail(*args: Any, **kw: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(pp_service, "_apply", fail)  # the write after the charge fails
    with pytest.raises(RuntimeError):
        _pay(
            world, patient_id=patient_id, amount=D("30.00"), method="card", processor=processor, payment_method_id=good
        )
    assert len(charges) == 1 and [v.amount for v in voided] == [D("30.00")]  # the charge was given back
    after = (_count(world, PatientPayment), _count(world, PaymentApplication), _count(world, LedgerEntry))
    assert after == before and _owed(world, older) == D("30.00")


def test_no_card_check_or_patient_data_in_outputs_or_logs(
    world: BillingWorld, processor: FakeProcessor, tmp_path: Path
) -> None:
    with captured_logs() as logs:
        patient_id, (older,) = _patient_owing(world, claims=1)
        method_id = _card(world, processor, patient_id)
        check = _pay(world, patient_id=patient_id, amount=D("10.00"), method="check", check_number=CHECK)
        card = _pay(
            world,
            patient_id=patient_id,
            amount=D("30.00"),
            method="card",
            processor=processor,
            payment_method_id=method_id,
        )
        outputs: list[object] = [check, card]
        with world.gate() as gate:
            outputs.append(
                request_refund(
                    gate=gate,
                    processor=processor,
                    payment_id=card.payment_id,
                    amount=D("5.00"),
                    method="check",
                    check_number="88123",
                    reason_code="x",
                )
            )
        for bad in (VISA, "4242 4242 4242 4242"):
            with pytest.raises(ValidationFailed) as refused:
                _pay(world, patient_id=patient_id, amount=D("1.00"), method="card", processor=processor, card_token=bad)
            outputs.append(str(refused.value))
        with world.gate() as gate, pytest.raises(PaymentDeclined) as declined:
            record_payment(
                gate=gate,
                patient_id=patient_id,
                amount=D("1.00"),
                method="card",
                processor=processor,
                card_token="tok_fake_unknown_token",
            )
        outputs.append((str(declined.value), declined.value.details))
    with world.gate() as gate:
        events = [(e.action, e.entity_type, str(e.detail), e.reason) for e in gate.session.scalars(select(AuditEvent))]
        raw = [
            str(v)
            for table in ("patient_payments", "patient_payment_applications", "patient_refunds")
            for row in gate.session.execute(text(f'SELECT * FROM "{table}"'))
            for v in row
        ]
    everything = repr(outputs) + logs.getvalue() + repr(events) + "".join(raw)
    for secret in (VISA, "424242424242", CHECK, "88123", FAMILY):
        assert secret not in everything, secret
    assert _owed(world, older) == ZERO


# PostgreSQL: payments racing remittance postings on the same claims --------------------------------------------
ACCOUNTS = 8


def _line(claim: Accepted, line: int, number: str) -> Any:
    """One line of a claim: line 0 allowed 100.00 with a 15.00 copay, line 1 allowed 40.00 with 10.00 coinsurance."""
    if line == 0:
        svc = adjudicate_line(procedure=E_M, charge=D("125.00"), allowed=D("100.00"), patient={"copay": D("15.00")})
    else:
        svc = adjudicate_line(procedure=ECG, charge=D("40.00"), allowed=D("40.00"), patient={"coinsurance": D("10.00")})
    return paid(claim, lines=[svc], payer_number=number)


def test_payments_racing_postings_keep_balances_exact(committed_world: BillingWorld) -> None:
    world = committed_world
    patients = []
    for n in range(ACCOUNTS):
        patient_id, encounter_id = world.patient(family=f"Race{chr(65 + n)}", seed=300 + n)
        patients.append((patient_id, encounter_id, f"XYZ{random.Random(300 + n).randrange(10**8):08d}"))
    claims = _accept(world, [e for _, e, _ in patients], [m for _, _, m in patients], seed=300)
    first = remittance_file([_line(c, 0, f"R{i}A") for i, c in enumerate(claims)], trace="EFT-RACE0")
    with world.gate("remit import") as gate:  # every patient owes their 15.00 copay before the race
        assert import_835(gate=gate, blobs=world.runtime.blobs, data=first).posted == ACCOUNTS
    files = [
        remittance_file([_line(c, 1, f"R{i}B")], trace=f"EFT-RACE{i + 1}", interchange=f"{800 + i:09d}")
        for i, c in enumerate(claims)
    ]
    start = threading.Barrier(2 * ACCOUNTS)
    failures: list[str] = []

    def poster(data: bytes) -> None:
        start.wait()
        try:
            with world.gate("remit import") as gate:
                assert import_835(gate=gate, blobs=world.runtime.blobs, data=data).posted == 1
        except Exception as exc:
            failures.append(type(exc).__name__)

    def patient_paying(n: int) -> None:
        start.wait()
        try:
            for k in range(5):  # 5 x 5.00: the copay now, the coinsurance whenever it has posted, else credit
                with world.gate() as gate:
                    chosen = [claims[n].id] if k % 2 else None
                    record_payment(
                        gate=gate, patient_id=patients[n][0], amount=D("5.00"), method="cash", claim_ids=chosen
                    )
        except Exception as exc:
            failures.append(type(exc).__name__)

    threads = [threading.Thread(target=poster, args=(f,)) for f in files]
    threads += [threading.Thread(target=patient_paying, args=(n,)) for n in range(ACCOUNTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    for n, claim in enumerate(claims):
        balance = _balance(world, claim.id)
        credit = _credit(world, patients[n][0])
        # Every cent is somewhere: paid to the claim or kept as credit; the claim owes 25.00 minus what it got.
        assert balance.patient_paid + credit == D("25.00")
        assert balance.patient == D("25.00") - balance.patient_paid >= ZERO
        assert (balance.insurance_paid, balance.adjusted, balance.insurance) == (D("115.00"), D("25.00"), ZERO)
        with world.gate() as gate:
            applied = gate.session.scalar(
                select(func.sum(PaymentApplication.amount)).where(PaymentApplication.claim_id == claim.id)
            )
        assert applied == balance.patient_paid
        with world.gate() as gate:  # the leftover credit settles the rest exactly
            apply_account_credit(gate=gate, patient_id=patients[n][0])
        assert _owed(world, claim.id) == ZERO and _credit(world, patients[n][0]) == ZERO
    _ledger_matches_balances(world)
