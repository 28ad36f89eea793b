"""The recognizers: exact spans and types for each entity type, context rules, look-alikes rejected, the hard
negatives of the issue (bare 9- and 10-digit numbers, spaced SSNs, ids inside words, dates in prose), person names
from dictionaries and context, organization MRN formats, overlap resolution and redacted previews."""

from __future__ import annotations

import itertools
import random

import pytest

from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.recognizers import RULES, Finding, analyze, redact, resolve_overlaps


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


# The new types: one positive and its look-alikes per type ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        # MRN: generic only with context
        ("MRN: 00123456 on the chart", None, [("MRN", "00123456")]),
        ("medical record number A1234567", None, [("MRN", "A1234567")]),
        ("00123456", "patient_mrn", [("MRN", "00123456")]),
        # MEMBER_ID
        ("Member ID: W123456789 verified", None, [("MEMBER_ID", "W123456789")]),
        ("policy number XK12345678", None, [("MEMBER_ID", "XK12345678")]),
        ("ZX9912345", "subscriber_id", [("MEMBER_ID", "ZX9912345")]),
        # ICD10_CM: dotted on its own, undotted with diagnosis context
        ("assessed E11.9 today", None, [("ICD10_CM", "E11.9")]),
        ("Dx: I10, E119", None, [("ICD10_CM", "I10"), ("ICD10_CM", "E119")]),
        ("HI*ABK:S72001A~", None, [("ICD10_CM", "S72001A")]),
        ("J45909", "diagnosis_code", [("ICD10_CM", "J45909")]),
        # PROCEDURE_CODE: CPT, CPT II, HCPCS with context; a modifier stays outside the span
        ("billed CPT 99213-25 today", None, [("PROCEDURE_CODE", "99213")]),
        ("HCPCS J1234 and 3078F", None, [("PROCEDURE_CODE", "J1234"), ("PROCEDURE_CODE", "3078F")]),
        ("SV1*HC:99214*100*UN*1~", None, [("PROCEDURE_CODE", "99214")]),
        ("99213", "cpt_code", [("PROCEDURE_CODE", "99213")]),
        # DATE_OF_BIRTH in each format, only after a birth word or in a birth field
        ("DOB: 03/04/1961", None, [("DATE_OF_BIRTH", "03/04/1961")]),
        ("dob 3/4/61", None, [("DATE_OF_BIRTH", "3/4/61")]),
        ("Date of birth 1961-03-04.", None, [("DATE_OF_BIRTH", "1961-03-04")]),
        ("born on March 3, 1961 in Ohio", None, [("DATE_OF_BIRTH", "March 3, 1961")]),
        ("birthDate: 3 Mar 1961", None, [("DATE_OF_BIRTH", "3 Mar 1961")]),
        ("DMG*D8*19610304*F~", None, [("DATE_OF_BIRTH", "19610304")]),
        ("DOB: 17-May-1967 |", None, [("DATE_OF_BIRTH", "17-May-1967")]),
        ("19610304", "patient.birthDate", [("DATE_OF_BIRTH", "19610304")]),
        # STREET_ADDRESS
        (
            "mail to 1234 N Oak Ridge Blvd Apt 5B, Springfield",
            None,
            [("STREET_ADDRESS", "1234 N Oak Ridge Blvd Apt 5B")],
        ),
        ("at 77 Elm St. today", None, [("STREET_ADDRESS", "77 Elm St.")]),
        ("12 ELM ST", None, [("STREET_ADDRESS", "12 ELM ST")]),
        ("8241 12th Dr Unit 366, Phoenix", None, [("STREET_ADDRESS", "8241 12th Dr Unit 366")]),
        ("send it to PO Box 123 now", None, [("STREET_ADDRESS", "PO Box 123")]),
        ("P.O. Box 4471", None, [("STREET_ADDRESS", "P.O. Box 4471")]),
        # ZIP_CODE: with context, or after a state abbreviation
        ("Springfield, IL 62704", None, [("ZIP_CODE", "62704")]),
        ("zip: 62704-1234", None, [("ZIP_CODE", "62704-1234")]),
        ("62704", "postal_code", [("ZIP_CODE", "62704")]),
        # BANK_ACCOUNT
        ("acct 123456789012 at the bank", None, [("BANK_ACCOUNT", "123456789012")]),
        ("Routing 011000015 account number 123456", None, [("ABA_ROUTING", "011000015"), ("BANK_ACCOUNT", "123456")]),
        ("0012345678", "bank_account_number", [("BANK_ACCOUNT", "0012345678")]),
        # PHONE: more forms
        ("phone: 4155550134", None, [("PHONE", "4155550134")]),
        ("tel +1 415 555 0134", None, [("PHONE", "+1 415 555 0134")]),
        ("fax 415.555.0134", None, [("PHONE", "415.555.0134")]),
        ("call 1 (415) 555-0134", None, [("PHONE", "1 (415) 555-0134")]),
    ],
)
def test_new_types_are_found_with_their_exact_span(
    text: str, context: str | None, expected: list[tuple[str, str]]
) -> None:
    assert _found(text, context) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the visit on 03/14/2024 went well",  # a date in prose is not a date of birth
        "Appointment moved to March 3, 1961 by mistake",
        "on 2024-03-14 the claim was filed",
        "99213 units were counted",  # a CPT-shaped number without procedure context
        "invoice J1234 sent",  # HCPCS-shaped without context
        "total 62704 items",  # ZIP-shaped without context
        "E119 in the lab log",  # undotted code without diagnosis context
        "U99.9 was keyed",  # not in the code set
        "ref 123456789012 logged",  # bank-account-shaped without account context
        "call 0155550134 or 4150550134",  # area code or exchange starting with 0/1
        "12 lines paid and 3 adjusted",  # numbers before lower-case words are not house numbers
        "order 4155550134 shipped",  # a bare 10-digit number without phone context
        "1234.56 and 1,250.00 and 999.00",
        "Invoice INV-0012345 and INV123456789X",
    ],
)
def test_new_types_need_their_evidence(text: str) -> None:
    assert analyze(text) == []


