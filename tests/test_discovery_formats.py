"""Structure-aware extraction of every format in the issue table: XLSX (column headers), DOCX (free text), PDF
(text layer), HL7 v2 (field meanings), FHIR JSON (identifier systems), X12 (element meanings); asserted types
that must still fit their type (checksums included); format detection by content; and bad input (truncated
archives, broken PDFs and XML, undecodable bytes, enormous lines, zip bombs) reported unreadable with a reason.
All files are generated here from seeded synthetic values."""

from __future__ import annotations

import io
import json
import random
import tracemalloc
import zipfile
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from reportlab.lib.pagesizes import letter
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from claimvault.discovery import extract_base
from claimvault.discovery.extract_base import Piece
from claimvault.discovery.piece_analysis import asserted_finding
from claimvault.discovery.scanner import FileResult, scan_bytes, scan_paths
from claimvault.discovery.validators import luhn_valid, mbi_valid, npi_valid, ssn_valid

RNG = random.Random(20260109)
_MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


def _npi() -> str:
    while True:
        body = RNG.choice("12") + "".join(RNG.choice("0123456789") for _ in range(8))
        for d in "0123456789":
            if luhn_valid("80840" + body + d) and npi_valid(body + d):
                return body + d


def _bad_npi(npi: str) -> str:
    bad = npi[:-1] + str((int(npi[-1]) + 1) % 10)
    assert not npi_valid(bad)
    return bad


def _ssn() -> str:
    while True:
        value = f"{RNG.randint(1, 665):03d}-{RNG.randint(1, 99):02d}-{RNG.randint(1, 9999):04d}"
        if ssn_valid(value):
            return value


def _mbi() -> str:
    n, a = "0123456789", _MBI_LETTERS
    slots = ["123456789", a, a + n, n, a, a + n, n, a, a, n, n]
    value = "".join(RNG.choice(s) for s in slots)
    assert mbi_valid(value)
    return value


NPI, NPI2, SSN, SSN2, MBI = _npi(), _npi(), _ssn(), _ssn(), _mbi()
SSN_BARE = SSN.replace("-", "")


def _text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def _spans(result: FileResult, text: str) -> set[tuple[str, str]]:
    return {(f.type, text[f.start : f.end]) for f in result.findings}


