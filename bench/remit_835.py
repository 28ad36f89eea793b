"""Benchmark: reading an 835 of N claim payments (default 10,000) in claim payments/s: the parse alone (the reader's
walk over an already validated file), pyx12 validation (``validate_835``, maps already loaded) and ``parse_835_all``
end to end (validation, then the walk).

The file is written by ``write_835`` from seeded synthetic claim payments (paid with CO-45 and PR-1/2/3, denied,
reversed then corrected: 1 to 3 lines each, a few PLB adjustments) in one transaction set. Building it is not
timed. The parse is the median of ``--rounds``; validation and end-to-end run once each (``--validate-claims``
validates a file of the first N claim payments instead).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date
from decimal import Decimal

from claimvault.billing.x12.remit_835 import (
    ClaimPayment,
    PersonName,
    Procedure,
    ProviderAdjustment,
    Remittance,
    _Reader,
    balance_problems,
    parse_835_all,
    payment_total,
    validate_835,
)
from claimvault.billing.x12.remit_835_writer import adjudicate_line, claim_payment, deny_line, reversal_of, write_835

LAST = ("ALDER", "BIRCH", "CEDAR", "DOGWOOD", "ELM", "FIR", "GINKGO", "HAZEL", "IRONWOOD", "JUNIPER")
FIRST = ("ASH", "BAY", "CLOVER", "DALE", "EMBER", "FERN", "GLEN", "HOLLY", "IVY", "JUNE")
CODES = ("99212", "99213", "99214", "36415", "81002", "97110", "90471", "87880")
DAY = date(2025, 3, 3)
NPI = "1234567893"  # synthetic


def build_claims(count: int, *, seed: int = 835) -> list[ClaimPayment]:
    rng = random.Random(seed)
    claims: list[ClaimPayment] = []
    n = 0
    while len(claims) < count:
        n += 1
        member = f"XQ{rng.randrange(10**9):09d}"
        patient = PersonName("QC", "1", rng.choice(LAST), rng.choice(FIRST), None, None, "MI", member)
        lines = []
        kind = rng.random()
        for i in range(rng.randint(1, 3)):
            procedure = Procedure("HC", rng.choice(CODES))
            charge = Decimal(rng.randrange(2_000, 50_000)) / 100
            if kind < 0.1:
                lines.append(
                    deny_line(procedure=procedure, charge=charge, service_date=DAY, control_number=f"L{n}-{i}")
                )
                continue
            allowed = (charge * Decimal("0.65")).quantize(Decimal("0.01"))
            share = min(allowed, Decimal(rng.choice((0, 10, 20, 35))))
            lines.append(
                adjudicate_line(
                    procedure=procedure,
                    charge=charge,
                    allowed=allowed,
                    patient={"copay": share},
                    service_date=DAY,
                    control_number=f"L{n}-{i}",
                    remark_codes=["N130"] if share else [],
                )
            )
        claim = claim_payment(
            patient_control_number=f"CV-{n:08d}",
            payer_claim_control_number=f"PCN{n:012d}",
            lines=lines,
            patient=patient,
        )
        if 0.1 <= kind < 0.15 and len(claims) + 2 <= count:
            claims.append(reversal_of(claim))  # a reversal, then the corrected payment
        claims.append(claim)
    return claims[:count]


def build_remittance(claims: list[ClaimPayment]) -> Remittance:
    plb = [ProviderAdjustment(NPI, date(2025, 12, 31), "WO", f"PCN{i:012d}", Decimal("12.50")) for i in range(1, 4)]
    total = payment_total(claims, plb)
    return Remittance(
        interchange_control="000000835",
        group_control="835",
        transaction_control="0001",
        sender_id="EXAMPLEPAYER",
        receiver_id="CLAIMVAULT",
        created=date(2025, 3, 14),
        handling_code="I",
        payment_amount=total,
        credit_debit="C",
        payment_method="ACH",
        payment_format="CCP",
        payment_date=date(2025, 3, 14),
        trace_number="EFT000835",
        originating_company_id="1512345678",
        payer_name="EXAMPLE CARE PLAN",
        payer_references=(("2U", "EXP01"),),
        payee_name="EXAMPLE CLINIC",
        payee_id_qualifier="XX",
        payee_identifier=NPI,
        claims=tuple(claims),
        provider_adjustments=tuple(plb),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="parse rounds (median reported)")
    parser.add_argument("--validate-claims", type=int, default=None, help="validate a file of the first N claims")
    args = parser.parse_args()

    started = time.perf_counter()
    claims = build_claims(args.claims)
    text = write_835(build_remittance(claims))
    data = text.encode()
    lines = sum(len(c.lines) for c in claims)
    print(
        f"built {len(claims):,} synthetic claim payments ({lines:,} lines, {len(data) / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.1f} s (not timed below)"
    )
    t0 = time.perf_counter()
    validate_835(write_835(build_remittance(claims[:1])).encode())
    map_load = time.perf_counter() - t0

    timings = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        [parsed] = _Reader(text).read()  # the walk alone, over a file validated below
        timings.append(time.perf_counter() - t0)
    parse = statistics.median(timings)

    n_valid = min(args.validate_claims or len(claims), len(claims))
    sample = data if n_valid == len(claims) else write_835(build_remittance(claims[:n_valid])).encode()
    t0 = time.perf_counter()
    report = validate_835(sample)
    validate = time.perf_counter() - t0

    t0 = time.perf_counter()
    [end_to_end] = parse_835_all(sample)
    total = time.perf_counter() - t0

    ok = report.valid and parsed.claims == tuple(claims) and balance_problems(parsed) == ()
    print(f"835 parse        {len(claims):>7,} claims {parse:7.2f} s = {len(claims) / parse:>9,.0f} claim payments/s")
    print(
        f"pyx12 validation {n_valid:>7,} claims {validate:7.2f} s = {n_valid / validate:>9,.0f} claim payments/s  "
        f"(first call, map load: {map_load:.2f} s)  {'valid' if report.valid else 'INVALID: ' + report.summary()}"
    )
    print(
        f"parse_835_all    {len(end_to_end.claims):>7,} claims {total:7.2f} s = "
        f"{len(end_to_end.claims) / total:>9,.0f} claim payments/s  (validation + parse)"
    )
    print(f"round trip equal and balanced: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
