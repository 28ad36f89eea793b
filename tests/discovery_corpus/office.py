"""Writers for the binary office formats: XLSX and DOCX as OOXML zip packages, PDF through reportlab.

Each writer takes rich text (so the caller knows what it planted) and returns the file's bytes; the bytes are
deterministic for the same input.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import LETTER
from reportlab.pdfgen import canvas

from .builder import Rich, plain

FIXED_TIME = (2024, 1, 1, 0, 0, 0)
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def zip_bytes(files: Sequence[tuple[str, bytes]]) -> bytes:
    """A deterministic deflated zip of ``(name, data)`` pairs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[Sequence[Rich | float]]]], rng: random.Random) -> bytes:
    """A workbook: each sheet's first row is its header; strings go to shared strings or inline strings."""
    shared: list[str] = []
    index: dict[str, int] = {}
    sheet_xml: list[str] = []
    for _, rows in sheets:
        out = [XML_HEAD, f'<worksheet xmlns="{MAIN_NS}"><sheetData>']
        for r, row in enumerate(rows, start=1):
            out.append(f'<row r="{r}">')
            for c, cell in enumerate(row):
                ref = f"{_column(c)}{r}"
                if isinstance(cell, float | int):
                    out.append(f'<c r="{ref}"><v>{cell}</v></c>')
                    continue
                text = plain(cell)
                if r == 1 or rng.random() < 0.5:
                    if text not in index:
                        index[text] = len(shared)
                        shared.append(text)
                    out.append(f'<c r="{ref}" t="s"><v>{index[text]}</v></c>')
                else:
                    out.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(text)}</t></is></c>')
            out.append("</row>")
        out.append("</sheetData></worksheet>")
        sheet_xml.append("".join(out))
    count = len(sheets)
    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, count + 1)
    )
    content_types = (
        f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{types}"
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
    )
    root_rels = (
        f'{XML_HEAD}<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    sheet_entries = "".join(
        f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>' for i, (name, _) in enumerate(sheets, start=1)
    )
    workbook = f'{XML_HEAD}<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheets>{sheet_entries}</sheets></workbook>'
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, count + 1)
    )
    workbook_rels = (
        f'{XML_HEAD}<Relationships xmlns="{PKG_REL_NS}">{rels}<Relationship Id="rId{count + 1}" '
        f'Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
    )
    strings = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in shared)
    shared_xml = f'{XML_HEAD}<sst xmlns="{MAIN_NS}" count="{len(shared)}" uniqueCount="{len(shared)}">{strings}</sst>'
    files = [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", root_rels),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        *((f"xl/worksheets/sheet{i}.xml", xml) for i, xml in enumerate(sheet_xml, start=1)),
        ("xl/sharedStrings.xml", shared_xml),
    ]
    return zip_bytes([(name, text.encode("utf-8")) for name, text in files])


def _runs(rich: Rich, rng: random.Random) -> str:
    """Word-style runs: split at segment boundaries (and now and then inside template text), never inside a value."""
    runs: list[str] = []
    current = ""
    for kind, text in rich:
        if kind is None and len(text) > 12 and rng.random() < 0.3:
            cut = rng.randint(1, len(text) - 1)
            runs.extend([current + text[:cut]])
            current = text[cut:]
            continue
        if rng.random() < 0.4 and current:
            runs.append(current)
            current = ""
        current += text
    runs.append(current)
    out = []
    for run in runs:
        bold = "<w:rPr><w:b/></w:rPr>" if rng.random() < 0.1 else ""
        out.append(f'<w:r>{bold}<w:t xml:space="preserve">{escape(run)}</w:t></w:r>')
    return "".join(out)


def docx_bytes(blocks: Sequence[Rich | list[list[Rich]]], rng: random.Random) -> bytes:
    """A document: each block is a paragraph (rich text) or a table (rows of rich cells)."""
    body: list[str] = []
    for block in blocks:
        if block and isinstance(block[0], list):
            rows = "".join(
                "<w:tr>" + "".join(f"<w:tc><w:p>{_runs(cell, rng)}</w:p></w:tc>" for cell in row) + "</w:tr>"
                for row in block
            )
            body.append(f'<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr>{rows}</w:tbl>')
        else:
            body.append(f"<w:p>{_runs(block, rng)}</w:p>")  # type: ignore[arg-type]
    document = (
        f'{XML_HEAD}<w:document xmlns:w="{W_NS}"><w:body>{"".join(body)}'
        '<w:sectPr><w:pgSz w:w="12240" w:h="15840"/></w:sectPr></w:body></w:document>'
    )
    content_types = (
        f'{XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    root_rels = (
        f'{XML_HEAD}<Relationships xmlns="{PKG_REL_NS}"><Relationship Id="rId1" '
        f'Type="{REL_NS}/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    files = [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels), ("word/document.xml", document)]
    return zip_bytes([(name, text.encode("utf-8")) for name, text in files])


def _wrap(rich: Rich, width: int) -> list[str]:
    """Greedy word wrap that keeps every planted value on one line."""
    tokens: list[str] = []
    for kind, text in rich:
        if kind is None:
            tokens.extend(part for part in text.replace("\n", " \n ").split(" ") if part != "")
        else:
            tokens.append(text)
    lines: list[str] = []
    line = ""
    for token in tokens:
        if token == "\n":
            lines.append(line)
            line = ""
        elif line and len(line) + 1 + len(token) > width:
            lines.append(line)
            line = token
        else:
            line = f"{line} {token}" if line else token
    lines.append(line)
    return lines


def pdf_bytes(paragraphs: Sequence[Rich], title: str) -> bytes:
    """A letter-size PDF with a real text layer, one line of text per drawn string."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=LETTER, invariant=1)
    pdf.setTitle(title)
    width, height = LETTER
    y = height - 60
    page = 1
    for paragraph in paragraphs:
        for line in _wrap(paragraph, 92):
            if y < 60:
                pdf.setFont("Helvetica", 8)
                pdf.drawString(width - 100, 30, f"Page {page}")
                pdf.showPage()
                page += 1
                y = height - 60
            pdf.setFont("Helvetica", 10)
            pdf.drawString(50, y, line)
            y -= 14
        y -= 8
    pdf.setFont("Helvetica", 8)
    pdf.drawString(width - 100, 30, f"Page {page}")
    pdf.save()
    return buffer.getvalue()
