"""``claimvault audit`` end to end on a real ./var/ made by ``claimvault init`` (SQLite): the pinned public key
printed at init, checkpoint, verify (exit 0 intact; exit 1 naming the first bad position after tampering, also for
an attacker who re-signs with a replaced key), prove and check-proof, and an audited query."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.test_cli import _everything, _flat, _ok, _run, _unwrapped


@pytest.fixture
def var(tmp_path: Path) -> Path:
    var = tmp_path / "var"
    init = _ok(var, "init")
    text = _unwrapped(_everything(init))  # Rich wraps long lines at the terminal's width
    assert re.search(r"fingerprintSHA256:[0-9a-f]{4}(:[0-9a-f]{4}){15}", text), text
    assert (var / "keys" / "audit-checkpoint.key").stat().st_mode & 0o777 == 0o600
    _ok(var, "demo", "seed", "--patients", "5")  # a practice, users, patients: plenty of events
    return var


def _pinned(var: Path, tmp_path: Path) -> Path:
    """The operator's copy of the public key, kept off the machine."""
    pinned = tmp_path / "offsite" / "audit-checkpoint.pub"
    pinned.parent.mkdir()
    shutil.copy(var / "keys" / "audit-checkpoint.key.pub", pinned)
    return pinned


def _db(var: Path) -> sqlite3.Connection:
    return sqlite3.connect(var / "claimvault.db")


def test_checkpoint_then_verify_then_tamper(var: Path, tmp_path: Path) -> None:
    pinned = _pinned(var, tmp_path)
    out = _flat(_everything(_ok(var, "audit", "checkpoint")))
    assert "tree size" in out and "Signed by SHA256:" in out
    ok = _flat(_everything(_ok(var, "audit", "verify", "--public-key", str(pinned))))
    assert "Audit log intact" in ok

    with _db(var) as conn:
        query = "SELECT position, body FROM audit_events ORDER BY position LIMIT 1 OFFSET 7"
        position, body = conn.execute(query).fetchone()
        conn.execute(
            "UPDATE audit_events SET body = ? WHERE position = ?", (body.replace("success", "failure"), position)
        )
    failed = _run(var, "audit", "verify", "--public-key", str(pinned))
    assert failed.exit_code == 1
    assert f"first bad position {position}" in _flat(_everything(failed))


def test_an_attacker_who_replaces_the_key_and_resigns_is_caught_by_the_pinned_key(var: Path, tmp_path: Path) -> None:
    pinned = _pinned(var, tmp_path)
    _ok(var, "audit", "checkpoint")
    # The attacker rewrites an event, recomputes every chain hash, swaps in a key of their own and re-signs.
    with _db(var) as conn:
        rows = conn.execute("SELECT position, body FROM audit_events ORDER BY position").fetchall()
        previous = bytes(32)
        for position, body in rows:
            if position == 3:
                body = body.replace("\n{", '\n{"forged":1,', 1)
            leaf = hashlib.sha256(b"\x00" + body.encode()).digest()
            previous = hashlib.sha256(previous + leaf).digest()
            conn.execute(
                "UPDATE audit_events SET body = ?, chain_hash = ? WHERE position = ?", (body, previous, position)
            )
    for path in (var / "audit-checkpoints").glob("*.json"):
        path.unlink()
    for name in ("audit-checkpoint.key", "audit-checkpoint.key.pub"):
        (var / "keys" / name).unlink()
    _ok(var, "audit", "checkpoint")  # a brand-new key signs the rewritten history
    assert _run(var, "audit", "verify").exit_code == 0  # against the local (replaced) key it looks fine
    caught = _run(var, "audit", "verify", "--public-key", str(pinned))
    assert caught.exit_code == 1 and "signature does not verify" in _flat(_everything(caught))


def test_prove_and_check_proof(var: Path, tmp_path: Path) -> None:
    pinned = _pinned(var, tmp_path)
    with _db(var) as conn:
        (event_hex,) = conn.execute("SELECT id FROM audit_events ORDER BY position LIMIT 1 OFFSET 5").fetchone()
    event_id = f"{event_hex[:8]}-{event_hex[8:12]}-{event_hex[12:16]}-{event_hex[16:20]}-{event_hex[20:]}"
    proof_file = tmp_path / "proof.json"
    _ok(var, "audit", "prove", event_id, "--out", str(proof_file))  # writes the covering checkpoint itself
    proof = json.loads(proof_file.read_text())
    assert proof["leaf_index"] == 5 and proof["event_id"] == event_id
    checked = _ok(var, "audit", "check-proof", str(proof_file), "--public-key", str(pinned))
    assert "is in the audit log" in _flat(_everything(checked))
    proof["leaf_index"] = 6
    proof_file.write_text(json.dumps(proof))
    assert _run(var, "audit", "check-proof", str(proof_file), "--public-key", str(pinned)).exit_code == 1


def test_query_is_answered_and_itself_audited(var: Path) -> None:
    with _db(var) as conn:
        lines = [
            body.split("\n")[0] for (body,) in conn.execute("SELECT body FROM audit_events WHERE patient_count > 0")
        ]
    patient_hex = lines[0].split("|")[11].split(",")[-1]
    listing = sum(patient_hex in line.split("|")[11].split(",") for line in lines)
    patient = f"{patient_hex[:8]}-{patient_hex[8:12]}-{patient_hex[12:16]}-{patient_hex[16:20]}-{patient_hex[20:]}"
    result = _ok(var, "audit", "query", "--org", "demo", "--patient", patient, "--json", "--limit", "500")
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert events and all(patient in e["patient_ids"] for e in events)
    assert len(events) == listing  # every event whose body lists the patient (all of the demo organization's)
    with _db(var) as conn:
        (detail,) = conn.execute(
            "SELECT body FROM audit_events WHERE action = 'query' ORDER BY position DESC LIMIT 1"
        ).fetchone()
    assert patient_hex in detail.split("\n")[0]  # the query names the patient it was about
    assert '"actor_name":"audit query' in detail
