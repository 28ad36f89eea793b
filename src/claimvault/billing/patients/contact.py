"""Normalisation of patient contact data (phone, email, US postal address). Error messages never echo values.

Phones are stored in E.164 (``+15551234567``): a number without a country code is taken as a US/NANP number (+1).
"""

from __future__ import annotations

import re

_PHONE_PUNCTUATION = str.maketrans("", "", " -.()/")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH "
    "OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP AA AE AP"
)
US_STATES = frozenset(_STATE_CODES.split(" "))


def _nanp(digits: str) -> str:
    """Ten NANP digits (area code and exchange start with 2-9) as E.164."""
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        raise ValueError("not a valid US phone number")
    return "+1" + digits


def normalize_phone(value: str | None) -> str | None:
    """E.164. Accepts the usual punctuation; ``+`` and a country code for numbers outside the US."""
    if value is None:
        return None
    compact = value.strip().translate(_PHONE_PUNCTUATION)
    international = compact.startswith("+")
    digits = compact[1:] if international else compact
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("a phone number holds digits only (and an optional leading +)")
    if international:
        if digits.startswith("1"):
            return _nanp(digits[1:])
        if not 8 <= len(digits) <= 15 or digits[0] == "0":
            raise ValueError("not a valid international phone number")
        return "+" + digits
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10:
        raise ValueError("a phone number outside the US needs its +country code")
    return _nanp(digits)


def normalize_email(value: str | None) -> str | None:
    """Trimmed; the domain lower-cased (the local part is case-sensitive by the standard)."""
    if value is None:
        return None
    text = value.strip()
    if len(text) > 254 or not text.isascii() or not _EMAIL.match(text):
        raise ValueError("not a valid email address")
    local, domain = text.rsplit("@", 1)
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        raise ValueError("not a valid email address")
    return f"{local}@{domain.lower()}"


def normalize_state(value: str | None) -> str | None:
    """A USPS two-letter state, district, territory or military code, upper-cased."""
    if value is None:
        return None
    code = value.strip().upper()
    if code not in US_STATES:
        raise ValueError("not a US state code")
    return code


def normalize_postal_code(value: str | None) -> str | None:
    """ZIP (12345) or ZIP+4 (12345-6789)."""
    if value is None:
        return None
    match = _ZIP.match(value.strip().replace(" ", ""))
    if match is None:
        raise ValueError("a ZIP code has five digits, or nine (ZIP+4)")
    return match[1] if match[2] is None else f"{match[1]}-{match[2]}"