def _zip(members: Mapping[str, bytes | str], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


# XLSX ----------------------------------------------------------------------------------------------------------
_SHEET_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def _xlsx(rows: list[list[tuple[str, str] | None]]) -> bytes:
    """A workbook whose first sheet holds ``rows`` of (kind, value) cells: ``s`` shared, ``i`` inline, ``n``
    number; None leaves a gap."""
    shared: list[str] = []
    xml_rows = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, cell in enumerate(row):
            if cell is None:
                continue
            kind, value = cell
            ref = f"{chr(65 + c)}{r}"
            if kind == "s":
                shared.append(value)
                cells.append(f'<c r="{ref}" t="s"><v>{len(shared) - 1}</v></c>')
            elif kind == "i":
                cells.append(f'<c r="{ref}" t="inlineStr"><is><r><t>{escape(value)}</t></r></is></c>')
            else:
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
    sst = "".join(f"<si><t>{escape(s)}</t></si>" for s in shared)
    return _zip(
        {
            "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="x"/></Types>',
            "xl/workbook.xml": f"<workbook {_SHEET_NS}><sheets/></workbook>",
            "xl/sharedStrings.xml": f"<sst {_SHEET_NS}>{sst}</sst>",
            "xl/worksheets/sheet1.xml": f"<worksheet {_SHEET_NS}><sheetData>{''.join(xml_rows)}</sheetData>"
            "</worksheet>",
        }
    )


def test_xlsx_cells_get_their_column_header_and_offsets_index_the_cell_stream(tmp_path: Path) -> None:
    rows: list[list[tuple[str, str] | None]] = [
        [],  # an empty first row: the header is the first non-empty row
        [("s", "owner ops@example.org"), ("s", "patient_ssn"), ("i", "order"), ("s", "npi")],
        [("s", "Zoë"), ("n", SSN_BARE), ("n", SSN_BARE), None, ("n", NPI)],
    ]
    path = tmp_path / "book.dat"  # detected by content, not suffix
    path.write_bytes(_xlsx(rows))
    (result,) = scan_paths([path])
    assert result.status == "scanned", result.reason
    stream = f"owner ops@example.org\tpatient_ssn\torder\tnpi\nZoë\t{SSN_BARE}\t{SSN_BARE}\t{NPI}\n\f"
    # the header cell is scanned as text; the SSN under "order" has no context and is not reported; the NPI
    # cell sits in column E, which has no header, so it is found on its checksum alone
    found = _spans(result, stream)
    assert ("EMAIL", "ops@example.org") in found
    ssn_findings = [f for f in result.findings if f.type == "US_SSN"]
    assert [f.start for f in ssn_findings] == [stream.index(SSN_BARE)]


def test_xlsx_broken_xml_and_bad_shared_string_are_unreadable(tmp_path: Path) -> None:
    good = _xlsx([[("s", "ssn")], [("n", SSN_BARE)]])
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    broken = dict(parts)
    broken["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"][:-20]
    (tmp_path / "broken.xlsx").write_bytes(_zip(broken))
    badref = dict(parts)
    badref["xl/worksheets/sheet1.xml"] = f'<worksheet {_SHEET_NS}><sheetData><row><c t="s"><v>99</v></c></row>'.encode()
    badref["xl/worksheets/sheet1.xml"] += b"</sheetData></worksheet>"
    (tmp_path / "badref.xlsx").write_bytes(_zip(badref))
    (tmp_path / "truncated.xlsx").write_bytes(good[: len(good) // 2])
    results = {Path(r.path).name: r for r in scan_paths([tmp_path])}
    assert results["broken.xlsx"].reason == "broken XML in part xl/worksheets/sheet1.xml"
    assert results["badref.xlsx"].reason == "broken shared string reference in a worksheet"
    assert results["truncated.xlsx"].reason == "not a valid zip archive (truncated or corrupt)"
    assert all(r.status == "unreadable" for r in results.values())


# DOCX ----------------------------------------------------------------------------------------------------------
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx(paragraphs: list[str], cells: list[str], header: str, *, dtd: bool = False) -> bytes:
    def para(text: str) -> str:
        return f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'

    table = "<w:tbl><w:tr>" + "".join(f"<w:tc>{para(c)}</w:tc>" for c in cells) + "</w:tr></w:tbl>"
    doctype = '<!DOCTYPE x [<!ENTITY a "aaaa">]>' if dtd else ""
    body = f"{doctype}<w:document {_W}><w:body>{''.join(para(p) for p in paragraphs)}{table}</w:body></w:document>"
    return _zip(
        {
            "[Content_Types].xml": "<Types><Override PartName='/word/document.xml'/></Types>",
            "word/document.xml": body,
            "word/header1.xml": f"<w:hdr {_W}>{para(header)}</w:hdr>",
        }
    )


def test_docx_paragraphs_tables_and_headers_are_free_text(tmp_path: Path) -> None:
    paragraphs = ["Intake note for the visit.", f"Patient SSN: {SSN}, seen today."]
    cells = ["Provider", f"NPI {NPI}"]
    path = tmp_path / "note.docx"
    path.write_bytes(_docx(paragraphs, cells, "Questions: billing@example.org"))
    (result,) = scan_paths([path])
    assert result.status == "scanned", result.reason
    stream = "".join(p + "\n" for p in [*paragraphs, *cells, "Questions: billing@example.org"])
    found = _spans(result, stream)
    assert {("US_SSN", SSN), ("US_NPI", NPI), ("EMAIL", "billing@example.org")} <= found


def test_docx_with_a_dtd_or_broken_xml_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "dtd.docx").write_bytes(_docx(["x"], ["y"], "z", dtd=True))
    good = _docx([f"SSN {SSN}"], ["y"], "z")
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    parts["word/document.xml"] = parts["word/document.xml"].replace(b"</w:body>", b"</w:bdy>")
    (tmp_path / "broken.docx").write_bytes(_zip(parts))
    results = {Path(r.path).name: r for r in scan_paths([tmp_path])}
    assert results["dtd.docx"].reason == "XML part word/document.xml declares a DTD (not allowed)"
    assert results["broken.docx"].reason == "broken XML in part word/document.xml"


# PDF -----------------------------------------------------------------------------------------------------------
def _pdf(pages: list[list[str]], *, password: str | None = None) -> bytes:
    buf = io.BytesIO()
    encrypt = StandardEncryption(password, ownerPassword="owner-secret") if password else None
    pdf = canvas.Canvas(buf, pagesize=letter, encrypt=encrypt)
    for lines in pages:
        for i, line in enumerate(lines):
            pdf.drawString(72, 720 - 14 * i, line)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


def test_pdf_text_layer_is_scanned_page_by_page(tmp_path: Path) -> None:
    path = tmp_path / "statement.bin"  # detected by content
    path.write_bytes(_pdf([["Statement of account"], ["Guarantor details", f"SSN: {SSN}", f"Card {NPI}"]]))
    (result,) = scan_paths([path])
    assert result.status == "scanned", result.reason
    ssn = [f for f in result.findings if f.type == "US_SSN"]
    assert len(ssn) == 1 and ssn[0].preview.endswith(SSN[-2:]) and SSN not in ssn[0].preview
    assert ssn[0].start > len("Statement of account")  # on the second page of the text stream


def test_encrypted_broken_and_truncated_pdfs_are_unreadable(tmp_path: Path) -> None:
    data = _pdf([[f"SSN: {SSN}"]])
    (tmp_path / "locked.pdf").write_bytes(_pdf([[f"SSN: {SSN}"]], password="user-secret"))
    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(RNG.randrange(256) for _ in range(3000)))
    (tmp_path / "truncated.pdf").write_bytes(data[:40])
    (tmp_path / "good.txt").write_text(f"SSN: {SSN}\n", encoding="utf-8")
    results = {Path(r.path).name: r for r in scan_paths([tmp_path])}
    assert results["locked.pdf"].reason == "encrypted PDF (a password is needed)"
    for name in ("garbage.pdf", "truncated.pdf"):
        assert results[name].status == "unreadable" and (results[name].reason or "").startswith("broken PDF")
    assert [f.type for f in results["good.txt"].findings] == ["US_SSN"]  # the scan went on


def test_a_pdf_locked_with_an_owner_password_only_is_read(tmp_path: Path) -> None:
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, encrypt=StandardEncryption("", ownerPassword="owner-secret"))
    pdf.drawString(72, 720, f"SSN: {SSN}")
    pdf.save()
    (result,) = scan_bytes("owner.pdf", buf.getvalue())
    assert (result.status, [f.type for f in result.findings]) == ("scanned", ["US_SSN"])


