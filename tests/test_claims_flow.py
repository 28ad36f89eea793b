"""The claim lifecycle end to end, through the real services, the PHI gate, pyx12 and both databases: a coded
encounter becomes a draft claim, the scrubber makes it ready, the 837P release validates and stores the file
(encrypted) and records the disclosure, a 999 and a 277CA move it on, corrections create new versions, and
illegal transitions are refused."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from claimvault.billing.claims.acknowledgements import import_ack
from claimvault.billing.claims.lifecycle import IllegalTransition
from claimvault.billing.claims.models import Claim, ClaimTransition, X12File
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.schemas import ClaimCorrection, ClaimCreate, ClaimTransitionRequest
from claimvault.billing.claims.service import (
    claim_history,
    correct_claim,
    create_claim,
    get_claim,
    request_transition,
    scrub_claims,
)
from claimvault.billing.x12.validation import validate_x12
from claimvault.errors import Conflict, DuplicateSuspected
from claimvault.privacy.disclosures.models import Disclosure
from claimvault.runtime import Runtime
from claimvault.security.crypto.blobs import read_blob
from claimvault.security.permissions import Permission
from tests.ack_files import make_277ca, make_999
from tests.billing_world import SCRUB_DAY, BillingWorld, build_billing_world


@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _ready_claim(world: BillingWorld, family: str, seed: int) -> uuid.UUID:
    _, encounter_id = world.patient(family=family, seed=seed)
    with world.gate() as gate:
        claim = create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id))
        assert claim.status == "draft" and claim.control_number.startswith("C")
    with world.gate() as gate:
        (result,) = scrub_claims(gate=gate, claim_ids=[claim.id], today=SCRUB_DAY)
    assert result.errors == 0, [f.rule for f in result.findings]
    assert result.status == "ready", [f.rule for f in result.findings]
    return claim.id


def test_claim_goes_from_encounter_to_accepted(world: BillingWorld) -> None:
    claim_id = _ready_claim(world, "Lovelace", 1)
    with world.gate("claims export-837") as gate:
        result = export_837p(gate=gate, blobs=world.runtime.blobs)
    assert not result.refused and len(result.released) == 1
    released = result.released[0]
    assert released.claim_count == 1 and validate_x12(released.content).valid
    assert "CLM*" in released.content and "HI*ABK:E119*ABF:I10" in released.content
    with world.gate() as gate:
        claim = get_claim(gate=gate, claim_id=claim_id)
        assert claim.status == "exported" and claim.x12_file_id == released.file_id
        sent = gate.session.get(X12File, released.file_id)
        assert sent is not None and sent.blob_id is not None and sent.kind == "837P"
        stored = read_blob(
            blobs=world.runtime.blobs, gate=gate, blob_id=sent.blob_id, permission=Permission.CLAIM_SUBMIT
        )
        assert stored.decode() == released.content
        disclosures = gate.session.scalars(select(Disclosure)).all()
        assert len(disclosures) == 1  # one disclosure for payment, per patient
        group = sent.group_control
        control = claim.control_number
    assert group is not None

    ack999 = make_999(group_control=group, transaction_controls=[1]).encode()
    with world.gate("claims import-ack") as gate:
        applied = import_ack(gate=gate, blobs=world.runtime.blobs, data=ack999)
    assert applied.kind == "999" and applied.accepted == [control]
    with world.gate("claims import-ack") as gate:
        again = import_ack(gate=gate, blobs=world.runtime.blobs, data=ack999)
    assert again.already_imported and not again.accepted

    ack277 = make_277ca(claims=[(control, claim.total_charge)]).encode()
    with world.gate("claims import-ack") as gate:
        applied = import_ack(gate=gate, blobs=world.runtime.blobs, data=ack277)
    assert applied.kind == "277CA" and applied.accepted == [control]
    with world.gate() as gate:
        claim = get_claim(gate=gate, claim_id=claim_id)
        assert claim.status == "accepted" and claim.payer_claim_number
        history = [(t.from_status, t.to_status, t.source) for t in claim_history(gate=gate, claim_id=claim_id)]
    assert history == [
        (None, "draft", "user"),
        ("draft", "scrubbed", "scrub"),
        ("scrubbed", "ready", "scrub"),
        ("ready", "exported", "export"),
        ("exported", "submitted", "999"),
        ("submitted", "accepted", "277CA"),
    ]


def test_rejections_and_corrections(world: BillingWorld) -> None:
    first = _ready_claim(world, "Hopper", 2)
    second = _ready_claim(world, "Noether", 3)
    with world.gate() as gate:
        export = export_837p(gate=gate, blobs=world.runtime.blobs)
        (released,) = export.released
        assert released.claim_count == 2
        claims = {c: get_claim(gate=gate, claim_id=c) for c in (first, second)}
        group = gate.session.get(X12File, released.file_id).group_control  # type: ignore[union-attr]
    with world.gate() as gate:
        import_ack(
            gate=gate, blobs=world.runtime.blobs, data=make_999(group_control=group, transaction_controls=[1]).encode()
        )
    rejected_number = claims[second].control_number
    ack = make_277ca(
        claims=[
            (claims[first].control_number, claims[first].total_charge),
            (rejected_number, claims[second].total_charge),
        ],
        rejected={rejected_number: ("A7", "562", "85")},
    )
    with world.gate() as gate:
        result = import_ack(gate=gate, blobs=world.runtime.blobs, data=ack.encode())
    assert result.rejected == [rejected_number]
    with world.gate() as gate:
        bad = get_claim(gate=gate, claim_id=second)
        assert bad.status == "rejected"
        assert {"category": "A7", "status": "562", "entity": "85", "source": "277CA"} in bad.status_reasons
        # A rejected claim is corrected as a new original; it may not be "replaced" (the payer never had it).
        with pytest.raises(Conflict):
            correct_claim(gate=gate, claim_id=second, data=ClaimCorrection(frequency_code="7", original_reference="X1"))
        fixed = correct_claim(gate=gate, claim_id=second, data=ClaimCorrection(frequency_code="1"))
        assert fixed.version == 2 and fixed.status == "draft" and fixed.family_id == bad.family_id
        assert fixed.control_number == f"{bad.control_number}-2"
        assert get_claim(gate=gate, claim_id=second).status == "superseded"
        # An accepted claim is replaced (7) with the payer's claim number as the original reference.
        payer_number = get_claim(gate=gate, claim_id=first).payer_claim_number
        assert payer_number
        replacement = correct_claim(gate=gate, claim_id=first, data=ClaimCorrection(frequency_code="7"))
        assert replacement.frequency_code == "7" and replacement.original_reference == payer_number
    with world.gate() as gate:
        (scrubbed,) = scrub_claims(gate=gate, claim_ids=[replacement.id], today=SCRUB_DAY)
        assert scrubbed.status == "ready", [f.rule for f in scrubbed.findings]
        export = export_837p(gate=gate, blobs=world.runtime.blobs)
    contents = "".join(r.content for r in export.released)
    assert "CLM*" + replacement.control_number in contents and "REF*F8*" in contents


def test_illegal_transitions_are_refused_and_recorded_ones_only(world: BillingWorld) -> None:
    claim_id = _ready_claim(world, "Curie", 4)
    with world.gate() as gate:
        export_837p(gate=gate, blobs=world.runtime.blobs)
    with world.gate() as gate, pytest.raises(IllegalTransition) as refused:
        request_transition(gate=gate, claim_id=claim_id, request=ClaimTransitionRequest(to_status="ready"))
    assert "exported claim cannot become ready" in refused.value.message
    with world.gate() as gate:
        rows = gate.session.scalars(select(ClaimTransition).where(ClaimTransition.claim_id == claim_id)).all()
        assert [r.to_status for r in rows][-1] == "exported"
        assert all(r.actor.startswith("system:") for r in rows)


def test_scrub_errors_keep_the_claim_in_draft_with_findings(world: BillingWorld) -> None:
    _, encounter_id = world.patient(family="Turing", dx=("E11", "I10"), seed=5)  # E11 is a category header
    with world.gate() as gate:
        claim = create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id))
        (result,) = scrub_claims(gate=gate, claim_ids=[claim.id], today=SCRUB_DAY)
    assert result.status == "draft"
    assert "CODE-DX-BILLABLE" in {f.rule for f in result.findings}
    with world.gate() as gate:
        stored = get_claim(gate=gate, claim_id=claim.id)
        assert stored.findings and stored.status == "draft"
        assert gate.session.scalar(select(Claim.fingerprint).where(Claim.id == claim.id))
    with world.gate() as gate:
        assert not export_837p(gate=gate, blobs=world.runtime.blobs).released  # nothing ready, nothing leaves


def test_duplicate_claim_is_caught_by_the_scrubber(world: BillingWorld) -> None:
    claim_id = _ready_claim(world, "Franklin", 6)
    with world.gate() as gate:
        encounter_id = gate.session.scalar(select(Claim.encounter_id).where(Claim.id == claim_id))
        with pytest.raises(Conflict):  # a second live claim for the same encounter and coverage
            create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id))  # type: ignore[arg-type]


def test_duplicate_patient_is_detected_on_registration(world: BillingWorld) -> None:
    from claimvault.billing.patients.schemas import PatientCreate
    from claimvault.billing.patients.service import create_patient

    data = PatientCreate(given_name="Grace", family_name="Hopper", birth_date="1906-12-09", ssn="234-56-7891")  # type: ignore[arg-type]
    with world.gate() as gate:
        first = create_patient(gate=gate, data=data)
    twin = data.model_copy(update={"given_name": "G."})
    with world.gate() as gate, pytest.raises(DuplicateSuspected) as found:
        create_patient(gate=gate, data=twin)
    assert found.value.details == [{"patient_id": str(first.id), "matched_on": ["family_name+birth_date", "ssn"]}]
    # the details are exactly ids and rule names (compared above); the message names no one
    assert "Hopper" not in found.value.message and "234-56-7891" not in found.value.message
    with world.gate() as gate:
        assert create_patient(gate=gate, data=twin, confirm_new=True).id != first.id
