"""One database column, judged from its name and a sample of its stored values.

- Name hints: a table of column-name tokens that suggest an entity type (``ssn``, ``dob``, ``member``, ...).
- Protection: each sampled value is ClaimVault field ciphertext (recognised by its structure, never decrypted),
  other binary, or text. A column is ``encrypted`` only when (nearly) every sampled non-null value is ClaimVault
  ciphertext; ``mixed`` when some are and some are not; ``binary`` when its values are undecodable bytes;
  ``plaintext`` otherwise (``empty`` with no sampled value).
- Evidence: text values run through the recognizers with the column name (and its hints) as context.
- Level and score: an encrypted (or binary) column takes its level from the data policy and the hints;
  a plaintext column from what its values hold (and from the data policy, which then says it should have been
  encrypted). A checksum-validated type counts at any hit rate; a context-only type needs ``min_hit_rate``.

``ColumnEvidence`` keeps counts, types, confidences and the recognizers' redacted previews: the values themselves
are dropped as soon as they are analysed.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from itertools import pairwise
from typing import Literal

from claimvault.discovery.classification import LEVEL_WEIGHT, Level, file_score, level_of
from claimvault.discovery.profile import DEFAULT_PROFILE, ScanProfile
from claimvault.discovery.recognizers import analyze
from claimvault.security.crypto.fields import FORMAT_PATIENT, FORMAT_V1
from claimvault.security.data_policy import ColumnPolicy

Protection = Literal["encrypted", "mixed", "binary", "plaintext", "empty"]
ValueKind = Literal["ciphertext", "binary", "text", "skip"]

ENCRYPTED_SHARE = 0.98  # share of sampled non-null values that must be ClaimVault ciphertext
MIN_HIT_RATE = 0.05  # a context-only type must hit this share of sampled non-null values to count
HINT_CONFIDENCE = 0.6
MAX_VALUE_CHARS = 4096  # longer text values are analysed on their first characters only
MAX_PREVIEWS = 3

# ClaimVault field ciphertext: format ‖ data key id (UUIDv7) ‖ nonce (12) ‖ ciphertext ‖ GCM tag (16).
_KEY_ID, _NONCE, _TAG = 16, 12, 16
_MIN_CIPHERTEXT = 1 + _KEY_ID + _NONCE + _TAG
_EPOCH_2020_MS = 1_577_836_800_000


@dataclass(frozen=True)
class Hint:
    type: str
    tokens: frozenset[str]
    unless: frozenset[str] = frozenset()  # tokens that cancel the hint (``organization_name`` is not a person)


def _hint(type_: str, tokens: str, unless: str = "") -> Hint:
    return Hint(type_, frozenset(tokens.split()), frozenset(unless.split()))


# Most specific first: the first hint that fires is a column's leading hint.
HINTS: tuple[Hint, ...] = (
    _hint("US_SSN", "ssn socsec social_security ssnum sin"),
    _hint("MEDICARE_MBI", "mbi hicn medicare"),
    _hint("DATE_OF_BIRTH", "dob birth birthdate birthday date_of_birth"),
    _hint("MRN", "mrn medical_record chart_number chartno"),
    _hint("US_NPI", "npi"),
    _hint("DEA_NUMBER", "dea"),
    _hint("CREDIT_CARD", "card pan ccnum cc_number credit_card", "type kind brand"),
    _hint("ABA_ROUTING", "routing aba rtn"),
    _hint("BANK_ACCOUNT", "account acct iban", "type kind status id"),
    _hint("EMAIL", "email e_mail"),
    _hint("PHONE", "phone telephone tel mobile cell fax"),
    _hint("IP_ADDRESS", "ip ip_address ipaddr"),
    _hint("ICD10_CM", "icd icd10 diagnosis diagnoses dx diag", "pointer pointers system"),
    _hint("PROCEDURE_CODE", "cpt hcpcs procedure proc"),
    _hint(
        "PERSON",
        "name fullname firstname lastname first_name last_name given_name family_name middle_name surname fname lname",
        "organization org payer plan facility company business file source submitter receiver agency product "
        "display code user host schema table column kind type",
    ),
    _hint("MEMBER_ID", "member subscriber insured policy_number group_number"),
    _hint("US_SSN", "tin taxid tax_id", "kind type"),
    _hint("ZIP_CODE", "zip zipcode postal postcode"),
    _hint(
        "STREET_ADDRESS",
        "address street addr line1 line2 address_line1 address_line2 city",
        "ip email mail mac source remote client host",
    ),
)
# Derived values (hashes, blind indexes, tokens of a key) carry no value of the hinted type.
_DERIVED = frozenset({"bidx", "hash", "digest", "hmac", "index", "fingerprint", "salt", "checksum"})
# Words the recognizers take as context, added to the column name when a hint fires.
_CONTEXT_WORDS: Mapping[str, str] = {
    "US_SSN": "ssn", "MEDICARE_MBI": "medicare mbi", "DATE_OF_BIRTH": "birth date dob", "MRN": "mrn",
    "US_NPI": "npi", "DEA_NUMBER": "dea", "CREDIT_CARD": "card", "ABA_ROUTING": "routing", "BANK_ACCOUNT": "account",
    "EMAIL": "email", "PHONE": "phone", "IP_ADDRESS": "ip", "ICD10_CM": "diagnosis icd",
    "PROCEDURE_CODE": "procedure cpt", "PERSON": "name", "MEMBER_ID": "member id", "ZIP_CODE": "zip",
    "STREET_ADDRESS": "address",
}  # fmt: skip
_POLICY_LEVELS: Mapping[str, Level] = {
    "PHI": Level.restricted, "financial": Level.restricted, "secret": Level.restricted, "PII": Level.confidential,
}  # fmt: skip


def name_tokens(column: str) -> set[str]:
    """Lower-case tokens of a column name (snake_case, camelCase, digits split off), plus joined pairs."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if p]
    stripped = {p.rstrip("0123456789") for p in parts} - {""}
    return set(parts) | stripped | {f"{a}_{b}" for a, b in pairwise(parts)}


