"""Coordination of benefits in the 837P: a claim to the primary carries the other coverages (2320/2330A/2330B), a
claim to a later payer carries the earlier payers' adjudication (2320 CAS/AMT, 2330B DTP*573, 2430 SVD/CAS/DTP/AMT)
balanced as the guide requires; pyx12 accepts them, refuses them with any new mandatory element blanked, the writer
refuses unbalanced or out-of-sequence ones, and claim assembly fills the other payers from stored coverages."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from claimvault.billing.claims.assembly import claim_documents
from claimvault.billing.claims.document import Adjudication, Adjustment, ClaimDocument, OtherPayer
from claimvault.billing.claims.schemas import ClaimCreate
from claimvault.billing.claims.service import create_claim
from claimvault.billing.coverage.schemas import CoverageCreate
from claimvault.billing.coverage.service import add_coverage
from claimvault.billing.payers.schemas import PayerCreate
from claimvault.billing.payers.service import add_payer
from claimvault.billing.x12.claim_837p import Interchange
from claimvault.billing.x12.envelope import X12ContentError
from claimvault.billing.x12.validation import ReleaseRefused, release_837p, validate_x12
from claimvault.runtime import Runtime
from claimvault.security.gate import PHIGate
from tests.billing_world import SERVICE_DATE, BillingWorld, build_billing_world
from tests.claim_documents import (
    COB_VARIANTS,
    MEDICARE_PAYER_ID,
    SUPPLEMENTAL_PAYER_ID,
    VARIANTS,
    make_claim,
)
from tests.test_x12_837p import corrupt, mandatory_elements, segments, write

Segment = list[str]


def claim_segments(text: str) -> list[Segment]:
    """The segments of the first claim: from its 2000B HL to the next HL or SE."""
    segs = segments(text)
    start = next(i for i, s in enumerate(segs) if s[0] == "HL" and s[3] == "22")
    end = next(i for i in range(start + 1, len(segs)) if segs[i][0] in ("HL", "SE"))
    return segs[start:end]


def other_payer_loops(segs: list[Segment]) -> list[list[Segment]]:
    """Each 2320 loop with its 2330A/2330B: from an SBR after CLM to the next such SBR or the first LX."""
    clm = next(i for i, s in enumerate(segs) if s[0] == "CLM")
    lx = next(i for i, s in enumerate(segs) if s[0] == "LX")
    starts = [i for i in range(clm, lx) if segs[i][0] == "SBR"]
    return [segs[a:b] for a, b in zip(starts, [*starts[1:], lx], strict=True)]


def money(values: list[Segment], *qualifier: str) -> Decimal:
    return sum((Decimal(s[2]) for s in values if s[:2] == list(qualifier)), Decimal(0))


def cas_total(values: list[Segment]) -> Decimal:
    """Every adjustment amount (CAS03, 06, 09, ...) in the CAS segments given."""
    return sum((Decimal(s[i]) for s in values if s[0] == "CAS" for i in range(3, len(s), 3) if s[i]), Decimal(0))


def line_loops(segs: list[Segment]) -> list[list[Segment]]:
    starts = [i for i, s in enumerate(segs) if s[0] == "LX"]
    return [segs[a:b] for a, b in zip(starts, [*starts[1:], len(segs)], strict=True)]


def adjudications(line: list[Segment]) -> dict[str, list[Segment]]:
    """The 2430 loops of one 2400 loop, by SVD01 (the other payer's identifier)."""
    found: dict[str, list[Segment]] = {}
    current: list[Segment] | None = None
    for s in line:
        if s[0] == "SVD":
            current = found.setdefault(s[1], [])
        if current is not None:
            current.append(s)
    return found


# --- pyx12 validity --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", COB_VARIANTS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cob_variants_validate_with_zero_errors(variant: str, seed: int) -> None:
    interchange = write([make_claim(seed, variant=variant), make_claim(seed + 10, variant=variant)])
    report = validate_x12(interchange.text, expect=("HC", "837", "005010X222A1"))
    assert report.valid, report.summary()
    assert release_837p(interchange) == interchange.text


def test_cob_claims_share_a_file_with_every_commercial_variant() -> None:
    claims = [make_claim(4, variant=v) for v in (*VARIANTS, *COB_VARIANTS) if v != "medicare"]
    interchange = write(claims)
    assert release_837p(interchange)
    responsibilities = [s[1] for s in segments(interchange.text) if s[0] == "SBR" and len(s) > 1]
    assert {"P", "S", "T"} <= set(responsibilities)


# --- what is written -------------------------------------------------------------------------------------------
def test_primary_claim_carries_secondary_and_tertiary_without_adjudication() -> None:
    claim = make_claim(5, variant="cob_primary")
    segs = claim_segments(write([claim]).text)
    assert segs[1][:3] == ["SBR", "P", "18"]  # 2000B: the claim goes to the primary
    loops = other_payer_loops(segs)
    assert [loop[0][1] for loop in loops] == ["S", "T"]
    assert [loop[0][9] for loop in loops] == ["CI", "MC"]
    supplemental, medicaid = loops
    assert supplemental[0][2] == "01" and medicaid[0][2] == "18"  # spouse's plan; the patient's own Medicaid
    for loop, other in zip(loops, claim.other_payers, strict=True):
        assert [s[0] for s in loop][:2] == ["SBR", "OI"]  # no CAS or AMT: nobody has adjudicated yet
        assert next(s for s in loop if s[:2] == ["NM1", "IL"])[-1] == other.member_id
        assert next(s for s in loop if s[:2] == ["NM1", "PR"])[-2:] == ["PI", other.payer.payer_id]
        assert not [s for s in loop if s[0] in ("DTP", "CAS", "AMT")]
    assert not [s for s in segs if s[0] == "SVD"]


def test_secondary_claim_carries_the_primary_adjudication_balanced() -> None:
    claim = make_claim(6, variant="cob_secondary")
    segs = claim_segments(write([claim]).text)
    assert segs[1][1] == "S"
    medicare, medicaid = other_payer_loops(segs)
    assert (medicare[0][1], medicaid[0][1]) == ("P", "T")
    adjudication = claim.other_payers[0].adjudication
    assert adjudication is not None
    # 2320, in the guide's order: SBR, CAS, AMT*D, OI; no claim-level AMT*EAF when the lines carry it.
    assert [s[0] for s in medicare[:4]] == ["SBR", "CAS", "AMT", "OI"]
    assert medicare[1][:3] == ["CAS", "CO", "253"]
    assert Decimal(medicare[2][2]) == adjudication.paid_amount and medicare[2][1] == "D"
    assert not [s for s in medicare if s[:2] == ["AMT", "EAF"]]
    nm1_pr = next(i for i, s in enumerate(medicare) if s[:2] == ["NM1", "PR"])
    assert medicare[nm1_pr][-1] == MEDICARE_PAYER_ID
    assert medicare[nm1_pr + 1] == ["DTP", "573", "D8", adjudication.adjudication_date.strftime("%Y%m%d")]
    assert medicare[nm1_pr + 2] == ["REF", "F8", adjudication.payer_claim_number]
    assert [s[0] for s in medicaid] == ["SBR", "OI", "NM1", "N3", "N4", "NM1"]  # later payer: no adjudication

    clm_total = Decimal(next(s for s in segs if s[0] == "CLM")[2])
    lines = line_loops(segs)
    assert len(lines) == len(claim.lines) >= 4
    line_adjustments = Decimal(0)
    groups: set[tuple[str, str]] = set()
    for line, loop in zip(claim.lines, lines, strict=True):
        sv1 = next(s for s in loop if s[0] == "SV1")
        (svd_loop,) = adjudications(loop).values()
        svd = svd_loop[0]
        assert svd[1] == MEDICARE_PAYER_ID
        assert svd[3].split(":") == ["HC", line.procedure_code, *line.modifiers]
        assert svd[4] == "" and Decimal(svd[5]) == line.units
        cas = [s for s in svd_loop if s[0] == "CAS"]
        assert all(len(s) <= 20 for s in cas)
        groups |= {(s[1], s[i]) for s in cas for i in range(2, len(s), 3)}
        # Line balancing: SV102 = SVD02 + the line's adjustments.
        assert Decimal(sv1[2]) == Decimal(svd[2]) + cas_total(cas)
        assert [s[:3] for s in svd_loop if s[0] == "DTP"] == [["DTP", "573", "D8"]]
        pr = sum((Decimal(s[i]) for s in cas if s[1] == "PR" for i in range(3, len(s), 3)), Decimal(0))
        assert money(svd_loop, "AMT", "EAF") == pr and svd_loop[-1][:2] == ["AMT", "EAF"]
        line_adjustments += cas_total(cas)
    assert {("CO", "45"), ("PR", "1"), ("PR", "2"), ("PR", "3")} <= groups
    # Claim balancing: CLM02 = AMT*D + claim-level CAS + line-level CAS of that payer.
    assert clm_total == money(medicare, "AMT", "D") + cas_total(medicare) + line_adjustments


def test_tertiary_claim_carries_both_earlier_payers() -> None:
    claim = make_claim(7, variant="cob_tertiary")
    segs = claim_segments(write([claim]).text)
    assert segs[1][1] == "T"
    medicare, supplemental = other_payer_loops(segs)
    assert (medicare[0][1], supplemental[0][1], supplemental[0][2]) == ("P", "S", "01")
    # The supplemental plan reported claim level only: CAS OA-23 and PR, AMT*D, AMT*EAF (its PR), DTP*573.
    assert [s[:3] for s in supplemental if s[0] == "CAS"] == [["CAS", "OA", "23"], ["CAS", "PR", "2"]]
    assert money(supplemental, "AMT", "EAF") == cas_total([s for s in supplemental if s[:2] == ["CAS", "PR"]])
    clm_total = Decimal(next(s for s in segs if s[0] == "CLM")[2])
    assert clm_total == money(supplemental, "AMT", "D") + cas_total(supplemental)
    assert any(s[:2] == ["DTP", "573"] for s in supplemental)
    for line in line_loops(segs):
        assert set(adjudications(line)) == {MEDICARE_PAYER_ID}  # only Medicare adjudicated lines
    assert SUPPLEMENTAL_PAYER_ID in {s[-1] for s in supplemental if s[:2] == ["NM1", "PR"]}


def test_many_adjustments_of_one_group_split_into_cas_segments_of_six() -> None:
    claim = make_claim(6, variant="cob_secondary")
    medicare = claim.other_payers[0]
    assert medicare.adjudication is not None
    first = medicare.adjudication.lines[0]
    co45 = next(a for a in first.adjustments if a.reason == "45")
    pieces = tuple(Adjustment("CO", str(100 + k), Decimal("0.01")) for k in range(7))
    split = (replace(co45, amount=co45.amount - Decimal("0.07")), *pieces)
    rest = tuple(a for a in first.adjustments if a is not co45)
    lines = (replace(first, adjustments=(*split, *rest)), *medicare.adjudication.lines[1:])
    changed = replace(claim, other_payers=(replace(medicare, adjudication=replace(medicare.adjudication, lines=lines)),
                                           *claim.other_payers[1:]))  # fmt: skip
    interchange = write([changed])
    assert release_837p(interchange)
    svd_loop = adjudications(line_loops(claim_segments(interchange.text))[0])[MEDICARE_PAYER_ID]
    co = [s for s in svd_loop if s[:2] == ["CAS", "CO"]]
    assert [(len(s) - 1) // 3 for s in co] == [6, 2]  # eight CO adjustments: six, then two


def test_zero_adjustments_are_left_out() -> None:
    claim = make_claim(3, variant="cob_tertiary")
    supplemental = claim.other_payers[1]
    assert supplemental.adjudication is not None
    adjudication = replace(supplemental.adjudication, adjustments=(
        *supplemental.adjudication.adjustments, Adjustment("PI", "94", Decimal("0.00"))))  # fmt: skip
    text = write(
        [replace(claim, other_payers=(claim.other_payers[0], replace(supplemental, adjudication=adjudication)))]
    ).text
    assert not [s for s in segments(text) if s[:2] == ["CAS", "PI"]]


# --- what the writer refuses -----------------------------------------------------------------------------------
def _with_primary(claim: ClaimDocument, **changes: Any) -> ClaimDocument:
    medicare = claim.other_payers[0]
    assert medicare.adjudication is not None
    return replace(claim, other_payers=(replace(medicare, adjudication=replace(medicare.adjudication, **changes)),
                                        *claim.other_payers[1:]))  # fmt: skip


def _first_line(claim: ClaimDocument, **changes: Any) -> ClaimDocument:
    adjudication = claim.other_payers[0].adjudication
    assert adjudication is not None
    return _with_primary(claim, lines=(replace(adjudication.lines[0], **changes), *adjudication.lines[1:]))


def _refusals() -> dict[str, tuple[ClaimDocument, str]]:
    secondary = make_claim(6, variant="cob_secondary")
    primary = make_claim(5, variant="cob_primary")
    adjudication = secondary.other_payers[0].adjudication
    assert adjudication is not None
    first = adjudication.lines[0]
    not_a_group = replace(first.adjustments[0], group="OI")  # type: ignore[arg-type]  # 835 has no OI group
    # 36 more adjustments that cancel out (the line still balances): 8 CAS segments, more than the 5 allowed.
    too_many = tuple(
        Adjustment(g, str(100 + k), Decimal("0.01") * (-1) ** k) for g in ("CO", "OA", "PI") for k in range(12)
    )
    return {
        "line unbalanced": (
            _first_line(secondary, paid_amount=first.paid_amount + 1),
            r"adjudication\.lines\[0\]: line charge",
        ),
        "claim unbalanced": (
            _with_primary(secondary, paid_amount=adjudication.paid_amount + 1),
            r"other_payers\[0\]\.adjudication: total charge",
        ),
        "claim-level liability with lines": (
            _with_primary(secondary, remaining_patient_liability=Decimal("5")),
            "remaining_patient_liability: goes on the lines",
        ),
        "line out of range": (_first_line(secondary, line_number=len(secondary.lines) + 1), r"lines\[0\]\.line_number"),
        "line twice": (_with_primary(secondary, lines=(first, *adjudication.lines)), r"lines\[1\]\.line_number"),
        "negative paid": (_with_primary(secondary, paid_amount=Decimal("-1")), "paid_amount: must not be negative"),
        "bad group": (
            _first_line(secondary, adjustments=(not_a_group, *first.adjustments[1:])),
            r"adjustments\[0\]\.group",
        ),
        "bad reason": (
            _first_line(secondary, adjustments=(replace(first.adjustments[0], reason="4*5"), *first.adjustments[1:])),
            r"adjustments\[0\]\.reason",
        ),
        "too many CAS": (
            _first_line(secondary, adjustments=(*first.adjustments, *too_many)),
            r"lines\[0\]\.adjustments: at most 5 CAS",
        ),
        "same place as claim": (
            replace(
                secondary,
                other_payers=(replace(secondary.other_payers[0], responsibility="S"), *secondary.other_payers[1:]),
            ),
            r"other_payers\[0\]\.responsibility: each payer",
        ),
        "two primaries": (
            replace(
                primary,
                payer_responsibility="T",
                other_payers=(
                    replace(primary.other_payers[0], responsibility="P"),
                    replace(primary.other_payers[1], responsibility="P"),
                ),
            ),
            r"other_payers\[1\]\.responsibility: each payer",
        ),
        "later payer adjudicated": (
            replace(
                secondary,
                other_payers=(secondary.other_payers[0], replace(secondary.other_payers[1], adjudication=adjudication)),
            ),
            r"other_payers\[1\]\.adjudication: a payer later",
        ),
        "shared payer id": (
            replace(
                primary,
                other_payers=(
                    primary.other_payers[0],
                    replace(primary.other_payers[1], payer=primary.other_payers[0].payer),
                ),
            ),
            r"other_payers\[1\]\.payer\.payer_id",
        ),
        "bad claim responsibility": (
            replace(primary, payer_responsibility="X"),  # type: ignore[arg-type]
            "payer_responsibility: must be P, S or T",
        ),
        "bad insurance type": (
            replace(
                primary, other_payers=(replace(primary.other_payers[0], insurance_type="99"), primary.other_payers[1])
            ),
            r"other_payers\[0\]\.insurance_type",
        ),
        "other_subscribers disagree": (
            replace(primary, other_subscribers=(make_claim(1, variant="secondary").other_subscribers)),
            "must name the same payers as other_subscribers",
        ),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_writer_refuses_unbalanced_or_out_of_sequence_other_payers(case: str) -> None:
    claim, field = _refusals()[case]
    with pytest.raises(X12ContentError, match=field) as refused:
        write([claim])
    for other in claim.other_payers:
        assert other.member_id not in str(refused.value)


def test_claim_level_adjudication_balances_against_the_total() -> None:
    claim = make_claim(8, variant="cob_primary")
    medicare = OtherPayer.from_subscriber(
        make_claim(8, variant="secondary").other_subscribers[0],
        adjudication=Adjudication(paid_amount=claim.total_charge - Decimal("10.00"), adjudication_date=date(2026, 9, 1),
                                  adjustments=(Adjustment("PR", "1", Decimal("10.00")),),
                                  remaining_patient_liability=Decimal("4.00")),
    )  # fmt: skip
    assert medicare.responsibility == "P"
    billed = replace(claim, subscriber=replace(claim.subscriber, rank="secondary"), payer_responsibility=None,
                     other_payers=(medicare,))  # fmt: skip
    assert billed.responsibility == "S"  # from the billed coverage's rank when not given
    interchange = write([billed])
    assert release_837p(interchange)
    (loop,) = other_payer_loops(claim_segments(interchange.text))
    assert money(loop, "AMT", "EAF") == Decimal("4")  # the provider's figure wins over the PR total
    unbalanced = replace(billed, other_payers=(replace(medicare, adjudication=replace(
        medicare.adjudication, paid_amount=claim.total_charge)),))  # type: ignore[type-var]  # fmt: skip
    with pytest.raises(X12ContentError, match="total charge"):
        write([unbalanced])


def test_reprs_of_other_payer_values_carry_no_values() -> None:
    claim = make_claim(6, variant="cob_secondary")
    other = claim.other_payers[0]
    assert other.adjudication is not None
    shown = " ".join(repr(x) for x in (other, other.adjudication, other.adjudication.lines[0],
                                        other.adjudication.adjustments[0], claim))  # fmt: skip
    assert other.member_id not in shown and str(other.adjudication.paid_amount) not in shown
    assert "253" not in shown and other.payer.name not in shown


# --- the release gate ------------------------------------------------------------------------------------------
@functools.cache
def cob_file() -> Interchange:
    """Loops 2320 (with and without adjudication, CAS, AMT*D, AMT*EAF), 2330A, 2330B (DTP*573, REF*F8) and 2430."""
    return write([make_claim(11, variant="cob_tertiary"), make_claim(11, variant="cob_secondary")])


def cob_segment_indexes(text: str) -> set[int]:
    """Indexes of the segments this feature writes: 2000B SBR, every 2320/2330A/2330B and every 2430 segment."""
    segs = segments(text)
    found: set[int] = set()
    state = ""
    for i, s in enumerate(segs):
        if s[0] == "HL":
            state = "2000B" if s[3] == "22" else ""
        elif s[0] == "CLM":
            state = "2300"
        elif s[0] == "SBR":
            state = "2320" if state in ("2300", "2320") else state
        elif s[0] == "LX":
            state = "2400"
        elif s[0] == "SVD":
            state = "2430"
        elif s[0] == "SE":
            state = ""
        if state in ("2320", "2430") or (state == "2000B" and s[0] == "SBR"):
            found.add(i)
    return found


SHARDS = 2


@pytest.mark.parametrize("shard", range(SHARDS))
def test_release_is_refused_when_any_new_mandatory_element_is_blanked(shard: int) -> None:
    interchange = cob_file()
    assert release_837p(interchange)
    indexes = cob_segment_indexes(interchange.text)
    targets = [t for t in mandatory_elements(interchange.text) if t[0] in indexes]
    kinds = {t[1] for t in targets}
    assert kinds >= {"SBR", "CAS", "AMT", "OI", "NM1", "DTP", "SVD"} and len(targets) > 60
    released = []
    for index, seg_id, position, component in targets[shard::SHARDS]:
        bad = replace(interchange, text=corrupt(interchange.text, index, position, component))
        try:
            release_837p(bad)
        except ReleaseRefused as refused:
            assert refused.report.issues
        else:
            released.append(f"{seg_id}{position:02d}" + (f"-{component}" if component else "") + f" @{index}")
    assert not released, f"released with a blank mandatory element: {', '.join(released)}"


# --- assembly from storage -------------------------------------------------------------------------------------
@pytest.fixture
def world(runtime: Runtime) -> BillingWorld:
    return build_billing_world(runtime)


def _second_payer(gate: PHIGate, world: BillingWorld) -> Any:
    return add_payer(gate=gate, data=PayerCreate(payer_id="SUPP01", name="Supplemental Mutual",
                                                 trading_partner_id=world.partner_id))  # fmt: skip


def test_assembly_fills_other_payers_from_active_coverages(world: BillingWorld) -> None:
    patient_id, encounter_id = world.patient(family="Germain", seed=4)
    with world.gate() as gate:
        supplemental = _second_payer(gate, world)
        add_coverage(gate=gate, patient_id=patient_id, data=CoverageCreate(
            rank="secondary", payer_name="Supplemental Mutual", payer_id=supplemental.id, member_id="SUP12345678",
            group_number="GRP77", subscriber_relationship="spouse", subscriber_given_name="Carl",
            subscriber_family_name="Germain", subscriber_birth_date=date(1968, 3, 3),
            effective_from=date(2026, 1, 1)))  # fmt: skip
        # A tertiary coverage that ended before the date of service is no other payer of this claim.
        add_coverage(gate=gate, patient_id=patient_id, data=CoverageCreate(
            rank="tertiary", payer_name="Supplemental Mutual", payer_id=supplemental.id, member_id="OLD0000001",
            effective_from=date(2025, 1, 1), effective_to=SERVICE_DATE.replace(day=1)))  # fmt: skip
        primary_claim = create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id))
        secondary_claim = create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id, rank="secondary"))
    with world.gate() as gate:
        docs = claim_documents(gate=gate, claim_ids=[primary_claim.id, secondary_claim.id])
    primary, secondary = docs[primary_claim.id], docs[secondary_claim.id]

    assert primary.payer_responsibility == "P" and primary.responsibility == "P"
    (other,) = primary.other_payers
    assert (other.responsibility, other.payer.payer_id, other.member_id) == ("S", "SUPP01", "SUP12345678")
    assert (other.relationship, other.subscriber.family_name, other.group_number) == ("spouse", "Germain", "GRP77")
    assert other.adjudication is None
    assert [s.payer.payer_id for s in primary.other_subscribers] == ["SUPP01"]  # unchanged for older readers

    assert secondary.payer_responsibility == "S" and secondary.subscriber.payer.payer_id == "SUPP01"
    (first,) = secondary.other_payers
    assert (first.responsibility, first.payer.payer_id, first.relationship) == ("P", world.payer_code, "self")

    for doc, sequence in ((primary, ["P", "S"]), (secondary, ["S", "P"])):
        interchange = write([doc])
        assert release_837p(interchange)
        assert [s[1] for s in segments(interchange.text) if s[0] == "SBR"] == sequence


def test_assembly_reads_each_table_once_for_a_batch(world: BillingWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    with world.gate() as gate:
        supplemental = _second_payer(gate, world)
    for seed, family in enumerate(("Curie", "Meitner", "Franklin")):
        patient_id, encounter_id = world.patient(family=family, seed=seed + 20)
        with world.gate() as gate:
            add_coverage(gate=gate, patient_id=patient_id, data=CoverageCreate(
                rank="secondary", payer_name="Supplemental Mutual", payer_id=supplemental.id,
                member_id=f"SUP{seed:08d}", effective_from=date(2026, 1, 1)))  # fmt: skip
            ids.append(create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id)).id)

    def reads(claim_ids: list[Any]) -> int:
        calls = 0
        original = PHIGate.select

        def counting(self: PHIGate, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return original(self, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(PHIGate, "select", counting)
            with world.gate() as gate:
                docs = claim_documents(gate=gate, claim_ids=claim_ids)
        assert all(len(d.other_payers) == 1 for d in docs.values())
        return calls

    assert reads(ids[:1]) == reads(ids) > 0  # the same reads for one claim as for three
