"""The pyx12 gate for inbound acknowledgements (999 and 277CA): validate a whole interchange against its
implementation guide map before anything in it is believed, and report problems as codes and positions only.

pyx12 logs every problem together with the offending value (a name, a member id...), so its ``pyx12`` logger is
silenced here for good; its messages are never surfaced either: only segment ids, positions and X12 error codes.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from typing import Any

from claimvault.errors import ValidationFailed


def silence_pyx12() -> None:
    """Keep pyx12's log records (which quote values) from ever being emitted. Re-applied before every
    validation because a later ``logging.config`` call may reset the ``pyx12`` logger."""
    logger = logging.getLogger("pyx12")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    for name, child in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("pyx12.") and isinstance(child, logging.Logger) and child.level != logging.NOTSET:
            child.setLevel(logging.NOTSET)  # inherit the silenced level


silence_pyx12()


@dataclass(frozen=True)
class AckProblem:
    """One validation problem: where (level, segment id, position) and which X12 error code; never a value."""

    level: str  # "interchange" | "group" | "transaction" | "segment" | "element" | "file"
    code: str
    segment_id: str | None = None
    segment_position: int | None = None  # position within the transaction set (or line for envelope errors)
    element_position: int | None = None

    def describe(self) -> str:
        where = self.level
        if self.segment_id:
            where += f" {self.segment_id}"
        if self.segment_position is not None:
            where += f" #{self.segment_position}"
        if self.element_position is not None:
            where += f" element {self.element_position:02d}"
        return f"{where}: error {self.code}"


class AckFileRejected(ValidationFailed):
    """An inbound acknowledgement that is malformed or fails validation; nothing in it may be applied.

    The message and ``problems`` name segments, positions and X12 error codes, never the data."""

    code = "ack_file_rejected"

    def __init__(self, message: str, *, problems: tuple[AckProblem, ...] = ()) -> None:
        if problems:
            shown = "; ".join(p.describe() for p in problems[:10])
            more = f" (+{len(problems) - 10} more)" if len(problems) > 10 else ""
            message = f"{message}: {shown}{more}"
        super().__init__(message)
        self.problems = problems


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _collect(doc: dict[str, Any]) -> list[AckProblem]:
    problems: list[AckProblem] = []
    for isa in doc.get("interchanges", []):
        for err in isa.get("errors", []):
            problems.append(AckProblem("interchange", str(err.get("err_cde")), "ISA", _int(isa.get("cur_line"))))
        for gs in isa.get("groups", []):
            for err in gs.get("errors", []):
                problems.append(AckProblem("group", str(err.get("err_cde")), "GS", _int(gs.get("cur_line"))))
            for st in gs.get("transactions", []):
                for err in st.get("errors", []):
                    problems.append(AckProblem("transaction", str(err.get("err_cde")), "ST", _int(st.get("cur_line"))))
                for seg in st.get("segments", []):
                    seg_id = str(seg.get("seg_id") or "") or None
                    pos = _int(seg.get("seg_count"))
                    for err in seg.get("errors", []):
                        problems.append(AckProblem("segment", str(err.get("err_cde")), seg_id, pos))
                    for ele in seg.get("elements", []):
                        for err in ele.get("errors", []):
                            problems.append(
                                AckProblem("element", str(err.get("err_cde")), seg_id, pos, _int(ele.get("ele_pos")))
                            )
    return problems


def validate_ack(text: str, *, label: str) -> None:
    """Validate one interchange with pyx12 (maps 999.5010X231.A1 and 277.5010.X214 are chosen by GS08).

    Raises :class:`AckFileRejected` naming only codes and positions; ``label`` (e.g. ``"999"``) starts the message.
    """
    import pyx12.params
    import pyx12.x12n_document

    silence_pyx12()
    out = io.StringIO()
    try:
        ok = pyx12.x12n_document.x12n_document(pyx12.params.ParamsBase(), io.StringIO(text), None, None, fd_json=out)
    except Exception:  # noqa: BLE001 - pyx12's messages quote data; none may escape
        raise AckFileRejected(f"{label} file could not be read as X12") from None
    raw = out.getvalue()
    if not raw:
        raise AckFileRejected(f"{label} file could not be read as X12")
    try:
        doc = json.loads(raw)
    except ValueError:
        raise AckFileRejected(f"{label} file could not be validated") from None
    problems = tuple(_collect(doc))
    if problems:
        raise AckFileRejected(f"{label} file failed X12 validation", problems=problems)
    if not ok:
        raise AckFileRejected(f"{label} file failed X12 validation", problems=(AckProblem("file", "invalid"),))
