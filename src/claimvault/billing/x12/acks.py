"""Inbound acknowledgements of our 837P batches, parsed into plain values: the 999 (implementation
acknowledgement, 005010X231A1: per transaction set accepted or rejected, with IK3/IK4 error codes and positions)
and the 277CA (claim acknowledgement, 005010X214: per claim accepted or rejected, with STC code tuples).

``parse_ack(text)`` reads the delimiters the ISA announces, recognises the kind by ST01/GS08, validates the whole
interchange with pyx12 and only then extracts results; a malformed file raises :class:`AckFileRejected` and yields
nothing. Results carry codes only (never descriptions of licensed code lists) and never patient names or member
ids; their reprs name no identifiers. Applying results to claims is the claims service's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

from claimvault.billing.x12.ack_validation import AckFileRejected, AckProblem, validate_ack

AckKind = Literal["999", "277CA"]
Outcome = Literal["accepted", "rejected", "pending"]

# IK501 / AK901 (X12 element 717 / 715): A accepted, E accepted with errors noted, P partially accepted (AK9 only);
# M, R, W, X rejected.
ACCEPTED_999 = frozenset({"A", "E"})
REJECTED_999 = frozenset({"M", "R", "W", "X"})
# Claim status category codes (X12 element 1271 list 507) used by a 277CA: A0 forwarded, A1 received, A2 accepted
# into adjudication, A5 split on acceptance; A3 returned as unprocessable, A4 not found, A6/A7/A8 rejected for
# missing / invalid / relational information; E0-E4 "response not possible" are treated as rejections too.
ACCEPTED_CATEGORIES = frozenset({"A0", "A1", "A2", "A5"})
REJECTED_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8", "E0", "E1", "E2", "E3", "E4"})
# CTX business-unit names whose value is our own claim identifier (kept); others (member ids, names) are dropped.
_CLAIM_REFERENCES = frozenset({"CLM01", "TRN02"})


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    repetition: str | None
    segment: str


@dataclass(frozen=True)
class ElementError:
    """IK4: an element in error (position, optional component/repeat, data element number, IK403 code)."""

    position: int
    component: int | None
    repeat: int | None
    data_element: str | None
    code: str


@dataclass(frozen=True)
class SegmentError:
    """IK3 (+ its IK4s): the segment id and position in the acknowledged transaction set, loop, IK304 code."""

    segment_id: str
    position: int
    loop_id: str | None
    code: str | None
    elements: tuple[ElementError, ...] = ()
    claim_reference: str | None = None  # CTX business unit CLM01/TRN02: the claim the error sits in


@dataclass(frozen=True)
class TransactionAck:
    """AK2..IK5: one of our 837 transaction sets (ST02) and whether it was accepted."""

    transaction_set: str  # AK201, "837"
    control_number: str  # AK202 = the ST02 we sent
    implementation: str | None  # AK203
    code: str  # IK501
    syntax_errors: tuple[str, ...]  # IK502..IK506
    segment_errors: tuple[SegmentError, ...]

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED_999


@dataclass(frozen=True)
class GroupAck:
    """AK1..AK9: one functional group we sent (GS06) and the transaction sets acknowledged in it."""

    functional_id: str  # AK101, "HC"
    group_control: str  # AK102 = the GS06 we sent
    version: str | None  # AK103
    code: str  # AK901: A, E, P (partially accepted), M, R, W, X
    included: int
    received: int
    accepted_count: int
    errors: tuple[str, ...]  # AK905..AK909
    transactions: tuple[TransactionAck, ...]


@dataclass(frozen=True)
class StatusCode:
    """One STC composite: category (e.g. A7), status code, entity identifier code; codes only."""

    category: str
    status: str
    entity: str | None = None

    def as_tuple(self) -> tuple[str, str, str | None]:
        return (self.category, self.status, self.entity)


@dataclass(frozen=True)
class ClaimStatusInfo:
    """One STC segment: its composites (STC01, STC10, STC11), action code (STC03: WQ accept, U reject), amount."""

    codes: tuple[StatusCode, ...]
    action: str | None
    amount: Decimal | None


def _outcome(infos: tuple[ClaimStatusInfo, ...]) -> Outcome:
    categories = {c.category for info in infos for c in info.codes}
    if categories & REJECTED_CATEGORIES:
        return "rejected"
    if categories and categories <= ACCEPTED_CATEGORIES:
        return "accepted"
    return "pending"


@dataclass(frozen=True, repr=False)
class LineAck:
    """2220D: a service line's status (procedure code, charge, line item control number REF*FJ)."""

    procedure: str | None
    charge: Decimal | None
    line_control: str | None
    statuses: tuple[ClaimStatusInfo, ...]

    @property
    def outcome(self) -> Outcome:
        return _outcome(self.statuses)

    def __repr__(self) -> str:
        return f"LineAck(outcome={self.outcome!r})"


