"""pyx12 maps for the 270/271 eligibility transactions (005010X279A1) and the gate that validates them.

pyx12 4.0.0 ships no 5010 270/271 maps, so the loops, segments and code lists of 005010X279A1 are declared here
(our reading of the guide, limited to what a ClaimVault 270 holds and what a 271 may answer; HI, MPI, 2115C and
the 270's AMT/III are not declared, so a file carrying them is refused). At first use the maps are written,
together with copies of pyx12's own 5010 control map, data element and code lists, into a private temporary
folder, and pyx12 validates against that folder. Envelope segments (ISA/GS/GE/IEA) come from pyx12's 277CA map.

pyx12 does not split repeated elements (the ISA11 repetition separator): EQ01 and EB03 must carry one code each.
Reports are ``validation.X12Report``s: positions and codes, never values.
"""

from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
import threading
import xml.etree.ElementTree as ET  # builds trees only; reading goes through defusedxml
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Literal

import defusedxml.ElementTree as SafeET
import pyx12.x12n_document

from claimvault.billing.x12.validation import (
    _ENVELOPE_SEGMENTS,
    _PARAMS,
    X12Issue,
    X12Report,
    _collect,
    _envelope_element_issues,
    _silence_pyx12,
    _structure_issues,
)

IMPLEMENTATION = "005010X279A1"
Kind = Literal["270", "271"]
FUNCTIONAL_ID: dict[Kind, str] = {"270": "HS", "271": "HB"}


# --- a small declaration language ------------------------------------------------------------------------------
@dataclass(frozen=True)
class El:
    data_ele: str
    name: str
    usage: str = "S"  # R required, S situational, N not used
    codes: tuple[str, ...] = ()
    external: str | None = None


@dataclass(frozen=True)
class Comp:
    data_ele: str
    name: str
    usage: str
    parts: tuple[El, ...]


@dataclass(frozen=True)
class Seg:
    sid: str
    name: str
    usage: str
    max_use: int | str
    elements: tuple[El | Comp, ...]
    syntax: tuple[str, ...] = ()


@dataclass(frozen=True)
class Loop:
    xid: str
    name: str
    usage: str
    repeat: int | str
    children: tuple[Seg | Loop, ...] = field(default=())


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _hl(code: str, child: str, *, parent: bool = True) -> Seg:
    return Seg("HL", "Hierarchical Level", "R", 1, (
        El("628", "Hierarchical ID Number", "R"),
        El("734", "Hierarchical Parent ID Number", "R" if parent else "N"),
        El("735", "Hierarchical Level Code", "R", _codes(code)),
        El("736", "Hierarchical Child Code", "R", _codes(child)),
    ))  # fmt: skip


def _nm1(name: str, entity: str, kinds: str, id_codes: str, *, id_usage: str = "R", names: str = "S") -> Seg:
    elements: tuple[El, ...] = (
        El("98", "Entity Identifier Code", "R", _codes(entity)),
        El("1065", "Entity Type Qualifier", "R", _codes(kinds)),
        El("1035", "Last or Organization Name", names),
        El("1036", "First Name", "S"),
        El("1037", "Middle Name", "S"),
        El("1038", "Name Prefix", "N"),
        El("1039", "Name Suffix", "S"),
    )
    if id_codes:
        elements += (El("66", "Identification Code Qualifier", id_usage, _codes(id_codes)),
                     El("67", "Identification Code", id_usage))  # fmt: skip
    return Seg("NM1", name, "R", 1, elements, ("P0809",) if id_codes else ())


def _ref(name: str, codes: str, max_use: int) -> Seg:
    return Seg("REF", name, "S", max_use, (
        El("128", "Reference Identification Qualifier", "R", _codes(codes)),
        El("127", "Reference Identification", "R"),
        El("352", "Description", "S"),
    ))  # fmt: skip