# HL7 v2 --------------------------------------------------------------------------------------------------------
def _segment(tag: str, fields: dict[int, str]) -> str:
    return "|".join([tag, *(fields.get(i, "") for i in range(1, max(fields) + 1))])


def _hl7(sep: str = "\r", ssn: str = SSN) -> str:
    segments = [
        "MSH|^~\\&|EHR|CLINIC|BILL|CLINIC|20260101120000||ADT^A04|MSG0001|P|2.5.1",
        f"PID|1||MRN48213^^^CLINIC^MR||DOE^JANE^Q||19800131|F|||12 ELM ST^^SPRINGFIELD^IL^62701||(217)555-0143|||||"
        f"ACCT1|{ssn}",
        f"PV1|1|O|||||{NPI}^SMITH^ANNA^^^^^^NPI^^^^NPI|{_bad_npi(NPI2)}^LEE^MAX^^^^^^^^^^NPI",
        _segment("IN1", {1: "1", 2: "PLAN01", 4: "ACME HEALTH", 16: "DOE^JOHN", 18: "19790202", 36: "MBR7731904"}),
        "DG1|1||E11.9^Type 2 diabetes^I10",
        "FT1|1|||20260101||CG|||||||||||||||||||99213^Office visit^CPT",
    ]
    return sep.join(segments) + sep


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_hl7_fields_get_their_meaning_and_asserted_types(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "adt.txt"  # detected by content (MSH|)
    path.write_text(_hl7(sep), encoding="utf-8", newline="")
    (result,) = scan_paths([path])
    text = _text(path)
    assert result.status == "scanned", result.reason
    found = _spans(result, text)
    assert {
        ("MRN", "MRN48213"),
        ("PERSON", "DOE"),
        ("PERSON", "JANE"),
        ("DATE_OF_BIRTH", "19800131"),
        ("STREET_ADDRESS", "12 ELM ST"),
        ("ZIP_CODE", "62701"),
        ("PHONE", "(217)555-0143"),
        ("US_SSN", SSN),
        ("US_NPI", NPI),
        ("PERSON", "JOHN"),
        ("DATE_OF_BIRTH", "19790202"),
        ("MEMBER_ID", "MBR7731904"),
        ("ICD10_CM", "E11.9"),
        ("PROCEDURE_CODE", "99213"),
    } <= found
    assert not any(t == "US_NPI" and v != NPI for t, v in found)  # PV1-8 fails Luhn: no NPI
    assert ("PERSON", "Q") not in found  # a lone initial is not a name
    assert not any(v in ("CLINIC", "ADT", "Type 2 diabetes") for _, v in found)


def test_hl7_blank_ssn_and_bad_header(tmp_path: Path) -> None:
    (tmp_path / "blank.hl7").write_text(_hl7(ssn="         "), encoding="utf-8")
    (tmp_path / "nomsh.hl7").write_text("PID|1||X\r", encoding="utf-8")
    (tmp_path / "latin1.hl7").write_bytes(_hl7().replace("DOE", "MÜLLER").encode("latin-1"))
    results = {Path(r.path).name: r for r in scan_paths([tmp_path])}
    assert "US_SSN" not in {f.type for f in results["blank.hl7"].findings}
    assert results["nomsh.hl7"].reason == "not an HL7 v2 message (no MSH header)"
    assert results["latin1.hl7"].reason == "not valid UTF-8 text"


# FHIR JSON -----------------------------------------------------------------------------------------------------
def test_fhir_identifiers_names_and_addresses(tmp_path: Path) -> None:
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {"value": SSN_BARE, "system": "http://hl7.org/fhir/sid/us-ssn"},  # value before system
            {"use": "usual", "value": "A7731904", "type": {"coding": [{"system": "v2-0203", "code": "MR"}]}},
            {"system": "http://hl7.org/fhir/sid/us-mbi", "value": MBI},
            {"value": "W11223344", "type": {"coding": [{"code": "MB"}]}, "system": "urn:payer"},
            {"system": "http://hl7.org/fhir/sid/us-npi", "value": _bad_npi(NPI)},
        ],
        "name": [{"family": "Doe", "given": ["Jane", "Ann"]}],
        "telecom": [{"system": "phone", "value": "217-555-0143"}, {"value": "jd@example.org", "system": "email"}],
        "birthDate": "1980-01-31",
        "address": [{"line": ["12 Elm St"], "city": "Springfield", "postalCode": "62701"}],
        "note": SSN_BARE,
    }
    path = tmp_path / "patient.json"
    path.write_text(json.dumps(patient, indent=2, ensure_ascii=False), encoding="utf-8")
    (result,) = scan_paths([path])
    text = _text(path)
    found = _spans(result, text)
    assert {
        ("US_SSN", SSN_BARE),
        ("MRN", "A7731904"),
        ("MEDICARE_MBI", MBI),
        ("MEMBER_ID", "W11223344"),
        ("PERSON", "Doe"),
        ("PERSON", "Jane"),
        ("PERSON", "Ann"),
        ("PHONE", "217-555-0143"),
        ("EMAIL", "jd@example.org"),
        ("DATE_OF_BIRTH", "1980-01-31"),
        ("STREET_ADDRESS", "12 Elm St"),
        ("ZIP_CODE", "62701"),
    } <= found
    assert [f.start for f in result.findings if f.type == "US_SSN"] == [text.index(SSN_BARE)]  # not under "note"
    assert "US_NPI" not in {t for t, _ in found}  # asserted by its system, but fails Luhn
    assert [f.start for f in result.findings] == sorted(f.start for f in result.findings)


