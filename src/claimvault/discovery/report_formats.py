"""Scan reports as JSON, SARIF 2.1.0 and self-contained HTML, from the scanner's ``FileResult`` list.

Every format carries what a result carries (types, spans, scores, rules and redacted previews), never a value:
SARIF messages quote the redacted preview only, and the HTML is rendered by Jinja2 with autoescaping on, so a
hostile file name is shown as text. SARIF locations are URIs relative to the scan root (``%SRCROOT%``, the working
directory by default) with zip members as ``archive.zip!member``; text-like files get ``charOffset``/``charLength``
(code points, ``columnKind: unicodeCodePoints``) and, for files on disk, line and column numbers found by reading
the file again (positions only). Files that could not be read are tool execution notifications with the reason.
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, StrictUndefined

import claimvault
from claimvault.discovery.classification import LEVEL_ORDER, Level, level_of, level_weight, load_policy
from claimvault.discovery.scanner import FileResult, ScanFinding

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/claimvault/claimvault#sensitive-data-discovery"
SRCROOT = "%SRCROOT%"
SARIF_LEVEL: Mapping[Level, str] = {
    Level.restricted: "error",
    Level.confidential: "warning",
    Level.internal: "note",
    Level.public: "none",
}
# Formats whose spans are offsets into extracted text, not into the file's own characters.
DOCUMENT_SUFFIXES = frozenset({".pdf", ".docx", ".docm", ".xlsx", ".xlsm"})
MAX_HTML_FINDINGS = 1000  # per file; the rest are counted, not listed
_READ_CHUNK = 1 << 20
_NEWLINE = re.compile(r"\r\n|\r|\n")

TYPE_DESCRIPTIONS: Mapping[str, str] = {
    "US_SSN": "US Social Security number",
    "US_NPI": "National Provider Identifier (Luhn-checked)",
    "MEDICARE_MBI": "Medicare Beneficiary Identifier",
    "DEA_NUMBER": "DEA registration number (checksum-validated)",
    "ABA_ROUTING": "ABA bank routing number (checksum-validated)",
    "BANK_ACCOUNT": "Bank account number",
    "CREDIT_CARD": "Payment card number (Luhn and IIN range)",
    "MRN": "Medical record number",
    "MEMBER_ID": "Health plan member identifier",
    "ICD10_CM": "ICD-10-CM diagnosis code",
    "PROCEDURE_CODE": "CPT/HCPCS procedure code",
    "DATE_OF_BIRTH": "Date of birth",
    "PHONE": "Telephone number",
    "EMAIL": "Email address",
    "IP_ADDRESS": "IP address",
    "STREET_ADDRESS": "Street address",
    "ZIP_CODE": "ZIP code",
    "PERSON": "Person name",
}


# JSON -----------------------------------------------------------------------------------------------------------
def render_json(results: Sequence[FileResult]) -> str:
    """``{"files": [FileResult.to_json(), ...]}``, indented, with a final newline."""
    return json.dumps({"files": [r.to_json() for r in results]}, indent=2) + "\n"


# SARIF ----------------------------------------------------------------------------------------------------------
def _member_suffix(path: str) -> str:
    return Path(path.rsplit("!", 1)[-1]).suffix.lower()


def is_text_like(result: FileResult) -> bool:
    """Spans are offsets into the file's own UTF-8 characters (plain text, CSV/TSV, JSON, X12, HL7), not into a
    document's extracted text: judged by the suffix and, for a file on disk, by its first bytes as the scanner
    does (a zip package or a PDF header)."""
    if _member_suffix(result.path) in DOCUMENT_SUFFIXES:
        return False
    if "!" in result.path:
        return True
    try:
        with Path(result.path).open("rb") as fh:
            head = fh.read(1024)
    except OSError:
        return True
    return not (head.startswith(b"PK") or b"%PDF-" in head)


def artifact_location(path: str, *, root: Path) -> dict[str, str]:
    """A SARIF ``artifactLocation``: relative to ``root`` (``%SRCROOT%``) when inside it, else a ``file:`` URI."""
    absolute = Path(os.path.normpath(Path.cwd() / path))
    try:
        relative = absolute.relative_to(root)
    except ValueError:
        return {"uri": "file://" + quote(absolute.as_posix(), safe="/!")}
    return {"uri": quote(relative.as_posix(), safe="/!"), "uriBaseId": SRCROOT}


def _positions(path: Path, offsets: Iterable[int]) -> dict[int, tuple[int, int]]:
    """1-based (line, column) of each code-point offset in the UTF-8 file at ``path`` (CR, LF and CRLF end a
    line); empty when the file cannot be read as text. Only positions are kept, never text."""
    wanted = sorted(set(offsets))
    found: dict[int, tuple[int, int]] = {}
    i, line, line_start, base = 0, 1, 0, 0
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            while i < len(wanted) and (chunk := fh.read(_READ_CHUNK)):
                while chunk.endswith("\r") and (extra := fh.read(1)):
                    chunk += extra  # never split a CRLF between chunks
                starts = [m.end() for m in _NEWLINE.finditer(chunk)]  # where a new line begins, in the chunk
                end = base + len(chunk)
                while i < len(wanted) and wanted[i] < end:
                    k = bisect.bisect_right(starts, wanted[i] - base)
                    start = base + starts[k - 1] if k else line_start
                    found[wanted[i]] = (line + k, wanted[i] - start + 1)
                    i += 1
                if starts:
                    line, line_start = line + len(starts), base + starts[-1]
                base = end
    except (OSError, UnicodeDecodeError):
        return {}
    if i < len(wanted) and wanted[i] == base:  # the end of the file
        found[base] = (line, base - line_start + 1)
    return found


def _rule(entity_type: str) -> dict[str, Any]:
    level = level_of(entity_type)
    description = TYPE_DESCRIPTIONS.get(entity_type, entity_type.replace("_", " ").capitalize())
    return {
        "id": entity_type,
        "name": "".join(part.capitalize() for part in entity_type.split("_")),
        "shortDescription": {"text": description},
        "fullDescription": {"text": f"{description}: classified {level} by the discovery policy."},
        "defaultConfiguration": {"level": SARIF_LEVEL[level]},
        "properties": {
            "level": str(level),
            "tags": ["security", "privacy", str(level)],
            "security-severity": f"{level_weight(level) / 10:.1f}",
        },
    }


def _region(f: ScanFinding, lines: Mapping[int, tuple[int, int]]) -> dict[str, int]:
    region = {"charOffset": f.start, "charLength": f.end - f.start}
    if f.start in lines and f.end in lines:
        (sl, sc), (el, ec) = lines[f.start], lines[f.end]
        region.update(startLine=sl, startColumn=sc, endLine=el, endColumn=ec)
    return region


def _results(result: FileResult, rule_index: Mapping[str, int], *, root: Path) -> Iterator[dict[str, Any]]:
    text_like = is_text_like(result)
    on_disk = text_like and result.findings and "!" not in result.path and Path(result.path).is_file()
    lines = _positions(Path(result.path), (o for f in result.findings for o in (f.start, f.end))) if on_disk else {}
    for f in result.findings:
        level = level_of(f.type)
        physical: dict[str, Any] = {"artifactLocation": artifact_location(result.path, root=root)}
        properties: dict[str, Any] = {"level": str(level), "score": f.score, "rule": f.rule}
        if text_like:
            physical["region"] = _region(f, lines)
        else:
            properties["textLayerSpan"] = [f.start, f.end]
        yield {
            "ruleId": f.type,
            "ruleIndex": rule_index[f.type],
            "level": SARIF_LEVEL[level],
            "message": {
                "text": f"{f.type} ({level}, score {f.score}) matched by rule {f.rule}; redacted preview: {f.preview}"
            },
            "locations": [{"physicalLocation": physical}],
            "properties": properties,
        }


def sarif_document(results: Sequence[FileResult], *, root: Path | None = None) -> dict[str, Any]:
    """The SARIF 2.1.0 log for ``results`` (one run; one rule per entity type of the policy and of the findings)."""
    base = Path(os.path.normpath(root or Path.cwd()))
    policy = load_policy()
    types = list(policy.type_levels)
    types += sorted({f.type for r in results for f in r.findings} - set(types))
    rule_index = {t: i for i, t in enumerate(types)}
    notifications = [
        {
            "level": "warning",
            "descriptor": {"id": "unreadable"},
            "message": {"text": f"Not scanned completely: {r.reason or 'unreadable'}."},
            "locations": [{"physicalLocation": {"artifactLocation": artifact_location(r.path, root=base)}}],
        }
        for r in results
        if r.status == "unreadable"
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "ClaimVault discovery",
                "semanticVersion": claimvault.__version__,
                "version": claimvault.__version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(t) for t in types],
            }
        },
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
        "originalUriBaseIds": {SRCROOT: {"uri": base.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [item for r in results for item in _results(r, rule_index, root=base)],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif(results: Sequence[FileResult], *, root: Path | None = None) -> str:
    return json.dumps(sarif_document(results, root=root), indent=2) + "\n"


# HTML -----------------------------------------------------------------------------------------------------------
_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ClaimVault sensitive-data scan</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1d2530; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #c9d1db; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #eef2f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
.lv { font-weight: 600; padding: 0 .4rem; border-radius: .2rem; }
.restricted { background: #fbd5d5; } .confidential { background: #fde8c4; }
.internal { background: #dbe8fb; } .public { background: #e3f3e3; } .unreadable { background: #e5e5e5; }
details { margin: .4rem 0; } summary { cursor: pointer; } .note { color: #59636e; }
</style>
</head>
<body>
<h1>ClaimVault sensitive-data scan</h1>
<p class="note">Generated {{ generated }} by ClaimVault {{ version }}. Previews are redacted; no full value appears
in this report.</p>
<h2>Summary</h2>
<table>
<tr><th>Level</th><th>Files</th><th>Findings</th></tr>
{% for row in summary %}<tr><td><span class="lv {{ row.level }}">{{ row.level }}</span></td>
<td class="num">{{ row.files }}</td><td class="num">{{ row.findings }}</td></tr>
{% endfor %}<tr><td>unreadable</td><td class="num">{{ unreadable }}</td><td></td></tr>
</table>
<h2>Files</h2>
<table>
<tr><th>Path</th><th>Status</th><th>Level</th><th>Score</th><th>Findings</th><th>Reason</th></tr>
{% for f in files %}<tr><td><code>{{ f.path }}</code></td><td>{{ f.status }}</td>
<td><span class="lv {{ f.level }}">{{ f.level }}</span></td><td class="num">{{ f.score }}</td>
<td class="num">{{ f.count }}</td><td>{{ f.reason or "" }}</td></tr>
{% endfor %}</table>
<h2>Findings</h2>
{% for f in files if f.count %}<details{% if loop.first %} open{% endif %}>
<summary><code>{{ f.path }}</code>: {{ f.count }} finding{{ "" if f.count == 1 else "s" }},
<span class="lv {{ f.level }}">{{ f.level }}</span></summary>
<table>
<tr><th>Type</th><th>Level</th><th>Span</th><th>Score</th><th>Rule</th><th>Preview</th></tr>
{% for x in f.findings %}<tr><td>{{ x.type }}</td><td><span class="lv {{ x.level }}">{{ x.level }}</span></td>
<td class="num">{{ x.start }}&ndash;{{ x.end }}</td><td class="num">{{ x.score }}</td><td><code>{{ x.rule }}</code></td>
<td><code>{{ x.preview }}</code></td></tr>
{% endfor %}</table>
{% if f.hidden %}<p class="note">{{ f.hidden }} more findings not listed.</p>{% endif %}
</details>
{% else %}<p>No findings.</p>
{% endfor %}
</body>
</html>
"""
_ENV = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
_TEMPLATE = _ENV.from_string(_HTML)