N3 = Seg("N3", "Address", "S", 1, (El("166", "Address Information", "R"), El("166", "Address Information", "S")))
N4 = Seg("N4", "City, State, ZIP Code", "S", 1, (
    El("19", "City Name", "R"), El("156", "State or Province Code", "S"), El("116", "Postal Code", "S"),
    El("26", "Country Code", "S"), El("309", "Location Qualifier", "N"), El("310", "Location Identifier", "N"),
    El("1715", "Country Subdivision Code", "S"),
))  # fmt: skip
PRV = Seg("PRV", "Provider Information", "S", 1, (
    El("1221", "Provider Code", "R", _codes("AD AT BI CO CV H HH LA OT P1 P2 PC PE R RF SB SK SU")),
    El("128", "Reference Identification Qualifier", "R", ("PXC",)),
    El("127", "Provider Taxonomy Code", "R"),
))  # fmt: skip
DMG = Seg("DMG", "Demographic Information", "S", 1, (
    El("1250", "Date Time Period Format Qualifier", "R", ("D8",)),
    El("1251", "Birth Date", "R"),
    El("1068", "Gender Code", "S", _codes("F M U")),
))  # fmt: skip
PER = Seg("PER", "Contact Information", "S", 3, (
    El("366", "Contact Function Code", "R", ("IC",)), El("93", "Name", "S"),
    El("365", "Communication Number Qualifier", "S", _codes("ED EM FX TE UR")),
    El("364", "Communication Number", "S"),
    El("365", "Communication Number Qualifier", "S", _codes("ED EM EX FX TE UR")),
    El("364", "Communication Number", "S"),
    El("365", "Communication Number Qualifier", "S", _codes("ED EM EX FX TE UR")),
    El("364", "Communication Number", "S"),
))  # fmt: skip
MSG = Seg("MSG", "Message Text", "S", 10, (El("933", "Free-form Message Text", "R"),))
LS = Seg("LS", "Loop Header", "S", 1, (El("447", "Loop Identifier Code", "R", ("2120",)),))
LE = Seg("LE", "Loop Trailer", "S", 1, (El("447", "Loop Identifier Code", "R", ("2120",)),))
PROCEDURE = Comp("C003", "Composite Medical Procedure Identifier", "S", (
    El("235", "Product or Service ID Qualifier", "R", _codes("AD CJ HC ID IV N4 ZZ")), El("234", "Procedure Code", "R"),
    El("1339", "Procedure Modifier", "S"), El("1339", "Procedure Modifier", "S"), El("1339", "Procedure Modifier", "S"),
    El("1339", "Procedure Modifier", "S"), El("352", "Description", "N"), El("234", "Product or Service ID", "S"),
))  # fmt: skip
POINTERS = Comp("C004", "Composite Diagnosis Code Pointer", "S", (
    El("1328", "Diagnosis Code Pointer", "R"), El("1328", "Diagnosis Code Pointer", "S"),
    El("1328", "Diagnosis Code Pointer", "S"), El("1328", "Diagnosis Code Pointer", "S"),
))  # fmt: skip


def _trn(max_use: int, types: str) -> Seg:
    return Seg("TRN", "Trace Number", "S", max_use, (
        El("481", "Trace Type Code", "R", _codes(types)), El("127", "Trace Number", "R"),
        El("509", "Originating Company Identifier", "R"), El("127", "Originating Company Supplemental Code", "S"),
    ))  # fmt: skip


def _dtp(name: str, codes: str, max_use: int) -> Seg:
    return Seg("DTP", name, "S", max_use, (
        El("374", "Date/Time Qualifier", "R", _codes(codes)),
        El("1250", "Date Time Period Format Qualifier", "R", _codes("D8 RD8")),
        El("1251", "Date Time Period", "R"),
    ))  # fmt: skip


def _aaa(name: str, reasons: str) -> Seg:
    return Seg("AAA", name, "S", 9, (
        El("1073", "Valid Request Indicator", "R", _codes("N Y")),
        El("559", "Agency Qualifier Code", "N"),
        El("901", "Reject Reason Code", "R", _codes(reasons)),
        El("889", "Follow-up Action Code", "R", _codes("C N R S W X Y")),
    ))  # fmt: skip


def _ins(relationships: str, member: str) -> Seg:
    elements: tuple[El, ...] = (El("1073", "Member Indicator", "R", _codes(member)),
                                El("1069", "Individual Relationship Code", "R", _codes(relationships)),
                                El("875", "Maintenance Type Code", "S", ("001",)),
                                El("1203", "Maintenance Reason Code", "S", ("25",)))  # fmt: skip
    elements += tuple(El("1216", "Not Used", "N") for _ in range(5, 17))  # INS05-INS16
    return Seg("INS", "Relationship", "S", 1, (*elements, El("1470", "Birth Sequence Number", "S")))


