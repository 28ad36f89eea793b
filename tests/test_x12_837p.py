"""The 837P writer and its pyx12 release gate: structure, control numbers, pyx12 validity of every seeded variant,
refusal of a file with any mandatory element corrupted, and reports that never carry element values."""

from __future__ import annotations

import functools
import io
import logging
import re
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import pyx12.x12n_document

from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.x12.claim_837p import Interchange, write_837p
from claimvault.billing.x12.envelope import (
    InMemoryControlNumbers,
    TradingPartner,
    X12ContentError,
    clean_text,
)
from claimvault.billing.x12.validation import _PARAMS, ReleaseRefused, release_837p, validate_x12
from tests.claim_documents import COMMERCIAL_PAYER_ID, VARIANTS, make_claim, make_partner

CREATED = datetime(2026, 11, 24, 10, 30)
COMMERCIAL = tuple(v for v in VARIANTS if v != "medicare")


def partner(key: str = "CH1") -> TradingPartner:
    return make_partner(key)


def write(claims: list[ClaimDocument], numbers: InMemoryControlNumbers | None = None, **kw: Any) -> Interchange:
    return write_837p(
        claims=claims, partner=kw.pop("partner", partner()), numbers=numbers or InMemoryControlNumbers(),
        created=CREATED, **kw,
    )  # fmt: skip


def segments(text: str) -> list[list[str]]:
    return [s.split("*") for s in text.split("~") if s]


def ids(text: str) -> list[str]:
    return [s[0] for s in segments(text)]


# --- pyx12 validity --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_validates_with_zero_errors(variant: str) -> None:
    interchange = write([make_claim(7, variant=variant), make_claim(8, variant=variant)])
    report = validate_x12(interchange.text, expect=("HC", "837", "005010X222A1"))
    assert report.valid, report.summary()
    assert release_837p(interchange) == interchange.text


def test_one_file_per_payer_holds_every_commercial_variant() -> None:
    claims = [make_claim(seed, variant=v) for seed in range(3) for v in COMMERCIAL]
    interchange = write(claims)
    assert release_837p(interchange)
    assert interchange.payer_id == COMMERCIAL_PAYER_ID
    assert interchange.claim_ids and set(interchange.claim_ids) == {c.claim_id for c in claims}
    assert ids(interchange.text).count("CLM") == len(claims)
    # Claims are grouped under their billing provider: one 2000A per distinct provider.
    providers = {c.billing_provider for c in claims}
    assert sum(1 for s in segments(interchange.text) if s[0] == "HL" and s[3] == "20") == len(providers)


def test_claims_to_different_payers_are_refused() -> None:
    with pytest.raises(X12ContentError, match="same payer"):
        write([make_claim(1, variant="self"), make_claim(1, variant="medicare")])


# --- structure -------------------------------------------------------------------------------------------------
def hl_tree(text: str) -> list[tuple[int, int | None, str, str]]:
    return [(int(s[1]), int(s[2]) if s[2] else None, s[3], s[4]) for s in segments(text) if s[0] == "HL"]


def test_hierarchy_without_patient_loop_when_patient_is_subscriber() -> None:
    text = write([make_claim(3, variant="self")]).text
    assert hl_tree(text) == [(1, None, "20", "1"), (2, 1, "22", "0")]
    assert "PAT" not in ids(text)
    sbr = next(s for s in segments(text) if s[0] == "SBR")
    assert sbr[1:3] == ["P", "18"]
    # 2010BA carries the patient's demographics when the subscriber is the patient.
    assert ids(text)[ids(text).index("SBR") :].index("DMG") < ids(text)[ids(text).index("SBR") :].index("CLM")


def test_hierarchy_with_patient_loop_when_patient_is_not_subscriber() -> None:
    claim = make_claim(3, variant="dependent")
    text = write([claim]).text
    assert hl_tree(text) == [(1, None, "20", "1"), (2, 1, "22", "1"), (3, 2, "23", "0")]
    sbr = next(s for s in segments(text) if s[0] == "SBR")
    assert sbr[2] == ""  # SBR02 only when the subscriber is the patient
    pat = next(s for s in segments(text) if s[0] == "PAT")
    assert pat[1] in ("01", "19")
    nm1_qc = next(s for s in segments(text) if s[0] == "NM1" and s[1] == "QC")
    assert nm1_qc[3] == clean_text(claim.patient.family_name, max_len=60)


def test_hl_parents_are_consistent_across_many_claims() -> None:
    text = write([make_claim(seed, variant=v) for seed in range(4) for v in COMMERCIAL]).text
    levels: dict[int, str] = {}
    for number, parent, level, _child in hl_tree(text):
        assert number == len(levels) + 1
        expected_parent_level = {"20": None, "22": "20", "23": "22"}[level]
        assert (levels[parent] if parent else None) == expected_parent_level
        levels[number] = level
    children = {parent for _, parent, _, _ in hl_tree(text) if parent}
    assert all((child == "1") == (number in children) for number, _, _, child in hl_tree(text))


