"""A/R reports on both databases against a hand-computed fixture: six claims billed and posted on known dates
(timestamps set in the fixture), two payers. Aging buckets (boundaries 30/60/90/120 included), reconciliation with
``receivables()``, a past as-of date rebuilt from history, denials by reason and payer, collections by month and
payer, days in A/R, CSV shape and formula safety, PDF structure, PHI only in the audited by-patient report, and the
CLI (files 0600)."""

from __future__ import annotations

import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from claimvault.billing.claims.models import Claim, ClaimTransition
from claimvault.billing.payers.schemas import PayerCreate
from claimvault.billing.payers.service import add_payer
from claimvault.billing.remittance.importer import import_835
from claimvault.billing.remittance.ledger import receivables, record_patient_payment
from claimvault.billing.remittance.models import ClaimPaymentPosting, DenialWorkItem, LedgerEntry
from claimvault.billing.reports.activity import collections, denials
from claimvault.billing.reports.aging import ar_aging, bucket_of, days_in_ar
from claimvault.billing.reports.pdf import render_pdf
from claimvault.billing.reports.sheets import (
    aging_sheet,
    collections_sheet,
    days_in_ar_sheet,
    denials_sheet,
    safe_cell,
    to_csv,
)
from claimvault.cli.reports import app as reports_app
from claimvault.errors import PermissionDenied
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from tests.billing_world import BillingWorld, build_billing_world
from tests.remit_world import E_M, ECG, Accepted, accept_claims, paid, remittance_file
from tests.remit_world import patient as remit_patient

D = Decimal
ZERO = D("0.00")
AS_OF = date(2026, 9, 30)
PAST = date(2026, 9, 15)
NAMES = ("RemitA0", "RemitB1", "RemitC2", "RemitD3", "RemitE4", "RemitF5")  # accept_claims' family names


def at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=UTC)


@dataclass
class ARWorld:
    world: BillingWorld
    claims: dict[str, Accepted]
    second_payer: uuid.UUID


def _set_dates(world: BillingWorld, claim: Accepted, *, billed: date, posted: date | None) -> None:
    with world.gate() as gate:
        s = gate.session
        s.execute(update(Claim).where(Claim.id == claim.id).values(created_at=at(date(2026, 4, 1))))
        s.execute(
            update(ClaimTransition)
            .where(ClaimTransition.claim_id == claim.id, ClaimTransition.source != "835")
            .values(at=at(billed))
        )
        if posted is not None:
            moment = at(posted)
            s.execute(
                update(ClaimTransition)
                .where(ClaimTransition.claim_id == claim.id, ClaimTransition.source == "835")
                .values(at=moment)
            )
            s.execute(update(LedgerEntry).where(LedgerEntry.claim_id == claim.id).values(at=moment))
            s.execute(update(DenialWorkItem).where(DenialWorkItem.claim_id == claim.id).values(created_at=moment))
            s.execute(
                update(ClaimPaymentPosting).where(ClaimPaymentPosting.claim_id == claim.id).values(posted_at=moment)
            )