REF_PROVIDER = "0B 1C 1D 1J 4A CT EL EO HPI JD N5 N7 Q4 SY TJ"
REF_MEMBER = "18 1L 1W 3H 49 6P CE CT EA EJ F6 GH HJ IF IG ML N6 NQ Q4 SY Y4"
REF_BENEFIT = "18 1L 1W 49 6P 9F ALS CLI F8 FO G1 IG M7 N6 NW PID"
AAA_SOURCE = "04 41 42 79 80 T4"
AAA_RECEIVER = "15 41 43 44 45 46 47 48 50 51 79 97 T4"
AAA_MEMBER = ("15 35 42 43 45 47 48 49 51 52 56 57 58 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 "
              "98 AA AE AF AG AO CI E8 IA MA")  # fmt: skip
AAA_BENEFIT = "15 33 52 53 54 55 56 57 60 61 62 63 69 70 98 AA AE AF AG AO CI E8 IA MA"
DTP_MEMBER_271 = "102 152 291 307 318 340 341 342 343 346 347 356 357 382 435 442 458 539 540 636 771"
DTP_BENEFIT_271 = "096 193 194 198 290 292 295 304 307 318 346 347 348 349 356 357 435 472 636 771"


def _eq() -> Seg:
    return Seg("EQ", "Eligibility or Benefit Inquiry", "R", 1, (
        El("1365", "Service Type Code", "S", external="service_type"), PROCEDURE,
        El("1207", "Coverage Level Code", "S", _codes("CHD DEP ECH EMP ESP FAM IND SPC SPO")),
        El("1336", "Insurance Type Code", "N"), POINTERS,
    ), ("R0102",))  # fmt: skip


def _eb() -> Seg:
    return Seg("EB", "Eligibility or Benefit Information", "R", 1, (
        El("1390", "Eligibility or Benefit Information Code", "R",
           _codes("1 2 3 4 5 6 7 8 A B C CB D E F G H I J K L M MC N O P Q R S T U V W X Y")),
        El("1207", "Coverage Level Code", "S", _codes("CHD DEP ECH EMP ESP FAM IND SPC SPO")),
        El("1365", "Service Type Code", "S", external="service_type"),
        El("1336", "Insurance Type Code", "S", _codes(
            "12 13 14 15 16 41 42 43 47 54 AP C1 CO CP D DB EP FF GP HM HN HS IN IP LC LD LI LT MA MB MC MH MI MP "
            "OT PE PL PP PR PS QM RP SP TF WC WU")),
        El("1204", "Plan Coverage Description", "S"),
        El("615", "Time Period Qualifier", "S", _codes("6 7 13 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36")),
        El("782", "Benefit Amount", "S"),
        El("954", "Benefit Percent", "S"),
        El("673", "Quantity Qualifier", "S", _codes("8H 99 CA CE D3 DB DY HS LA LE M2 MN P6 QA S7 S8 VS YY")),
        El("380", "Benefit Quantity", "S"),
        El("1073", "Authorization or Certification Indicator", "S", _codes("N U Y")),
        El("1073", "In Plan Network Indicator", "S", _codes("N U W Y")),
        PROCEDURE, POINTERS,
    ), ("P0910",))  # fmt: skip


HSD = Seg("HSD", "Health Care Services Delivery", "S", 9, (
    El("673", "Quantity Qualifier", "S", _codes("DY FL HS MN VS")), El("380", "Benefit Quantity", "S"),
    El("355", "Unit or Basis for Measurement Code", "S", _codes("DA MO VS WK YR")),
    El("1167", "Sample Selection Modulus", "S"),
    El("615", "Time Period Qualifier", "S", _codes("6 7 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36")),
    El("616", "Number of Periods", "S"), El("678", "Delivery Frequency Code", "S"),
    El("679", "Delivery Pattern Time Code", "S"),
), ("P0102",))  # fmt: skip


