"""Eligibility checks end to end on both backends: active coverage with copay, deductible and coinsurance stored
and summarised; inactive; an AAA rejection; a dependent's 2000D inquiry; the drop-directory adapter round trip;
transport failure leaving one error row and nothing else; set-up errors before anything is sent; ciphertext at
rest; and a CLI that prints plan figures and codes but no names, member ids or birth dates."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import claimvault.cli.eligibility as eligibility_cli
from claimvault.billing.clearinghouse.drop_dir import DropDirectory
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage
from claimvault.billing.eligibility.models import EligibilityCheck
from claimvault.billing.eligibility.service import (
    EligibilityUnavailable,
    check_eligibility,
    check_patients_in_force,
    eligibility_history,
    latest_eligibility,
)
from claimvault.billing.eligibility.transport import ClearinghouseEligibility, FakeClearinghouse, answers_trace
from claimvault.billing.patients.schemas import PatientCreate
from claimvault.billing.patients.service import create_patient
from claimvault.billing.payers.schemas import PayerCreate
from claimvault.billing.payers.service import add_payer
from claimvault.errors import PermissionDenied
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.storage.blobs.models import Blob
from tests.billing_world import BillingWorld, build_billing_world

DAY = date(2026, 6, 15)
CREATED = datetime(2026, 6, 15, 9, 30)
FAMILY, GIVEN, BORN = "Quimby", "Rosalind", date(1984, 3, 9)
SUB_FAMILY, SUB_GIVEN, SUB_BORN = "Vantongeren", "Marcus", date(1979, 11, 23)


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def enrol(
    world: BillingWorld, *, member_id: str, dependent: bool = False, payer_id: uuid.UUID | None = None
) -> tuple[uuid.UUID, uuid.UUID]:
    """A patient with primary coverage; ``dependent``: the subscriber is the patient's parent."""
    subscriber: dict[str, Any] = (
        {
            "subscriber_relationship": "child",
            "subscriber_given_name": SUB_GIVEN,
            "subscriber_family_name": SUB_FAMILY,
            "subscriber_birth_date": SUB_BORN,
        }
        if dependent
        else {}
    )
    with world.gate() as gate:
        patient = create_patient(
            gate=gate,
            data=PatientCreate(given_name=GIVEN, family_name=FAMILY, birth_date=BORN, sex="F"),
            confirm_new=True,
        )
        coverage = add_coverage(
            gate=gate,
            patient_id=patient.id,
            data=CoverageCreate(
                rank="primary",
                payer_name="Example Health",
                payer_id=payer_id or world.payer_id,
                member_id=member_id,
                effective_from=date(2026, 1, 1),
                **subscriber,
            ),
        )
    return patient.id, coverage.id


def check(world: BillingWorld, patient_id: uuid.UUID, transport: Any, **kw: Any) -> Any:
    with world.gate() as gate:
        return check_eligibility(
            gate=gate, transport=transport, blobs=world.runtime.blobs, patient_id=patient_id, service_date=DAY,
            now=CREATED, **kw,
        )  # fmt: skip


def segments(data: bytes) -> list[list[str]]:
    return [s.split("*") for s in data.decode().split("~") if s]


def stored(world: BillingWorld) -> list[EligibilityCheck]:
    with world.runtime.db.session(tenant_id=world.org_id) as s:
        rows = list(s.scalars(select(EligibilityCheck)))
        s.expunge_all()
        return rows


def inbound_blobs(world: BillingWorld) -> int:
    with world.runtime.db.session(tenant_id=world.org_id) as s:
        return s.scalar(select(func.count()).select_from(Blob).where(Blob.kind == "x12_inbound")) or 0


