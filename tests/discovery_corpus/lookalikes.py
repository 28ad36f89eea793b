"""Hard-negative look-alikes: identifiers that fail their checks and harmless numbers shaped like identifiers."""

from __future__ import annotations

import random

from .checksums import aba_ok, dea_ok, luhn_ok, mbi_ok
from .values import DIGITS, UPPER, aba, card, dea, format_card, mbi, npi, ssn

# ---- hard negatives: look-alikes that fail their checks, and harmless numbers -------------------------------


def ssn_lookalike(rng: random.Random) -> str:
    area = rng.choice(("000", "666", f"9{rng.randint(0, 99):02d}"))
    return f"{area}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def npi_lookalike(rng: random.Random) -> str:
    value = npi(rng)
    return value[:9] + str((int(value[9]) + rng.randint(1, 9)) % 10)


def card_lookalike(rng: random.Random) -> str:
    value = card(rng)
    bad = value[:-1] + str((int(value[-1]) + rng.randint(1, 9)) % 10)
    assert not luhn_ok(bad)
    return bad


def aba_lookalike(rng: random.Random) -> str:
    value = aba(rng)
    bad = value[:-1] + str((int(value[-1]) + rng.randint(1, 9)) % 10)
    assert not aba_ok(bad)
    return bad


def dea_lookalike(rng: random.Random) -> str:
    value = dea(rng)
    bad = value[:-1] + str((int(value[-1]) + rng.randint(1, 9)) % 10)
    assert not dea_ok(bad)
    return bad


def mbi_lookalike(rng: random.Random) -> str:
    value = list(mbi(rng))
    value[rng.choice((1, 4, 7, 8))] = rng.choice("SLOIBZ")
    bad = "".join(value)
    assert not mbi_ok(bad)
    return bad


def bare_digits(rng: random.Random, length: int) -> str:
    return rng.choice("3456789") + "".join(rng.choice(DIGITS) for _ in range(length - 1))


def spaced_ssn(rng: random.Random) -> str:
    value = ssn(rng)
    return f"{value[:3]} {value[3:5]} {value[5:]}"


def id_in_word(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return f"INV{ssn(rng)}{rng.choice(UPPER)}"
    if roll < 0.55:
        return f"ref{card(rng)}{rng.choice(('abc', 'x', 'Q', 'zz'))}"
    if roll < 0.8:
        return f"{rng.choice(('PO', 'SKU', 'LOT', 'RX'))}{npi(rng)}{rng.choice(UPPER)}{rng.choice(UPPER)}"
    return f"batch_{aba(rng)}_v{rng.randint(2, 9)}"


def tax_id(rng: random.Random) -> str:
    return f"{rng.choice((20, 26, 27, 45, 46, 47, 81, 82, 83, 84, 85, 86, 87, 88, 91, 92, 93, 98, 99))}" + "".join(
        rng.choice(DIGITS) for _ in range(7)
    )


def lookalike(rng: random.Random, kind: str) -> str:
    """A hard-negative value of ``kind`` (see ``model.NEGATIVE_KINDS``; dates are made by the caller)."""
    makers = {
        "ssn_lookalike": ssn_lookalike,
        "npi_lookalike": npi_lookalike,
        "card_lookalike": lambda r: format_card(card_lookalike(r), r.choice(("plain", "spaces", "dashes"))),
        "aba_lookalike": aba_lookalike,
        "dea_lookalike": dea_lookalike,
        "mbi_lookalike": mbi_lookalike,
        "bare_9_digits": lambda r: bare_digits(r, 9),
        "bare_10_digits": lambda r: bare_digits(r, 10),
        "spaced_ssn": spaced_ssn,
        "id_in_word": id_in_word,
        "tax_id": tax_id,
    }
    return str(makers[kind](rng))
