"""Secondary claims from posted primary remittances, on both databases: a primary paid through a synthetic 835 with
CO-45 and PR-1/2/3 gives a secondary claim that scrubs, exports and validates with pyx12 with zero errors,
carrying the primary's AMT*D, CAS, DTP*573 and SVD exactly; a reversed posting is ignored (the correction counts);
a denied primary gives a secondary carrying the denial; and every refusal is clear and names no values."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from claimvault.billing.claims.assembly import claim_documents
from claimvault.billing.claims.document import Adjustment, ClaimDocument
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.secondary import SecondaryClaimRefused, create_secondary_claim
from claimvault.billing.claims.service import get_claim, scrub_claims
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage
from claimvault.billing.payers.schemas import PayerCreate
from claimvault.billing.payers.service import add_payer
from claimvault.billing.remittance.importer import import_835
from claimvault.billing.x12.remit_835_writer import reversal_of
from claimvault.billing.x12.validation import validate_x12
from claimvault.errors import Conflict, PermissionDenied, ValidationFailed
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from tests.billing_world import SCRUB_DAY, SERVICE_DATE, BillingWorld, build_billing_world
from tests.remit_world import Accepted, accept_claims, denied, paid, remittance_file
from tests.test_x12_837p_other_payers import adjudications, claim_segments, line_loops, other_payer_loops

D = Decimal
SUPPLEMENTAL = "SUPP01"
PAID_ON = date(2026, 7, 20)  # remit_world's BPR16
SHARES = ({"deductible": D("20.00"), "coinsurance": D("8.50")}, {"copay": D("10.00")})


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _supplemental_payer(world: BillingWorld) -> uuid.UUID:
    with world.gate() as gate:
        payer = add_payer(
            gate=gate,
            data=PayerCreate(payer_id=SUPPLEMENTAL, name="Supplemental Mutual", trading_partner_id=world.partner_id),
        )
    return payer.id


def _secondary_coverage(world: BillingWorld, claim: Accepted, payer_id: uuid.UUID, **dates: date) -> None:
    with world.gate() as gate:
        patient_id = get_claim(gate=gate, claim_id=claim.id).patient_id
        add_coverage(
            gate=gate,
            patient_id=patient_id,
            data=CoverageCreate(
                rank="secondary",
                payer_name="Supplemental Mutual",
                payer_id=payer_id,
                member_id="SUP12345678",
                effective_from=dates.get("effective_from", date(2026, 1, 1)),
                effective_to=dates.get("effective_to"),
            ),
        )


def _import(world: BillingWorld, data: bytes) -> None:
    with world.gate("remit import") as gate:
        report = import_835(gate=gate, blobs=world.runtime.blobs, data=data)
    assert report.posted and not report.unmatched


def _secondary(world: BillingWorld, claim: Accepted) -> uuid.UUID:
    with world.gate() as gate:
        created = create_secondary_claim(gate=gate, primary_claim_id=claim.id)
    assert (created.rank, created.status, created.total_charge) == ("secondary", "draft", claim.total)
    return created.id


def _document(world: BillingWorld, claim_id: uuid.UUID) -> ClaimDocument:
    with world.gate() as gate:
        return claim_documents(gate=gate, claim_ids=[claim_id])[claim_id]


def _scrub_and_export(world: BillingWorld, claim_id: uuid.UUID) -> str:
    """Scrub (clean: ready), release to the supplemental payer, and check pyx12 reports zero issues."""
    with world.gate() as gate:
        (result,) = scrub_claims(gate=gate, claim_ids=[claim_id], today=SCRUB_DAY)
    assert result.status == "ready", [f.rule for f in result.findings]
    with world.gate() as gate:
        export = export_837p(gate=gate, blobs=world.runtime.blobs, payer=SUPPLEMENTAL)
        status = get_claim(gate=gate, claim_id=claim_id).status
    assert not export.refused and len(export.released) == 1 and export.released[0].claim_count == 1
    assert status == "exported"
    text = export.released[0].content
    report = validate_x12(text, expect=("HC", "837", "005010X222A1"))
    assert report.valid and not report.issues, report.summary()
    return text


def test_secondary_claim_carries_the_posted_primary_and_validates(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    _secondary_coverage(world, claim, _supplemental_payer(world))
    _import(world, remittance_file([paid(claim, allowed=(D("100.00"), D("30.00")), shares=SHARES)]))
    secondary_id = _secondary(world, claim)

    doc = _document(world, secondary_id)
    assert (doc.subscriber.payer.payer_id, doc.responsibility) == (SUPPLEMENTAL, "S")
    (primary,) = doc.other_payers
    adjudication = primary.adjudication
    assert adjudication is not None and primary.responsibility == "P"
    assert (adjudication.paid_amount, adjudication.adjudication_date) == (D("91.50"), PAID_ON)
    assert adjudication.payer_claim_number == claim.payer_claim_number and adjudication.adjustments == ()
    first, second = adjudication.lines
    assert (first.line_number, first.paid_amount, first.procedure_code) == (1, D("71.50"), "99213")
    assert first.modifiers == ("25",)
    assert set(first.adjustments) == {Adjustment("CO", "45", D("25.00")), Adjustment("PR", "1", D("20.00")),
                                      Adjustment("PR", "2", D("8.50"))}  # fmt: skip
    assert first.remaining_patient_liability == D("28.50")
    assert (second.line_number, second.paid_amount, second.procedure_code) == (2, D("20.00"), "93000")
    assert second.modifiers == ()
    assert set(second.adjustments) == {Adjustment("CO", "45", D("10.00")), Adjustment("PR", "3", D("10.00"))}

    segs = claim_segments(_scrub_and_export(world, secondary_id))
    assert [s[1] for s in segs if s[0] == "SBR"] == ["S", "P"]
    (loop,) = other_payer_loops(segs)
    assert [s for s in loop if s[0] == "AMT"] == [["AMT", "D", "91.5"]]  # no 2320 EAF: the lines carry it
    assert ["DTP", "573", "D8", "20260720"] in loop and ["REF", "F8", claim.payer_claim_number] in loop
    assert not [s for s in loop if s[0] == "CAS"]  # every adjustment was at line level
    line1, line2 = (adjudications(line)[world.payer_code] for line in line_loops(segs))
    assert line1[0] == ["SVD", world.payer_code, "71.5", "HC:99213:25", "", "1"]
    assert ["CAS", "CO", "45", "25"] in line1 and ["CAS", "PR", "1", "20", "", "2", "8.5"] in line1
    assert ["DTP", "573", "D8", "20260720"] in line1 and ["AMT", "EAF", "28.5"] in line1
    assert line2[0] == ["SVD", world.payer_code, "20", "HC:93000", "", "1"]
    assert ["CAS", "CO", "45", "10"] in line2 and ["CAS", "PR", "3", "10"] in line2
    assert ["AMT", "EAF", "10"] in line2


def test_a_reversed_posting_is_ignored_and_the_correction_counts(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    _secondary_coverage(world, claim, _supplemental_payer(world))
    first = paid(claim)
    _import(world, remittance_file([first], trace="EFT-A"))
    _import(world, remittance_file([reversal_of(first)], trace="EFT-B", interchange="000000836"))
    with world.gate() as gate, pytest.raises(SecondaryClaimRefused, match="no posted remittance"):
        create_secondary_claim(gate=gate, primary_claim_id=claim.id)  # the claim is still paid, but taken back

    corrected = paid(claim, allowed=(D("110.00"), D("40.00")), shares=({"coinsurance": D("22.00")}, {}))
    _import(world, remittance_file([corrected], trace="EFT-C", interchange="000000837", payment_date=date(2026, 8, 3)))
    secondary_id = _secondary(world, claim)
    adjudication = _document(world, secondary_id).other_payers[0].adjudication
    assert adjudication is not None
    assert (adjudication.paid_amount, adjudication.adjudication_date) == (D("128.00"), date(2026, 8, 3))
    assert [(a.line_number, a.paid_amount) for a in adjudication.lines] == [(1, D("88.00")), (2, D("40.00"))]
    segs = claim_segments(_scrub_and_export(world, secondary_id))
    assert ["AMT", "D", "128"] in other_payer_loops(segs)[0]


def test_a_denied_primary_gives_a_secondary_carrying_the_denial(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    _secondary_coverage(world, claim, _supplemental_payer(world))
    _import(world, remittance_file([denied(claim)]))
    with world.gate() as gate:
        assert get_claim(gate=gate, claim_id=claim.id).status == "denied"
    secondary_id = _secondary(world, claim)
    segs = claim_segments(_scrub_and_export(world, secondary_id))
    assert ["AMT", "D", "0"] in other_payer_loops(segs)[0]
    line1, line2 = (adjudications(line)[world.payer_code] for line in line_loops(segs))
    assert line1[0][:3] == ["SVD", world.payer_code, "0"] and ["CAS", "CO", "96", "125"] in line1
    assert line2[0][:3] == ["SVD", world.payer_code, "0"] and ["CAS", "CO", "96", "40"] in line2


def test_refusals_are_clear_and_name_no_values(world: BillingWorld) -> None:
    unposted, uncovered, lapsed, twice = accept_claims(world, 4)
    payer_id = _supplemental_payer(world)
    _secondary_coverage(world, unposted, payer_id)
    _secondary_coverage(world, lapsed, payer_id, effective_to=SERVICE_DATE.replace(day=1))
    _secondary_coverage(world, twice, payer_id)
    _import(world, remittance_file([paid(c) for c in (uncovered, lapsed, twice)]))

    refusals: list[tuple[uuid.UUID, type[Exception], str]] = [
        (unposted.id, SecondaryClaimRefused, "primary claim is accepted: it must be paid, partially paid or denied"),
        (uncovered.id, ValidationFailed, "no active secondary coverage on the date of service"),
        (lapsed.id, ValidationFailed, "no active secondary coverage on the date of service"),
        (uuid.uuid4(), Exception, "No such record"),
    ]
    for claim_id, error, message in refusals:
        with world.gate() as gate, pytest.raises(error, match=message) as caught:
            create_secondary_claim(gate=gate, primary_claim_id=claim_id)
        text = str(caught.value)
        assert all(v not in text for v in (unposted.member_id, uncovered.payer_claim_number, "165", "SUP1234"))

    secondary_id = _secondary(world, twice)
    with world.gate() as gate, pytest.raises(Conflict, match="already has a live claim"):
        create_secondary_claim(gate=gate, primary_claim_id=twice.id)
    with world.gate() as gate, pytest.raises(SecondaryClaimRefused, match="secondary claim is draft"):
        create_secondary_claim(gate=gate, primary_claim_id=secondary_id)  # no tertiary before the secondary pays

    reader = system_context("test", organization_id=world.org_id, permissions={Permission.CLAIM_READ})
    with pytest.raises(PermissionDenied), open_gate(db=world.runtime.db, keys=world.runtime.keys, ctx=reader) as gate:
        create_secondary_claim(gate=gate, primary_claim_id=twice.id)