def test_active_coverage_is_stored_and_summarised(world: BillingWorld) -> None:
    patient_id, coverage_id = enrol(world, member_id="XYZ12345678")
    fake = FakeClearinghouse(created=CREATED)
    result = check(world, patient_id, fake)
    assert (result.status, result.coverage_id, result.service_date) == ("active", coverage_id, DAY)
    assert result.copay == Decimal("25.00") and result.deductible == Decimal("1500.00")
    assert result.deductible_remaining == Decimal("1200.00") and result.out_of_pocket == Decimal("5000.00")
    assert result.coinsurance_percent == Decimal("20.00") and result.plan_name == "SYNTHETIC PPO"
    assert result.reject_reasons == [] and result.error_code is None
    # The patient is the subscriber: one 2000C inquiry, no 2000D, the billing provider's NPI in 2100B.
    (sent,) = fake.received
    segs = segments(sent)
    assert [s[3] for s in segs if s[0] == "HL"] == ["20", "21", "22"]
    assert ["NM1", "IL", "1", FAMILY.upper(), GIVEN.upper(), "", "", "", "MI", "XYZ12345678"] in segs
    with world.gate() as gate:
        latest = latest_eligibility(gate=gate, coverage_id=coverage_id)
        history = eligibility_history(gate=gate, patient_id=patient_id)
        assert result.response_blob_id is not None
        kept = world.runtime.blobs.read(
            gate=gate, blob_id=result.response_blob_id, permission=Permission.ELIGIBILITY_CHECK
        )
    assert latest is not None and latest.id == result.id and latest.copay == Decimal("25.00")
    assert [h.id for h in history] == [result.id]
    assert answers_trace(kept, result.trace_number)


@pytest.mark.parametrize(
    ("member_id", "status", "reasons"),
    [("INA4455667", "inactive", []), ("REJ0001", "rejected", ["72"]), ("NF778899", "rejected", ["75"])],
)
def test_inactive_and_rejected_answers(world: BillingWorld, member_id: str, status: str, reasons: list[str]) -> None:
    patient_id, _ = enrol(world, member_id=member_id)
    result = check(world, patient_id, FakeClearinghouse())
    assert (result.status, result.reject_reasons) == (status, reasons)
    assert result.copay is None and result.deductible is None and result.coinsurance_percent is None
    assert result.response_blob_id is not None  # the payer's answer is kept (encrypted)
    (row,) = stored(world)
    assert row.status == status and row.reject_reasons == (",".join(reasons) or None)


def test_dependent_is_asked_on_2000d(world: BillingWorld) -> None:
    patient_id, _ = enrol(world, member_id="FAM5550001", dependent=True)
    fake = FakeClearinghouse()
    result = check(world, patient_id, fake)
    assert result.status == "active" and result.copay == Decimal("25.00")
    segs = segments(fake.received[0])
    assert [(s[3], s[4]) for s in segs if s[0] == "HL"] == [("20", "1"), ("21", "1"), ("22", "1"), ("23", "0")]
    subscriber = next(s for s in segs if s[:2] == ["NM1", "IL"])
    dependent = next(s for s in segs if s[:2] == ["NM1", "03"])
    assert subscriber[3:5] == [SUB_FAMILY.upper(), SUB_GIVEN.upper()] and subscriber[-1] == "FAM5550001"
    assert dependent[3:5] == [FAMILY.upper(), GIVEN.upper()] and "FAM5550001" not in dependent
    dmg = [s for s in segs if s[0] == "DMG"]
    assert [d[2] for d in dmg] == [SUB_BORN.strftime("%Y%m%d"), BORN.strftime("%Y%m%d")]
    # The trace sits on 2000D (after the dependent's HL), as the guide asks.
    hl23 = next(i for i, s in enumerate(segs) if s[0] == "HL" and s[3] == "23")
    assert next(i for i, s in enumerate(segs) if s[0] == "TRN") > hl23


