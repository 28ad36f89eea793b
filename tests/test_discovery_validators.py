"""Validators of the discovery engine, with known valid and invalid values for each identifier (public test values
and numbers computed here; no real person's identifier)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimvault.discovery.validators import (
    aba_routing_valid,
    card_network,
    card_valid,
    dea_valid,
    icd10_valid,
    luhn_valid,
    mbi_valid,
    npi_valid,
    ssn_valid,
)


def _with_npi_check_digit(first9: str) -> str:
    for d in "0123456789":
        if luhn_valid("80840" + first9 + d):
            return first9 + d
    raise AssertionError


@pytest.mark.parametrize("value", ["1234567893", "1245319599", "2000000002", "1234 567 893"])
def test_npi_valid(value: str) -> None:
    assert npi_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "1234567890",  # wrong check digit
        "1234567894",
        "3234567893",  # must start with 1 or 2
        "123456789",  # too short
        "12345678933",  # too long
        "12345678a3",
        "",
    ],
)
def test_npi_invalid(value: str) -> None:
    assert not npi_valid(value)


@given(st.text(alphabet="0123456789", min_size=8, max_size=8), st.sampled_from("12"))
def test_npi_every_wrong_check_digit_fails(body: str, first: str) -> None:
    npi = _with_npi_check_digit(first + body)
    assert npi_valid(npi)
    for d in "0123456789":
        if d != npi[-1]:
            assert not npi_valid(npi[:-1] + d)


def test_npi_is_not_a_plain_luhn_number() -> None:
    # Without the 80840 prefix the check differs: a 10-digit Luhn-valid number is usually not an NPI.
    assert luhn_valid("1234567897") and not npi_valid("1234567897")


@pytest.mark.parametrize("value", ["1EG4TE5MK73", "1EG4-TE5-MK73", "9AA0AA0AA00", "1A00A00AA00", "8Y99Y99YY99"])
def test_mbi_valid(value: str) -> None:
    assert mbi_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "0EG4TE5MK73",  # position 1 may not be 0
        "1SG4TE5MK73",  # S is never used
        "1EG4TE5MK7",  # too short
        "1EGATE5MK73",  # position 4 must be a digit
        "1EG45E5MK73",  # position 5 must be a letter
        "1EG4TE5M173",  # position 9 must be a letter
        "1eg4te5mk73",  # lower case is not how an MBI is written
        "1EG-4TE5-MK73",  # dashes only as 4-3-4
        "1BG4TE5MK73",  # B is excluded
        "1EG4TE5MK7O",  # O is excluded (and position 11 is numeric)
    ],
)
def test_mbi_invalid(value: str) -> None:
    assert not mbi_valid(value)


def test_mbi_each_position_refuses_what_it_does_not_allow() -> None:
    valid = "1EG4TE5MK73"
    refused = {0: "0", 1: "1", 2: "S", 3: "A", 4: "4", 5: "Z", 6: "K", 7: "7", 8: "3", 9: "X", 10: "M"}
    for position, char in refused.items():
        assert not mbi_valid(valid[:position] + char + valid[position + 1 :]), position


@pytest.mark.parametrize("value", ["AB1234563", "BJ6125341", "M91234563", "ab1234563", "FS 1234563"])
def test_dea_valid(value: str) -> None:
    assert dea_valid(value)


@pytest.mark.parametrize(
    "value",
    ["AB1234564", "AB123456", "AB12345634", "1B1234563", "ZB1234563", "A11234563", "AB12E4563", ""],
)
def test_dea_invalid(value: str) -> None:
    assert not dea_valid(value)


@pytest.mark.parametrize("value", ["011000015", "021000021", "026009593", "322271627", "091000019", "0110-00015"])
def test_aba_valid(value: str) -> None:
    assert aba_routing_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "011000016",  # check digit
        "123456789",  # checksum fails
        "511000015",  # prefix 51 is not a Federal Reserve routing symbol
        "01100001",
        "0110000155",
        "",
    ],
)
def test_aba_invalid(value: str) -> None:
    assert not aba_routing_valid(value)


@pytest.mark.parametrize("value", ["123-45-6780", "123456780", "123 45 6780", "899-12-3456", "001-01-0001"])
def test_ssn_valid(value: str) -> None:
    assert ssn_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "000-12-3456",  # area 000
        "666-12-3456",  # area 666
        "900-12-3456",  # 900-999 never issued
        "999-99-9999",
        "123-00-4567",  # group 00
        "123-45-0000",  # serial 0000
        "078-05-1120",  # the Woolworth wallet card
        "219-09-9999",  # the SSA's own advertisement
        "123-45-6789",
        "111-11-1111",
        "123-456789",  # mixed separators
        "123-45 6789",
        "12-345-6789",
        "1234567890",
    ],
)
def test_ssn_invalid(value: str) -> None:
    assert not ssn_valid(value)


@pytest.mark.parametrize(
    ("value", "network"),
    [
        ("4111111111111111", "visa"),
        ("4222222222222", "visa"),
        ("5555555555554444", "mastercard"),
        ("5105105105105100", "mastercard"),
        ("2223003122003222", "mastercard"),  # the 2-series
        ("378282246310005", "amex"),
        ("371449635398431", "amex"),
        ("6011111111111117", "discover"),
        ("6445644564456445", "discover"),
        ("3530111333300000", "jcb"),
        ("30569309025904", "diners"),
        ("4111 1111 1111 1111", "visa"),
        ("4111-1111-1111-1111", "visa"),
    ],
)
def test_cards_valid(value: str, network: str) -> None:
    assert card_network(value) == network
    assert card_valid(value)


def test_mastercard_two_series_bounds() -> None:
    def with_check(prefix15: str) -> str:
        return next(prefix15 + d for d in "0123456789" if luhn_valid(prefix15 + d))

    assert card_valid(with_check("222100000000000")) and card_valid(with_check("272099999999999"))
    assert not card_valid(with_check("222099999999999")) and not card_valid(with_check("272100000000000"))


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111112",  # Luhn
        "5555555555554445",
        "1234567812345670",  # Luhn-valid but no network
        "378282246310006",
        "41111111111111",  # a Visa prefix at a length Visa never uses
        "9111111111111111",
        "",
    ],
)
def test_cards_invalid(value: str) -> None:
    assert not card_valid(value)


@pytest.mark.parametrize("value", ["E11.9", "E119", "I10", "S72.001A", "Z99.89", "C4A.0", "R69", "J45.909", "F32.A"])
def test_icd10_valid(value: str) -> None:
    assert icd10_valid(value)


@pytest.mark.parametrize(
    "value",
    [
        "U99.9",  # U is reserved: only the codes the code set actually holds exist
        "E11.99",  # shaped like a code, not in the code set
        "E1.19",  # the dot goes after the third character
        "E11.",
        "e11.9",  # lower case is not how a code is written
        "A00-B99",  # a chapter range, not a code
        "XYZ",
        "12345",
        "",
    ],
)
def test_icd10_invalid(value: str) -> None:
    assert not icd10_valid(value)