def test_diagnosis_qualifiers_are_abk_then_abf() -> None:
    claim = make_claim(5, variant="full")
    hi = next(s for s in segments(write([claim]).text) if s[0] == "HI")
    assert len(hi) - 1 == len(claim.diagnoses) == 12
    assert [c.split(":")[0] for c in hi[1:]] == ["ABK"] + ["ABF"] * 11
    assert [c.split(":")[1] for c in hi[1:]] == [d.code for d in claim.diagnoses]


def test_se_counts_and_control_numbers_match() -> None:
    text = write([make_claim(s, variant=v) for s in range(2) for v in COMMERCIAL], max_claims_per_transaction=5).text
    segs = segments(text)
    starts = [i for i, s in enumerate(segs) if s[0] == "ST"]
    assert len(starts) == 4  # 14 claims, 5 per transaction
    for start in starts:
        end = next(i for i in range(start, len(segs)) if segs[i][0] == "SE")
        assert int(segs[end][1]) == end - start + 1
        assert segs[end][2] == segs[start][2]
    assert segs[-2] == ["GE", "4", segs[1][6]]
    assert segs[-1] == ["IEA", "1", segs[0][13]]


def test_large_batches_are_split_into_transactions_that_validate() -> None:
    claims = [make_claim(s, variant="self") for s in range(5)]
    interchange = write(claims, max_claims_per_transaction=2)
    assert len(interchange.transaction_numbers) == 3
    assert release_837p(interchange)
    # HL numbering restarts in each transaction set.
    assert [s[1] for s in segments(interchange.text) if s[0] == "HL" and s[3] == "20"] == ["1", "1", "1"]


@pytest.mark.parametrize(("variant", "frequency"), [("self", "1"), ("replacement", "7"), ("void", "8")])
def test_frequency_code_and_original_reference(variant: str, frequency: str) -> None:
    claim = make_claim(2, variant=variant)
    segs = segments(write([claim]).text)
    clm = next(s for s in segs if s[0] == "CLM")
    assert clm[5].split(":") == ["11", "B", frequency]
    f8 = [s for s in segs if s[:2] == ["REF", "F8"]]
    assert f8 == ([] if frequency == "1" else [["REF", "F8", claim.original_reference]])


def test_original_reference_is_required_for_replacement_and_void() -> None:
    claim = replace(make_claim(2, variant="void"), original_reference=None)
    with pytest.raises(X12ContentError, match=r"original_reference"):
        write([claim])


def test_secondary_claim_carries_the_other_payer() -> None:
    claim = make_claim(4, variant="secondary")
    segs = segments(write([claim]).text)
    sbrs = [s for s in segs if s[0] == "SBR"]
    assert [s[1] for s in sbrs] == ["S", "P"]  # billed secondary (2000B), Medicare primary (2320)
    assert sbrs[1][9] == "MB"
    other = claim.other_subscribers[0]
    assert other.paid_amount is not None
    assert ["AMT", "D", format(other.paid_amount.normalize(), "f")] in segs
    i = segs.index(sbrs[1])
    assert [s[0] for s in segs[i : i + 5]] == ["SBR", "AMT", "OI", "NM1", "N3"]
    assert segs[i + 3][:3] == ["NM1", "IL", "1"] and segs[i + 3][-1] == other.member_id
    assert any(s[:2] == ["NM1", "PR"] and s[-1] == other.payer.payer_id for s in segs[i:])


def test_lines_modifiers_pointers_and_providers() -> None:
    claim = make_claim(6, variant="full")
    segs = segments(write([claim]).text)
    sv1 = [s for s in segs if s[0] == "SV1"]
    assert len(sv1) == len(claim.lines) >= 4
    for seg, line in zip(sv1, claim.lines, strict=True):
        assert seg[1].split(":") == ["HC", line.procedure_code, *line.modifiers]
        assert seg[7].split(":") == [str(p) for p in line.diagnosis_pointers]
        assert Decimal(seg[2]) == line.charge and seg[3] == "UN" and Decimal(seg[4]) == line.units
    assert [s[0] for s in segs].count("LX") == len(claim.lines)
    assert next(s for s in segs if s[:2] == ["DTP", "472"])[:3] == ["DTP", "472", "RD8"]
    entity_codes = [s[1] for s in segs if s[0] == "NM1"]
    assert entity_codes.index("DN") < entity_codes.index("82") < entity_codes.index("77") < entity_codes.index("PR", 5)
    assert any(s[:3] == ["PRV", "PE", "PXC"] for s in segs)


