"""Benchmark: posting an 835 of N claim payments (default 10,000) in claim payments/s, end to end through
``import_835`` (pyx12 validation, balancing, matching with decryption of the service lines, posting, the ledger,
claim transitions and audit events, one transaction), on a throw-away SQLite database (or PostgreSQL with
``--postgres SUPERUSER_URL``: a temp database, migrated, dropped at the end).

Set-up (not timed): one billing organization (``tests/billing_world.py``), 100 patients, and per claim one encounter
with two service lines (written through the PHI gate, so procedure codes are ciphertext) and one accepted claim
(inserted in bulk). The 835 pays 90% of the claims (CO-45, some PR copays), denies 8% and carries 2% the practice
never billed (unmatched). pyx12 validation of the same file is timed alone too, to show its share.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.billing_world

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from tests.billing_world import SERVICE_DATE, BillingWorld, build_billing_world

from claimvault.billing.claims.models import Claim
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.encounters.models import Encounter, ServiceLine
from claimvault.billing.remittance.importer import import_835
from claimvault.billing.x12.remit_835 import (
    ClaimPayment,
    PersonName,
    Procedure,
    Remittance,
    payment_total,
    validate_835,
)
from claimvault.billing.x12.remit_835_writer import adjudicate_line, claim_payment, deny_line, write_835
from claimvault.config import Settings
from claimvault.runtime import build_runtime
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.permissions import Permission
from claimvault.storage.database import Database, create_db_engine
from claimvault.storage.migrate import upgrade

D = Decimal
LINES = ((Procedure("HC", "99213", ("25",)), D("125.00")), (Procedure("HC", "93000"), D("40.00")))


def seed_claims(world: BillingWorld, count: int, *, patients: int = 100) -> list[str]:
    """``count`` accepted claims (encounter + 2 lines each) over ``patients`` patients; returns CLM01s."""
    patient_ids = [world.patient(family=f"Bench{n}", seed=n + 1)[0] for n in range(min(patients, count))]
    numbers = []
    with world.gate("bench seed") as gate:
        coverage = {
            pid: (cid, payer)
            for pid, cid, payer in gate.session.execute(select(Coverage.patient_id, Coverage.id, Coverage.payer_id))
        }
        for n in range(count):
            pid = patient_ids[n % len(patient_ids)]
            encounter = gate.create(
                Encounter,
                {"patient_id": pid, "service_date": SERVICE_DATE, "status": "billed"},
                permission=Permission.CLAIM_MANAGE,
            )
            for i, (proc, charge) in enumerate(LINES, start=1):
                values = {
                    "encounter_id": encounter.id,
                    "patient_id": pid,
                    "line_number": i,
                    "procedure_code": proc.code,
                    "modifiers": ",".join(proc.modifiers) or None,
                    "diagnosis_pointers": "1",
                    "charge": charge,
                }
                gate.create(ServiceLine, values, permission=Permission.CLAIM_MANAGE)
            claim_id = uuid.uuid4()
            number = f"B{n + 1:08d}"
            gate.session.add(
                Claim(
                    id=claim_id,
                    organization_id=world.org_id,
                    patient_id=pid,
                    encounter_id=encounter.id,
                    coverage_id=coverage[pid][0],
                    payer_id=coverage[pid][1],
                    rank="primary",
                    control_number=number,
                    family_id=claim_id,
                    status="accepted",
                    total_charge=sum((c for _, c in LINES), D("0")),
                )
            )
            numbers.append(number)
    return numbers


def build_file(numbers: list[str], *, seed: int = 835) -> tuple[bytes, int]:
    rng = random.Random(seed)
    claims: list[ClaimPayment] = []
    for n, number in enumerate(numbers):
        kind = rng.random()
        who = PersonName("QC", "1", "BENCH", "PATIENT", None, None, "MI", f"M{n:08d}")
        if kind < 0.08:
            lines = [deny_line(procedure=p, charge=c) for p, c in LINES]
        else:
            copay = {"copay": D(rng.choice((0, 10, 20)))}
            lines = [
                adjudicate_line(procedure=LINES[0][0], charge=LINES[0][1], allowed=D("92.40"), patient=copay),
                adjudicate_line(procedure=LINES[1][0], charge=LINES[1][1], allowed=D("31.15")),
            ]
        pcn = f"X{n:08d}" if kind > 0.98 else number
        claims.append(
            claim_payment(
                patient_control_number=pcn, payer_claim_control_number=f"PCN{n:012d}", lines=lines, patient=who
            )
        )
    remittance = Remittance(
        interchange_control="000000835",
        group_control="835",
        transaction_control="0001",
        sender_id="EXAMPLEPAYER",
        receiver_id="CLAIMVAULT",
        created=date(2026, 7, 20),
        handling_code="I",
        payment_amount=payment_total(claims, []),
        credit_debit="C",
        payment_method="CHK",
        payment_date=date(2026, 7, 20),
        trace_number="CHK000835",
        originating_company_id="1512345678",
        payer_name="EXAMPLE HEALTH",
        payer_references=(("2U", "EXH01"),),
        payee_name="BENCH CLINIC",
        payee_id_qualifier="XX",
        payee_identifier="1234567893",
        claims=tuple(claims),
    )
    return write_835(remittance).encode(), sum(c.patient_control_number.startswith("X") for c in claims)


def run(db: Database, workdir: Path, count: int) -> bool:
    settings = Settings(var_dir=workdir / "var", argon2_time_cost=1, argon2_memory_cost_kib=64, argon2_parallelism=1)
    rt = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
    try:
        world = build_billing_world(rt, slug="bench")
        t0 = time.perf_counter()
        numbers = seed_claims(world, count)
        print(f"seeded {count:,} accepted claims in {time.perf_counter() - t0:.1f} s (not timed below)")
        data, strangers = build_file(numbers)
        t0 = time.perf_counter()
        valid = validate_835(data).valid
        validation = time.perf_counter() - t0
        t0 = time.perf_counter()
        with world.gate("remit import") as gate:
            report = import_835(gate=gate, blobs=rt.blobs, data=data)
        total = time.perf_counter() - t0
        handled = report.posted + len(report.unmatched)
        print(
            f"posting  {count:>7,} claim payments {total:7.2f} s = {count / total:>7,.0f} claim payments/s  "
            f"({report.posted:,} posted, {report.denials_queued:,} denials queued, {len(report.unmatched):,} unmatched)"
        )
        print(
            f"pyx12 validation alone {validation:.2f} s ({validation / total:.0%} of the import)  "
            f"{'valid' if valid else 'INVALID'}"
        )
        ok = valid and handled == count and len(report.unmatched) == strangers and report.duplicates == 0
        print(f"every claim payment posted or reported: {ok}")
        return ok
    finally:
        rt.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--postgres", default=None, help="superuser URL: run on a temp PostgreSQL database instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.postgres is None:
            url = f"sqlite:///{workdir / 'bench.db'}"
            upgrade(url)
            db = Database(create_db_engine(url))
            try:
                return 0 if run(db, workdir, args.claims) else 1
            finally:
                db.dispose()
        admin_url = make_url(args.postgres)
        name = f"claimvault_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(url)
            db = Database(create_db_engine(url))
            try:
                return 0 if run(db, workdir, args.claims) else 1
            finally:
                db.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