def build_ar_world(runtime: Runtime) -> ARWorld:
    """A paid in full; B paid with PR shares, then the patient pays 10.00; C denied (CO-96 125.00, CO-16 40.00);
    D untouched; E untouched, second payer; F line 1 paid, line 2 denied (CO-96 40.00), second payer."""
    from claimvault.billing.x12.remit_835_writer import adjudicate_line, claim_payment, deny_line

    world = build_billing_world(runtime)
    a, b, c, d, e, f = accept_claims(world, 6)
    shares = ({"deductible": D("20.00"), "coinsurance": D("8.50")}, {"copay": D("10.00")})
    denied_c = claim_payment(
        patient_control_number=c.control_number,
        payer_claim_control_number=c.payer_claim_number,
        lines=[
            deny_line(procedure=E_M, charge=D("125.00"), reason="96"),
            deny_line(procedure=ECG, charge=D("40.00"), reason="16"),
        ],
        patient=remit_patient(c.member_id),
    )
    partial_f = paid(
        f,
        lines=[
            adjudicate_line(procedure=E_M, charge=D("125.00"), allowed=D("125.00")),
            deny_line(procedure=ECG, charge=D("40.00"), reason="96"),
        ],
    )
    data = remittance_file([paid(a), paid(b, allowed=(D("100.00"), D("30.00")), shares=shares), denied_c, partial_f])
    with world.gate("remit import") as gate:
        report = import_835(gate=gate, blobs=runtime.blobs, data=data)
    assert report.posted == 4 and report.denials_queued == 2
    with world.gate() as gate:
        second = add_payer(gate=gate, data=PayerCreate(payer_id="SEC02", name="Second Mutual")).id
        gate.session.execute(update(Claim).where(Claim.id.in_([e.id, f.id])).values(payer_id=second))
    for claim, billed, posted in (
        (a, date(2026, 9, 29), date(2026, 9, 30)),
        (b, date(2026, 9, 1), date(2026, 9, 10)),
        (c, date(2026, 8, 1), date(2026, 9, 20)),  # 60 days old on AS_OF
        (d, date(2026, 7, 31), None),  # 61
        (e, date(2026, 6, 2), None),  # 120
        (f, date(2026, 5, 1), date(2026, 7, 15)),  # 152
    ):
        _set_dates(world, claim, billed=billed, posted=posted)
    with world.gate() as gate:
        record_patient_payment(gate=gate, claim_id=b.id, amount=D("10.00"), method="cash")
        gate.session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.claim_id == b.id, LedgerEntry.kind == "patient_paid")
            .values(at=at(date(2026, 9, 20)))
        )
    return ARWorld(world, dict(zip("abcdef", (a, b, c, d, e, f), strict=True)), second)


@pytest.fixture
def ar(runtime: Runtime) -> ARWorld:
    return build_ar_world(runtime)


def _aging_rows(report: object) -> dict[tuple[str, str], tuple[tuple[Decimal, ...], int]]:
    return {(r.code, r.responsibility): (r.buckets, r.claims) for r in report.rows}  # type: ignore[attr-defined]


def test_bucket_boundaries() -> None:
    assert [bucket_of(n) for n in (0, 30, 31, 60, 61, 90, 91, 120, 121, 900)] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_aging_by_payer_exact_reconciles_and_rebuilds_the_past(ar: ARWorld) -> None:
    with ar.world.gate() as gate:
        report = ar_aging(gate=gate, as_of=AS_OF, by="payer")
        owed = receivables(gate=gate)
        past = ar_aging(gate=gate, as_of=PAST, by="payer")
        days = days_in_ar(gate=gate, as_of=AS_OF, period_days=90)
    assert _aging_rows(report) == {
        ("EXH01", "insurance"): ((ZERO, D("165.00"), D("165.00"), ZERO, ZERO), 2),  # C 60 days, D 61 days
        ("SEC02", "insurance"): ((ZERO, ZERO, ZERO, D("165.00"), D("40.00")), 2),  # E 120 days, F 152 days
        ("EXH01", "patient"): ((D("28.50"), ZERO, ZERO, ZERO, ZERO), 1),  # B: 38.50 - 10.00, 29 days
    }
    assert [r.label for r in report.rows] == ["EXAMPLE HEALTH", "SECOND MUTUAL", "EXAMPLE HEALTH"]
    assert (report.insurance_total, report.patient_total) == (D("535.00"), D("28.50"))
    assert (owed.insurance, owed.patient) == (report.insurance_total, report.patient_total)
    # On 15 September: A not yet billed, B's patient payment and C's denial not yet posted; ages 15 days younger.
    assert _aging_rows(past) == {
        ("EXH01", "insurance"): ((ZERO, D("330.00"), ZERO, ZERO, ZERO), 2),  # C 45, D 46 days
        ("SEC02", "insurance"): ((ZERO, ZERO, ZERO, D("165.00"), D("40.00")), 2),  # E 105, F 137 days
        ("EXH01", "patient"): ((D("38.50"), ZERO, ZERO, ZERO, ZERO), 1),
    }
    # Billed 3 Jul - 30 Sep: A, B, C, D = 660.00; A/R 563.50; 563.50 x 90 / 660 = 76.84 -> 76.8 days.
    assert (days.charges, days.average_daily_charges, days.receivables, days.days) == (
        D("660.00"),
        D("7.33"),
        D("563.50"),
        D("76.8"),
    )
    with ar.world.gate() as gate:
        assert days_in_ar(gate=gate, as_of=date(2026, 4, 30), period_days=30).days is None