def test_mrn_formats_come_from_the_profile() -> None:
    profile = ScanProfile(mrn_formats=("PT-9999999", "AA999999"))
    text = "ids PT-1234567 and XY123456, not ZXY123456 or PT-12345678"
    found = [(f.type, text[f.start : f.end], f.rule) for f in analyze(text, profile=profile)]
    assert found == [("MRN", "PT-1234567", "mrn.profile"), ("MRN", "XY123456", "mrn.profile")]
    assert analyze("ids PT-1234567 and XY123456") == []  # no such formats by default, and no context


def test_profile_mrn_with_context_is_more_confident() -> None:
    profile = ScanProfile(mrn_formats=("AA999999",))
    bare = analyze("XY123456", profile=profile)[0]
    framed = analyze("medical record XY123456", profile=profile)[0]
    assert framed.score > bare.score >= 0.5


# PERSON ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "context", "expected"),
    [
        ("Patient James Smith was seen.", None, ["James Smith"]),
        ("Statement for Mary J. Johnson Jr. mailed", None, ["Mary J. Johnson Jr."]),
        ("Referred by Dr. Ana Okafor, MD on Monday.", None, ["Ana Okafor, MD"]),  # the title is evidence, not name
        ("Mrs. Garcia called", None, ["Garcia"]),
        ("seen by Dr. Héctor Nguyễn today", None, ["Héctor Nguyễn"]),
        ("Blue Cross paid; SMITH, JOHN A. called.", None, ["SMITH, JOHN A."]),
        ("Guarantor Moore, Joseph called", None, ["Moore, Joseph"]),
        ("patient Zyxo Qwerty arrived", None, ["Zyxo Qwerty"]),  # not in the dictionaries: the trigger says so
        ("Kevin Cross and April Ward paid", None, ["Kevin Cross", "April Ward"]),
        ("Zyxo Qwerty", "patient_name", ["Zyxo Qwerty"]),  # a person-name field: shape is enough
        ("  DOE, JANE Q ", "subscriber", ["DOE, JANE Q"]),
        ("O'Brien", "last_name", ["O'Brien"]),
        ("Mary Smith", "name", ["Mary Smith"]),  # a bare "name" field: dictionary words only
    ],
)
def test_person_names(text: str, context: str | None, expected: list[str]) -> None:
    assert [v for t, v in _found(text, context) if t == "PERSON"] == expected


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ("The payer Blue Cross Blue Shield denied the claim on March 3.", None),
        ("Medicare Part B paid the remaining balance.", None),
        ("Remittance Advice from United Healthcare arrived Monday.", None),
        ("Oak Ridge Blvd is closed; mail to Main Street instead.", None),
        ("Explanation Of Benefits received from Cigna Healthcare.", None),
        ("New York State Medicaid requires prior authorization.", None),
        ("Acme Family Clinic", "provider_name"),  # an organisation in a provider field
        ("Zoë Qwerty", "name"),  # a bare "name" field and words outside the dictionaries
        ("Springfield", "patient.city"),  # a person field prefix on a non-name attribute
        ("LAKESIDE", "patient identifier"),  # a role field without "name": a dictionary word at least
        ("TRI-COUNTY IMAGING", "billing provider name"),
        ("Home address: 9 Birch Lane, Lansing, MI 48989", None),
    ],
)
def test_capitalised_non_names_are_not_people(text: str, context: str | None) -> None:
    assert [v for t, v in _found(text, context) if t == "PERSON"] == []


