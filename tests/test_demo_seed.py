"""The demo seed's billing world (``claimvault.cli.demo_billing``) on both backends, with a small practice: claims
in every lifecycle state reached through the real services (acknowledgements through ``import_ack``), the same
seed giving the same data in two databases, and the claims it leaves ready releasing as 837P files that pyx12
accepts with zero errors and that carry a secondary coverage, a subscriber other than the patient, several service
lines, modifiers, a replacement (7, REF*F8) and a void (8, REF*F8)."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from claimvault.accounts.services import create_organization
from claimvault.billing.claims.lifecycle import STATUSES
from claimvault.billing.claims.models import Claim, ClaimTransition, X12File
from claimvault.billing.claims.release import export_837p
from claimvault.billing.claims.service import get_claim
from claimvault.billing.coverage.models import Coverage
from claimvault.billing.encounters.models import Encounter, ServiceLine
from claimvault.billing.patients.models import Patient
from claimvault.billing.x12.validation import validate_x12
from claimvault.cli.demo_billing import BillingReport, seed_billing
from claimvault.config import Settings
from claimvault.runtime import Runtime, build_runtime
from claimvault.security.context import system_context
from claimvault.security.crypto.provider import LocalKeyring
from claimvault.security.gate import PHIGate, open_gate
from claimvault.security.permissions import Permission
from tests.conftest import CHEAP_ARGON2
from tests.harness import PostgresBackend, SQLiteBackend

PATIENTS = 30
SEED = 837


def _seed(runtime: Runtime, work: Path) -> tuple[uuid.UUID, BillingReport]:
    org = create_organization(db=runtime.db, keys=runtime.keys, ctx=None, slug="demo", name="Demo Family Practice")
    report = seed_billing(
        runtime=runtime,
        organization_id=org.id,
        patients=PATIENTS,
        seed=SEED,
        code_set_dir=work / "codesets",
        drop_dir=work / "clearinghouse" / "demo",
    )
    return org.id, report


def _gate(runtime: Runtime, org_id: uuid.UUID, command: str = "test") -> AbstractContextManager[PHIGate]:
    ctx = system_context(command, organization_id=org_id, permissions=set(Permission))
    return open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx)


def _snapshot(runtime: Runtime, org_id: uuid.UUID) -> dict[str, Any]:
    """Everything about the seeded world that does not depend on random ids, keys or the clock (no PHI)."""
    with _gate(runtime, org_id) as gate:
        s = gate.session
        claims = s.execute(
            select(Claim.control_number, Claim.status, Claim.frequency_code, Claim.version, Claim.rank,
                   Claim.total_charge).order_by(Claim.control_number)
        ).all()  # fmt: skip
        number_of = {i: n for i, n in s.execute(select(Claim.id, Claim.control_number))}
        transitions = sorted(
            (number_of[t.claim_id], t.from_status or "", t.to_status, t.source, t.reason or "")
            for t in s.scalars(select(ClaimTransition))
        )
        counts = {
            model.__tablename__: s.scalar(select(func.count()).select_from(model))
            for model in (Patient, Coverage, Encounter, ServiceLine)
        }
        files = sorted(tuple(r) for r in s.execute(select(X12File.kind, X12File.direction, X12File.claim_count)))
        charges = sorted(s.scalars(select(ServiceLine.charge)))
    return {"claims": [tuple(c) for c in claims], "transitions": transitions, "counts": counts, "files": files,
            "charges": charges}  # fmt: skip


def test_the_seed_leaves_claims_in_every_state_through_the_real_services(runtime: Runtime, tmp_path: Path) -> None:
    org_id, report = _seed(runtime, tmp_path)
    assert report.patients == PATIENTS and report.encounters > PATIENTS
    with _gate(runtime, org_id) as gate:
        s = gate.session
        statuses = Counter(s.scalars(select(Claim.status)))
        assert set(statuses) == set(STATUSES), set(STATUSES) - set(statuses)
        assert statuses["ready"] >= 5
        assert dict(statuses) == report.stages.claims_by_status
        sources = Counter((t.to_status, t.source) for t in s.scalars(select(ClaimTransition)))
        # Acknowledgements moved claims through import_ack; payer decisions and staff actions as the lifecycle allows.
        for moved in (("submitted", "999"), ("accepted", "277CA"), ("rejected", "277CA"), ("paid", "835"),
                      ("partially_paid", "835"), ("denied", "835"), ("appealed", "user"), ("closed", "user"),
                      ("superseded", "correction"), ("exported", "export"), ("scrubbed", "scrub")):  # fmt: skip
            assert sources[moved] > 0, moved
        inbound = Counter(s.scalars(select(X12File.kind).where(X12File.direction == "inbound")))
        assert inbound["999"] > 0 and inbound["277CA"] > 0
        rejected = s.scalar(select(Claim.id).where(Claim.status == "rejected"))
        drafts = s.scalars(select(Claim.id).where(Claim.status == "draft")).all()
        ready = {
            tuple(r) for r in s.execute(select(Claim.frequency_code, Claim.version).where(Claim.status == "ready"))
        }
    assert {("7", 2), ("8", 2), ("1", 1)} <= set(ready)
    assert ("1", 2) in set(ready) or statuses["superseded"] >= 3  # a rejected claim corrected as a new original
    with _gate(runtime, org_id) as gate:
        assert rejected is not None
        reasons = get_claim(gate=gate, claim_id=rejected).status_reasons
        assert reasons and all(r["source"] == "277CA" for r in reasons)
        held = [get_claim(gate=gate, claim_id=d).findings for d in drafts]
        assert any("CODE-DX-BILLABLE" in {f.rule for f in found} for found in held)  # a category code to finish
    drop = tmp_path / "clearinghouse" / "demo"
    assert (
        sorted(p.name.split("-")[0] for p in (drop / "outbound").iterdir()) == ["837P"] * report.stages.files_released
    )
    assert len(list((drop / "inbound" / "archive").iterdir())) == report.stages.acknowledgements
    assert not [p for p in (drop / "inbound").iterdir() if p.is_file()]  # every acknowledgement imported


def test_the_same_seed_gives_the_same_world_in_two_databases(
    backend: SQLiteBackend | PostgresBackend, tmp_path: Path
) -> None:
    snapshots = []
    for name in ("first", "second"):
        work = tmp_path / name
        work.mkdir()
        settings = Settings(var_dir=work / "var", **CHEAP_ARGON2)  # type: ignore[arg-type]
        with backend.database(work) as db:
            runtime = build_runtime(settings, db=db, key_provider=LocalKeyring.create(settings.resolved_keyring_path))
            try:
                org_id, _ = _seed(runtime, work)
                snapshots.append(_snapshot(runtime, org_id))
            finally:
                runtime.close()
    first, second = snapshots
    assert first["counts"]["patients"] == PATIENTS and len(first["claims"]) > PATIENTS
    for key in first:
        assert first[key] == second[key], key


def _claim_segments(content: str) -> list[list[str]]:
    """The segments of each claim (CLM up to the next claim or hierarchical level) of an 837P."""
    segments = [seg.strip() for seg in content.split("~") if seg.strip()]
    claims: list[list[str]] = []
    current: list[str] | None = None
    for seg in segments:
        if seg.startswith("CLM*"):
            current = [seg]
            claims.append(current)
        elif seg.startswith(("HL*", "SE*")):
            current = None
        elif current is not None:
            current.append(seg)
    return claims


def test_the_ready_claims_release_as_valid_837p_files_covering_every_claim_shape(
    runtime: Runtime, tmp_path: Path
) -> None:
    org_id, _ = _seed(runtime, tmp_path)
    with _gate(runtime, org_id) as gate:
        ready = set(gate.session.scalars(select(Claim.control_number).where(Claim.status == "ready")))
    with _gate(runtime, org_id, "claims export-837") as gate:
        result = export_837p(gate=gate, blobs=runtime.blobs)
    assert not result.refused and not result.skipped and len(result.released) >= 3
    for released in result.released:
        report = validate_x12(released.content)
        assert report.valid and not report.issues, report.summary()
    contents = [r.content for r in result.released]
    claims = [claim for content in contents for claim in _claim_segments(content)]
    assert {c[0].split("*")[1] for c in claims} == ready  # every ready claim left, and only those

    def frequency(claim: list[str]) -> str:
        return claim[0].split("*")[5].split(":")[2]

    def has(claim: list[str], pattern: str) -> bool:
        return any(re.fullmatch(pattern, seg) for seg in claim)

    replacements = [c for c in claims if frequency(c) == "7"]
    voids = [c for c in claims if frequency(c) == "8"]
    assert replacements and all(has(c, r"REF\*F8\*[0-9A-Z]+") for c in replacements)
    assert voids and all(has(c, r"REF\*F8\*[0-9A-Z]+") for c in voids)
    assert not [c for c in claims if frequency(c) == "1" and has(c, r"REF\*F8\*.*")]
    assert any(sum(seg.startswith("SBR*") for seg in c) >= 1 and has(c, r"SBR\*S\*.*") for c in claims)  # 2320
    assert any(len([seg for seg in c if seg.startswith("LX*")]) >= 3 for c in claims)
    assert any(has(c, r"SV1\*HC:[0-9A-Z]{5}(:[0-9A-Z]{2})+\*.*") for c in claims)
    text = "\n".join(contents)
    assert re.search(r"HL\*\d+\*\d+\*23\*0", text) and re.search(r"PAT\*(01|19)", text)  # loop 2000C
