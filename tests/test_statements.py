"""Patient statements on both databases: a statement with exact amounts and aging for a positive patient balance,
none for a zero or credit balance, the history per patient, a second run the same day changing nothing, a valid
PDF whose stored copy is ciphertext, audited reads, and the CLI (counts only, private files)."""

from __future__ import annotations

import stat
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from claimvault.accounts.services import add_membership, create_user
from claimvault.billing.claims.models import Claim
from claimvault.billing.remittance.importer import import_835
from claimvault.billing.remittance.ledger import record_patient_payment
from claimvault.billing.statements.models import Statement, StatementRun
from claimvault.billing.statements.pdf import PracticeInfo
from claimvault.billing.statements.service import (
    StatementRunResult,
    account_number,
    aging_bucket,
    practice_info_from_billing_provider,
    run_statements,
    set_delivery_status,
    statement_history,
    statement_pdf,
)
from claimvault.cli.statements import app as statements_app
from claimvault.errors import PermissionDenied, ValidationFailed
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.audit.models import PendingAuditEvent
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.storage.blobs.models import Blob
from tests.billing_world import BillingWorld, build_billing_world
from tests.conftest import PASSWORD
from tests.remit_world import Accepted, accept_claims, paid, remittance_file

D = Decimal
ZERO = D("0.00")
AS_OF = date(2026, 7, 25)  # 40 days after the world's date of service (2026-06-15): the 31-60 bucket
PRACTICE = PracticeInfo(
    name="Springfield Family Medicine",
    address_lines=("100 Main Street", "Springfield, IL 62701-1234"),
    phone="(217) 555-0100",
    portal_url="https://pay.example.test",
)


@dataclass(frozen=True)
class Scenario:
    owes: uuid.UUID  # PR 38.50 (deductible 20.00, coinsurance 8.50, copay 10.00)
    paid_in_full: uuid.UUID  # the payer paid everything
    credit: uuid.UUID  # copay 10.00, patient paid 15.00: a 5.00 credit
    settled: uuid.UUID  # copay 10.00, patient paid 10.00
    owes_family: str


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _patient_of(world: BillingWorld, claim: Accepted) -> uuid.UUID:
    with world.gate() as gate:
        found = gate.session.scalar(select(Claim.patient_id).where(Claim.id == claim.id))
    assert found is not None
    return found


def _scenario(world: BillingWorld) -> Scenario:
    owes, full, credit, settled = accept_claims(world, 4)
    copay: tuple[dict[str, Decimal], dict[str, Decimal]] = ({}, {"copay": D("10.00")})
    shares = ({"deductible": D("20.00"), "coinsurance": D("8.50")}, {"copay": D("10.00")})
    data = remittance_file(
        [
            paid(owes, allowed=(D("100.00"), D("30.00")), shares=shares),
            paid(full),
            paid(credit, shares=copay),
            paid(settled, shares=copay),
        ]
    )
    with world.gate("remit import") as gate:
        assert import_835(gate=gate, blobs=world.runtime.blobs, data=data).posted == 4
    with world.gate() as gate:
        record_patient_payment(gate=gate, claim_id=credit.id, amount=D("15.00"), method="cash")
        record_patient_payment(gate=gate, claim_id=settled.id, amount=D("10.00"), method="check")
    return Scenario(
        owes=_patient_of(world, owes),
        paid_in_full=_patient_of(world, full),
        credit=_patient_of(world, credit),
        settled=_patient_of(world, settled),
        owes_family="RemitA0",  # accept_claims names its patients Remit<letter><n>
    )


def _run(world: BillingWorld, as_of: date = AS_OF, ticks: list[tuple[int, int]] | None = None) -> StatementRunResult:
    def progress(done: int, total: int) -> None:
        if ticks is not None:
            ticks.append((done, total))

    with world.gate("statements run") as gate:
        return run_statements(
            gate=gate, blobs=world.runtime.blobs, as_of=as_of, practice_info=PRACTICE, progress=progress
        )


def _count(world: BillingWorld, model: Any) -> int:
    with world.gate() as gate:
        return int(gate.session.scalar(select(func.count()).select_from(model)) or 0)