@dataclass(frozen=True, repr=False)
class ClaimAck:
    """2200D: one claim of ours as the payer or clearinghouse acknowledged it."""

    patient_control_number: str  # TRN02 = the CLM01 we sent
    payer_claim_control_number: str | None  # REF*1K
    clearinghouse_trace: str | None  # REF*D9
    statuses: tuple[ClaimStatusInfo, ...]
    lines: tuple[LineAck, ...] = ()

    @property
    def outcome(self) -> Outcome:
        own = _outcome(self.statuses)
        if own != "rejected" and any(line.outcome == "rejected" for line in self.lines):
            return "rejected"
        return own

    @property
    def total_charge(self) -> Decimal | None:
        return next((s.amount for s in self.statuses if s.amount is not None), None)

    @property
    def reasons(self) -> tuple[tuple[str, str, str | None], ...]:
        """(category, status code, entity code) of every rejecting STC of the claim and its lines."""
        infos = self.statuses + tuple(s for line in self.lines for s in line.statuses)
        return tuple(
            c.as_tuple() for info in infos if {x.category for x in info.codes} & REJECTED_CATEGORIES for c in info.codes
        )

    def __repr__(self) -> str:
        return f"ClaimAck(outcome={self.outcome!r}, reasons={self.reasons!r})"


@dataclass(frozen=True)
class AckFile:
    """One parsed acknowledgement interchange. ``groups`` for a 999, ``claims`` for a 277CA."""

    kind: AckKind
    interchange_control: str  # ISA13 of the acknowledgement itself
    group_control: str  # GS06 of the acknowledgement itself
    groups: tuple[GroupAck, ...] = ()
    claims: tuple[ClaimAck, ...] = field(default=(), repr=False)
    receiver_statuses: tuple[ClaimStatusInfo, ...] = ()  # 2200B: the batch as a whole
    provider_statuses: tuple[ClaimStatusInfo, ...] = ()  # 2200C: per billing provider

    @property
    def transactions(self) -> tuple[TransactionAck, ...]:
        return tuple(t for g in self.groups for t in g.transactions)


# --- reading ---------------------------------------------------------------------------------------------------

ISA_LENGTH = 106


def read_delimiters(text: str) -> Delimiters:
    """The delimiters announced by a fixed-length ISA: element (4th char), repetition (ISA11), component (ISA16),
    segment terminator (the character after ISA16)."""
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        raise AckFileRejected("acknowledgement file does not start with an ISA segment")
    element = text[3]
    if element.isalnum() or element.isspace() or text[103] != element or text[:ISA_LENGTH].count(element) != 16:
        raise AckFileRejected("ISA segment is not fixed-length or its element separator is invalid")
    component, segment = text[104], text[105]
    repetition = text[82] if text[84:89] == "00501" else None
    if len({element, component, segment}) != 3 or component.isalnum() or segment.isalnum():
        raise AckFileRejected("ISA delimiters are not distinct")
    return Delimiters(element=element, component=component, repetition=repetition, segment=segment)