# Precedence, rules and previews across the new types -------------------------------------------------------------
def test_checksum_validated_ssn_outranks_a_context_only_member_id() -> None:
    found = analyze("123456780", context="subscriber_ssn")
    assert [(f.type, f.validated) for f in found] == [("US_SSN", True)]


def test_a_generic_id_takes_context_only_from_its_own_sentence() -> None:
    text = "Member ID HQK545188047. Left voicemail at 248-231-3475."
    assert _found(text) == [("MEMBER_ID", "HQK545188047"), ("PHONE", "248-231-3475")]


def test_nearest_context_word_decides_between_context_only_types() -> None:
    assert _found("acct 123456789012, phone 4155550134") == [
        ("BANK_ACCOUNT", "123456789012"),
        ("PHONE", "4155550134"),
    ]


def test_code_set_validated_icd_outranks_a_context_only_procedure_code() -> None:
    # J45909: an ICD-10-CM code and HCPCS-shaped; diagnosis context is nearer, so it is a diagnosis
    assert _found("proc list; dx J45909") == [("ICD10_CM", "J45909")]
    assert _found("dx list; HCPCS J4590") == [("PROCEDURE_CODE", "J4590")]


def test_every_rule_is_documented_and_previews_are_redacted() -> None:
    text = (
        "Patient James Smith, DOB 03/04/1961, MRN 00123456, member id W123456789, Dx E11.9, CPT 99213, "
        "1234 N Oak Ridge Blvd, Springfield, IL 62704, acct 123456789012, phone 4155550134, ada@example.org"
    )
    found = analyze(text)
    assert {f.type for f in found} >= {"PERSON", "DATE_OF_BIRTH", "MRN", "MEMBER_ID", "ICD10_CM", "PROCEDURE_CODE",
                                        "STREET_ADDRESS", "ZIP_CODE", "BANK_ACCOUNT", "PHONE", "EMAIL"}  # fmt: skip
    for f in found:
        value = text[f.start : f.end]
        assert f.rule in RULES
        assert f.preview != value and len(f.preview) == len(value)
        assert sum(ch == "*" for ch in f.preview) >= sum(ch.isalnum() for ch in value) - 2


def test_short_values_are_fully_masked() -> None:
    assert redact("I10") == "***" and redact("DOE") == "***" and redact("E11.9") == "**1.9"


def test_findings_do_not_overlap_and_are_sorted() -> None:
    rng = random.Random(3)
    words = ["SSN 123-45-6780", "Dr. Ana Okafor", "DOB 3/4/61", "99213", "CPT", "E11.9", "Blvd", "12", "Oak",
             "IL 62704", "zip", "phone", "4155550134", "acct", "011000015", "the", "Mary", "Smith,"]  # fmt: skip
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        found = analyze(text)
        assert all(a.end <= b.start for a, b in itertools.pairwise(found))
        assert all(0 <= f.start < f.end <= len(text) for f in found)