def _pdf_text(pdf: bytes) -> str:
    """The text of the PDF: with pypdf when installed, else the uncompressed page streams as they are."""
    try:
        from pypdf import PdfReader
    except ImportError:
        return pdf.decode("latin-1")
    import io

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_aging_buckets_and_account_number() -> None:
    dos = date(2026, 1, 1)
    assert aging_bucket(dos, dos) == 0 and aging_bucket(dos, date(2025, 12, 1)) == 0  # a future date: current
    assert aging_bucket(dos, date(2026, 1, 31)) == 0  # 30 days: still current
    assert aging_bucket(dos, date(2026, 2, 1)) == 1  # 31 days
    assert aging_bucket(dos, date(2026, 3, 2)) == 1  # 60 days
    assert aging_bucket(dos, date(2026, 3, 3)) == 2  # 61 days
    assert aging_bucket(dos, date(2026, 4, 1)) == 2  # 90 days
    assert aging_bucket(dos, date(2026, 4, 2)) == 3  # 91 days
    assert aging_bucket(None, dos) == 0
    pid = uuid.UUID("0190f0a4-1234-7abc-8def-0123456789ab")
    assert account_number(pid) == "23456-789AB"


def test_statement_for_a_positive_balance_with_exact_amounts(world: BillingWorld) -> None:
    s = _scenario(world)
    ticks: list[tuple[int, int]] = []
    result = _run(world, ticks=ticks)
    assert ticks == [(1, 1)]
    assert (result.patients_with_balance, result.statements_created, result.already_issued) == (1, 1, 0)
    assert (result.zero_or_credit, result.unreadable, result.total_due) == (1, 0, D("38.50"))
    assert result.run_id is not None and len(result.statement_ids) == 1
    with world.gate() as gate:
        (statement,) = statement_history(gate=gate, patient_id=s.owes)
        for other in (s.paid_in_full, s.credit, s.settled):
            assert statement_history(gate=gate, patient_id=other) == []
        pdf = statement_pdf(gate=gate, blobs=world.runtime.blobs, statement_id=statement.id)
        run = gate.session.get(StatementRun, result.run_id)
        assert run is not None and (run.statements_created, run.zero_or_credit, run.total_due) == (1, 1, D("38.50"))
    assert statement.id == result.statement_ids[0] and statement.run_id == result.run_id
    assert (statement.statement_date, statement.amount_due, statement.encounter_count) == (AS_OF, D("38.50"), 1)
    assert statement.aging == (ZERO, D("38.50"), ZERO, ZERO)
    assert statement.delivery_status == "pending" and statement.account_number == account_number(s.owes)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = _pdf_text(pdf)
    for expected in (
        f"Ada {s.owes_family}",
        "12 Elm Street",
        "Springfield Family Medicine",
        "2026-06-15",  # date of service
        "99213-25",
        "93000",
        "$165.00",  # charges
        "$91.50",  # insurance paid
        "$35.00",  # adjusted (CO-45)
        "$38.50",  # patient responsibility and amount due
        account_number(s.owes),
        "2026-07-25",
        "https://pay.example.test",
        "payable to Springfield Family Medicine",
        "detach",
    ):
        assert expected in text, expected
    for absent in ("outpatient", "electrocardiogram", str(s.owes)):  # no CPT descriptors, no raw patient id
        assert absent not in text


def test_second_run_same_day_changes_nothing_and_history_is_kept(world: BillingWorld) -> None:
    s = _scenario(world)
    first = _run(world)
    counts = [_count(world, m) for m in (Statement, StatementRun, Blob)]
    again = _run(world)
    assert (again.run_id, again.statements_created, again.already_issued, again.statement_ids) == (None, 0, 1, ())
    assert [_count(world, m) for m in (Statement, StatementRun, Blob)] == counts
    with world.gate() as gate:
        record_patient_payment(gate=gate, claim_id=_claim_of(world, s.owes), amount=D("8.50"), method="card")
    later = _run(world, date(2026, 8, 25))  # 71 days after the date of service
    assert later.statements_created == 1 and later.total_due == D("30.00")
    with world.gate() as gate:
        newest, oldest = statement_history(gate=gate, patient_id=s.owes)
        marked = set_delivery_status(gate=gate, statement_id=oldest.id, status="mailed")
        with pytest.raises(ValidationFailed):
            set_delivery_status(gate=gate, statement_id=oldest.id, status="lost")
    assert (newest.statement_date, newest.amount_due) == (date(2026, 8, 25), D("30.00"))
    assert newest.aging == (ZERO, ZERO, D("30.00"), ZERO)
    assert (oldest.id, oldest.amount_due) == (first.statement_ids[0], D("38.50"))
    assert marked.delivery_status == "mailed"


def _claim_of(world: BillingWorld, patient_id: uuid.UUID) -> uuid.UUID:
    with world.gate() as gate:
        found = gate.session.scalar(select(Claim.id).where(Claim.patient_id == patient_id))
    assert found is not None
    return found


