"""PERSON: person names from dictionaries, shape and context.

Dictionaries (``data/given_names.csv``, ``data/surnames.csv``: US Census 1990 lists, public domain; see
``data/README.md``) are loaded once, on first use, as frozensets. Three ways to a finding:

- a field whose name says it holds a person's name (``patient_name``, ``first name``, ``subscriber``, ``guarantor``,
  ``provider``...): the whole value, when it looks like a name, even if not in the dictionaries; a field called just
  ``name`` (which also labels clinics, payers, files) needs every part in the dictionaries;
- prose: ``First Last``, ``First M. Last``, ``Last, First``, with titles (``Dr.``, ``Mrs.``) and suffixes (``Jr.``,
  ``MD``), scored by dictionary hits; a title or a trigger before it (``patient``, ``referred by``, ``Dear``) lets
  a name outside the dictionaries through;
- a stop list keeps out capitalised non-names: sentence starts, months, weekdays, places, street suffixes, billing
  words and payer names (``Blue Cross``, ``Medicare``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from importlib import resources

from claimvault.discovery.findings import Finding, field_key, finding, window, word_set
from claimvault.discovery.recognizers_contact import STATES, STREET_SUFFIXES

RULES: dict[str, str] = {
    "person.field": "PERSON: a name-shaped value in a field whose name says person name",
    "person.dictionary": "PERSON: capitalised words matching the given-name and surname dictionaries",
    "person.title": "PERSON: capitalised name words after a title (Dr., Mr., Mrs., Ms.; the title stays outside)",
    "person.trigger": "PERSON: name-shaped words after a trigger (patient, referred by, Dear, subscriber...)",
    "person.last_first": "PERSON: LAST, FIRST with both parts in the dictionaries (or a name field)",
}

_U = "A-ZÀ-ÖØ-Þ"  # capitals (Latin-1: É, Ñ, Ö...)
_L = rf"^\W\d_{_U}"  # inside [...]: any other letter (é, ñ, ễ, ũ...)
_CAPS = rf"[{_U}](?:[^\W\d_a-zß-öø-ÿ])+"  # an all-capitals word (NGUYỄN)
_TOKEN = rf"[{_U}](?:['\u2019][{_U}])?[{_L}]+(?:[{_U}][{_L}]+)?(?:-[{_U}][{_L}]+)?"
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?"
_SUFFIX = r"(?:Jr|Sr|II|III|IV|MD|DO|DDS|PhD|RN|NP|PA|DVM)\.?"
_WORD = rf"(?:['\u2019][{_U}])?[{_L}]+(?:[{_U}][{_L}]+)?(?:-[{_U}][{_L}]+)?"  # a name word after its capital
# Each pattern starts with a character class so the regex engine skips ahead in C to the next capital letter.
_NOT_SUFFIX = rf"(?!{_SUFFIX}(?![A-Za-z]))"
_PROSE = re.compile(
    rf"(?P<w1>[{_U}]{_WORD}|{_CAPS})(?:, (?P<first>[{_U}]{_WORD}|{_CAPS})(?: [A-Z]\.?(?![\w]))?"  # LAST, FIRST
    rf"|(?P<more>(?: (?:{_NOT_SUFFIX}{_TOKEN}|[A-Z]\.(?= [A-Z])|[A-Z](?= [{_U}][{_L}]))){{1,3}})"  # First M. Last
    rf"(?:,? (?P<suffix>{_SUFFIX})(?![A-Za-z]))?)"
)
_TITLED = re.compile(
    rf"(?P<title>[DMP](?:r|rs|s|iss|x|rof)\.?) "
    rf"(?P<body>{_TOKEN}(?: (?:{_NOT_SUFFIX}{_TOKEN}|[A-Z]\.?(?= [A-Z]))){{0,2}})"
    rf"(?:,? (?P<suffix>{_SUFFIX})(?![A-Za-z]))?"
)
_TITLE_BEFORE = re.compile(rf"{_TITLE} $")
_FIELD_VALUE = re.compile(
    rf"(?:{_TITLE} )?[^\W\d_][^\W\d_'\u2019.-]*(?:['\u2019.-][^\W\d_]*)*\.?"
    rf"(?:,? ?[ ][^\W\d_][^\W\d_'\u2019.-]*(?:['\u2019.-][^\W\d_]*)*\.?){{0,4}}(?:,? {_SUFFIX})?"
)
_TRIGGER = re.compile(
    r"(?:patient|pt\.?|referred by|referring|seen by|treated by|ordered by|signed by|attending|dear|attn:?|"
    r"attention:?|name:?|subscriber|guarantor|insured|physician|provider|member|spouse|mother|father|guardian|"
    r"emergency contact|contact)[\s:,-]*$"
)
_STRONG_FIELD = re.compile(
    r"first|last|given|family|surname|middle|patient|subscriber|guarantor|insured|physician|doctor|referr|"
    r"attending|rendering|person|spouse|guardian|member|provider|nm103|nm104|pid 5|pid5|full name|contact name"
)
_NOT_NAME_FIELD = re.compile(
    r"file|user|host|domain|company|org|payer|plan|facility|clinic|practice|product|drug|street|addr|city|state|"
    r"country|code|\bid\b|number|\bnum|date|dob|birth|visit|update|modif|paid|payment|ssn|npi|phone|email|mail|zip|"
    r"amount|status|type|gender|sex|account|service|\bseen\b|login|table|column|group|title"
)
_NAME_PART_FIELD = re.compile(r"name|first|last|given|family|surname|middle|nm10[345]|pid 5|xpn")
_WORD_FIELD = re.compile(r"\bname\b")

# Capitalised words that are not names here (lower case): they end or cut a candidate.
STOP = word_set(
    """
    january february march september october november december jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun the a an and or of for to
    in on at by with from as is was were be been this that these those it its our your their his her we you they he
    she i please call contact see note notes per re total totals balance amount due paid payment payments claim
    claims patient patients provider providers member subscriber guarantor insured physician doctor nurse dear attn
    attention name first last date dob birth ssn npi mrn id account statement remittance invoice billing billed
    charges charge denied denial appeal adjustment office visit service services procedure diagnosis code codes
    medical medicine health healthcare care center centre hospital clinic clinics group associates practice pharmacy
    lab laboratory imaging radiology surgery therapy rehab emergency department dept inc llc llp pc corp company co
    plan plans insurance payer payers network blue shield medicare medicaid tricare champva aetna cigna humana
    anthem permanente unitedhealthcare uhc optum wellcare centene ambetter highmark regence premera elevance bcbs
    hmo ppo epo pos street st avenue ave road rd boulevard blvd ln drive court ct pl suite apt unit box po northeast
    northwest southeast southwest new old fort mount saint san los las el la city county state states united america
    american national federal university college school springfield columbus chicago atlanta miami nashville memphis
    louisville illinois texas california florida ohio michigan indiana oregon nevada thank thanks regards
    sincerely yes no not today tomorrow yesterday morning afternoon evening mr mrs ms miss dr prof jr sr ii iii iv
    md do dds phd rn np dvm
    """
)
# Words that are names and also months, places, payers or street words: part of a name only next to a word that
# is not one of them, and never the only dictionary evidence.
SOFT = word_set(
    """
    april may june august austin madison jackson washington lincoln jefferson franklin clinton houston dallas denver
    phoenix boston portland richmond charlotte virginia georgia carolina west north south east lane cross park hill
    green oscar molina kaiser chase grant bill will mark art way place york
    """
)


def _load(name: str) -> frozenset[str]:
    text = resources.files("claimvault.discovery").joinpath("data", name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines()[1:] if line.strip())


@functools.cache
def given_names() -> frozenset[str]:
    return _load("given_names.csv")


@functools.cache
def surnames() -> frozenset[str]:
    return _load("surnames.csv")


def _key(token: str) -> str:
    """A word as the dictionaries hold it: lower case, no apostrophe, no accents (Héctor: hector)."""
    key = token.lower().replace("\u2019", "'").replace("'", "")
    if not key.isascii():
        key = "".join(ch for ch in unicodedata.normalize("NFKD", key) if not unicodedata.combining(ch))
    return key


def scan_names(text: str, context: str | None, out: list[Finding]) -> None:
    """PERSON findings in ``text`` (``context``: the field name the text came from, if any)."""
    fk = field_key(context)
    if fk and is_name_field(fk) and _field_name(text, fk, out):
        return
    for m in _TITLED.finditer(text):
        if m.group("title").rstrip(".") in _TITLES and not (m.start() and text[m.start() - 1].isalnum()):
            suffix_end = m.end() if m.group("suffix") else None
            _candidate(text, m.start("body"), m.group("body"), suffix_end, m.start(), out)
    for m in _PROSE.finditer(text):
        if m.start() and (text[m.start() - 1].isalnum() or text[m.start() - 1] in "_@"):
            continue
        if m.group("first") is None and text.startswith(", ", m.end("more")):
            # "Guarantor Moore, Joseph": the comma form starts at the last word
            last_word = m.start("more") + m.group("more").rfind(" ") + 1
            inner = _PROSE.match(text, last_word)
            if inner is not None and inner.group("first") is not None and _last_first_ok(inner):
                if m.start() < last_word - 1:
                    _candidate(text, m.start(), text[m.start() : last_word - 1], None, None, out)
                m = inner
        if m.group("first") is not None:
            if _last_first_ok(m):
                out.append(finding("PERSON", text, m.start(), m.end(), 0.8, "person.last_first"))
        elif not m.group("w1").isupper():
            body = text[m.start() : m.end("more")]
            _candidate(text, m.start(), body, m.end() if m.group("suffix") else None, None, out)


@functools.lru_cache(maxsize=4096)
def is_name_field(fk: str) -> bool:
    """Whether a field name says the field holds a person's name (cached: few distinct names)."""
    return bool(_WORD_FIELD.search(fk) or _STRONG_FIELD.search(fk)) and not _NOT_NAME_FIELD.search(fk)