def column_hints(column: str) -> tuple[str, ...]:
    """Entity types a column's name suggests, most specific first (none for a hash or blind-index column)."""
    tokens = name_tokens(column)
    if tokens & _DERIVED:
        return ()
    found: list[str] = []
    for hint in HINTS:
        if tokens & hint.tokens and not tokens & hint.unless and hint.type not in found:
            found.append(hint.type)
    return tuple(found)


def policy_level(policy: ColumnPolicy | None) -> Level | None:
    """The level ClaimVault's own data policy gives a column of its schema (None for a plain class)."""
    return _POLICY_LEVELS.get(policy.classification) if policy is not None else None


def ciphertext_header(raw: bytes) -> tuple[int, uuid.UUID] | None:
    """(format, data key id) when ``raw`` has the structure of ClaimVault field ciphertext, else None.

    Checked without any key: format byte 1 or 2; a 16-byte data key id that is a UUIDv7 (version 7, RFC 9562
    variant) minted after 2020 and not in the future; a 12-byte nonce; at least a 16-byte GCM tag after it."""
    if len(raw) < _MIN_CIPHERTEXT or raw[0] not in (FORMAT_V1, FORMAT_PATIENT):
        return None
    key_id = uuid.UUID(bytes=bytes(raw[1 : 1 + _KEY_ID]))
    if key_id.version != 7 or key_id.variant != uuid.RFC_4122:
        return None
    minted_ms = key_id.int >> 80
    if not _EPOCH_2020_MS <= minted_ms <= time.time() * 1000 + 86_400_000:
        return None
    return raw[0], key_id


def _looks_textual(text: str) -> bool:
    if not text:
        return True
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return printable >= 0.95 * len(text)


def value_kind(value: object) -> tuple[ValueKind, str | bytes]:
    """How a stored value is treated: ClaimVault ciphertext, other binary, text to analyse, or skipped."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if ciphertext_header(raw) is not None:
            return "ciphertext", raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "binary", raw
        return ("text", text) if _looks_textual(text) else ("binary", raw)
    if isinstance(value, bool):
        return "skip", ""
    if isinstance(value, str):
        return "text", value
    if isinstance(value, (datetime, date, dtime)):
        return "text", value.isoformat()
    if isinstance(value, (dict, list)):
        return "text", json.dumps(value, default=str)
    return "text", str(value)


def byte_entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (8.0 for uniformly random bytes)."""
    if not data:
        return 0.0
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