def test_denials_and_collections(ar: ARWorld) -> None:
    with ar.world.gate() as gate:
        denied = denials(gate=gate, start=date(2026, 7, 1), as_of=AS_OF)
        only_july = denials(gate=gate, start=date(2026, 7, 1), as_of=date(2026, 7, 31))
        money = collections(gate=gate, start=date(2026, 7, 1), as_of=AS_OF)
    assert [(r.code, r.count, r.amount) for r in denied.by_reason] == [
        ("CO-96", 2, D("165.00")),
        ("CO-16", 1, D("40.00")),
    ]
    assert [(p.code, p.name, p.count, p.amount) for p in denied.by_payer] == [
        ("EXH01", "EXAMPLE HEALTH", 1, D("165.00")),
        ("SEC02", "SECOND MUTUAL", 1, D("40.00")),
    ]
    assert (denied.count, denied.amount) == (2, D("205.00"))
    assert [(r.code, r.amount) for r in only_july.by_reason] == [("CO-96", D("40.00"))]  # F only
    assert [(m.month, m.insurance, m.patient) for m in money.months] == [
        ("2026-07", D("125.00"), ZERO),
        ("2026-08", ZERO, ZERO),
        ("2026-09", D("256.50"), D("10.00")),  # A 165.00 + B 91.50; B's patient 10.00
    ]
    assert [(p.code, p.insurance) for p in money.by_payer] == [("EXH01", D("256.50")), ("SEC02", D("125.00"))]
    assert (money.insurance, money.patient) == (D("381.50"), D("10.00"))


def _csv_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert text.endswith("\r\n")
    return text.split("\r\n")[:-1]


def test_csv_and_pdf_payer_reports_hold_no_phi(ar: ARWorld) -> None:
    with ar.world.gate() as gate:
        sheets = [
            aging_sheet(ar_aging(gate=gate, as_of=AS_OF, by="payer")),
            denials_sheet(denials(gate=gate, start=date(2026, 7, 1), as_of=AS_OF)),
            collections_sheet(collections(gate=gate, start=date(2026, 7, 1), as_of=AS_OF)),
            days_in_ar_sheet(days_in_ar(gate=gate, as_of=AS_OF)),
        ]
    aging_csv = _csv_lines(to_csv(sheets[0]))
    assert aging_csv[0] == "Payer code,Payer,Responsibility,0-30,31-60,61-90,91-120,120+,Total,Claims"
    assert aging_csv[1] == "EXH01,EXAMPLE HEALTH,insurance,0.00,165.00,165.00,0.00,0.00,330.00,2"
    assert aging_csv[-1] == "TOTAL,,all,28.50,165.00,165.00,165.00,40.00,563.50,"
    assert len(aging_csv) == 1 + 3 + 3
    denials_csv = _csv_lines(to_csv(sheets[1]))
    assert denials_csv[1:3] == ["reason,CO-96,,2,165.00", "reason,CO-16,,1,40.00"]
    for sheet in sheets:
        assert not sheet.contains_phi
        pdf = render_pdf(sheet, organization="Clinic")
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF") and b"/Type /Page" in pdf
        assert sheet.title.encode() in pdf
        for blob in (to_csv(sheet), pdf):
            for name in (*NAMES, "Ada"):
                assert name.encode() not in blob
    aging_pdf = render_pdf(sheets[0], organization="Clinic")
    assert b"EXAMPLE" in aging_pdf and b"SEC02" in aging_pdf and b"563.50" in aging_pdf and b"120+" in aging_pdf
    denials_pdf = render_pdf(sheets[1], organization="Clinic")
    assert b"CO-96" in denials_pdf and b"Denied amount by reason" in denials_pdf  # the chart's title


