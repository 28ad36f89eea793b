"""Personal and contact recognizers: PHONE, EMAIL, IP_ADDRESS, DATE_OF_BIRTH, STREET_ADDRESS and ZIP_CODE.

Numeric tokens come from the dispatcher in ``recognizers`` (a phone number, an IPv4 address, a ZIP code, a house
number that starts a street address); the rest is found by scans anchored on a literal (``@`` for e-mail, ``(`` for
``(415) 555-0134``, ``:`` for IPv6, ``box`` for PO boxes) or on birth words (``DOB``, ``date of birth``, ``born``,
``birthDate``, X12 ``DMG``): a date is a DATE_OF_BIRTH only when such a word (or the field name) says so; other
dates are never reported. A ZIP code needs a ``zip``/``postal`` context or a state abbreviation just before it.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from claimvault.discovery.findings import Finding, Words, context_has, finding, has_any, near_score, window, word_set

RULES: dict[str, str] = {
    "phone.nanp": "PHONE: NANP number with separators (area code and exchange not starting with 0 or 1)",
    "phone.bare_context": "PHONE: 10 digits without separators, only with phone context",
    "email.rfc5322_simplified": "EMAIL: local@domain.tld",
    "ip.v4_v6": "IP_ADDRESS: a parseable IPv4 or IPv6 address",
    "dob.context": "DATE_OF_BIRTH: a valid date (numeric or with a month name) right after a birth word",
    "dob.field": "DATE_OF_BIRTH: a valid date in a field whose name says birth",
    "address.usps": "STREET_ADDRESS: house number, street name, USPS suffix, optional directional and unit",
    "address.po_box": "STREET_ADDRESS: PO Box number",
    "zip.context": "ZIP_CODE: 5 digits or ZIP+4 with zip/postal context or after a state abbreviation",
}

PHONE_CONTEXT = Words("phone", "tel", "cell", "mobile", "fax", "contact", "call")
IP_CONTEXT = Words("ip", "address", "host", "client")
ZIP_CONTEXT = Words("zip", "postal", "postcode")
ADDRESS_CONTEXT = Words("address", "street", "addr", "mail to", "residence", "n3")
BIRTH_FIELD = Words("birth", "dob", "born", "bday")
STATES = word_set(
    """
    AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK
    OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP
    """
)
# USPS Publication 28, appendix C1: common street suffixes and their standard abbreviations (lower case).
STREET_SUFFIXES = word_set(
    """
    aly alley anx annex arc arcade ave av avenue byu bayou bch beach bnd bend blf bluff blvd boulevard br branch brg
    bridge brk brook byp bypass cswy causeway ctr center cir circle clf cliff cmn common cor corner cors crse course
    ct court cts courts cv cove crk creek cres crescent xing crossing dl dale dm dam dv divide dr drive drs drives
    est estate ests estates expy expressway ext extension fls falls fry ferry fld field flds fields flt flat frd
    ford frst forest frg forge frk fork ft fort fwy freeway gdn garden gdns gardens gtwy gateway gln glen grn green
    grv grove hbr harbor hvn haven hts heights hwy highway hl hill hls hills holw hollow inlt inlet is island jct
    junction ky key knl knoll lk lake lks lakes lndg landing ln lane lgt light loop mall mnr manor mdw meadow mdws
    meadows mews ml mill mls mills msn mission mtwy motorway mt mount mtn mountain nck neck orch orchard oval park
    parks pkwy parkway pass path pike pne pines pl place pln plain plns plains plz plaza pt point prt port pr
    prairie rad radial rnch ranch rpd rapids rst rest rdg ridge riv river rd road rds roads rte route row rue run
    shl shoal shr shore spg spring spgs springs sq square sta station stra stravenue strm stream st street sts
    streets smt summit ter terrace trce trace trak track trl trail tunl tunnel tpke turnpike un union vly valley via
    viaduct vw view vlg village vis vista walk wall way ways wl well wls wells
    """
)
_DIRECTIONS = word_set(
    """
    n s e w ne nw se sw north south east west northeast northwest southeast southwest
    """
)
_UNIT = re.compile(
    r",? (?:Apt|APT|Apartment|Suite|SUITE|Ste|STE|Unit|UNIT|Rm|Room|Fl|Floor|Bldg|Lot|#)\.? ?#?[A-Za-z0-9-]{1,6}\b"
)
_STREET_WORDS = re.compile(r"(?: (?:[A-Z][A-Za-z'-]*\.?|\d{1,3}(?:st|nd|rd|th|ST|ND|RD|TH)))+")
_PO_BOX = re.compile(r"(?<![a-z])(?:p\.? ?o\.?|post office) ?box$")
_BOX = re.compile(r"box #?\d{1,7}")

_NO_SEPARATORS = str.maketrans("", "", " -.")
_PHONE_SEP = re.compile(r"(?:1[ .-]?)?\d{3}[ .-]\d{3}[ .-]\d{4}")
_PHONE_BARE = re.compile(r"1?\d{10}")
_PHONE_PAREN = re.compile(r"\((\d{3})\) ?(\d{3})[ .-](\d{4})(?![\w@]|[-.]\w)")
_IPV6 = re.compile(r"(?<![\w.:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w.:])")
_COLONS = re.compile(r":[0-9A-Fa-f]{0,4}:")
_ZIP = re.compile(r"\d{5}(?:-\d{4})?")
_EMAIL_TAIL = re.compile(r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}  # fmt: skip
_MONTH_RE = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
             r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")  # fmt: skip
_DATE = (
    r"(?P<mdy>(?P<m1>\d{1,2})([/.-])(?P<d1>\d{1,2})\3(?P<y1>\d{4}|\d{2}))"
    r"|(?P<ymd>(?P<y2>(?:19|20)\d{2})([-/]?)(?P<m2>\d{2})\8(?P<d2>\d{2}))"
    rf"|(?P<mon>(?P<mn1>{_MONTH_RE}) (?P<d3>\d{{1,2}})(?:st|nd|rd|th)?,? (?P<y3>\d{{4}}))"
    rf"|(?P<dmon>(?P<d4>\d{{1,2}})[ -](?P<mn2>{_MONTH_RE})(?:,? |-)(?P<y4>\d{{4}}))"
)
_DATE_RE = re.compile(rf"(?:{_DATE})(?![\w/])", re.IGNORECASE)
_BIRTH_WORD = re.compile(r"(?:d\.?o\.?b|date of birth|birth ?date|birth_date|birthdate|birthday|born|dmg\*d8)(?![a-z])")
_AFTER_BIRTH = re.compile(r"[\s:=#\"'(),*|-]{0,4}(?:(?:on|is|was|of|d8)[\s:*]+){0,2}")


# Numeric tokens from the dispatcher ----------------------------------------------------------------------------
def house_number(text: str, s: int, e: int, fk: str, out: list[Finding]) -> None:
    """A number of 1-4 digits before a capitalised word: a street address when a USPS suffix follows."""
    if s == 0 or not (text[s - 1].isalnum() or text[s - 1] in "$.,-/#:"):
        _street(text, s, e, fk, out)


def _po_boxes(text: str, lower: str, out: list[Finding]) -> None:
    n = len(text)
    for m in _BOX.finditer(lower):
        e = m.end()
        if e < n and text[e].isalnum():
            continue
        lo = max(0, m.start() - 16)
        before = _PO_BOX.search(lower[lo : m.start() + 3])
        if before is not None:
            out.append(finding("STREET_ADDRESS", text, lo + before.start(), e, 0.85, "address.po_box"))


def digit_token(text: str, s: int, e: int, tok: str, win: str, fk: str, out: list[Finding], cued: bool) -> None:
    """Phone numbers, ZIP codes and 5-6 digit house numbers among numeric tokens (``cued``: a context word of
    some recognizer is near, so context-only forms are worth checking)."""
    n = len(tok)
    if 10 <= n <= 14:
        digits = tok.translate(_NO_SEPARATORS)
        if len(digits) in (10, 11) and _phone_digits_ok(digits):
            start = s - 1 if s and text[s - 1] == "+" else s
            if _PHONE_SEP.fullmatch(tok):
                score = 0.92 if cued and context_has(win, fk, PHONE_CONTEXT) else 0.7
                out.append(finding("PHONE", text, start, e, score, "phone.nanp"))
            elif cued and _PHONE_BARE.fullmatch(tok) and context_has(win, fk, PHONE_CONTEXT):
                score = near_score(0.85, win, fk, PHONE_CONTEXT)
                out.append(finding("PHONE", text, start, e, score, "phone.bare_context"))
    if (n == 5 or n == 10) and _ZIP.fullmatch(tok):
        if cued and context_has(win, fk, ZIP_CONTEXT):
            out.append(finding("ZIP_CODE", text, s, e, near_score(0.86, win, fk, ZIP_CONTEXT), "zip.context"))
        elif s >= 3 and text[s - 1] == " " and text[s - 3 : s - 1] in STATES and (s == 3 or not text[s - 4].isalnum()):
            out.append(finding("ZIP_CODE", text, s, e, 0.85, "zip.context"))
    if n <= 6 and e < len(text) - 3 and text[e] == " " and text[e + 1].isupper() and tok.isdigit():
        _street(text, s, e, fk, out)


def ipv4(text: str, s: int, e: int, fk: str, out: list[Finding]) -> None:
    """An IPv4 address from the dispatcher (dotted quad, standing on its own)."""
    if _is_ip(text[s:e]):
        score = 0.9 if context_has(window(text, s), fk, IP_CONTEXT) else 0.75
        out.append(finding("IP_ADDRESS", text, s, e, score, "ip.v4_v6"))


def _phone_digits_ok(digits: str) -> bool:
    if len(digits) == 11:
        if digits[0] != "1":
            return False
        digits = digits[1:]
    return digits[0] not in "01" and digits[3] not in "01"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _street(text: str, s: int, e: int, fk: str, out: list[Finding]) -> None:
    m = _STREET_WORDS.match(text, e)
    if m is None:
        return
    words = m.group(0).split(" ")[1:6]
    pos = e
    end = -1
    named = 0
    for i, word in enumerate(words):  # the street ends at the last suffix within five words (Oak Ridge Blvd)
        pos += 1
        key = word.rstrip(".").lower()
        if key in STREET_SUFFIXES and named:
            end = pos + len(word)
            if i + 1 < len(words) and words[i + 1].rstrip(".").lower() in _DIRECTIONS:
                end += 1 + len(words[i + 1])
        if not (i == 0 and key in _DIRECTIONS):
            named += 1
        pos += len(word)
    if end < 0:
        return
    if text[end - 1] == "." and not (end + 1 < len(text) and text[end] == " " and text[end + 1].islower()):
        end -= 1  # a full stop ends the sentence; before a lower-case word the dot is the abbreviation's (St.)
    unit = _UNIT.match(text, end)
    if unit is not None:
        end = unit.end()
    score = 0.95 if context_has(window(text, s), fk, ADDRESS_CONTEXT) else 0.85
    out.append(finding("STREET_ADDRESS", text, s, end, score, "address.usps"))


# Literal-anchored scans ----------------------------------------------------------------------------------------
def scan_text(text: str, fk: str, out: list[Finding]) -> None:
    """E-mail addresses, phones in parentheses, IPv6 addresses, PO boxes and dates of birth."""
    if "@" in text:
        _emails(text, out)
    if "(" in text:
        for m in _PHONE_PAREN.finditer(text):
            s = m.start()
            if m.group(1)[0] in "01" or m.group(2)[0] in "01":
                continue
            if s >= 2 and text[s - 2 : s] in ("1 ", "1-", "1."):
                s -= 2
                if s >= 1 and text[s - 1] == "+":
                    s -= 1
            score = 0.92 if context_has(window(text, s), fk, PHONE_CONTEXT) else 0.7
            out.append(finding("PHONE", text, s, m.end(), score, "phone.nanp"))
    if ":" in text:
        _ipv6(text, fk, out)
    if fk and _birth_field(fk):
        for m in _DATE_RE.finditer(text):
            if _date_ok(m):
                out.append(finding("DATE_OF_BIRTH", text, m.start(), m.end(), 0.9, "dob.field"))
        return
    lower = text.lower()
    if len(lower) != len(text):
        return  # a case mapping changed the length: offsets would not line up
    if "box" in lower:
        _po_boxes(text, lower, out)
    for kw in _BIRTH_WORD.finditer(lower):
        if kw.start() and lower[kw.start() - 1].isalpha():
            continue
        pos = _AFTER_BIRTH.match(lower, kw.end())
        assert pos is not None  # the pattern can match the empty string
        date = _DATE_RE.match(text, pos.end())
        if date is not None and _date_ok(date):
            out.append(finding("DATE_OF_BIRTH", text, date.start(), date.end(), 0.92, "dob.context"))


@functools.lru_cache(maxsize=4096)
def _birth_field(fk: str) -> bool:
    return has_any(fk, BIRTH_FIELD)


def _emails(text: str, out: list[Finding]) -> None:
    for m in _EMAIL_TAIL.finditer(text):
        s = m.start()
        while s > 0 and text[s - 1] in _EMAIL_LOCAL:
            s -= 1
        while s < m.start() and text[s] in ".-":
            s += 1
        if s == m.start() or ".." in text[s : m.end()]:
            continue
        if s > 0 and (text[s - 1].isalnum() or text[s - 1] == "@"):
            continue
        out.append(finding("EMAIL", text, s, m.end(), 0.9, "email.rfc5322_simplified"))


def _ipv6(text: str, fk: str, out: list[Finding]) -> None:
    pos = 0
    while (c := _COLONS.search(text, pos)) is not None:
        s = c.start()
        while s > 0 and text[s - 1] in "0123456789abcdefABCDEF:":
            s -= 1
        m = _IPV6.match(text, s)
        if m is None or m.end() <= c.start():
            pos = c.end()
            continue
        if _is_ip(m.group(0)):
            score = 0.9 if context_has(window(text, s), fk, IP_CONTEXT) else 0.75
            out.append(finding("IP_ADDRESS", text, m.start(), m.end(), score, "ip.v4_v6"))
        pos = max(m.end(), c.end())


def _date_ok(m: re.Match[str]) -> bool:
    """Whether a matched date is a calendar date a person alive could have been born on."""
    g = m.groupdict()
    if g["mdy"]:
        month, day, year = int(g["m1"]), int(g["d1"]), g["y1"]
    elif g["ymd"]:
        month, day, year = int(g["m2"]), int(g["d2"]), g["y2"]
    elif g["mon"]:
        month, day, year = _MONTHS[g["mn1"][:3].lower()], int(g["d3"]), g["y3"]
    else:
        month, day, year = _MONTHS[g["mn2"][:3].lower()], int(g["d4"]), g["y4"]
    if len(year) == 4 and not 1875 <= int(year) <= 2100:
        return False
    return 1 <= month <= 12 and 1 <= day <= 31