def test_billing_provider_needs_nine_digit_zip_and_tax_id() -> None:
    claim = make_claim(1, variant="self")
    bp = claim.billing_provider
    assert bp.address is not None
    short_zip = replace(claim, billing_provider=replace(bp, address=replace(bp.address, postal_code="12345")))
    with pytest.raises(X12ContentError, match=r"billing_provider\.address\.postal_code"):
        write([short_zip])
    text = write([claim]).text
    assert ["REF", "EI", bp.tax_id] in segments(text)


# --- control numbers -------------------------------------------------------------------------------------------
def test_control_numbers_increase_and_are_never_reused_per_partner() -> None:
    numbers = InMemoryControlNumbers()
    a = [write([make_claim(s, variant="self")], numbers, partner=partner("A")) for s in range(3)]
    b = write([make_claim(9, variant="self")], numbers, partner=partner("B"))
    assert [i.interchange_number for i in a] == [1, 2, 3]
    assert [i.group_number for i in a] == [1, 2, 3]
    assert [i.transaction_numbers for i in a] == [(1,), (2,), (3,)]
    assert (b.interchange_number, b.group_number, b.transaction_numbers) == (1, 1, (1,))  # independent
    assert segments(a[2].text)[0][13] == "000000003" and segments(a[2].text)[2][2] == "0003"
    refused = replace(make_claim(1, variant="self"), total_charge=Decimal("0.01"))
    with pytest.raises(X12ContentError):
        write([refused], numbers, partner=partner("A"))
    nxt = write([make_claim(4, variant="self")], numbers, partner=partner("A"))
    assert nxt.interchange_number == 4  # a refused claim consumed no number; none is handed out twice


# --- delimiters and escaping -----------------------------------------------------------------------------------
def test_free_text_colliding_with_delimiters_is_cleaned() -> None:
    claim = make_claim(1, variant="dependent")
    dirty = replace(claim, patient=replace(claim.patient, family_name="O'Brien*Smith~Jr:^ Élodie"))
    interchange = write([dirty])
    assert release_837p(interchange)
    qc = next(s for s in segments(interchange.text) if s[:2] == ["NM1", "QC"])
    assert qc[3] == "O'BRIEN SMITH JR ELODIE"


def test_identifiers_colliding_with_delimiters_are_refused_without_the_value() -> None:
    claim = make_claim(1, variant="self")
    bad = replace(claim, subscriber=replace(claim.subscriber, member_id="SECRET*ID~9"))
    with pytest.raises(X12ContentError) as err:
        write([bad])
    assert err.value.field.endswith("subscriber.member_id")
    assert "SECRET" not in str(err.value)


def test_partner_ids_are_checked() -> None:
    with pytest.raises(X12ContentError, match="isa_sender_id"):
        replace(partner(), isa_sender_id="A*B")
    with pytest.raises(X12ContentError, match="isa_receiver_qualifier"):
        replace(partner(), isa_receiver_qualifier="99")


def test_reprs_carry_no_values() -> None:
    interchange = write([make_claim(1, variant="self")])
    assert interchange.text not in repr(interchange)
    assert "ISA" not in repr(interchange) and "NM1" not in repr(interchange)


# --- the release gate ------------------------------------------------------------------------------------------
def mandatory_elements(text: str) -> list[tuple[int, str, int, int | None]]:
    """(segment index, segment id, element position, component position) of every element pyx12's map marks
    required in the segments of ``text``, taken from the map node pyx12 matched to each segment."""
    nodes: list[Any] = []
    pyx12.x12n_document.x12n_document(
        param=_PARAMS, src_file=io.StringIO(text), fd_997=None, fd_html=None,
        callback=lambda seg, src, node, valid: nodes.append(node),
    )  # fmt: skip
    segs = segments(text)
    assert [n.id for n in nodes] == [s[0] for s in segs]
    found = []
    for i, node in enumerate(nodes):
        for child in node.children:
            if child.usage != "R":
                continue
            if child.is_composite():
                found += [(i, node.id, child.seq, sub.seq) for sub in child.children if sub.usage == "R"]
            else:
                found.append((i, node.id, child.seq, None))
    return found


def corrupt(text: str, index: int, position: int, component: int | None) -> str:
    segs = segments(text)
    elements = segs[index]
    assert position < len(elements), f"{elements[0]}{position:02d} is required but was not written"
    if elements[0] == "ISA":  # fixed width: blank with spaces; an element blank by rule (ISA02/04) loses its width
        elements[position] = " " * len(elements[position]) if elements[position].strip() else ""
    elif component is None:
        elements[position] = ""
    else:
        parts = elements[position].split(":")
        parts[component - 1] = ""
        elements[position] = ":".join(parts)
    return "".join("*".join(s) + "~" for s in segs)


