"""Checksum and structure validators for healthcare, government and payment identifiers.

Each function takes the candidate as found (separators such as spaces and dashes allowed where the identifier is
commonly written with them) and answers whether it can be a real identifier. A checksum-validated type outranks
a context-only guess; a look-alike that fails its check is rejected. Written from the public specifications:
NPI (CMS, Luhn over the 80840 prefix), MBI (CMS format specification), DEA (DEA registration number checksum),
ABA routing numbers (the ABA check-digit formula and Federal Reserve prefixes), SSN (SSA never-issued ranges) and
payment cards (ISO/IEC 7812 Luhn and the card networks' published IIN ranges); ICD-10-CM codes are checked against
the code set itself (the ``simple_icd_10_cm`` package, loaded once on first use).
"""

from __future__ import annotations

import functools
import re
import warnings

_SEPARATORS = re.compile(r"[\s\-]")


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value)


def luhn_valid(digits: str) -> bool:
    """ISO/IEC 7812-1 Luhn check over a string of ASCII digits."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# NPI -----------------------------------------------------------------------------------------------------------
def npi_valid(value: str) -> bool:
    """National Provider Identifier: 10 digits starting with 1 or 2; Luhn over ``80840`` + the NPI (the prefix is
    the health-industry issuer number of ISO 7812)."""
    npi = _compact(value)
    return len(npi) == 10 and npi[0] in "12" and luhn_valid("80840" + npi)


# MBI -----------------------------------------------------------------------------------------------------------
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # A-Z without S, L, O, I, B, Z
_MBI_C = "123456789"
_MBI_N = "0123456789"
_MBI_AN = _MBI_LETTERS + _MBI_N
# Position by position: C A AN N A AN N A A N N (CMS "Understanding the MBI").
_MBI_POSITIONS = (_MBI_C, _MBI_LETTERS, _MBI_AN, _MBI_N, _MBI_LETTERS, _MBI_AN, _MBI_N, _MBI_LETTERS, _MBI_LETTERS,
                  _MBI_N, _MBI_N)  # fmt: skip


def mbi_valid(value: str) -> bool:
    """Medicare Beneficiary Identifier: 11 characters, each from the set its position allows (upper case; dashes
    allowed only as printed, 4-3-4)."""
    raw = value.strip()
    if "-" in raw and not re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{3}-[0-9A-Z]{4}", raw):
        return False
    mbi = raw.replace("-", "")
    return len(mbi) == 11 and all(ch in allowed for ch, allowed in zip(mbi, _MBI_POSITIONS, strict=True))


# DEA -----------------------------------------------------------------------------------------------------------
_DEA_REGISTRANT_TYPES = "ABCDEFGHJKLMPRSTUX"


def dea_valid(value: str) -> bool:
    """DEA registration number: a registrant-type letter, a letter (the registrant's last-name initial) or 9, and
    seven digits whose last is ``(d1 + d3 + d5 + 2 * (d2 + d4 + d6)) mod 10``."""
    dea = _compact(value).upper()
    if not re.fullmatch(r"[A-Z][A-Z9][0-9]{7}", dea) or dea[0] not in _DEA_REGISTRANT_TYPES:
        return False
    d = [int(c) for c in dea[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


# ABA routing number --------------------------------------------------------------------------------------------
def aba_routing_valid(value: str) -> bool:
    """ABA routing transit number: 9 digits, a Federal Reserve prefix (00-12 banks, 21-32 thrifts, 61-72
    electronic, 80 traveler's cheques), and ``3(d1+d4+d7) + 7(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10)``."""
    aba = _compact(value)
    if len(aba) != 9 or not aba.isascii() or not aba.isdigit():
        return False
    prefix = int(aba[:2])
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    d = [int(c) for c in aba]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


# SSN -----------------------------------------------------------------------------------------------------------
# Numbers published in advertising or otherwise famous, never valid for a person (SSA).
WELL_KNOWN_SSNS = frozenset({"078051120", "219099999", "457555462", "123456789"})


def ssn_valid(value: str) -> bool:
    """US Social Security number: 9 digits (``AAA-GG-SSSS`` with dashes, spaces or nothing between the parts);
    never area 000, 666 or 900-999, group 00 or serial 0000, not one of the well-known sample numbers and not one
    digit repeated."""
    raw = value.strip()
    if not re.fullmatch(r"[0-9]{3}([- ]?)[0-9]{2}\1[0-9]{4}", raw):
        return False
    ssn = _compact(raw)
    area, group, serial = ssn[:3], ssn[3:5], ssn[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return ssn not in WELL_KNOWN_SSNS and len(set(ssn)) > 1


# Payment cards -------------------------------------------------------------------------------------------------
# (network, IIN ranges as inclusive (low, high) prefixes of equal length, allowed lengths)
_CARD_RANGES: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), frozenset({16, 17, 18, 19})),
    ("jcb", ((3528, 3589),), frozenset({16, 17, 18, 19})),
    ("diners", ((300, 305), (36, 36), (38, 39)), frozenset({14, 15, 16, 17, 18, 19})),
    ("unionpay", ((62, 62),), frozenset({16, 17, 18, 19})),
)


def card_network(value: str) -> str | None:
    """The network of a card number by IIN range and length, or None (before the Luhn check)."""
    pan = _compact(value)
    if not pan.isascii() or not pan.isdigit():
        return None
    for network, ranges, lengths in _CARD_RANGES:
        if len(pan) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(pan[:width]) <= high:
                return network
    return None


def card_valid(value: str) -> bool:
    """A payment card number: digits (spaces or dashes between groups allowed), a known IIN range with its
    length (Mastercard's 2221-2720 series included), and the Luhn check."""
    pan = _compact(value)
    return card_network(pan) is not None and luhn_valid(pan)


# ICD-10-CM -----------------------------------------------------------------------------------------------------
@functools.cache
def icd10_codes() -> frozenset[str]:
    """Every ICD-10-CM code (chapters and blocks excluded), without its dot, upper case. Loaded once, lazily
    (loading the code set takes about a second)."""
    with warnings.catch_warnings():  # the package loads its data with a deprecated importlib.resources API
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm

        codes = simple_icd_10_cm.get_all_codes(False)
    return frozenset(c.replace(".", "").upper() for c in codes if "-" not in c and not c.isdigit())


def icd10_valid(value: str) -> bool:
    """An ICD-10-CM code of the current code set, written ``E11.9`` or ``E119`` (upper case; a dot only after the
    third character)."""
    if "." in value and (value.find(".") != 3 or value.endswith(".")):
        return False
    code = value.replace(".", "")
    return 3 <= len(code) <= 7 and code[0].isalpha() and code.isupper() and code.isalnum() and code in icd10_codes()