def test_fhir_large_identifier_object_is_not_buffered_whole(tmp_path: Path) -> None:
    big = {f"ext{i}": "x" for i in range(60)}
    doc = {"identifier": [{"value": SSN_BARE, **big, "system": "http://hl7.org/fhir/sid/us-ssn"}]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    (result,) = scan_paths([path])
    assert result.status == "scanned"  # the value is emitted before "system" arrives: only its key path remains


# X12 -----------------------------------------------------------------------------------------------------------
def _isa() -> str:
    isa = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*000000001*0*T*:~"
    assert len(isa) == 106
    return isa


def test_x12_codes_phones_and_failed_checksums(tmp_path: Path) -> None:
    body = (
        _isa() + "GS*HC*S*R*20260101*1200*1*X*005010X222A1~ST*837*0001~"
        "PER*IC*BILLING OFFICE*TE*2175550143*EM*billing@example.org~"
        f"NM1*85*2*CLINIC*****XX*{_bad_npi(NPI)}~"
        f"NM1*82*1*SMITH*ANNA****XX*{NPI2}~"
        "NM1*IL*1*DOE*JANE****MI*W11223344~DMG*D8*00000000*F~REF*EA*A7731904~"
        "CLM*PCN123*150***11:B:1~HI*ABK:J449*ABF:E119~SV1*HC:99213:25*150*UN*1***1~SE*10*0001~"
    )
    path = tmp_path / "claim.dat"  # detected by content (ISA)
    path.write_text(body, encoding="utf-8")
    (result,) = scan_paths([path])
    text = _text(path)
    found = _spans(result, text)
    assert {
        ("PHONE", "2175550143"),
        ("EMAIL", "billing@example.org"),
        ("US_NPI", NPI2),
        ("PERSON", "SMITH"),
        ("PERSON", "ANNA"),
        ("MEMBER_ID", "W11223344"),
        ("MRN", "A7731904"),
        ("ICD10_CM", "J449"),
        ("ICD10_CM", "E119"),
        ("PROCEDURE_CODE", "99213"),
    } <= found
    assert {t for t, v in found if v in (_bad_npi(NPI), "00000000", "CLINIC", "25", "ABK")} == set()


# Asserted types ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "asserted", "kept"),
    [
        ("", "US_SSN", False),
        ("         ", "US_SSN", False),
        (" " + SSN + " ", "US_SSN", True),
        ("078-05-1120", "US_SSN", False),  # the well-known sample number
        ("X", "PERSON", False),
        ("O'Brien", "PERSON", True),
        ("19800231", "DATE_OF_BIRTH", False),
        ("1234", "ZIP_CODE", False),
        ("J449", "ICD10_CM", True),
        ("ABK", "ICD10_CM", False),
        ("9921", "PROCEDURE_CODE", False),
        ("G0101", "PROCEDURE_CODE", True),
        ("1115550143", "PHONE", False),
    ],
)
def test_asserted_values_must_fit_their_type(text: str, asserted: str, kept: bool) -> None:
    finding = asserted_finding(Piece(text, 0, context="field", asserted_type=asserted))
    assert (finding is not None) == kept
    if finding is not None:
        assert text[finding.start : finding.end] == text.strip()