def test_drop_directory_round_trip(world: BillingWorld, tmp_path: Path) -> None:
    patient_id, _ = enrol(world, member_id="XYZ99887766")
    drop = DropDirectory(tmp_path / "clearinghouse")
    agent = FakeClearinghouse()
    # Someone else's 271 waits in the inbound directory: it must be left alone.
    other = agent.answer(_other_270(world))
    (drop.inbound / "271-other.x12").write_bytes(other)
    polls: list[float] = []

    def clearinghouse_works(seconds: float) -> None:  # instead of sleeping: the agent answers what was sent
        polls.append(seconds)
        for sent in sorted(drop.outbound.iterdir()):
            (drop.inbound / f"{sent.stem}.271").write_bytes(agent.answer(sent.read_bytes()))

    adapter = ClearinghouseEligibility(drop, wait_seconds=10, poll_seconds=1, sleep=clearinghouse_works)
    result = check(world, patient_id, adapter)
    assert result.status == "active" and result.deductible_remaining == Decimal("1200.00")
    assert polls == [1]  # one poll found nothing, the next found the answer
    assert [p.name for p in drop.outbound.iterdir()] == [f"270-{result.trace_number}.x12"]
    assert sorted(p.name for p in drop.inbound.iterdir() if p.is_file()) == ["271-other.x12"]
    assert [p.name for p in drop.archive.iterdir()] == [f"270-{result.trace_number}.271"]


def _other_270(world: BillingWorld) -> bytes:
    """A 270 about another patient (its 271 is the decoy in the inbound directory)."""
    other_patient, _ = enrol(world, member_id="XYZ00000001")
    fake = FakeClearinghouse()
    check(world, other_patient, fake)
    return fake.received[0]


def test_drop_directory_without_answer_times_out_as_an_error(world: BillingWorld, tmp_path: Path) -> None:
    patient_id, _ = enrol(world, member_id="XYZ12121212")
    now = [0.0]

    def tick(seconds: float) -> None:
        now[0] += seconds

    adapter = ClearinghouseEligibility(
        DropDirectory(tmp_path / "ch"), wait_seconds=5, poll_seconds=2, sleep=tick, clock=lambda: now[0]
    )
    result = check(world, patient_id, adapter)
    assert (result.status, result.error_code) == ("error", "transport_failed") and now[0] >= 5


def test_transport_failure_leaves_one_error_row_and_nothing_else(world: BillingWorld) -> None:
    patient_id, coverage_id = enrol(world, member_id="XYZ31313131")
    result = check(world, patient_id, FakeClearinghouse(fail=True))
    assert (result.status, result.error_code) == ("error", "transport_failed")
    (row,) = stored(world)
    assert (row.status, row.coverage_id, row.response_blob_id, row.plan_name) == ("error", coverage_id, None, None)
    assert all(getattr(row, name) is None for name in ("copay", "deductible", "coinsurance_percent", "out_of_pocket"))
    assert inbound_blobs(world) == 0
    with world.gate() as gate:
        latest = latest_eligibility(gate=gate, coverage_id=coverage_id)
    assert latest is not None and latest.status == "error"


class Garbage:
    def exchange(self, *, data: bytes, trace_number: str) -> bytes:
        return b"ISA*this is not a 271*" + trace_number.encode()


def test_invalid_or_unmatched_answers_are_errors(world: BillingWorld) -> None:
    patient_id, _ = enrol(world, member_id="XYZ42424242")
    assert check(world, patient_id, Garbage()).error_code == "response_invalid"

    class Stranger:  # a valid 271, but for another inquiry
        def exchange(self, *, data: bytes, trace_number: str) -> bytes:
            return FakeClearinghouse().answer(data.replace(trace_number.encode(), b"SOMEONEELSE01"))

    assert check(world, patient_id, Stranger()).error_code == "response_unmatched"
    assert inbound_blobs(world) == 0 and {r.status for r in stored(world)} == {"error"}


def test_setup_problems_raise_before_anything_is_sent(world: BillingWorld) -> None:
    with world.gate() as gate:
        bare_payer = add_payer(gate=gate, data=PayerCreate(payer_id="NOPART1", name="Unlinked Payer"))
    cases = []
    with world.gate() as gate:
        nobody = create_patient(
            gate=gate, data=PatientCreate(given_name=GIVEN, family_name=FAMILY, birth_date=BORN), confirm_new=True
        )
    cases.append((nobody.id, "no_coverage"))
    cases.append((enrol(world, member_id="XYZ55555555", payer_id=bare_payer.id)[0], "payer_without_trading_partner"))
    fake = FakeClearinghouse()
    for patient_id, code in cases:
        with pytest.raises(EligibilityUnavailable) as err:
            check(world, patient_id, fake)
        assert err.value.code == code
        assert FAMILY not in err.value.message and "XYZ" not in err.value.message
    assert fake.received == [] and stored(world) == []


