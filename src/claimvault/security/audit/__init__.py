"""The tamper-evident audit trail: writing events, sequencing them into a hash-chained Merkle log, checkpoints,
verification, inclusion proofs, queries and export."""

from claimvault.security.audit.events import PENDING_FLAG, build_event, record

__all__ = ["PENDING_FLAG", "build_event", "record"]
