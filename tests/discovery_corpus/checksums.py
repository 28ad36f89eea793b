"""Independent checksum and structure rules for the checksum-validated identifier types.

Written for the corpus alone (never imported from ClaimVault) so the corpus checks the engine, not itself.
"""

from __future__ import annotations

MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # A-Z without S, L, O, I, B, Z
DEA_FIRST = "ABCDEFGHJKLMPRSTUX"
ABA_PREFIXES: tuple[int, ...] = (*range(0, 13), *range(21, 33), *range(61, 73), 80)
FAMOUS_SSNS = frozenset({"078051120", "219099999", "123456789", "111111111", "333333333", "457555462"})


def digits_of(value: str) -> str:
    """The digits of ``value`` in order."""
    return "".join(ch for ch in value if ch.isdigit())


def luhn_ok(number: str) -> bool:
    """Luhn mod-10 check over a digit string."""
    total = 0
    for index, ch in enumerate(reversed(number)):
        digit = int(ch)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass Luhn."""
    for candidate in "0123456789":
        if luhn_ok(partial + candidate):
            return candidate
    raise AssertionError("unreachable")


def ssn_ok(value: str) -> bool:
    """A structurally issuable SSN (dashed or bare) that is not a well-known sample number."""
    number = digits_of(value)
    if len(number) != 9 or number in FAMOUS_SSNS or len(set(number)) == 1:
        return False
    area, group, serial = number[:3], number[3:5], number[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def npi_ok(value: str) -> bool:
    """A ten-digit NPI starting 1 or 2 whose Luhn over ``80840`` + NPI holds."""
    return len(value) == 10 and value.isdigit() and value[0] in "12" and luhn_ok("80840" + value)


def mbi_ok(value: str) -> bool:
    """An MBI (dashes allowed at the display positions) obeying the CMS position rules."""
    plain = value.replace("-", "")
    if len(plain) != 11:
        return False
    letter = set(MBI_LETTERS)
    alnum = letter | set("0123456789")
    rules = [set("123456789"), letter, alnum, set("0123456789"), letter, alnum, set("0123456789")]
    rules += [letter, letter, set("0123456789"), set("0123456789")]
    return all(ch in rule for ch, rule in zip(plain, rules, strict=True))


def dea_ok(value: str) -> bool:
    """A DEA registration number: registrant letter, letter or 9, seven digits with the DEA checksum."""
    if len(value) != 9 or value[0] not in DEA_FIRST or not (value[1].isalpha() or value[1] == "9"):
        return False
    body = value[2:]
    if not body.isdigit():
        return False
    d = [int(ch) for ch in body]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def aba_ok(value: str) -> bool:
    """An ABA routing number: Federal Reserve prefix and the 3-7-1 checksum."""
    if len(value) != 9 or not value.isdigit() or int(value[:2]) not in ABA_PREFIXES:
        return False
    d = [int(ch) for ch in value]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0


def card_brand(number: str) -> str | None:
    """The card brand for a current IIN and length, or None."""
    n = len(number)
    if number.startswith("4") and n in (13, 16, 19):
        return "visa"
    if n == 16 and (51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720):
        return "mastercard"
    if n == 15 and number[:2] in ("34", "37"):
        return "amex"
    if n == 16 and (number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649):
        return "discover"
    return None


def card_ok(value: str) -> bool:
    """A card number (spaces or dashes allowed) with a current IIN and a valid Luhn digit."""
    number = digits_of(value)
    if any(ch not in "0123456789 -" for ch in value):
        return False
    return card_brand(number) is not None and luhn_ok(number)
