"""Claims of the demo practice in every lifecycle state, moved there the way a practice's claims get there.

Three rounds, each on fixed dates so that the same seed gives the same result on any day:

- A (dates of service May to July 2026): claims are created, scrubbed and released (one 837P per payer, sent to the
  clearinghouse drop directory); a synthetic 999 accepts each file and a synthetic 277CA accepts or rejects each
  claim, both through ``import_ack``; payer decisions are then applied as remittances would apply them (paid,
  partially paid, denied; there is no 835 import yet, so the seed makes the ``835`` transitions itself with CARC
  codes as reasons); staff appeal or close some; some adjudicated claims are replaced (7) or voided (8) and some
  rejected ones corrected as new originals.
- B (August and September): released and not yet acknowledged (``exported``).
- C (late September): the work queue: ``ready`` (with the replacements, voids and corrections), ``scrubbed`` (an
  NCCI pair bypassed by a modifier waits for review) and ``draft`` (some fresh, some held by a category code).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select

from claimvault.billing.claims.acknowledgements import import_ack
from claimvault.billing.claims.models import Claim, X12File
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.schemas import ClaimCorrection, ClaimCreate, ClaimOut, ClaimTransitionRequest
from claimvault.billing.claims.service import correct_claim, create_claim, move, request_transition, scrub_claims
from claimvault.billing.clearinghouse.drop_dir import DropDirectory
from claimvault.cli.demo_acks import RejectReason, make_277ca, make_999
from claimvault.errors import ClaimVaultError
from claimvault.runtime import Runtime
from claimvault.security.context import SystemContext
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.permissions import Permission

# Target -> round. "replaced", "voided" and "resubmitted" end as a superseded claim plus a ready new version.
ROUND_OF = {
    "submitted": "A", "accepted": "A", "rejected": "A", "paid": "A", "partially_paid": "A", "denied": "A",
    "appealed": "A", "closed": "A", "replaced": "A", "voided": "A", "resubmitted": "A",
    "exported": "B", "ready": "C", "scrubbed": "C", "draft": "C",
}  # fmt: skip
SCRUB_DAY = {"A": date(2026, 7, 27), "B": date(2026, 9, 21), "C": date(2026, 9, 30)}
RELEASED_AT = {"A": datetime(2026, 7, 27, 16, 0, tzinfo=UTC), "B": datetime(2026, 9, 21, 16, 0, tzinfo=UTC)}
ACK_999_AT = datetime(2026, 7, 28, 7, 15)
ACK_277_AT = datetime(2026, 7, 30, 7, 45)
REJECTIONS: tuple[RejectReason, ...] = (("A7", "562", "85"), ("A7", "33", "IL"), ("A6", "21", "QC"))
DENIALS = (("CO", "50"), ("CO", "197"), ("CO", "16"), ("PR", "27"))  # CARC group and reason codes
PARTIAL = (("CO", "45"), ("CO", "97"), ("PR", "2"))
# The payer's decision for each round-A target (before staff act on it).
DECISION = {"paid": "paid", "closed": "paid", "voided": "paid", "partially_paid": "partially_paid",
            "denied": "denied", "appealed": "denied"}  # fmt: skip
Progress = Callable[[str, int, int], None]


class DemoSeedError(ClaimVaultError):
    code = "demo_seed_failed"
    status_code = 500


@dataclass(frozen=True)
class DemoEncounter:
    encounter_id: uuid.UUID
    target: str
    service_date: date
    held_by_coding: bool = False  # a category code left for the coder: scrubbing keeps it a draft


@dataclass
class StageReport:
    files_released: int = 0
    acknowledgements: int = 0
    claims_by_status: dict[str, int] = field(default_factory=dict)


class _Stager:
    def __init__(self, runtime: Runtime, ctx: SystemContext, rng: random.Random, drop_dir: Path | None) -> None:
        self.runtime = runtime
        self.ctx = ctx
        self.rng = rng
        if drop_dir is not None:
            drop_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.drop = DropDirectory(drop_dir) if drop_dir is not None else None
        self.report = StageReport()
        self.interchange = 700  # ISA13 of the clearinghouse's acknowledgements

    def gate(self) -> AbstractContextManager[PHIGate]:
        return open_gate(db=self.runtime.db, keys=self.runtime.keys, ctx=self.ctx)

    def create(self, encounters: Iterable[DemoEncounter]) -> dict[uuid.UUID, ClaimOut]:
        with self.gate() as gate:
            return {
                e.encounter_id: create_claim(gate=gate, data=ClaimCreate(encounter_id=e.encounter_id))
                for e in encounters
            }

    def scrub(self, claim_ids: list[uuid.UUID], expected: dict[uuid.UUID, str], day: date) -> None:
        if not claim_ids:
            return
        with self.gate() as gate:
            results = scrub_claims(gate=gate, claim_ids=claim_ids, today=day)
        wrong = [r for r in results if r.status != expected[r.claim_id]]
        if wrong or len(results) != len(claim_ids):
            rules = sorted({f.rule for r in wrong for f in r.findings})
            moves = sorted({f"{expected[r.claim_id]} -> {r.status}" for r in wrong})
            raise DemoSeedError(
                f"{len(wrong)} demo claims did not scrub as planned ({'; '.join(moves)}; rules: {', '.join(rules)})."
            )

    def release(self, at: datetime) -> list[tuple[uuid.UUID, int, list[int]]]:
        """Export every ready claim; (payer row id, group control, transaction controls) per released file."""
        with self.gate() as gate:
            result = export_837p(gate=gate, blobs=self.runtime.blobs, now=at)
            if result.refused or result.skipped:
                codes = sorted({i.code for r in result.refused for i in r.report.issues})
                raise DemoSeedError(f"A demo 837P file was refused (codes: {', '.join(map(str, codes))}).")
            files = []
            for released in result.released:
                row = gate.get(X12File, released.file_id, permission=Permission.CLAIM_SUBMIT)
                controls = [int(n) for n in (row["transaction_controls"] or "").split(",") if n]
                files.append((row["payer_id"], row["group_control"], controls))
                if self.drop is not None:
                    name = f"837P-{released.payer_id}-{released.interchange_control:09d}.x12"
                    self.drop.send(name=name, data=released.content.encode("ascii"))
        self.report.files_released += len(files)
        return files

    def receive(self, kind: str, data: bytes) -> None:
        """Import one acknowledgement; through the drop directory's inbound folder when there is one."""
        self.interchange += 1
        with self.gate() as gate:
            if self.drop is None:
                import_ack(gate=gate, blobs=self.runtime.blobs, data=data)
            else:
                name = f"{kind}-{self.interchange:09d}.x12"
                fd = os.open(self.drop.inbound / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                for inbound in self.drop.fetch(kinds={kind}):
                    if inbound.name == name:
                        import_ack(gate=gate, blobs=self.runtime.blobs, data=inbound.data)
                        self.drop.acknowledge(inbound)
        self.report.acknowledgements += 1

    def acknowledge(self, files: list[tuple[uuid.UUID, int, list[int]]], claims: dict[uuid.UUID, ClaimOut],
                    encounters: dict[uuid.UUID, DemoEncounter]) -> None:  # fmt: skip
        for payer_id, group, controls in files:
            self.receive("999", make_999(group_control=group, transaction_controls=controls,
                                         interchange=self.interchange + 1, when=ACK_999_AT))  # fmt: skip
            answered = [
                (e, c) for e, c in claims.items() if c.payer_id == payer_id and encounters[e].target != "submitted"
            ]
            rejected = {c.control_number: self.rng.choice(REJECTIONS) for e, c in answered
                        if encounters[e].target in ("rejected", "resubmitted")}  # fmt: skip
            items = [(c.control_number, c.total_charge, encounters[e].service_date) for e, c in answered]
            if items:
                self.receive("277CA", make_277ca(claims=items, rejected=rejected, interchange=self.interchange + 1,
                                                 when=ACK_277_AT, seed=self.rng.randrange(2**31)))  # fmt: skip

    def adjudicate(
        self, claims: dict[uuid.UUID, ClaimOut], encounters: dict[uuid.UUID, DemoEncounter]
    ) -> list[uuid.UUID]:
        """Payer decisions, staff follow-up and corrections; returns the new versions (drafts)."""
        corrections = []
        with self.gate() as gate:
            for encounter_id, claim in claims.items():
                target = encounters[encounter_id].target
                decision = DECISION.get(target)
                if target == "replaced":
                    decision = self.rng.choice(("accepted", "paid", "partially_paid"))
                if decision in ("paid", "partially_paid", "denied"):
                    pool = {"paid": (), "partially_paid": PARTIAL, "denied": DENIALS}[decision]
                    codes = [self.rng.choice(pool)] if pool else []
                    reasons = [{"source": "835", "group": g, "code": c} for g, c in codes]
                    move(gate=gate, claim_id=claim.id, to_status=decision, source="835",
                         reason=" ".join(f"{g}-{c}" for g, c in codes) or "paid as billed",
                         extra={"status_reasons": json.dumps(reasons)} if reasons else None)  # fmt: skip
                follow_up = {"appealed": ("appealed", "Appeal filed with visit notes"),
                             "closed": ("closed", "Paid in full; balance settled")}.get(target)  # fmt: skip
                if follow_up is not None:
                    request = ClaimTransitionRequest(to_status=follow_up[0], reason=follow_up[1])
                    request_transition(gate=gate, claim_id=claim.id, request=request)
                frequency = {"replaced": "7", "voided": "8", "resubmitted": "1"}.get(target)
                if frequency is not None:
                    data = ClaimCorrection(frequency_code=frequency)
                    corrections.append(correct_claim(gate=gate, claim_id=claim.id, data=data).id)
        return corrections

    def tally(self) -> dict[str, int]:
        with self.gate() as gate:
            rows = gate.session.execute(select(Claim.status, func.count()).group_by(Claim.status))
            return dict(sorted(Counter({status: count for status, count in rows}).items()))


def stage_claims(
    *,
    runtime: Runtime,
    ctx: SystemContext,
    encounters: list[DemoEncounter],
    rng: random.Random,
    drop_dir: Path | None,
    progress: Progress,
) -> StageReport:
    """Claims for ``encounters``, each moved to its target state (see the module docstring)."""
    stage = _Stager(runtime, ctx, rng, drop_dir)
    by_id = {e.encounter_id: e for e in encounters}
    steps, label = 6, "Claims through their lifecycle"

    def round_of(name: str) -> list[DemoEncounter]:
        return [e for e in encounters if ROUND_OF[e.target] == name]

    progress(label, 0, steps)
    claims_a = stage.create(round_of("A"))
    stage.scrub([c.id for c in claims_a.values()], {c.id: "ready" for c in claims_a.values()}, SCRUB_DAY["A"])
    progress(label, 1, steps)
    files = stage.release(RELEASED_AT["A"])
    progress(label, 2, steps)
    stage.acknowledge(files, claims_a, by_id)
    progress(label, 3, steps)
    corrections = stage.adjudicate(claims_a, by_id)
    progress(label, 4, steps)
    claims_b = stage.create(round_of("B"))
    stage.scrub([c.id for c in claims_b.values()], {c.id: "ready" for c in claims_b.values()}, SCRUB_DAY["B"])
    stage.release(RELEASED_AT["B"])
    progress(label, 5, steps)
    claims_c = stage.create(round_of("C"))
    expected = {c: "ready" for c in corrections}
    for encounter_id, claim in claims_c.items():
        target = by_id[encounter_id].target
        if target != "draft" or by_id[encounter_id].held_by_coding:
            expected[claim.id] = target
    stage.scrub(sorted(expected), expected, SCRUB_DAY["C"])
    stage.report.claims_by_status = stage.tally()
    progress(label, 6, steps)
    return stage.report
