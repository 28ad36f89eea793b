"""Password policy after NIST SP 800-63B rev 4: length in code points, an offline blocklist, context words and
a strength estimate with feedback. No composition rules and no expiry.

Rules (each refusal has a stable code and a plain message; no message or exception ever quotes the password):

- ``too_short`` / ``too_long``: 12 to 256 Unicode code points, counted after NFC normalization. The upper bound
  (well above NIST's "at least 64 allowed") keeps Argon2 and the checks below cheap.
- ``common_password``: the whole password, case-insensitively, is on the blocklist: the complete ``passwords``
  frequency list that ``zxcvbn`` ships (30,000 passwords ranked by how often they appear in leaked corpora).
- ``common_password_padded``: a blocklisted password of 4+ characters with trivial padding: up to two runs at
  each end, a run being one character, repeated any number of times (``!``, ``!!!!``, ``0000``, or more of the
  word's last letter), or consecutive digits (``1234``, ``987``). ``Dragon!!!!1234`` and ``x7dragon`` are
  refused; ``dragon 5839 ferry`` is not.
- ``context_word``: contains, case-insensitively, a context word of 4+ characters (the username, the user's
  and organizations' names and slugs, and each 4+ character word inside them, and "claimvault").
- ``too_guessable``: zxcvbn scores it below 3 (of 4). zxcvbn sees at most the first 100 characters (it is
  slow on long input) plus the context words; the password itself is never truncated for hashing.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from claimvault.errors import ValidationFailed

NORMALIZATION: Final = "NFC"
MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3
ZXCVBN_INPUT_LIMIT = 100
MIN_CONTEXT_WORD = 4
MIN_BLOCKLISTED_CORE = 4
MAX_PADDING_RUNS = 2
SERVICE_WORDS = ("claimvault",)
BLOCKLIST: frozenset[str] = frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])

MESSAGES = {
    "too_short": f"Use at least {MIN_LENGTH} characters.",
    "too_long": f"Use at most {MAX_LENGTH} characters.",
    "common_password": "This password is on a list of common or leaked passwords.",
    "common_password_padded": "This is a common or leaked password with characters repeated or added at an end.",
    "context_word": "The password contains your username, a name of yours or of your organization, or the name "
    "of this service.",
    "too_guessable": "This password is too easy to guess.",
}
NO_INPUT_SUGGESTION = "Use a few words, avoid common phrases."
_WORD = re.compile(r"[^\W_]+")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str


@dataclass(frozen=True)
class Feedback:
    """zxcvbn's estimate: score 0 (guessable) to 4, a warning and suggestions (fixed English sentences)."""

    score: int
    warning: str = ""
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyResult:
    problems: tuple[Problem, ...]
    feedback: Feedback
    length: int = field(default=0)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> list[str]:
        return [p.code for p in self.problems]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for the API): holds codes, fixed messages and counts, never the password."""
        return {
            "ok": self.ok,
            "length": self.length,
            "min_length": MIN_LENGTH,
            "max_length": MAX_LENGTH,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "feedback": {
                "score": self.feedback.score,
                "warning": self.feedback.warning,
                "suggestions": list(self.feedback.suggestions),
            },
        }


class PasswordPolicyViolation(ValidationFailed):
    """A new password was refused; ``result`` carries the problems and feedback (never the password)."""

    code = "password_policy"

    def __init__(self, result: PolicyResult) -> None:
        super().__init__(
            "The password does not meet the password policy: " + " ".join(p.message for p in result.problems)
        )
        self.result = result


def normalize_password(password: str) -> str:
    """The form that is measured, checked and hashed. Login must verify the same form."""
    return unicodedata.normalize(NORMALIZATION, password)


def context_terms(words: Sequence[str]) -> list[str]:
    """The lower-cased context words of 4+ characters: each whole word and every word inside it."""
    terms: set[str] = set()
    for word in (*words, *SERVICE_WORDS):
        folded = normalize_password(word or "").casefold().strip()
        for term in (folded, *_WORD.findall(folded)):
            if len(term) >= MIN_CONTEXT_WORD:
                terms.add(term)
    return sorted(terms)


def _run_at_end(text: str) -> int:
    """Length of the trailing run: one character repeated, or consecutive digits (step +1 or -1)."""
    if not text:
        return 0
    same = 1
    while same < len(text) and text[-1 - same] == text[-1]:
        same += 1
    digits = 1
    if len(text) >= 2 and text[-1].isascii() and text[-1].isdigit() and text[-2].isascii() and text[-2].isdigit():
        step = ord(text[-1]) - ord(text[-2])
        if step in (1, -1):
            digits = 2
            while (
                digits < len(text)
                and text[-1 - digits].isascii()
                and text[-1 - digits].isdigit()
                and ord(text[-digits]) - ord(text[-1 - digits]) == step
            ):
                digits += 1
    return max(same, digits)


def _core_ends(text: str) -> set[int]:
    """Where a blocklisted core may end once up to ``MAX_PADDING_RUNS`` trailing runs are peeled off (a run of a
    repeated character may leave one or two of its characters to the core: ``passworddddd``, ``baseballlll``)."""
    ends = {len(text)}
    end = len(text)
    for _ in range(MAX_PADDING_RUNS):
        run = _run_at_end(text[:end])
        if run == 0:
            break
        if run >= 2 and text[end - 1] == text[end - 2]:
            ends.update({end - run + 1, end - run + 2})
        end -= run
        ends.add(end)
    return {e for e in ends if 0 <= e <= len(text)}


def _blocklist_problem(folded: str) -> str | None:
    if folded in BLOCKLIST:
        return "common_password"
    starts = {len(folded) - end for end in _core_ends(folded[::-1])}
    for start in starts:
        for end in _core_ends(folded):
            if end - start >= MIN_BLOCKLISTED_CORE and folded[start:end] in BLOCKLIST:
                return "common_password_padded"
    return None


def _estimate(normalized: str, terms: list[str]) -> Feedback:
    if not normalized:
        return Feedback(score=0, suggestions=(NO_INPUT_SUGGESTION,))
    try:
        result = zxcvbn(normalized[:ZXCVBN_INPUT_LIMIT], user_inputs=terms, max_length=ZXCVBN_INPUT_LIMIT)
    except Exception:  # a bug in the estimator must neither leak its message nor let a password through
        logger.warning("password strength estimate failed", exc_info=True)
        return Feedback(score=0, suggestions=(NO_INPUT_SUGGESTION,))
    feedback = result.get("feedback") or {}
    return Feedback(
        score=int(result.get("score", 0)),
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(s) for s in feedback.get("suggestions") or ()),
    )


def check_password(password: str, *, context_words: Sequence[str] = ()) -> PolicyResult:
    """Apply every rule to ``password`` and return the problems (empty when acceptable) and zxcvbn's feedback."""
    normalized = normalize_password(password)
    folded = normalized.casefold()
    length = len(normalized)
    terms = context_terms(context_words)
    codes: list[str] = []
    if length < MIN_LENGTH:
        codes.append("too_short")
    if length > MAX_LENGTH:
        codes.append("too_long")
    blocked = _blocklist_problem(folded) if length <= MAX_LENGTH else None
    if blocked:
        codes.append(blocked)
    if any(term in folded for term in terms):
        codes.append("context_word")
    feedback = _estimate(normalized, terms)
    if feedback.score < MIN_SCORE:
        codes.append("too_guessable")
    return PolicyResult(problems=tuple(Problem(c, MESSAGES[c]) for c in codes), feedback=feedback, length=length)


def validate_new_password(password: str, *, username: str, org_names: Sequence[str] = ()) -> str:
    """Raise ``PasswordPolicyViolation`` (a ``ValidationFailed``) unless ``password`` meets the policy for this
    user; return the normalized password, which is what should be hashed."""
    result = check_password(password, context_words=[username, *org_names])
    if not result.ok:
        raise PasswordPolicyViolation(result)
    return normalize_password(password)