def test_stored_statement_is_ciphertext_and_reads_are_audited(world: BillingWorld) -> None:
    s = _scenario(world)
    (statement_id,) = _run(world).statement_ids
    with world.gate() as gate:
        row = gate.session.get(Statement, statement_id)
        assert row is not None
        blob = gate.session.get(Blob, row.blob_id)
        assert blob is not None and (blob.kind, blob.patient_id, blob.content_type) == (
            "statement",
            s.owes,
            "application/pdf",
        )
        raw = world.runtime.blobs.backend.get(blob.storage_key)
    assert not raw.startswith(b"%PDF") and s.owes_family.encode() not in raw and b"38.50" not in raw
    blob_dir = world.runtime.settings.resolved_blob_dir
    stored = [p.read_bytes() for p in blob_dir.rglob("*") if p.is_file()]
    assert stored and not any(s.owes_family.encode() in data or b"99213" in data for data in stored)
    with world.gate("statement read") as gate:
        assert statement_pdf(gate=gate, blobs=world.runtime.blobs, statement_id=statement_id).startswith(b"%PDF")
    with world.gate() as gate:
        ids = [statement_id, blob.id]
        events = {
            (str(t), str(a))
            for model in (AuditEvent, PendingAuditEvent)
            for t, a in gate.session.execute(select(model.entity_type, model.action).where(model.entity_id.in_(ids)))
        }
    assert ("statements", "read") in events and ("blobs", "read") in events and ("blobs", "create") in events


def test_cli_run_prints_counts_only_and_writes_private_files(tmp_path: Path) -> None:
    from tests.test_cli import _env, _everything, _ok, _settings

    var = tmp_path / "var"
    _ok(var, "init")
    rt = build_runtime(_settings(var))
    try:
        world = build_billing_world(rt)
        s = _scenario(world)
        with world.gate() as gate:
            assert practice_info_from_billing_provider(gate=gate).address_lines[-1] == "SPRINGFIELD, IL 62701-1234"
    finally:
        rt.close()
    out = tmp_path / "statements"
    runner = CliRunner(env=_env(var))
    args = ["run", "--org", "clinic", "--as-of", "2026-07-25", "--out", str(out)]
    first = runner.invoke(statements_app, args)
    assert first.exit_code == 0, _everything(first)
    said = " ".join(first.output.split())  # Rich wraps lines at the terminal's width
    assert "1 created; 0 already issued that day; 1 with a zero or credit balance" in said
    assert "Total due on new statements: 38.50" in said and "1 PDF file(s) written" in said
    (written,) = list(out.iterdir())
    assert stat.S_IMODE(out.stat().st_mode) == 0o700 and stat.S_IMODE(written.stat().st_mode) == 0o600
    assert written.read_bytes().startswith(b"%PDF") and s.owes_family in _pdf_text(written.read_bytes())
    again = runner.invoke(statements_app, args)
    assert again.exit_code == 0 and "0 created; 1 already issued that day" in " ".join(again.output.split())
    assert len(list(out.iterdir())) == 1
    for output in (_everything(first), _everything(again)):
        assert s.owes_family not in output and "Elm Street" not in output and "2026-06-15" not in output
        assert str(s.owes) not in output and account_number(s.owes) not in output


def _user_gate(world: BillingWorld, role: str) -> Any:
    runtime = world.runtime
    user = create_user(
        db=runtime.db, passwords=runtime.passwords, username=f"u{uuid.uuid4().hex[:10]}", password=PASSWORD
    )
    add_membership(db=runtime.db, user_id=user.id, organization_id=world.org_id, role=role)
    ctx = UserContext(user_id=user.id, organization_id=world.org_id, roles=frozenset({role}))
    return open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx)


def test_billers_run_statements_and_other_roles_are_refused(world: BillingWorld) -> None:
    s = _scenario(world)
    for role in ("coder", "front_desk", "provider"):
        with pytest.raises(PermissionDenied), _user_gate(world, role) as gate:
            run_statements(gate=gate, blobs=world.runtime.blobs, as_of=AS_OF, practice_info=PRACTICE)
    assert _count(world, Statement) == 0
    with _user_gate(world, "biller") as gate:
        result = run_statements(gate=gate, blobs=world.runtime.blobs, as_of=AS_OF, practice_info=PRACTICE)
    assert (result.statements_created, result.total_due) == (1, D("38.50"))
    with _user_gate(world, "billing_manager") as gate:
        (statement,) = statement_history(gate=gate, patient_id=s.owes)
        assert s.owes_family in _pdf_text(
            statement_pdf(gate=gate, blobs=world.runtime.blobs, statement_id=statement.id)
        )
    with pytest.raises(PermissionDenied), _user_gate(world, "coder") as gate:
        statement_pdf(gate=gate, blobs=world.runtime.blobs, statement_id=statement.id)