def _member_loops_270(level: str) -> Loop:
    """2000C/2000D of a 270: subscriber (``C``) or dependent (``D``)."""
    subscriber = level == "C"
    name = "Subscriber" if subscriber else "Dependent"
    nm1 = (_nm1(f"{name} Name", "IL", "1", "II MI", id_usage="S") if subscriber
           else _nm1(f"{name} Name", "03", "1", ""))  # fmt: skip
    detail = Loop(f"2100{level}", f"{name} Name", "R", 1, (
        nm1, _ref(f"{name} Additional Identification", REF_MEMBER, 9), N3, N4, PRV, DMG,
        _ins("18" if subscriber else "01 19 20 21 39 40 53 G8", "Y" if subscriber else "N"),
        _dtp(f"{name} Date", "291 307 435 472", 1),
        Loop(f"2110{level}", f"{name} Eligibility or Benefit Inquiry", "S", 99, (
            _eq(), _dtp(f"{name} Eligibility/Benefit Date", "291 307 435 472", 1),
        )),
    ))  # fmt: skip
    children: tuple[Seg | Loop, ...] = (_hl("22" if subscriber else "23", "0 1" if subscriber else "0"),
                                        _trn(2, "1"), detail)  # fmt: skip
    if subscriber:
        children += (_member_loops_270("D"),)
    return Loop(f"2000{level}", f"{name} Level", "R" if subscriber else "S", ">1", children)


def _member_loops_271(level: str) -> Loop:
    subscriber = level == "C"
    name = "Subscriber" if subscriber else "Dependent"
    nm1 = (_nm1(f"{name} Name", "IL", "1", "II MI", id_usage="S") if subscriber
           else _nm1(f"{name} Name", "03", "1", ""))  # fmt: skip
    related = Loop(f"2120{level}", f"{name} Benefit Related Entity Name", "S", 23, (
        _nm1("Benefit Related Entity Name", "13 1I 1P 2B 36 6P 73 FA GP GW I3 IL LR OC P3 P4 P5 PR PRP SEP TTP "
             "VER VN VY X3 Y2", "1 2", "24 34 46 FA FI II MI NI PI PP SV XV XX", id_usage="S"),
        N3, N4, PER, PRV,
    ))  # fmt: skip
    benefit = Loop(f"2110{level}", f"{name} Eligibility or Benefit Information", "S", ">1", (
        _eb(), HSD, _ref(f"{name} Additional Identification", REF_BENEFIT, 9),
        _dtp(f"{name} Eligibility/Benefit Date", DTP_BENEFIT_271, 20),
        _aaa(f"{name} Request Validation", AAA_BENEFIT), MSG, LS, related, LE,
    ))  # fmt: skip
    detail = Loop(f"2100{level}", f"{name} Name", "R", 1, (
        nm1, _ref(f"{name} Additional Identification", REF_MEMBER, 9), N3, N4,
        _aaa(f"{name} Request Validation", AAA_MEMBER), PRV, DMG,
        _ins("18" if subscriber else "01 19 20 21 39 40 53 G8", "Y" if subscriber else "N"),
        _dtp(f"{name} Date", DTP_MEMBER_271, 9), benefit,
    ))  # fmt: skip
    children: tuple[Seg | Loop, ...] = (_hl("22" if subscriber else "23", "0 1" if subscriber else "0"),
                                        _trn(3, "1 2"), detail)  # fmt: skip
    if subscriber:
        children += (_member_loops_271("D"),)
    return Loop(f"2000{level}", f"{name} Level", "R" if subscriber else "S", ">1", children)


def _transaction(kind: Kind) -> tuple[Seg, Loop]:
    response = kind == "271"
    bht = Seg("BHT", "Beginning of Hierarchical Transaction", "R", 1, (
        El("1005", "Hierarchical Structure Code", "R", ("0022",)),
        El("353", "Transaction Set Purpose Code", "R", _codes("06 11" if response else "01 13")),
        El("127", "Submitter Transactional Identifier", "R"),
        El("373", "Transaction Set Creation Date", "R"),
        El("337", "Transaction Set Creation Time", "R"),
    ))  # fmt: skip
    source: tuple[Seg | Loop, ...] = (_nm1("Information Source Name", "2B 36 GP P5 PR", "1 2" if response else "2",
                                           "24 46 FI NI PI XV XX"),)  # fmt: skip
    receiver: tuple[Seg | Loop, ...] = (
        _nm1("Information Receiver Name", "1P 2B 36 80 FA GP P5 PR", "1 2", "24 34 FI PI PP SV XV XX"),
        _ref("Information Receiver Additional Identification", REF_PROVIDER, 9),
    )
    if response:
        source += (PER, _aaa("Information Source Request Validation", AAA_SOURCE))
        receiver += (_aaa("Information Receiver Request Validation", AAA_RECEIVER), PRV)
        member = _member_loops_271("C")
    else:
        receiver += (N3, N4, PRV)
        member = _member_loops_270("C")
    source_aaa: tuple[Seg | Loop, ...] = (_aaa("Request Validation", AAA_SOURCE),) if response else ()
    detail = Loop("DETAIL", "Table 2 - Detail", "R", ">1", (
        Loop("2000A", "Information Source Level", "R", ">1", (
            _hl("20", "1", parent=False), *source_aaa,
            Loop("2100A", "Information Source Name", "R", 1, source),
            Loop("2000B", "Information Receiver Level", "R", ">1", (
                _hl("21", "1"), Loop("2100B", "Information Receiver Name", "R", 1, receiver), member,
            )),
        )),
    ))  # fmt: skip
    return bht, detail


