"""FHIR R4B ExplanationOfBenefit over posted remittances, on both databases: amounts per item (submitted, eligible,
paid, deductible, coinsurance, copay) exactly as posted, CAS adjustments with their CARC reasons (codes only), the
payer and payment, a reversed posting read as cancelled, searches by patient and claim, refusals, and no patient
name or member id in the resource."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from claimvault.billing.claims.service import get_claim
from claimvault.billing.fhir.eob import CARC_SYSTEM, CAS_GROUP_SYSTEM, read_eob, search_eobs
from claimvault.billing.fhir.views import SearchRefused
from claimvault.billing.remittance.importer import import_835
from claimvault.billing.remittance.models import ClaimPaymentPosting
from claimvault.billing.x12.remit_835_writer import reversal_of
from claimvault.errors import NotFound, PermissionDenied
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from tests.billing_world import BillingWorld, build_billing_world
from tests.remit_world import MARKER, Accepted, accept_claims, denied, paid, remittance_file

D = Decimal
SHARES = ({"deductible": D("20.00"), "coinsurance": D("8.50")}, {"copay": D("10.00")})


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _import(world: BillingWorld, data: bytes) -> None:
    with world.gate("remit import") as gate:
        assert import_835(gate=gate, blobs=world.runtime.blobs, data=data).posted


def _postings(world: BillingWorld, claim: Accepted) -> dict[tuple[str, str], uuid.UUID]:
    """(CLP02, outcome) -> posting id of the claim's postings."""
    with world.gate() as gate:
        rows = gate.session.execute(
            select(ClaimPaymentPosting.status_code, ClaimPaymentPosting.outcome, ClaimPaymentPosting.id).where(
                ClaimPaymentPosting.claim_id == claim.id
            )
        ).all()
    return {(status, outcome): pid for status, outcome, pid in rows}


