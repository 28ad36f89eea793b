"""The finding record of the discovery engine and what every recognizer shares: redacted previews, context look-up
(words just before a candidate, or the field name an extractor passes) and overlap resolution.

A ``Finding`` carries a type, a character span, a confidence, the rule that fired and a redacted preview; the full
value never appears in one.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

CONTEXT_WINDOW = 48  # characters before a candidate searched for context words


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 4x more, and findings are made per value
class Finding:
    type: str
    start: int
    end: int
    score: float
    rule: str
    preview: str
    validated: bool = False  # a checksum or code-set validator accepted it


_MASK = str.maketrans({ch: "*" for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"})


def redact(value: str, keep: int = 2) -> str:
    """Mask every letter and digit but the last ``keep`` (all of them in a value of 4 characters or fewer);
    separators stay, so the shape is visible."""
    if len(value) <= 4:
        keep = 0
    cut = len(value)
    while keep and cut:
        cut -= 1
        if value[cut].isalnum():
            keep -= 1
    head = value[:cut]
    masked = head.translate(_MASK) if head.isascii() else "".join("*" if ch.isalnum() else ch for ch in head)
    return masked + value[cut:]


def finding(
    entity: str, text: str, start: int, end: int, score: float, rule: str, *, validated: bool = False
) -> Finding:
    """A finding for ``text[start:end]`` with its redacted preview (the value itself is not kept)."""
    return Finding(entity, start, end, score, rule, redact(text[start:end]), validated)


def window(text: str, start: int, size: int = CONTEXT_WINDOW) -> str:
    """The lower-cased text just before ``start`` (where context words are looked for), back to the NUL that
    separates values analysed in one batch (``piece_analysis.PAD``), if there is one."""
    win = text[max(0, start - size) : start]
    cut = win.rfind("\x00")
    return (win if cut < 0 else win[cut + 1 :]).lower()


@functools.lru_cache(maxsize=4096)
def field_key(context: str | None) -> str:
    """A field name normalised for context matching: lower case, ``_``/``.``/``-`` as spaces."""
    if not context:
        return ""
    return context.lower().replace("_", " ").replace(".", " ").replace("-", " ")


def _trie_regex(words: Iterable[str]) -> str:
    """An alternation of ``words`` factored as a trie (``a(?:ba|cct)``): the regex engine then tries one branch
    per character instead of every word, several times faster on long lists."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + walk(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else "(?:" + "|".join(alts) + ")"
        return body + ("?" if "" in node else "")

    return walk(trie)


class Words:
    """A set of context words, searched for with one precompiled pattern. Every instance is registered, so that
    ``field_signature`` can say everything the recognizers can learn from a field name."""

    __slots__ = ("_fields", "pattern", "words")
    instances: ClassVar[list[Words]] = []

    def __init__(self, *words: str) -> None:
        self.words = words
        self.pattern = re.compile(_trie_regex(words))
        self._fields: dict[str, bool] = {}
        Words.instances.append(self)

    def in_field(self, fk: str) -> bool:
        """Whether one of the words is in the field name ``fk`` (cached: a file has few distinct field names)."""
        hit = self._fields.get(fk)
        if hit is None:
            if len(self._fields) >= 4096:
                self._fields.clear()
            hit = self._fields[fk] = self.pattern.search(fk) is not None
        return hit

    def nearest(self, haystack: str) -> int:
        """Where the last of the words starts in ``haystack`` (-1: none)."""
        return max(haystack.rfind(w) for w in self.words)


_SIGNATURES: dict[str, tuple[int, int]] = {}  # field name -> (Words registered when computed, signature bits)


def field_signature(fk: str) -> int:
    """Which context word sets occur in the field name ``fk``, as bits (one per ``Words`` instance). Outside name
    fields (``names.is_name_field``), a field name reaches the recognizers only through ``Words`` look-ups, so two
    field names with one signature give the same findings on the same text."""
    known = _SIGNATURES.get(fk)
    count = len(Words.instances)
    if known is None or known[0] != count:
        bits = 0
        for i, words in enumerate(Words.instances):
            if words.in_field(fk):
                bits |= 1 << i
        if len(_SIGNATURES) >= 4096:
            _SIGNATURES.clear()
        known = _SIGNATURES[fk] = (count, bits)
    return known[1]


def word_set(words: str) -> frozenset[str]:
    """A frozenset of the whitespace-separated words of ``words`` (word lists kept readable in the source)."""
    return frozenset(words.split())


def has_any(haystack: str, words: Words) -> bool:
    return words.pattern.search(haystack) is not None


def context_has(win: str, fk: str, words: Words) -> bool:
    """Whether one of ``words`` is in the window before a candidate or in the field name it came from."""
    return words.in_field(fk) or (win != "" and words.pattern.search(win) is not None)


def near_score(base: float, win: str, field: str, words: Words) -> float:
    """``base`` raised by up to 0.04 the nearer a context word sits before the candidate (in the field name: the
    most): of two context-only types competing for one value, the one whose word is nearest wins."""
    if words.in_field(field):
        return base + 0.04
    i = words.nearest(win)
    return base if i < 0 else base + 0.04 * (i + 1) / (len(win) + 1)


def resolve_overlaps(candidates: list[Finding]) -> list[Finding]:
    """Keep the best of overlapping findings: validated first, then higher score, then the longer span."""
    starts: list[int] = []  # chosen spans never overlap: sorted by start, they are sorted by end too
    ends: list[int] = []
    chosen: list[Finding] = []
    for f in sorted(candidates, key=lambda f: (not f.validated, -f.score, -(f.end - f.start), f.start)):
        i = bisect.bisect_right(starts, f.start)
        if (i and ends[i - 1] > f.start) or (i < len(starts) and starts[i] < f.end):
            continue
        starts.insert(i, f.start)
        ends.insert(i, f.end)
        chosen.insert(i, f)
    return chosen