def _html_file(result: FileResult, limit: int) -> dict[str, Any]:
    shown = [
        {"type": f.type, "level": str(level_of(f.type)), "start": f.start, "end": f.end, "score": f.score,
         "rule": f.rule, "preview": f.preview}
        for f in result.findings[:limit]
    ]  # fmt: skip
    return {
        "path": result.path,
        "status": result.status,
        "level": str(result.level) if result.status == "scanned" or result.findings else "unreadable",
        "score": result.score,
        "reason": result.reason,
        "count": len(result.findings),
        "findings": shown,
        "hidden": max(0, len(result.findings) - limit),
    }


def render_html(
    results: Sequence[FileResult], *, generated: datetime | None = None, max_findings: int = MAX_HTML_FINDINGS
) -> str:
    """One self-contained HTML page (inline CSS, no scripts, no external assets); every field is escaped."""
    summary = [
        {
            "level": str(level),
            "files": sum(1 for r in results if r.status == "scanned" and r.level == level),
            "findings": sum(1 for r in results for f in r.findings if level_of(f.type) == level),
        }
        for level in reversed(LEVEL_ORDER)
    ]
    return _TEMPLATE.render(
        generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        version=claimvault.__version__,
        summary=summary,
        unreadable=sum(1 for r in results if r.status == "unreadable"),
        files=[_html_file(r, max_findings) for r in results],
    )