def _amounts(adjudications: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Category code (or GROUP-CARC for an adjustment) -> amount."""
    found = {}
    for a in adjudications:
        code = a["category"]["coding"][0]["code"]
        if a["category"]["coding"][0]["system"] == CAS_GROUP_SYSTEM:
            assert a["reason"]["coding"][0]["system"] == CARC_SYSTEM and "display" not in a["reason"]["coding"][0]
            code = f"{code}-{a['reason']['coding'][0]['code']}"
        found[code] = D(str(a["amount"]["value"])).quantize(D("0.01"))
    return found


def test_eob_carries_the_posted_adjudication_per_item(world: BillingWorld) -> None:
    claim, other = accept_claims(world, 2)
    _import(world, remittance_file([paid(claim, allowed=(D("100.00"), D("30.00")), shares=SHARES), paid(other)]))
    posting_id = _postings(world, claim)[("1", "posted")]
    with world.gate() as gate:
        eob = read_eob(gate=gate, posting_id=posting_id)
        patient_id = get_claim(gate=gate, claim_id=claim.id).patient_id

    assert (eob["resourceType"], eob["id"], eob["status"], eob["outcome"]) == (
        "ExplanationOfBenefit", str(posting_id), "active", "complete")  # fmt: skip
    assert eob["claim"] == {"reference": f"Claim/{claim.id}"} and eob["patient"]["reference"] == f"Patient/{patient_id}"
    assert eob["insurer"]["identifier"]["value"] == world.payer_code
    assert eob["payment"]["date"] == "2026-07-20" and eob["payment"]["amount"]["value"] == 91.5
    assert claim.payer_claim_number in [i["value"] for i in eob["identifier"]]
    assert _amounts(eob["total"]) == {"submitted": D("165.00"), "benefit": D("91.50")}
    first, second = eob["item"]
    assert first["sequence"] == 1 and first["productOrService"]["coding"][0]["code"] == "99213"
    assert _amounts(first["adjudication"]) == {
        "submitted": D("125.00"), "eligible": D("100.00"), "benefit": D("71.50"), "deductible": D("20.00"),
        "coinsurance": D("8.50"), "CO-45": D("25.00"), "PR-1": D("20.00"), "PR-2": D("8.50"),
    }  # fmt: skip
    assert _amounts(second["adjudication"]) == {
        "submitted": D("40.00"), "eligible": D("30.00"), "benefit": D("20.00"), "copay": D("10.00"),
        "CO-45": D("10.00"), "PR-3": D("10.00"),
    }  # fmt: skip
    assert "adjudication" not in eob  # no claim-level CAS in this payment
    text = json.dumps(eob)
    assert MARKER not in text and "Remit" not in text.title() and claim.member_id not in text


def test_denial_reversal_and_searches(world: BillingWorld) -> None:
    claim, refused = accept_claims(world, 2)
    first = paid(claim)
    _import(world, remittance_file([first, denied(refused)], trace="EFT-A"))
    corrected = paid(claim, allowed=(D("110.00"), D("40.00")), shares=({"coinsurance": D("22.00")}, {}))
    _import(world, remittance_file([reversal_of(first), corrected], trace="EFT-B", interchange="000000836"))
    ids = _postings(world, claim)
    with world.gate() as gate:
        patient_id = get_claim(gate=gate, claim_id=claim.id).patient_id
        assert read_eob(gate=gate, posting_id=ids[("1", "reversed")])["status"] == "cancelled"
        with pytest.raises(NotFound):
            read_eob(gate=gate, posting_id=ids[("22", "posted")])  # the reversal itself is no EOB
        by_claim = search_eobs(gate=gate, params=[("claim", str(claim.id))])
        by_patient = search_eobs(gate=gate, params=[("patient", f"Patient/{patient_id}"), ("_count", "1")])
        both = search_eobs(gate=gate, params=[("patient", str(patient_id)), ("claim", str(refused.id))])
        by_id = search_eobs(gate=gate, params=[("_id", str(ids[("1", "posted")]))])
        (denial,) = search_eobs(gate=gate, params=[("claim", str(refused.id))])
    assert sorted((e["status"], e["payment"]["amount"]["value"]) for e in by_claim) == [
        ("active", 128.0), ("cancelled", 165.0)]  # fmt: skip
    assert [e["id"] for e in by_patient] == [str(ids[("1", "posted")])]  # newest first, _count honoured
    assert both == [] and [e["id"] for e in by_id] == [str(ids[("1", "posted")])]
    assert denial["disposition"] == "Denied" and denial["payment"]["amount"]["value"] == 0
    assert [_amounts(i["adjudication"]) for i in denial["item"]] == [
        {"submitted": D("125.00"), "eligible": D("0.00"), "benefit": D("0.00"), "CO-96": D("125.00")},
        {"submitted": D("40.00"), "eligible": D("0.00"), "benefit": D("0.00"), "CO-96": D("40.00")},
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "by patient or by claim"),
        ([("name", "ZQMARKERQZ")], "Unsupported ExplanationOfBenefit search parameter"),
        ([("patient", "not-an-id")], "patient must be a resource id"),
        ([("claim", str(uuid.UUID(int=1))), ("claim", str(uuid.UUID(int=2)))], "may be given once"),
        ([("claim", str(uuid.UUID(int=1))), ("_count", "many")], "_count must be"),
    ],
)
def test_search_refusals_name_no_values(world: BillingWorld, params: list[tuple[str, str]], message: str) -> None:
    with world.gate() as gate, pytest.raises(SearchRefused, match=message) as caught:
        search_eobs(gate=gate, params=params)
    assert all(value not in str(caught.value) for _, value in params)


def test_reading_needs_remittance_read(world: BillingWorld) -> None:
    (claim,) = accept_claims(world, 1)
    _import(world, remittance_file([paid(claim)]))
    posting_id = _postings(world, claim)[("1", "posted")]
    ctx = system_context("test", organization_id=world.org_id, permissions={Permission.CLAIM_READ})
    with pytest.raises(PermissionDenied), open_gate(db=world.runtime.db, keys=world.runtime.keys, ctx=ctx) as gate:
        read_eob(gate=gate, posting_id=posting_id)
    with world.gate() as gate, pytest.raises(NotFound):
        read_eob(gate=gate, posting_id=uuid.uuid4())