def test_permission_is_required(world: BillingWorld) -> None:
    patient_id, _ = enrol(world, member_id="XYZ60606060")
    ctx = system_context("t", organization_id=world.org_id, permissions={Permission.COVERAGE_READ})
    with pytest.raises(PermissionDenied), open_gate(db=world.runtime.db, keys=world.runtime.keys, ctx=ctx) as gate:
        check_eligibility(gate=gate, transport=FakeClearinghouse(), blobs=world.runtime.blobs, patient_id=patient_id)


def test_results_are_ciphertext_at_rest(world: BillingWorld) -> None:
    patient_id, _ = enrol(world, member_id="XYZ70707070")
    check(world, patient_id, FakeClearinghouse())
    (row,) = stored(world)
    for name in ("service_date", "plan_name", "copay", "deductible", "deductible_remaining", "coinsurance_percent",
                 "out_of_pocket"):  # fmt: skip
        value = getattr(row, name)
        assert isinstance(value, bytes), name
        assert b"25.00" not in value and b"1500" not in value and b"SYNTHETIC" not in value and b"2026" not in value


# --- CLI ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def cli(world: BillingWorld, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    @contextmanager
    def same_runtime() -> Iterator[Runtime]:
        yield world.runtime

    monkeypatch.setattr(eligibility_cli, "runtime", same_runtime)
    return CliRunner()


def _text(result: Any) -> str:
    return "\n".join((result.output, result.stdout, result.stderr))


def _no_phi(text: str, member_id: str) -> None:
    for secret in (FAMILY, FAMILY.upper(), GIVEN, member_id, BORN.isoformat(), BORN.strftime("%Y%m%d"), "SYNTHETIC"):
        assert secret not in text, "protected value on screen"


def test_cli_prints_figures_and_codes_without_phi(world: BillingWorld, cli: CliRunner) -> None:
    active, _ = enrol(world, member_id="XYZ80808080")
    result = cli.invoke(eligibility_cli.app, ["check", str(active), "--org", "clinic", "--date", "2026-06-15"])
    text = _text(result)
    assert result.exit_code == 0, text
    assert "active" in text and "25.00" in text and "1500.00" in text and "1200.00" in text and "20.00%" in text
    _no_phi(text, "XYZ80808080")

    rejected, _ = enrol(world, member_id="REJ8080")
    result = cli.invoke(eligibility_cli.app, ["check", str(rejected), "--org", "clinic"])
    assert result.exit_code == 1 and "AAA 72" in _text(result)
    _no_phi(_text(result), "REJ8080")

    with world.gate() as gate:
        bare = create_patient(
            gate=gate, data=PatientCreate(given_name=GIVEN, family_name=FAMILY, birth_date=BORN), confirm_new=True
        )
    result = cli.invoke(eligibility_cli.app, ["check", str(bare.id), "--org", "clinic"])
    assert result.exit_code == 1 and "no active coverage" in _text(result)
    _no_phi(_text(result), "XYZ")
    result = cli.invoke(eligibility_cli.app, ["check", "not-an-id", "--org", "clinic"])
    assert result.exit_code == 1 and "not a valid id" in _text(result)


def test_batch_check_of_patients_in_force(world: BillingWorld) -> None:
    enrol(world, member_id="XYZ10101010")
    enrol(world, member_id="INA10101010")
    enrol(world, member_id="REJ10101010")
    with world.gate() as gate:
        tally = check_patients_in_force(
            gate=gate, transport=FakeClearinghouse(), blobs=world.runtime.blobs, service_date=DAY
        )
    assert tally == {"active": 1, "inactive": 1, "rejected": 1} and len(stored(world)) == 3
