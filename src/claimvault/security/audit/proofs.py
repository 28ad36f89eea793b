"""Inclusion proofs: evidence, checkable by anyone with the checkpoint public key, that an event is in the log.

A proof bundles the event's exact body (the leaf data), its leaf index, the RFC 9162 audit path, and the signed
checkpoint whose root it leads to. ``check_proof`` is the reference checker; the README shows the same steps in
a few lines of Python for a third party who does not run ClaimVault.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from claimvault.errors import NotFound
from claimvault.security.audit.checkpoints import Checkpoint, public_key_pem
from claimvault.security.audit.log import leaf_hashes
from claimvault.security.audit.merkle import inclusion_proof, leaf_hash, verify_inclusion
from claimvault.storage.database import AUDIT_READER, Database

PROOF_FORMAT = "claimvault-audit-inclusion-proof/v1"


class NotCovered(NotFound):
    """The event is in the log but after the checkpoint: a newer checkpoint is needed."""


def build_proof(*, db: Database, event_id: uuid.UUID, checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> str:
    """The proof of ``event_id`` against ``checkpoint`` (which must cover it), as JSON text."""
    with db.session(tenant_id=None, audit_role=AUDIT_READER) as session:
        row = session.execute(
            text("SELECT position, body FROM audit_events WHERE id = :id"), {"id": _db_uuid(db, event_id)}
        ).first()
        if row is None:
            raise NotFound("No sequenced audit event has this id.")
        position, body = int(row[0]), str(row[1])
        if position >= checkpoint.tree_size:
            raise NotCovered("No checkpoint covers this event yet; write one with `claimvault audit checkpoint`.")
        hashes = leaf_hashes(session, size=checkpoint.tree_size)
    path = inclusion_proof(hashes, position, checkpoint.tree_size)
    document: dict[str, Any] = {
        "format": PROOF_FORMAT,
        "event_id": str(event_id),
        "leaf_index": position,
        "leaf_data": body,
        "leaf_hash": leaf_hash(body.encode("ascii")).hex(),
        "audit_path": [h.hex() for h in path],
        "checkpoint": {
            "tree_size": checkpoint.tree_size,
            "root_hash": base64.b64encode(checkpoint.root_hash).decode(),
            "chain_head": checkpoint.chain_head.hex(),
            "timestamp": checkpoint.timestamp,
            "signed_message": checkpoint.message().decode("ascii"),
            "signature": base64.b64encode(checkpoint.signature).decode(),
            "key_fingerprint": checkpoint.key_fingerprint,
        },
        "public_key_pem": public_key_pem(public_key).decode("ascii"),
    }
    return json.dumps(document, indent=2)


def check_proof(document: str, *, public_key: Ed25519PublicKey) -> list[str]:
    """Check a proof against a pinned public key; return the problems (empty: the event is in the log)."""
    try:
        data = json.loads(document)
        cp = data["checkpoint"]
        leaf_data = str(data["leaf_data"]).encode("ascii")
        index = int(data["leaf_index"])
        size = int(cp["tree_size"])
        root = base64.b64decode(cp["root_hash"], validate=True)
        path = [bytes.fromhex(h) for h in data["audit_path"]]
        checkpoint = Checkpoint(
            tree_size=size,
            root_hash=root,
            chain_head=bytes.fromhex(cp["chain_head"]),
            timestamp=str(cp["timestamp"]),
            key_fingerprint=str(cp.get("key_fingerprint", "")),
            signature=base64.b64decode(cp["signature"], validate=True),
        )
    except (ValueError, KeyError, TypeError, UnicodeEncodeError):
        return ["the proof is not a readable ClaimVault inclusion proof"]
    problems = []
    if data.get("format") != PROOF_FORMAT:
        problems.append("unknown proof format")
    if not checkpoint.verify_signature(public_key):
        problems.append("the checkpoint's signature does not verify with the pinned key")
    try:
        named = uuid.UUID(str(data.get("event_id", ""))).hex
    except ValueError:
        named = "-"
    if leaf_data.split(b"|")[2:3] != [named.encode("ascii")]:
        problems.append("the leaf data is not the event named by the proof")
    if not verify_inclusion(leaf_hash=leaf_hash(leaf_data), index=index, size=size, proof=path, root=root):
        problems.append("the audit path does not lead from the event to the checkpoint's root")
    return problems


def _db_uuid(db: Database, value: uuid.UUID) -> Any:
    return value if db.is_postgresql else value.hex