def _last_first_ok(m: re.Match[str]) -> bool:
    last, first = _key(m.group("w1")), _key(m.group("first"))
    if len(first) == 2 and first.upper() in STATES:
        return False  # "Lansing, MI"
    return last not in STOP and first not in STOP and last in surnames() and first in given_names()


_TITLES = frozenset(("Dr", "Mr", "Mrs", "Ms", "Miss", "Mx", "Prof"))


def _field_name(text: str, fk: str, out: list[Finding]) -> bool:
    """The whole value of a name field as one PERSON, when it looks like a name."""
    value = text.strip()
    if not value or len(value) > 80:
        return False
    if _FIELD_VALUE.fullmatch(value) is None:
        return False
    parts = [_key(p) for p in re.split(r"[ ,]+", value.replace(".", " ")) if len(p) > 1]
    parts = [p for p in parts if p not in ("mr", "mrs", "ms", "miss", "dr", "prof", "jr", "sr", "ii", "iii", "iv",
                                           "md", "do", "dds", "phd", "rn", "np", "pa", "dvm")]  # fmt: skip
    if not parts or any(p in _ORG_WORDS or p in STOP for p in parts):
        return False
    strong = _STRONG_FIELD.search(fk) is not None
    known = [p in given_names() or p in surnames() for p in parts]
    if not strong and not all(known):
        return False  # a field called just "name" also names clinics, payers and files
    if not strong and "," in value and _key(value.split(",")[0].split()[-1]) not in surnames():
        return False  # "Last, First" in a bare "name" field: the part before the comma must be a surname
    if strong and not _NAME_PART_FIELD.search(fk) and not any(known):
        return False  # a role field (patient, provider) without "name": one dictionary word at least
    lead = len(text) - len(text.lstrip())
    out.append(finding("PERSON", text, lead, lead + len(value), 0.85 if strong else 0.8, "person.field"))
    return True


