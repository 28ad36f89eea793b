"""The pattern recognizers: exact spans and types for each identifier, context rules, look-alikes rejected, the
hard negatives of the issue (bare 9- and 10-digit numbers, spaced SSNs, ids inside words), overlap resolution
and redacted previews."""

from __future__ import annotations

import pytest

from claimvault.discovery.recognizers import Finding, analyze, redact, resolve_overlaps


def _found(text: str, context: str | None = None) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in analyze(text, context=context)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Patient SSN: 123-45-6780 on file.", [("US_SSN", "123-45-6780")]),
        ("Rendering NPI 1234567893 for the claim", [("US_NPI", "1234567893")]),
        ("Medicare MBI 1EG4-TE5-MK73 verified", [("MEDICARE_MBI", "1EG4-TE5-MK73")]),
        ("beneficiary 1EG4TE5MK73", [("MEDICARE_MBI", "1EG4TE5MK73")]),
        ("Prescriber DEA AB1234563.", [("DEA_NUMBER", "AB1234563")]),
        ("Routing number 011000015, account on file", [("ABA_ROUTING", "011000015")]),
        ("card 4111 1111 1111 1111 exp 12/29", [("CREDIT_CARD", "4111 1111 1111 1111")]),
        ("paid with 2223003122003222", [("CREDIT_CARD", "2223003122003222")]),
        ("write to ada.q+billing@example.org today", [("EMAIL", "ada.q+billing@example.org")]),
        ("call (415) 555-0134 after 5", [("PHONE", "(415) 555-0134")]),
        ("from 203.0.113.7 at noon", [("IP_ADDRESS", "203.0.113.7")]),
        ("client 2001:db8::1 connected", [("IP_ADDRESS", "2001:db8::1")]),
    ],
)
def test_each_type_is_found_with_its_exact_span(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "SSN 078-05-1120",  # the Woolworth number
        "SSN 900-12-3456",  # never issued
        "NPI 1234567890",  # wrong check digit
        "MBI 1SG4TE5MK73",  # S is never used
        "DEA AB1234564",  # checksum
        "routing 011000016",  # checksum
        "card 4111111111111112",  # Luhn
        "card 1234567812345670",  # Luhn-valid, no network
        "ip 999.1.1.1",
    ],
)
def test_look_alikes_that_fail_their_check_are_rejected(text: str) -> None:
    assert analyze(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "order 123456780 shipped",  # a bare 9-digit number: no SSN, no routing number without context
        "invoice 1234567893 paid",  # a bare 10-digit number passing the NPI check: no context
        "code 123 45 6780 in the manual",  # a spaced SSN-shaped number without context
        "id XK1234567893Z and ref123-45-6780",  # ids inside words
        "version 10.2.3.4.5",  # not an IP address
    ],
)
def test_hard_negatives_without_context_are_not_flagged(text: str) -> None:
    assert analyze(text) == []


def test_context_turns_ambiguous_forms_into_findings() -> None:
    assert _found("ssn 123456780") == [("US_SSN", "123456780")]
    assert _found("social security number: 123 45 6780") == [("US_SSN", "123 45 6780")]
    assert _found("123456780", context="patient_ssn") == [("US_SSN", "123456780")]
    assert _found("1234567893", context="billing_provider_npi") == [("US_NPI", "1234567893")]
    assert _found("011000015", context="routing_number") == [("ABA_ROUTING", "011000015")]


def test_context_raises_confidence() -> None:
    plain = analyze("123-45-6780")[0]
    framed = analyze("SSN 123-45-6780")[0]
    assert framed.score > plain.score >= 0.5


def test_validated_type_outranks_context_only_type_on_the_same_span() -> None:
    a = Finding("PHONE", 0, 12, 0.92, "phone.nanp", "***", validated=False)
    b = Finding("US_SSN", 0, 11, 0.85, "ssn.dashed", "***", validated=True)
    c = Finding("EMAIL", 20, 30, 0.9, "email", "***")
    assert resolve_overlaps([a, b, c]) == [b, c]


def test_previews_never_hold_the_full_value() -> None:
    text = "SSN 123-45-6780, card 4111-1111-1111-1111, MBI 1EG4-TE5-MK73, mail ada@example.org"
    for finding in analyze(text):
        value = text[finding.start : finding.end]
        assert finding.preview != value and len(finding.preview) == len(value)
        assert finding.preview.endswith(value[-2:]) or not value[-2:].isalnum()
    assert redact("123-45-6780") == "***-**-**80"


def test_offsets_are_code_point_offsets() -> None:
    text = "Ünïcödé prefix — SSN 123-45-6780"
    (finding,) = analyze(text)
    assert text[finding.start : finding.end] == "123-45-6780"
