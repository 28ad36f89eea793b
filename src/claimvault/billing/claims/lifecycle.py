"""The claim state machine: which status may follow which, and by what kind of event. Pure: the claims service
records each transition (a ``claim_transitions`` row and the claim's audit event) after asking here.

    draft -> scrubbed -> ready -> exported -> submitted -> accepted | rejected -> paid | partially_paid | denied
          -> appealed | closed

Remittance outcomes come from an 835 (source ``835``) or a manual posting of a paper EOB (source ``eob``).

A correction, replacement or void supersedes the claim it changes; the new version starts as a draft.
"""

from __future__ import annotations

from claimvault.errors import Conflict

STATUSES = (
    "draft",
    "scrubbed",
    "ready",
    "exported",
    "submitted",
    "accepted",
    "rejected",
    "paid",
    "partially_paid",
    "denied",
    "appealed",
    "closed",
    "superseded",
)

# from status -> {to status: sources allowed to cause it}
_USER = "user"
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "draft": {"scrubbed": frozenset({"scrub"}), "closed": frozenset({_USER})},
    "scrubbed": {
        "ready": frozenset({"scrub", _USER}),
        "draft": frozenset({_USER, "scrub"}),
        "closed": frozenset({_USER}),
    },
    "ready": {"exported": frozenset({"export"}), "draft": frozenset({_USER, "scrub"}), "closed": frozenset({_USER})},
    "exported": {
        "submitted": frozenset({"999", "transport"}),
        "rejected": frozenset({"999", "277CA"}),
        "accepted": frozenset({"277CA"}),
    },
    "submitted": {
        "accepted": frozenset({"277CA"}),
        "rejected": frozenset({"277CA", "999"}),
        "paid": frozenset({"835", "eob"}),
        "partially_paid": frozenset({"835", "eob"}),
        "denied": frozenset({"835", "eob"}),
    },
    "accepted": {
        "paid": frozenset({"835", "eob"}),
        "partially_paid": frozenset({"835", "eob"}),
        "denied": frozenset({"835", "eob"}),
        "superseded": frozenset({"correction"}),
    },
    "rejected": {"superseded": frozenset({"correction"}), "closed": frozenset({_USER})},
    "paid": {
        "closed": frozenset({_USER, "835"}),
        "superseded": frozenset({"correction"}),
        # A reversal (CLP02 22) and the payer's corrected payment can change the outcome of an adjudication.
        "partially_paid": frozenset({"835", "eob"}),
        "denied": frozenset({"835", "eob"}),
    },
    "partially_paid": {
        "paid": frozenset({"835", "eob"}),
        "denied": frozenset({"835", "eob"}),
        "appealed": frozenset({_USER}),
        "closed": frozenset({_USER}),
        "superseded": frozenset({"correction"}),
    },
    "denied": {
        "appealed": frozenset({_USER}),
        "closed": frozenset({_USER}),
        "superseded": frozenset({"correction"}),
        "paid": frozenset({"835", "eob"}),  # reprocessed by the payer: reversal and corrected payment
        "partially_paid": frozenset({"835", "eob"}),
    },
    "appealed": {
        "paid": frozenset({"835", "eob"}),
        "partially_paid": frozenset({"835", "eob"}),
        "denied": frozenset({"835", "eob"}),
        "closed": frozenset({_USER}),
    },
    "closed": {},
    "superseded": {},
}

# Statuses whose claim is still "live" for duplicate detection.
LIVE = frozenset(STATUSES) - {"closed", "superseded", "rejected"}
# Which kind of new version each status allows: a rejected claim never reached adjudication, so its correction
# is a new original (frequency 1); an adjudicated one is replaced (7) or voided (8) with the payer's claim number.
CORRECTIONS: dict[str, frozenset[str]] = {
    "rejected": frozenset({"1"}),
    "accepted": frozenset({"7", "8"}),
    "paid": frozenset({"7", "8"}),
    "partially_paid": frozenset({"7", "8"}),
    "denied": frozenset({"7", "8"}),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def check_transition(*, current: str, target: str, source: str) -> None:
    """Refuse a transition the state machine does not allow, with a message naming both statuses."""
    if current not in TRANSITIONS or target not in STATUSES:
        raise IllegalTransition("Unknown claim status.")
    allowed = TRANSITIONS[current].get(target)
    if allowed is None:
        options = ", ".join(sorted(TRANSITIONS[current])) or "none (final)"
        raise IllegalTransition(f"A {current} claim cannot become {target}. Allowed next: {options}.")
    if source not in allowed:
        raise IllegalTransition(f"A {current} claim becomes {target} only through: {', '.join(sorted(allowed))}.")