_ORG_WORDS = word_set(
    """
    clinic clinics hospital center centre medical health healthcare group associates practice pharmacy lab
    laboratory inc llc llp corp company insurance plan blue cross shield medicare medicaid tricare aetna cigna
    humana anthem permanente unitedhealthcare optum university school department services billing unknown none null
    test n/a na imaging radiology surgical surgery orthopedics orthopaedic partners physicians pediatrics cardiology
    dermatology oncology neurology therapy rehab rehabilitation diagnostics labs urgent care wellness pain spine
    dental vision eye family community regional memorial general county valley tri
    """
)


def _candidate(
    text: str, body_start: int, body: str, suffix_end: int | None, title_start: int | None, out: list[Finding]
) -> None:
    """Score capitalised words ``body`` (at ``body_start``) as a person name; ``title_start``: where a title
    before them starts, ``suffix_end``: where a suffix after them ends."""
    words = body.split(" ")
    keys = [_key(w) for w in words] if ("'" in body or "\u2019" in body) else body.lower().split(" ")
    first, last = 0, len(words)
    trigger = False
    while first < last and keys[first] in STOP:  # a sentence start or a trigger word before the name
        trigger = trigger or _TRIGGER.search(keys[first] + " ") is not None
        first += 1
        title_start = None
    for i in range(first, last):
        if keys[i] in STOP or (keys[i] in _ORG_WORDS and keys[i] not in SOFT):
            last = i
            break
    cut = last < len(words)  # a stop word follows: "Red Rock Pain Center", "Oak Ridge Blvd"
    while last > first and len(words[last - 1]) <= 2 and words[last - 1].rstrip(".").isupper():
        last -= 1  # a trailing initial is not a surname
    full = [k.rstrip(".") for k in keys[first:last] if len(k.rstrip(".")) > 1]
    if not full:
        return
    start = body_start + sum(len(w) + 1 for w in words[:first])  # a title is evidence, not part of the name
    if start and (text[start - 1].isalnum() or text[start - 1] in "_@"):
        return
    end = body_start + sum(len(w) + 1 for w in words[:last]) - 1
    given = full[0] in given_names()
    sur = full[-1] in surnames()
    plain_first = full[0] not in SOFT and full[0] not in STREET_SUFFIXES
    plain_last = full[-1] not in SOFT and full[-1] not in STREET_SUFFIXES
    score, rule = 0.0, "person.dictionary"
    if title_start is not None:
        score, rule = 0.85, "person.title"
    elif len(full) >= 2 and given and sur and (plain_first or plain_last):
        score = 0.85
    elif len(full) >= 2 and (trigger or _TRIGGER.search(window(text, start, 24)) is not None):
        score, rule = (0.8 if given or sur else 0.7), "person.trigger"
    elif len(full) >= 2 and given and plain_first and plain_last and not cut:
        score = 0.65
    elif len(full) == 2 and sur and plain_first and plain_last and len(full[0]) >= 3 and not cut:
        score = 0.55
    if score == 0.0:
        return
    if suffix_end is not None and last == len(words):
        end = suffix_end
    out.append(finding("PERSON", text, start, end, score, rule))
