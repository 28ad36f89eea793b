"""Acknowledgement parsing: 999s accepted, rejected and partly accepted (per ST02, with IK3/IK4 codes and
positions), 277CAs accepted and rejected with (category, status, entity) reasons, any delimiters the ISA
announces, and malformed files refused by the pyx12 gate with messages that carry no values."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from claimvault.billing.x12.ack_validation import AckFileRejected
from claimvault.billing.x12.acks import parse_ack, read_delimiters
from tests.ack_files import ODD, STANDARD, Delimiters, make_277ca, make_999

CLAIMS = [("CV-1001", Decimal("125.00")), ("CV-1002", Decimal("80.50")), ("CV-1003", Decimal("300.00"))]
MARKER = "ZQMARKERQZ"


def _recount(text: str) -> str:
    """Fix SE01 after a test edits segments of a standard-delimiter file."""
    segments = text.split("~\n")
    st = next(i for i, s in enumerate(segments) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    segments[se] = f"SE*{se - st + 1}*{segments[se].split('*')[2]}"
    return "~\n".join(segments)


# --- 999 --------------------------------------------------------------------------------------------------------


def test_999_all_accepted() -> None:
    ack = parse_ack(make_999(group_control=4107, transaction_controls=[1, 2, 3]))
    assert ack.kind == "999" and ack.interchange_control == "000000901"
    [group] = ack.groups
    assert (group.functional_id, group.group_control, group.version) == ("HC", "4107", "005010X222A1")
    assert (group.code, group.included, group.received, group.accepted_count) == ("A", 3, 3, 3)
    assert [t.control_number for t in group.transactions] == ["0001", "0002", "0003"]
    assert all(t.accepted and t.code == "A" and t.segment_errors == () for t in ack.transactions)
    assert ack.claims == ()


def test_999_rejected_with_segment_and_element_errors() -> None:
    ack = parse_ack(make_999(group_control=52, transaction_controls=[7, 8], rejected={7, 8}, claim_refs={8: "CV-8"}))
    [group] = ack.groups
    assert (group.code, group.accepted_count) == ("R", 0)
    first, second = ack.transactions
    assert not first.accepted and first.code == "R" and first.syntax_errors == ("5",)
    [error] = first.segment_errors
    assert (error.segment_id, error.position, error.loop_id, error.code) == ("NM1", 8, "2010", "8")
    [element] = error.elements
    assert (element.position, element.component, element.data_element, element.code) == (9, None, "67", "1")
    assert first.segment_errors[0].claim_reference is None
    assert second.segment_errors[0].claim_reference == "CV-8"


def test_999_partially_accepted() -> None:
    ack = parse_ack(make_999(group_control=9, transaction_controls=[11, 12, 13], rejected={12}))
    [group] = ack.groups
    assert (group.code, group.included, group.accepted_count) == ("P", 3, 2)
    assert {t.control_number: t.accepted for t in group.transactions} == {"0011": True, "0012": False, "0013": True}


def test_999_accepted_with_errors_counts_as_accepted() -> None:
    text = make_999(group_control=9, transaction_controls=[1]).replace("IK5*A~", "IK5*E~").replace("AK9*A*", "AK9*E*")
    [t] = parse_ack(text).transactions
    assert t.code == "E" and t.accepted


# --- 277CA ------------------------------------------------------------------------------------------------------


def test_277ca_accepted_claims() -> None:
    ack = parse_ack(make_277ca(claims=CLAIMS))
    assert ack.kind == "277CA" and ack.groups == ()
    assert [c.patient_control_number for c in ack.claims] == ["CV-1001", "CV-1002", "CV-1003"]
    assert [c.total_charge for c in ack.claims] == [Decimal("125.00"), Decimal("80.50"), Decimal("300.00")]
    assert all(c.outcome == "accepted" and c.reasons == () for c in ack.claims)
    assert all(c.payer_claim_control_number and c.payer_claim_control_number.isdigit() for c in ack.claims)
    assert all(c.clearinghouse_trace for c in ack.claims)
    assert ack.receiver_statuses[0].codes[0].as_tuple() == ("A1", "19", "PR")


def test_277ca_rejected_claims_carry_code_tuples() -> None:
    rejected: dict[str, tuple[str, str] | tuple[str, str, str]] = {
        "CV-1002": ("A7", "562", "85"),
        "CV-1003": ("A6", "21"),
    }
    ack = parse_ack(make_277ca(claims=CLAIMS, rejected=rejected))
    by_number = {c.patient_control_number: c for c in ack.claims}
    assert by_number["CV-1001"].outcome == "accepted"
    assert by_number["CV-1002"].outcome == "rejected"
    assert by_number["CV-1002"].reasons == (("A7", "562", "85"),)
    assert by_number["CV-1002"].payer_claim_control_number is None
    assert by_number["CV-1002"].statuses[0].action == "U"
    assert by_number["CV-1003"].reasons == (("A6", "21", None),)
    assert by_number["CV-1003"].total_charge == Decimal("300.00")
    # reprs carry codes, never our claim numbers or the payer's
    assert "CV-1002" not in repr(by_number["CV-1002"]) and "CV-" not in repr(ack)


@pytest.mark.parametrize("category", ["A3", "A4", "A8", "E0"])
def test_277ca_rejecting_categories(category: str) -> None:
    ack = parse_ack(make_277ca(claims=CLAIMS[:1], rejected={"CV-1001": (category, "0")}))
    assert ack.claims[0].outcome == "rejected"


def test_277ca_pending_category_is_neither_accepted_nor_rejected() -> None:
    text = make_277ca(claims=CLAIMS[:1]).replace("STC*A2:20:PR*", "STC*P1:20:PR*")
    assert parse_ack(text).claims[0].outcome == "pending"


def test_277ca_second_and_third_status_composites_are_reasons() -> None:
    text = make_277ca(claims=CLAIMS[:1], rejected={"CV-1001": ("A7", "562", "85")})
    text = text.replace("*U*125~", "*U*125******A7:153:IL*A8:509~")
    [claim] = parse_ack(text).claims
    assert claim.reasons == (("A7", "562", "85"), ("A7", "153", "IL"), ("A8", "509", None))


def test_277ca_rejected_service_line_rejects_the_claim() -> None:
    text = make_277ca(claims=CLAIMS[:1])
    text = _recount(
        text.replace(
            "DTP*472*D8*20250303~", "DTP*472*D8*20250303~\nSVC*HC:99213*125~\nSTC*A7:453*20250314*U~\nREF*FJ*1~"
        )
    )
    [claim] = parse_ack(text).claims
    [line] = claim.lines
    assert (line.procedure, line.charge, line.line_control, line.outcome) == (
        "99213",
        Decimal("125.00"),
        "1",
        "rejected",
    )
    assert claim.outcome == "rejected" and claim.reasons == (("A7", "453", None),)


# --- delimiters -------------------------------------------------------------------------------------------------

DELIMITER_SETS = [
    STANDARD,
    ODD,  # "|" elements, ">" components, newline as the segment terminator
    Delimiters(element="^", component="\\", repetition="{", segment="'", newline=False),
    Delimiters(element="*", component=":", repetition="^", segment="~", newline=False),
]


@pytest.mark.parametrize("delimiters", DELIMITER_SETS, ids=["standard", "pipes-newline", "edifact-like", "one-line"])
def test_any_announced_delimiters(delimiters: Delimiters) -> None:
    ack = parse_ack(make_999(group_control=3, transaction_controls=[1, 2], rejected={2}, delimiters=delimiters))
    assert [t.accepted for t in ack.transactions] == [True, False]
    assert ack.transactions[1].segment_errors[0].elements[0].position == 9
    rejected = {"CV-1002": ("A7", "562", "85")}
    ca = parse_ack(make_277ca(claims=CLAIMS, rejected=rejected, delimiters=delimiters))
    assert [c.outcome for c in ca.claims] == ["accepted", "rejected", "accepted"]
    assert ca.claims[1].reasons == (("A7", "562", "85"),)
    d = read_delimiters(make_999(group_control=3, transaction_controls=[1], delimiters=delimiters))
    assert (d.element, d.component, d.repetition, d.segment) == (
        delimiters.element, delimiters.component, delimiters.repetition, delimiters.segment)  # fmt: skip


def test_crlf_line_breaks_and_bytes_input() -> None:
    text = make_999(group_control=3, transaction_controls=[1]).replace("~\n", "~\r\n")
    assert parse_ack(text.encode()).transactions[0].accepted


# --- malformed files ------------------------------------------------------------------------------------------


def _refused(text: str | bytes, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    with caplog.at_level(logging.DEBUG), pytest.raises(AckFileRejected) as caught:
        parse_ack(text)
    message = str(caught.value)
    out, err = capsys.readouterr()
    assert MARKER not in message and MARKER not in repr(caught.value.problems)
    assert MARKER not in out + err + caplog.text
    exc = caught.value
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)  # no chained pyx12 text
    return message


def test_invalid_value_refused_without_the_value(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    text = make_277ca(claims=CLAIMS).replace("DTP*472*D8*20250303", f"DTP*472*D8*{MARKER}", 1)
    message = _refused(text, capsys, caplog)
    assert "277CA file failed X12 validation" in message and "DTP" in message


def test_unknown_status_category_refused(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    text = make_277ca(claims=CLAIMS, rejected={"CV-1001": ("Q9", "562")})
    text = text.replace("NM1*QC*1*", f"NM1*QC*1*{MARKER}", 1)
    message = _refused(text, capsys, caplog)
    assert "STC" in message


def test_999_with_bad_control_number_refused(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    text = make_999(group_control=12, transaction_controls=[1]).replace("AK1*HC*12*", f"AK1*HC*{MARKER}1234567890*")
    assert "AK1" in _refused(text, capsys, caplog)


def test_wrong_segment_count_refused(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    text = make_999(group_control=12, transaction_controls=[1, 2]).replace("SE*8*", "SE*9*")
    assert "validation" in _refused(text, capsys, caplog)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[: t.index("GE*")],  # truncated: no GE/IEA
        lambda t: t.replace("ISA*", "XSA*", 1),  # no ISA
        lambda t: t[:50],  # a stub
        lambda t: t.replace("ST*999*", f"ST*837*{MARKER}"),  # not an acknowledgement
        lambda t: t.replace("IK5*A", f"IK5*{MARKER}"),
        lambda t: t.replace("*0*T*:~", "*0*T*~~", 1),  # component separator equal to the terminator
    ],
    ids=["truncated", "no-isa", "stub", "not-an-ack", "bad-ik5", "bad-isa16"],
)
def test_malformed_999_refused(mangle, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    text = mangle(make_999(group_control=12, transaction_controls=[1]))
    _refused(text, capsys, caplog)


def test_non_ascii_bytes_refused(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    assert "ASCII" in _refused(b"ISA\xff" + MARKER.encode(), capsys, caplog)


def test_an_835_is_not_an_acknowledgement(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    text = make_999(group_control=1, transaction_controls=[1]).replace("ST*999*", "ST*835*")
    assert "neither" in _refused(text, capsys, caplog)