def split_segments(text: str, d: Delimiters) -> list[list[str]]:
    """Segments as lists of elements (index 0 = segment id); line breaks around terminators are ignored."""
    out: list[list[str]] = []
    for raw in text.split(d.segment):
        seg = raw.strip("\r\n")
        if seg.strip():
            out.append(seg.split(d.element))
    return out


def _el(seg: list[str], i: int) -> str | None:
    value = seg[i] if i < len(seg) else ""
    return value or None


def _req(seg: list[str], i: int) -> str:
    value = _el(seg, i)
    if value is None:  # pyx12 has checked requirements; this guards the parser itself
        raise AckFileRejected("acknowledgement is missing a required element", problems=(
            AckProblem("element", "1", seg[0], None, i),))  # fmt: skip
    return value


def _opt_int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _money(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def _kind(segments: list[list[str]]) -> AckKind:
    gs08 = next((_el(s, 8) for s in segments if s[0] == "GS"), None)
    st01 = next((_el(s, 1) for s in segments if s[0] == "ST"), None)
    if st01 == "999" and gs08 is not None and gs08.startswith("005010X231"):
        return "999"
    if st01 == "277" and gs08 is not None and gs08.startswith("005010X214"):
        return "277CA"
    raise AckFileRejected("file is neither a 005010 999 nor a 277CA (by ST01 and GS08)")


def parse_ack(text: str | bytes) -> AckFile:
    """Validate and parse one 999 or 277CA interchange (any delimiters, with or without line breaks)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise AckFileRejected("acknowledgement file is not ASCII text") from None
    text = text.lstrip("\ufeff \t\r\n")
    delimiters = read_delimiters(text)
    segments = split_segments(text, delimiters)
    kind = _kind(segments)
    validate_ack(text, label=kind)
    isa, gs = segments[0], next(s for s in segments if s[0] == "GS")
    if kind == "999":
        groups = tuple(_parse_999(segments, delimiters))
        return AckFile(kind=kind, interchange_control=_req(isa, 13), group_control=_req(gs, 6), groups=groups)
    claims, receiver, provider = _parse_277ca(segments, delimiters)
    return AckFile(
        kind=kind,
        interchange_control=_req(isa, 13),
        group_control=_req(gs, 6),
        claims=claims,
        receiver_statuses=receiver,
        provider_statuses=provider,
    )


# --- 999 -------------------------------------------------------------------------------------------------------


def _parse_999(segments: list[list[str]], d: Delimiters) -> Iterator[GroupAck]:
    ak1: list[str] | None = None
    transactions: list[TransactionAck] = []
    ak2: list[str] | None = None
    seg_errors: list[SegmentError] = []
    for seg in segments:
        sid = seg[0]
        if sid == "AK1":
            ak1, transactions = seg, []
        elif sid == "AK2":
            ak2, seg_errors = seg, []
        elif sid == "IK3":
            seg_errors.append(SegmentError(_req(seg, 1), int(_req(seg, 2)), _el(seg, 3), _el(seg, 4)))
        elif sid == "IK4" and seg_errors:
            parts = _req(seg, 1).split(d.component)
            element = ElementError(
                position=int(parts[0]),
                component=_opt_int(parts[1] if len(parts) > 1 else None),
                repeat=_opt_int(parts[2] if len(parts) > 2 else None),
                data_element=_el(seg, 2),
                code=_req(seg, 3),
            )  # IK404 (a copy of the bad value) is deliberately not kept: it may be PHI
            last = seg_errors[-1]
            seg_errors[-1] = SegmentError(last.segment_id, last.position, last.loop_id, last.code,
                                          (*last.elements, element), last.claim_reference)  # fmt: skip
        elif sid == "CTX" and seg_errors:
            name, _, value = _req(seg, 1).partition(d.component)
            if name in _CLAIM_REFERENCES and value:
                last = seg_errors[-1]
                seg_errors[-1] = SegmentError(last.segment_id, last.position, last.loop_id, last.code,
                                              last.elements, value)  # fmt: skip
        elif sid == "IK5" and ak2 is not None:
            transactions.append(
                TransactionAck(
                    transaction_set=_req(ak2, 1),
                    control_number=_req(ak2, 2),
                    implementation=_el(ak2, 3),
                    code=_req(seg, 1),
                    syntax_errors=tuple(v for v in (_el(seg, i) for i in range(2, 7)) if v),
                    segment_errors=tuple(seg_errors),
                )
            )
            ak2 = None
        elif sid == "AK9" and ak1 is not None:
            yield GroupAck(
                functional_id=_req(ak1, 1),
                group_control=_req(ak1, 2),
                version=_el(ak1, 3),
                code=_req(seg, 1),
                included=int(_req(seg, 2)),
                received=int(_req(seg, 3)),
                accepted_count=int(_req(seg, 4)),
                errors=tuple(v for v in (_el(seg, i) for i in range(5, 10)) if v),
                transactions=tuple(transactions),
            )
            ak1 = None


# --- 277CA -----------------------------------------------------------------------------------------------------


def _status(seg: list[str], d: Delimiters) -> ClaimStatusInfo:
    codes: list[StatusCode] = []
    for i in (1, 10, 11):
        composite = _el(seg, i)
        if composite:
            parts = composite.split(d.component)
            codes.append(
                StatusCode(parts[0], parts[1] if len(parts) > 1 else "", (parts[2] or None) if len(parts) > 2 else None)
            )
    return ClaimStatusInfo(codes=tuple(codes), action=_el(seg, 3), amount=_money(_el(seg, 4)))


class _Claim:
    def __init__(self, number: str) -> None:
        self.number = number
        self.payer_ref: str | None = None
        self.trace: str | None = None
        self.statuses: list[ClaimStatusInfo] = []
        self.lines: list[LineAck] = []

    def freeze(self) -> ClaimAck:
        return ClaimAck(self.number, self.payer_ref, self.trace, tuple(self.statuses), tuple(self.lines))


def _parse_277ca(
    segments: list[list[str]], d: Delimiters
) -> tuple[tuple[ClaimAck, ...], tuple[ClaimStatusInfo, ...], tuple[ClaimStatusInfo, ...]]:
    claims: list[ClaimAck] = []
    receiver: list[ClaimStatusInfo] = []
    provider: list[ClaimStatusInfo] = []
    level: str | None = None  # HL03: 20 source, 21 receiver, 19 provider, PT patient
    claim: _Claim | None = None
    line: list[str] | None = None  # the current SVC
    line_statuses: list[ClaimStatusInfo] = []
    line_control: str | None = None

    def close_line() -> None:
        nonlocal line, line_statuses, line_control
        if claim is not None and line is not None:
            procedure = _el(line, 1)
            claim.lines.append(
                LineAck(
                    procedure=procedure.split(d.component)[1] if procedure and d.component in procedure else procedure,
                    charge=_money(_el(line, 2)),
                    line_control=line_control,
                    statuses=tuple(line_statuses),
                )
            )
        line, line_statuses, line_control = None, [], None

    def close_claim() -> None:
        nonlocal claim
        close_line()
        if claim is not None:
            claims.append(claim.freeze())
        claim = None

    for seg in segments:
        sid = seg[0]
        if sid in ("HL", "SE"):
            close_claim()
            level = _el(seg, 3) if sid == "HL" else None
        elif sid == "TRN" and level == "PT":
            close_claim()
            claim = _Claim(_req(seg, 2))
        elif sid == "SVC" and claim is not None:
            close_line()
            line = seg
        elif sid == "STC":
            info = _status(seg, d)
            if line is not None:
                line_statuses.append(info)
            elif claim is not None:
                claim.statuses.append(info)
            elif level == "21":
                receiver.append(info)
            elif level == "19":
                provider.append(info)
        elif sid == "REF" and claim is not None:
            qualifier, value = _el(seg, 1), _el(seg, 2)
            if line is not None:
                if qualifier == "FJ":
                    line_control = value
            elif qualifier == "1K":
                claim.payer_ref = value
            elif qualifier == "D9":
                claim.trace = value
    close_claim()
    return tuple(claims), tuple(receiver), tuple(provider)