# --- XML -------------------------------------------------------------------------------------------------------
class _Pos:
    def __init__(self) -> None:
        self.n = 100

    def next(self) -> str:
        self.n += 10
        return f"{self.n:04d}"


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def _element_xml(parent: ET.Element, el: El | Comp, xid: str, seq: int) -> None:
    node = ET.SubElement(parent, "composite" if isinstance(el, Comp) else "element", xid=xid)
    _text(node, "data_ele", el.data_ele)
    _text(node, "name", el.name)
    _text(node, "usage", el.usage)
    _text(node, "seq", f"{seq:02d}")
    if isinstance(el, Comp):
        for i, part in enumerate(el.parts, start=1):
            _element_xml(node, part, f"{xid}-{i}", i)
    elif el.codes or el.external:
        codes = ET.SubElement(node, "valid_codes", {"external": el.external} if el.external else {})
        for code in el.codes:
            _text(codes, "code", code)


def _segment_xml(parent: ET.Element, seg: Seg, pos: str) -> None:
    node = ET.SubElement(parent, "segment", xid=seg.sid)
    _text(node, "name", seg.name)
    _text(node, "usage", seg.usage)
    _text(node, "pos", pos)
    _text(node, "max_use", str(seg.max_use))
    for rule in seg.syntax:
        _text(node, "syntax", rule)
    for i, el in enumerate(seg.elements, start=1):
        _element_xml(node, el, f"{seg.sid}{i:02d}", i)


def _loop_xml(parent: ET.Element, loop: Loop, pos: _Pos, *, wrapper: bool = False) -> None:
    first = pos.next()
    node = ET.SubElement(parent, "loop", {"xid": loop.xid, **({"type": "wrapper"} if wrapper else {})})
    _text(node, "name", loop.name)
    _text(node, "usage", loop.usage)
    _text(node, "pos", first)
    _text(node, "repeat", str(loop.repeat))
    for i, child in enumerate(loop.children):
        if isinstance(child, Loop):
            _loop_xml(node, child, pos)
        else:
            _segment_xml(node, child, first if i == 0 else pos.next())


def _set_codes(segment: ET.Element, element_xid: str, codes: tuple[str, ...]) -> None:
    element = segment.find(f"element[@xid='{element_xid}']")
    assert element is not None, element_xid
    valid = element.find("valid_codes")
    if valid is None:
        valid = ET.SubElement(element, "valid_codes")
    valid.clear()
    for code in codes:
        _text(valid, "code", code)


def build_map(kind: Kind) -> bytes:
    """The pyx12 map XML of the 270 or 271: pyx12's 5010 envelope (from its 277CA map) around our loops."""
    source = files("pyx12").joinpath("map", "277.5010.X214.xml").read_bytes()
    root: ET.Element = SafeET.fromstring(source)
    root.set("xid", kind)
    name = root.find("name")
    assert name is not None
    name.text = f"HIPAA Health Care Eligibility Benefit {'Response' if kind == '271' else 'Inquiry'} X279A1-{kind}"
    gs = root.find("loop[@xid='ISA_LOOP']/loop[@xid='GS_LOOP']/segment[@xid='GS']")
    st_loop = root.find("loop[@xid='ISA_LOOP']/loop[@xid='GS_LOOP']/loop[@xid='ST_LOOP']")
    assert gs is not None and st_loop is not None
    _set_codes(gs, "GS01", (FUNCTIONAL_ID[kind],))
    _set_codes(gs, "GS08", (IMPLEMENTATION,))
    st, se = st_loop.find("segment[@xid='ST']"), st_loop.find("segment[@xid='SE']")
    assert st is not None and se is not None
    _set_codes(st, "ST01", (kind,))
    _set_codes(st, "ST03", (IMPLEMENTATION,))
    for child in list(st_loop):
        if child.tag == "loop":
            st_loop.remove(child)
    bht, detail = _transaction(kind)
    header = ET.Element("loop", xid="HEADER", type="wrapper")
    for tag, value in (("name", "Table 1 - Header"), ("usage", "R"), ("pos", "0100"), ("repeat", "1")):
        _text(header, tag, value)
    _segment_xml(header, bht, "0100")
    detail_node = ET.Element("loop")
    _loop_xml(detail_node, detail, _Pos(), wrapper=True)
    index = list(st_loop).index(se)
    st_loop.insert(index, header)
    st_loop.insert(index + 1, detail_node[0])
    se_pos = se.find("pos")
    assert se_pos is not None
    se_pos.text = "9000"
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# --- the map folder and the gate ----------------------------------------------------------------------------------
_folder: str | None = None
_folder_lock = threading.Lock()
MAP_FILES: dict[Kind, str] = {"270": "270.5010.X279.A1.xml", "271": "271.5010.X279.A1.xml"}