# Format detection, archives and bad input ----------------------------------------------------------------------
def test_office_files_inside_a_zip_are_extracted(tmp_path: Path) -> None:
    inner = _xlsx([[("s", "member_ssn")], [("s", SSN)]])
    path = tmp_path / "export.zip"
    path.write_bytes(_zip({"sheets/book.xlsx": inner, "notes/adt.hl7": _hl7()}))
    results = {r.path.split("!", 1)[1]: r for r in scan_paths([path])}
    assert [f.type for f in results["sheets/book.xlsx"].findings] == ["US_SSN"]
    assert "MRN" in {f.type for f in results["notes/adt.hl7"].findings}


def test_zip_bombs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ratio = tmp_path / "ratio.zip"
    ratio.write_bytes(_zip({"zeros.txt": b"0" * (4 << 20), "ok.txt": f"SSN: {SSN}"}))
    (bomb, ok) = scan_paths([ratio])
    assert bomb.reason == "compression ratio too high (possible zip bomb)"
    assert [f.type for f in ok.findings] == ["US_SSN"]
    monkeypatch.setattr(extract_base, "MAX_ARCHIVE_TOTAL", 5000)
    total = tmp_path / "total.zip"
    total.write_bytes(_zip({f"part{i}.txt": "".join(RNG.choice("abc ") for _ in range(2000)) for i in range(4)}))
    statuses = [(r.status, r.reason) for r in scan_paths([total])]
    assert statuses[:2] == [("scanned", None), ("scanned", None)]
    assert statuses[2:] == [("unreadable", "archive exceeds the total uncompressed size limit (possible zip bomb)")] * 2


def test_an_enormous_line_is_unreadable_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "one_line.txt"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"SSN: {SSN} ")
        block = "lorem ipsum " * 8192
        for _ in range((50 << 20) // len(block)):
            fh.write(block)
    tracemalloc.start()
    try:
        (result,) = scan_paths([path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "unreadable"
    assert result.reason == f"a line exceeds the size limit ({extract_base.MAX_LINE} characters)"
    assert [f.type for f in result.findings] == ["US_SSN"]  # what was read before the limit is kept
    assert peak < 16 << 20


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("cell.csv", b"a\n" + b"x" * (2 << 20), "a CSV cell exceeds the size limit"),
        ("token.json", b'{"a": "' + b"x" * (2 << 20) + b'"}', "a JSON token exceeds the size limit"),
        ("seg.hl7", b"MSH|^~\\&|A\rNTE|1||" + b"x" * (2 << 20), "an HL7 segment exceeds the size limit"),
        ("bad.x12", (_isa() + "NTE*").encode() + b"x" * (2 << 20), "an X12 segment exceeds the size limit"),
        ("key.json", b'{"\\x": 1}', "malformed JSON"),
        ("utf16.txt", "SSN".encode("utf-16"), "binary content (NUL bytes)"),
        ("empty.xlsx", b"", "not a valid zip archive (truncated or corrupt)"),
        ("fake.docx", _zip({"readme.txt": b"hello"}), "not a DOCX document (no word/document.xml)"),
    ],
)
def test_bad_input_is_unreadable_with_a_reason(name: str, data: bytes, reason: str) -> None:
    (result,) = scan_bytes(name, data)
    assert (result.status, result.reason) == ("unreadable", reason)
