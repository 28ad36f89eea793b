"""How a 270 reaches a payer and its 271 comes back: the ``EligibilityTransport`` protocol, ``FakeClearinghouse``
(a local, deterministic responder for tests and the demo) and ``ClearinghouseEligibility`` (the batch clearinghouse
transport -- SFTP or the drop directory -- used as send the 270 file, then fetch the 271 file that echoes our trace
number). Failures raise ``TransportError`` whose messages name the operation, never file contents.

The fake answers by the subscriber's member id (the one sent in 2100C), so demo data can pick a scenario:

- ``INA...`` (e.g. ``INA12345``): coverage inactive (EB*6);
- ``REJ...``: rejected, AAA 72 (invalid or missing member id), follow-up C (correct and resubmit);
- ``NF...``: rejected, AAA 75 (subscriber not found), follow-up C;
- anything else: active, $25 copay, $1,500 deductible ($1,200 remaining), 20% coinsurance in network (40% out),
  $5,000 out-of-pocket maximum (``eligibility_271_writer.ACTIVE``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from claimvault.billing.clearinghouse.interfaces import ClearinghouseTransport, TransportError
from claimvault.billing.x12.eligibility_270 import EligibilityRequest, read_270
from claimvault.billing.x12.eligibility_271_writer import ACTIVE, INACTIVE, REJECTED, EligibilityAnswer, write_271
from claimvault.billing.x12.envelope import Delimiters, InMemoryControlNumbers, TradingPartner

ISA_LENGTH = 106
INBOUND_271_KINDS = {"271", "unknown"}  # the clearinghouse kind detector does not name 271s (yet)
MEMBER_RULES: tuple[tuple[str, EligibilityAnswer], ...] = (
    ("INA", INACTIVE),
    ("REJ", REJECTED),
    ("NF", replace(REJECTED, reject_reason="75")),
)


class EligibilityTransport(Protocol):
    def exchange(self, *, data: bytes, trace_number: str) -> bytes:
        """Send one 270 interchange and return the 271 interchange answering ``trace_number``; ``TransportError``
        when it cannot be sent or no answer arrives."""
        ...


def answer_for(request: EligibilityRequest) -> EligibilityAnswer:
    """The fake's scenario for a request, chosen by the subscriber's member id (see the module docstring)."""
    member = (request.subscriber.member_id or "").upper()
    return next((answer for prefix, answer in MEMBER_RULES if member.startswith(prefix)), ACTIVE)


def _reply_partner(data: bytes) -> TradingPartner:
    """The responder's envelope, read from the 270's ISA and GS: sender and receiver swapped."""
    text = data.decode("ascii")
    e, t = text[3], text[105]
    isa = text[:ISA_LENGTH].split(e)
    gs = next(s.split(e) for s in text.split(t) if s.strip("\r\n").startswith(f"GS{e}"))
    return TradingPartner(
        key="fake-clearinghouse", isa_sender_qualifier=isa[7], isa_sender_id=isa[8].strip(),
        isa_receiver_qualifier=isa[5], isa_receiver_id=isa[6].strip(), gs_sender_code=gs[3], gs_receiver_code=gs[2],
        submitter_name="FAKE CLEARINGHOUSE", submitter_id="FAKECH", submitter_contact_name="FAKE CLEARINGHOUSE",
        submitter_contact_phone="5555550100", receiver_name="CLAIMVAULT", receiver_id="CLAIMVAULT",
        usage="P" if isa[15] == "P" else "T",
        delimiters=Delimiters(element=e, component=isa[16][:1], repetition=isa[11], segment=t),
    )  # fmt: skip


class FakeClearinghouse:
    """Answers every 270 at once with a pyx12-valid 271 (``write_271``), by the member-id rules above.
    ``fail=True`` makes every exchange fail as an unreachable clearinghouse would. ``received`` keeps the 270s
    (tests inspect them); ``created`` fixes the 271's envelope time."""

    def __init__(self, *, fail: bool = False, created: datetime | None = None) -> None:
        self.fail = fail
        self.created = created
        self.received: list[bytes] = []
        self._numbers = InMemoryControlNumbers()

    def __repr__(self) -> str:
        return f"FakeClearinghouse(fail={self.fail}, received={len(self.received)})"

    def answer(self, data: bytes) -> bytes:
        """The 271 for a 270 (every request in it answered, in order)."""
        requests = read_270(data)
        pairs = [(request, answer_for(request)) for request in requests]
        return write_271(pairs, _reply_partner(data), self._numbers, created=self.created)

    def exchange(self, *, data: bytes, trace_number: str) -> bytes:
        if self.fail:
            raise TransportError("eligibility exchange failed: the clearinghouse could not be reached")
        self.received.append(data)
        return self.answer(data)


def answers_trace(data: bytes, trace_number: str) -> bool:
    """True when ``data`` is a 271 interchange echoing ``trace_number`` in a TRN*2 (read from the envelope's
    delimiters; full validation is the caller's)."""
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n").decode("ascii", errors="replace")
    if not text.startswith("ISA") or len(text) < ISA_LENGTH:
        return False
    e, t = text[3], text[105]
    kind = None
    for raw in text.split(t):
        parts = raw.strip("\r\n").split(e)
        if parts[0] == "ST":
            kind = parts[1] if len(parts) > 1 else None
        elif parts[0] == "TRN" and kind == "271" and len(parts) > 2 and parts[1] == "2" and parts[2] == trace_number:
            return True
    return False


class ClearinghouseEligibility:
    """``EligibilityTransport`` over a batch ``ClearinghouseTransport`` (``DropDirectory`` or ``SftpTransport``):
    the 270 goes out as ``270-<trace>.x12``; inbound files are polled until one is a 271 echoing the trace, which is
    acknowledged (archived) and returned. Other inbound files are left where they are. No answer within
    ``wait_seconds`` raises ``TransportError`` (ask again later: an eligibility answer is not replayed).
    ``sleep`` and ``clock`` are injectable so tests need no real waiting."""

    def __init__(
        self,
        transport: ClearinghouseTransport,
        *,
        wait_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return f"ClearinghouseEligibility(wait_seconds={self.wait_seconds})"

    def exchange(self, *, data: bytes, trace_number: str) -> bytes:
        try:
            self.transport.send(name=f"270-{trace_number}.x12", data=data)
            deadline = self._clock() + self.wait_seconds
            while True:
                for inbound in self.transport.fetch(kinds=set(INBOUND_271_KINDS)):
                    if answers_trace(inbound.data, trace_number):
                        self.transport.acknowledge(inbound)
                        return inbound.data
                if self._clock() >= deadline:
                    raise TransportError("eligibility exchange failed: no 271 answered the inquiry in time")
                self._sleep(self.poll_seconds)
        except OSError:
            raise TransportError("eligibility exchange failed: the clearinghouse directory is not usable") from None