def test_by_patient_names_patients_and_is_audited(ar: ARWorld) -> None:
    with ar.world.gate("reports ar-aging --by patient") as gate:
        report = ar_aging(gate=gate, as_of=AS_OF, by="patient")
    labels = {(r.label, r.responsibility): r.total for r in report.rows}
    assert labels == {
        ("RemitC2, Ada", "insurance"): D("165.00"),
        ("RemitD3, Ada", "insurance"): D("165.00"),
        ("RemitE4, Ada", "insurance"): D("165.00"),
        ("RemitF5, Ada", "insurance"): D("40.00"),
        ("RemitB1, Ada", "patient"): D("28.50"),
    }
    sheet = aging_sheet(report)
    assert sheet.contains_phi and b"RemitB1, Ada" in to_csv(sheet)
    assert b"RemitB1, Ada" in render_pdf(sheet, organization="Clinic")
    with ar.world.runtime.db.session(tenant_id=ar.world.org_id) as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "export", AuditEvent.entity_type == "patients")
        ).all()
    assert len(events) == 1 and events[0].patient_count == 5


def test_csv_cells_are_formula_safe() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+A1", "-2", "@SUM", "\tx", "Acme", D("-5.00"), 3, None)] == [
        "'=1+1",
        "'+A1",
        "'-2",
        "'@SUM",
        "'\tx",
        "Acme",
        "-5.00",
        "3",
        "",
    ]


def test_reports_need_report_read(ar: ARWorld) -> None:
    ctx = system_context("test", organization_id=ar.world.org_id, permissions={Permission.REMITTANCE_READ})
    with pytest.raises(PermissionDenied), open_gate(db=ar.world.runtime.db, keys=ar.world.runtime.keys, ctx=ctx) as g:
        ar_aging(gate=g, as_of=AS_OF)


def test_cli_reports(tmp_path: Path) -> None:
    from tests.test_cli import _env, _ok, _settings

    var = tmp_path / "var"
    _ok(var, "init")
    rt = build_runtime(_settings(var))
    try:
        build_ar_world(rt)
    finally:
        rt.close()
    runner = CliRunner(env=_env(var))

    def run(*args: str) -> str:
        result = runner.invoke(reports_app, list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    out = run("ar-aging", "--org", "clinic", "--as-of", "2026-09-30")
    assert out.startswith("Payer code,Payer,Responsibility") and "TOTAL,,all,28.50," in out
    assert all(name not in out for name in NAMES)
    pdf_path = tmp_path / "aging.pdf"
    run("ar-aging", "--org", "clinic", "--format", "pdf", "--as-of", "2026-09-30", "--out", str(pdf_path))
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(pdf_path.stat().st_mode) == 0o600
    patients = tmp_path / "patients.csv"
    run("ar-aging", "--org", "clinic", "--by", "patient", "--as-of", "2026-09-30", "--out", str(patients))
    assert "RemitB1, Ada" in patients.read_text() and stat.S_IMODE(patients.stat().st_mode) == 0o600
    assert "reason,CO-96,,2,165.00" in run(
        "denials", "--org", "clinic", "--from", "2026-07-01", "--as-of", "2026-09-30"
    )
    assert "month,2026-09,,256.50,10.00,266.50" in run("collections", "--org", "clinic", "--as-of", "2026-09-30")
    assert "Days in A/R,76.8" in run("days-in-ar", "--org", "clinic", "--as-of", "2026-09-30")
    refused = runner.invoke(reports_app, ["ar-aging", "--org", "clinic", "--format", "pdf"])
    assert refused.exit_code == 1 and "--out" in refused.output