@functools.cache
def covering_file() -> Interchange:
    """One claim covering every loop the writer emits: 1000A/B, 2000A/2010AA, 2000B/2010BA/BB, 2000C/2010CA,
    2300 (REF*F8, HI), 2310A/B/C, 2320/2330A/B and several 2400 with modifiers."""
    return write([make_claim(11, variant="full")])


SHARDS = 3


@pytest.mark.parametrize("shard", range(SHARDS))
def test_release_is_refused_when_any_mandatory_element_is_blanked(shard: int) -> None:
    interchange = covering_file()
    assert release_837p(interchange)
    loops = {s[0] + s[1] for s in segments(interchange.text) if s[0] == "NM1"}
    assert loops >= {"NM141", "NM140", "NM185", "NM1IL", "NM1PR", "NM1QC", "NM1DN", "NM182", "NM177"}
    targets = mandatory_elements(interchange.text)
    assert len(targets) > 150
    released = []
    for index, seg_id, position, component in targets[shard::SHARDS]:
        bad = replace(interchange, text=corrupt(interchange.text, index, position, component))
        try:
            release_837p(bad)
        except ReleaseRefused as refused:
            assert refused.report.issues
        else:
            where = f"{seg_id}{position:02d}" + (f"-{component}" if component else "")
            released.append(f"{where} (segment {index + 1})")
    assert not released, f"released with a blank mandatory element: {', '.join(released)}"
    assert validate_x12(interchange.text).valid  # the cached maps kept no state from the corrupt files


def test_refusal_reports_positions_and_codes() -> None:
    interchange = write([make_claim(1, variant="dependent")])
    segs = segments(interchange.text)
    index = next(i for i, s in enumerate(segs) if s[:2] == ["NM1", "QC"])
    with pytest.raises(ReleaseRefused) as refused:
        release_837p(replace(interchange, text=corrupt(interchange.text, index, 3, None)))
    issue = next(i for i in refused.value.report.issues if i.level == "element")
    assert (issue.segment_id, issue.element_position, issue.code) == ("NM1", 3, "1")
    assert issue.segment_position == index - 1  # counted from ST (the file's third segment)
    assert issue.line == index + 1
    assert "NM103" in str(refused.value) and "required element missing" in str(refused.value)


def test_wrong_segment_count_is_refused() -> None:
    interchange = write([make_claim(1, variant="self")])
    text = re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m.group(1)) + 1}*", interchange.text)
    with pytest.raises(ReleaseRefused, match="segment count"):
        release_837p(replace(interchange, text=text))


@pytest.mark.parametrize("text", ["", "not an x12 file", "ISA*00*" + "~" * 120])
def test_unreadable_files_are_refused(text: str) -> None:
    interchange = write([make_claim(1, variant="self")])
    with pytest.raises(ReleaseRefused):
        release_837p(replace(interchange, text=text))


MARKER = "ZQXMARKERQZ"


def _plant(text: str, how: str) -> str:
    segs = segments(text)
    qc = next(i for i, s in enumerate(segs) if s[:2] == ["NM1", "QC"])
    if how == "name-too-long":
        segs[qc][3] = MARKER * 8
    elif how == "state-code":
        segs[qc + 2][2] = MARKER
    elif how == "bogus-segment":
        segs.insert(qc, [MARKER, "1"])
    elif how == "filing-indicator":
        next(s for s in segs if s[0] == "SBR")[9] = MARKER
    elif how == "gs-sender":
        segs[1][2] = MARKER * 2
    elif how == "date":
        next(s for s in segs if s[0] == "DMG")[2] = MARKER[:8]
    return "".join("*".join(s) + "~" for s in segs)


@pytest.mark.parametrize(
    "how", ["name-too-long", "state-code", "bogus-segment", "filing-indicator", "gs-sender", "date"]
)
def test_reports_never_carry_element_values(how: str, caplog: pytest.LogCaptureFixture) -> None:
    interchange = write([make_claim(1, variant="dependent")])
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    keep = Keep(level=logging.DEBUG)
    pyx12_logger = logging.getLogger("pyx12.error_handler")
    pyx12_logger.addHandler(keep)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(ReleaseRefused) as refused:
            release_837p(replace(interchange, text=_plant(interchange.text, how)))
    finally:
        pyx12_logger.removeHandler(keep)
    report = refused.value.report
    shown = [str(refused.value), repr(refused.value), repr(report), report.summary(limit=100)]
    shown += [issue.describe() for issue in report.issues]
    assert report.issues and all(MARKER[:8] not in text for text in shown), how
    assert MARKER[:8] not in caplog.text
    assert not [r for r in captured if MARKER[:8] in r.getMessage()]