def map_folder() -> str:
    """The private folder pyx12 reads: our maps, pyx12's 5010 control map (GS08 list extended), its data element
    and code lists, and a maps.xml naming them. Written once per process, removed at exit."""
    global _folder
    with _folder_lock:
        if _folder is not None:
            return _folder
        folder = tempfile.mkdtemp(prefix="claimvault-x279-")
        atexit.register(shutil.rmtree, folder, True)
        package = files("pyx12").joinpath("map")
        for name in ("dataele.xml", "codes.xml"):
            with open(f"{folder}/{name}", "wb") as out:
                out.write(package.joinpath(name).read_bytes())
        control: ET.Element = SafeET.fromstring(package.joinpath("x12.control.00501.xml").read_bytes())
        gs08 = control.find(".//segment[@xid='GS']/element[@xid='GS08']/valid_codes")
        assert gs08 is not None
        if not any(c.text == IMPLEMENTATION for c in gs08):
            _text(gs08, "code", IMPLEMENTATION)
        with open(f"{folder}/x12.control.00501.xml", "wb") as out:
            out.write(ET.tostring(control, encoding="utf-8", xml_declaration=True))
        for kind, filename in MAP_FILES.items():
            with open(f"{folder}/{filename}", "wb") as out:
                out.write(build_map(kind))
        index = ET.Element("maps")
        version = ET.SubElement(index, "version", icvn="00501")
        for kind, filename in MAP_FILES.items():
            ET.SubElement(version, "map", vriic=IMPLEMENTATION, fic=FUNCTIONAL_ID[kind], abbr=kind).text = filename
        ET.SubElement(version, "map", vriic="", fic="", abbr="X12").text = "x12.control.00501.xml"
        with open(f"{folder}/maps.xml", "wb") as out:
            out.write(ET.tostring(index, encoding="utf-8", xml_declaration=True))
        _folder = folder
        return folder


def validate_eligibility(text: str, *, kind: Kind) -> X12Report:
    """Validate one 270 or 271 interchange with pyx12 against the X279A1 maps, plus the envelope rules pyx12 does
    not check (GS01/GS08/ST01/ST03 must name this kind). Positions and codes only."""
    folder = map_folder()
    _silence_pyx12()
    envelope: list[X12Issue] = []

    def itemize_envelope(seg: Any, src: Any, node: Any, valid: bool) -> None:
        if seg.get_seg_id() in _ENVELOPE_SEGMENTS and getattr(node, "id", None) == seg.get_seg_id():
            envelope.extend(_envelope_element_issues(seg, src, node))

    out = io.StringIO()
    try:
        ok = pyx12.x12n_document.x12n_document(param=_PARAMS, src_file=io.StringIO(text), fd_997=None, fd_html=None,
                                               fd_json=out, map_path=folder, callback=itemize_envelope)  # fmt: skip
    except Exception:  # noqa: BLE001 - pyx12 raises many types on malformed input; its messages quote values
        ok, envelope = False, [X12Issue("file", "ENG")]
    raw = out.getvalue()
    expect = (FUNCTIONAL_ID[kind], kind, IMPLEMENTATION)
    issues = _structure_issues(text, expect) + envelope + (_collect(json.loads(raw)) if raw else [])
    if not ok and not issues:
        issues = [X12Issue("file", "READ")]
    return X12Report(tuple(issues))
