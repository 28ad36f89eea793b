"""Benchmark: 837P generation for N claims (default 10,000) in claims/s, with the pyx12 validation cost beside it.

The claims are the seeded synthetic ``ClaimDocument``s of ``tests/claim_documents.py`` (every commercial variant
in turn, one payer, so they make one file split into transaction sets of 5,000 claims). Building the documents
is not timed. Generation is ``write_837p`` over all claims (median of ``--rounds``); validation is
``validate_x12`` (pyx12 with the 837P map, maps already loaded) over the whole file, or over a file of the first
``--validate-claims`` claims. The ratio is validation time per claim / generation time per claim.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.claim_documents

from tests.claim_documents import VARIANTS, make_claim, make_partner

from claimvault.billing.claims.document import ClaimDocument
from claimvault.billing.x12.claim_837p import write_837p
from claimvault.billing.x12.envelope import InMemoryControlNumbers
from claimvault.billing.x12.validation import validate_x12

PARTNER = make_partner("BENCH")
CREATED = datetime(2026, 11, 24, 10, 30)
EXPECT = ("HC", "837", "005010X222A1")


def build_claims(count: int) -> list[ClaimDocument]:
    variants = [v for v in VARIANTS if v != "medicare"]
    return [make_claim(i, variant=variants[i % len(variants)]) for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="generation rounds (median reported)")
    parser.add_argument("--validate-claims", type=int, default=None, help="validate a file of the first N claims")
    args = parser.parse_args()

    started = time.perf_counter()
    claims = build_claims(args.claims)
    print(f"built {len(claims):,} synthetic claims in {time.perf_counter() - started:.1f} s (not timed below)")
    numbers = InMemoryControlNumbers()

    t0 = time.perf_counter()
    validate_x12(write_837p(claims=claims[:1], partner=PARTNER, numbers=numbers, created=CREATED).text)
    map_load = time.perf_counter() - t0

    timings = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        interchange = write_837p(claims=claims, partner=PARTNER, numbers=numbers, created=CREATED)
        timings.append(time.perf_counter() - t0)
    generate = statistics.median(timings)
    size = len(interchange.text)
    n_valid = min(args.validate_claims or len(claims), len(claims))
    sample = interchange
    if n_valid < len(claims):
        sample = write_837p(claims=claims[:n_valid], partner=PARTNER, numbers=numbers, created=CREATED)

    t0 = time.perf_counter()
    report = validate_x12(sample.text, expect=EXPECT)
    validate = time.perf_counter() - t0

    gen_rate = len(claims) / generate
    val_rate = n_valid / validate
    print(
        f"837P generation  {len(claims):>7,} claims {generate:7.2f} s = {gen_rate:>9,.0f} claims/s  "
        f"({len(interchange.transaction_numbers)} transaction sets, {size / 1e6:.1f} MB)"
    )
    print(
        f"pyx12 validation {n_valid:>7,} claims {validate:7.2f} s = {val_rate:>9,.0f} claims/s  "
        f"(first call, map load: {map_load:.2f} s)  {'valid' if report.valid else 'INVALID: ' + report.summary()}"
    )
    print(f"validation / generation per claim: {gen_rate / val_rate:.1f}x  (info)")
    return 0 if report.valid else 1


if __name__ == "__main__":
    raise SystemExit(main())