@dataclass
class ColumnEvidence:
    """What a sample told about one column: counts, types, confidences and redacted previews; no values."""

    name: str
    data_type: str
    hints: tuple[str, ...]
    non_null: int = 0
    ciphertext: int = 0
    binary: int = 0
    text: int = 0
    hit_values: int = 0  # values with at least one finding
    formats: Counter[int] = field(default_factory=Counter)
    key_ids: set[uuid.UUID] = field(default_factory=set)
    type_values: Counter[str] = field(default_factory=Counter)  # values holding the type
    type_confidence: dict[str, float] = field(default_factory=dict)  # summed best confidence per value
    validated_types: set[str] = field(default_factory=set)
    previews: dict[str, list[str]] = field(default_factory=dict)
    binary_sample: bytearray = field(default_factory=bytearray)

    @property
    def context(self) -> str:
        words = " ".join(_CONTEXT_WORDS.get(t, "") for t in self.hints[:1])
        return f"{self.name} {words}".strip()

    def add(self, value: object, profile: ScanProfile = DEFAULT_PROFILE) -> None:
        if value is None:
            return
        kind, payload = value_kind(value)
        self.non_null += 1
        if kind == "ciphertext":
            assert isinstance(payload, bytes)
            self.ciphertext += 1
            header = ciphertext_header(payload)
            assert header is not None
            self.formats[header[0]] += 1
            self.key_ids.add(header[1])
        elif kind == "binary":
            assert isinstance(payload, bytes)
            self.binary += 1
            if len(self.binary_sample) < 65536:
                self.binary_sample += payload[:4096]
        elif kind == "text":
            assert isinstance(payload, str)
            self.text += 1
            self._analyze(payload[:MAX_VALUE_CHARS], profile)

    def _analyze(self, text: str, profile: ScanProfile) -> None:
        findings = analyze(text, context=self.context, profile=profile)
        if not findings:
            return
        self.hit_values += 1
        best: dict[str, float] = {}
        for f in findings:
            best[f.type] = max(best.get(f.type, 0.0), f.score)
            if f.validated:
                self.validated_types.add(f.type)
            shown = self.previews.setdefault(f.type, [])
            if len(shown) < MAX_PREVIEWS and f.preview not in shown:
                shown.append(f.preview)
        for t, conf in best.items():
            self.type_values[t] += 1
            self.type_confidence[t] = self.type_confidence.get(t, 0.0) + conf

    @property
    def protection(self) -> Protection:
        if self.non_null == 0:
            return "empty"
        if self.ciphertext >= ENCRYPTED_SHARE * self.non_null:
            return "encrypted"
        if self.ciphertext:
            return "mixed"
        if self.binary > self.text:
            return "binary"
        return "plaintext"

    def counted_types(self, min_hit_rate: float = MIN_HIT_RATE) -> list[str]:
        """Types with enough evidence: a validated type at any hit, a context-only type at ``min_hit_rate``."""
        scanned = max(1, self.text)
        return [t for t, n in self.type_values.items() if t in self.validated_types or n / scanned >= min_hit_rate]

    def mean_confidence(self, entity_type: str) -> float:
        n = self.type_values.get(entity_type, 0)
        return round(self.type_confidence.get(entity_type, 0.0) / n, 3) if n else 0.0


@dataclass(frozen=True)
class Verdict:
    level: Level
    score: int
    basis: str  # "evidence", "policy", "hint", "evidence+policy", ... or "none"
    best_type: str | None
    confidence: float


def judge(evidence: ColumnEvidence, policy: ColumnPolicy | None, min_hit_rate: float = MIN_HIT_RATE) -> Verdict:
    """Level and 0-100 score of a column from its evidence, its hints and ClaimVault's data policy."""
    counted = evidence.counted_types(min_hit_rate)
    candidates: list[tuple[Level, int, str, str | None, float]] = []  # level, score, basis, type, confidence
    if counted:
        best = max(counted, key=lambda t: (level_of(t).rank, evidence.type_values[t], evidence.mean_confidence(t)))
        pairs = [(t, evidence.mean_confidence(t)) for t in counted for _ in range(evidence.type_values[t])]
        level = max((level_of(t) for t in counted), key=lambda lv: lv.rank)
        candidates.append((level, file_score(pairs), "evidence", best, evidence.mean_confidence(best)))
    from_policy = policy_level(policy)
    if from_policy is not None:
        candidates.append((from_policy, LEVEL_WEIGHT[from_policy], "policy", None, 1.0))
    protection = evidence.protection
    if evidence.hints and protection in ("encrypted", "binary"):
        lead = evidence.hints[0]
        lv = level_of(lead)
        candidates.append((lv, round(LEVEL_WEIGHT[lv] * HINT_CONFIDENCE), "hint", lead, HINT_CONFIDENCE))
    if not candidates and protection == "encrypted":
        # ClaimVault encrypts only protected classes: unnamed ciphertext is at least confidential.
        candidates.append((Level.confidential, LEVEL_WEIGHT[Level.confidential], "ciphertext", None, 1.0))
    if not candidates:
        floor = Level.internal if protection == "binary" else Level.public
        return Verdict(floor, 0, "none", None, 0.0)
    level = max((c[0] for c in candidates), key=lambda lv: lv.rank)
    score = max(c[1] for c in candidates)
    basis = "+".join(dict.fromkeys(c[2] for c in candidates if c[0] == level))
    typed = [c for c in candidates if c[3] is not None]
    top = max(typed, key=lambda c: (c[0].rank, c[2] == "evidence")) if typed else None
    return Verdict(level, min(100, score), basis, top[3] if top else None, top[4] if top else 0.0)
