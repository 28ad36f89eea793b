"""Claims taken through the real lifecycle to ``accepted`` (scrub, 837P release, 999, 277CA), and synthetic 835
files paying them, for the posting tests and the CLI test. Seeded, synthetic values only."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from claimvault.billing.claims.acknowledgements import import_ack
from claimvault.billing.claims.models import X12File
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.schemas import ClaimCreate
from claimvault.billing.claims.service import create_claim, get_claim, scrub_claims
from claimvault.billing.x12.remit_835 import (
    ClaimPayment,
    PersonName,
    Procedure,
    ProviderAdjustment,
    Remittance,
    ServiceLinePayment,
    payment_total,
)
from claimvault.billing.x12.remit_835_writer import adjudicate_line, claim_payment, deny_line, write_835
from tests.ack_files import make_277ca, make_999
from tests.billing_world import SCRUB_DAY, SERVICE_DATE, BillingWorld

D = Decimal
NPI = "1234567893"  # synthetic
MARKER = "ZQMARKERQZ"  # a patient name that must never appear in output
E_M = Procedure("HC", "99213", ("25",))  # the world's first line: 125.00
ECG = Procedure("HC", "93000")  # second line: 40.00


@dataclass(frozen=True)
class Accepted:
    id: uuid.UUID
    control_number: str
    payer_claim_number: str
    member_id: str
    total: Decimal


def accept_claims(world: BillingWorld, count: int, *, seed: int = 100) -> list[Accepted]:
    """``count`` claims (one patient each, lines 99213-25 125.00 and 93000 40.00) in status accepted."""
    claim_ids, members = [], []
    for n in range(count):
        s = seed + n
        _, encounter_id = world.patient(family=f"Remit{chr(65 + n % 26)}{n}", seed=s)
        members.append(f"XYZ{random.Random(s).randrange(10**8):08d}")
        with world.gate() as gate:
            claim_ids.append(create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id)).id)
    with world.gate() as gate:
        results = scrub_claims(gate=gate, claim_ids=claim_ids, today=SCRUB_DAY)
        assert all(r.status == "ready" for r in results), [f.rule for r in results for f in r.findings]
    with world.gate() as gate:
        (released,) = export_837p(gate=gate, blobs=world.runtime.blobs).released
        group = gate.session.scalar(select(X12File.group_control).where(X12File.id == released.file_id))
        claims = [get_claim(gate=gate, claim_id=c) for c in claim_ids]
    assert group is not None
    blobs = world.runtime.blobs
    with world.gate() as gate:
        import_ack(gate=gate, blobs=blobs, data=make_999(group_control=group, transaction_controls=[1]).encode())
    ack = make_277ca(claims=[(c.control_number, c.total_charge) for c in claims], seed=seed)
    with world.gate() as gate:
        import_ack(gate=gate, blobs=blobs, data=ack.encode())
        claims = [get_claim(gate=gate, claim_id=c) for c in claim_ids]
    assert all(c.status == "accepted" and c.payer_claim_number for c in claims)
    return [
        Accepted(c.id, c.control_number, str(c.payer_claim_number), m, c.total_charge)
        for c, m in zip(claims, members, strict=True)
    ]


def patient(member: str = "XYZ00000000") -> PersonName:
    return PersonName("QC", "1", MARKER, "ADA", None, None, "MI", member)


def paid(
    claim: Accepted,
    *,
    allowed: tuple[Decimal, Decimal] = (D("125.00"), D("40.00")),
    shares: tuple[dict[str, Decimal], dict[str, Decimal]] = ({}, {}),
    lines: Sequence[ServiceLinePayment] | None = None,
    pcn: str | None = None,
    payer_number: str | None = None,
    member: str | None = None,
) -> ClaimPayment:
    """A claim payment of both lines (or ``lines``): allowed amounts, patient shares (deductible, coinsurance,
    copay) and CO-45 for the rest."""
    built = lines or [
        adjudicate_line(
            procedure=E_M, charge=D("125.00"), allowed=allowed[0], patient=shares[0], service_date=SERVICE_DATE
        ),
        adjudicate_line(
            procedure=ECG, charge=D("40.00"), allowed=allowed[1], patient=shares[1], service_date=SERVICE_DATE
        ),
    ]
    return claim_payment(
        patient_control_number=pcn or claim.control_number,
        payer_claim_control_number=payer_number or claim.payer_claim_number,
        lines=list(built),
        patient=patient(member or claim.member_id),
    )


def denied(claim: Accepted) -> ClaimPayment:
    lines = [
        deny_line(procedure=E_M, charge=D("125.00"), reason="96", remark_codes=["N130"]),
        deny_line(procedure=ECG, charge=D("40.00"), reason="96"),
    ]
    return claim_payment(
        patient_control_number=claim.control_number,
        payer_claim_control_number=claim.payer_claim_number,
        lines=lines,
        patient=patient(claim.member_id),
    )


def remittance_file(
    claims: Sequence[ClaimPayment],
    *,
    trace: str = "EFT0001",
    plb: Sequence[ProviderAdjustment] = (),
    interchange: str = "000000835",
    **overrides: Any,
) -> bytes:
    values: dict[str, Any] = {
        "interchange_control": interchange,
        "group_control": "835",
        "transaction_control": "0001",
        "sender_id": "EXAMPLEPAYER",
        "receiver_id": "CLAIMVAULT",
        "created": date(2026, 7, 20),
        "handling_code": "I",
        "payment_amount": payment_total(claims, plb),
        "credit_debit": "C",
        "payment_method": "ACH",
        "payment_format": "CCP",
        "payment_date": date(2026, 7, 20),
        "trace_number": trace,
        "originating_company_id": "1512345678",
        "payer_name": "EXAMPLE HEALTH",
        "payer_references": (("2U", "EXH01"),),
        "payee_name": "SPRINGFIELD FAMILY MEDICINE",
        "payee_id_qualifier": "XX",
        "payee_identifier": NPI,
        "claims": tuple(claims),
        "provider_adjustments": tuple(plb),
    }
    values.update(overrides)
    return write_835(Remittance(**values)).encode()
