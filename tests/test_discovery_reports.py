"""``claimvault scan`` report formats: SARIF 2.1.0 structure, levels and locations; self-contained HTML that shows
hostile file names as text and never a value; JSON unchanged; ``--mrn-format`` checked at parse time and passed to
the scanner. Synthetic identifiers only, generated with the validators from a seeded generator."""

from __future__ import annotations

import json
import random
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
from typer.testing import CliRunner

from claimvault.cli import scan as scan_cli
from claimvault.discovery.classification import POLICY_ENV, load_policy
from claimvault.discovery.profile import ScanProfile
from claimvault.discovery.report_formats import render_html, render_json, sarif_document
from claimvault.discovery.scanner import FileResult, ScanFinding, scan_file, scan_paths
from claimvault.discovery.validators import luhn_valid, npi_valid, ssn_valid

RNG = random.Random(20260109)


def _ssn() -> str:
    while True:
        value = f"{RNG.randint(1, 665):03d}{RNG.randint(1, 99):02d}{RNG.randint(1, 9999):04d}"
        if ssn_valid(value):
            return value


def _npi() -> str:
    while True:
        body = RNG.choice("12") + "".join(RNG.choice("0123456789") for _ in range(8))
        for d in "0123456789":
            if luhn_valid("80840" + body + d) and npi_valid(body + d):
                return body + d


SSN, SSN2, NPI = _ssn(), _ssn(), _npi()
EMAIL = f"pat{RNG.randint(1000, 9999)}@example.org"
VALUES = (SSN, SSN2, NPI, EMAIL)
HOSTILE = ("<script>alert(1)<!--.csv", '"><img src=x onerror=alert(1)>.csv', "&amp;[red]x[bold].csv")

# The parts of the SARIF 2.1.0 schema (OASIS, errata01) that our output uses: required properties, enumerations,
# bounds, and no property the schema does not define at that place.
_MESSAGE = {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}]}
_TEXT = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
_ARTIFACT = {
    "type": "object",
    "properties": {"uri": {"type": "string", "format": "uri-reference"}, "uriBaseId": {"type": "string"}},
    "additionalProperties": False,
}
_REGION = {
    "type": "object",
    "properties": {
        "charOffset": {"type": "integer", "minimum": -1},
        "charLength": {"type": "integer", "minimum": 0},
        **{k: {"type": "integer", "minimum": 1} for k in ("startLine", "startColumn", "endLine", "endColumn")},
    },
    "additionalProperties": False,
}
_LOCATION = {
    "type": "object",
    "properties": {
        "physicalLocation": {
            "type": "object",
            "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}],
            "properties": {"artifactLocation": _ARTIFACT, "region": _REGION},
            "additionalProperties": False,
        }
    },
    "additionalProperties": False,
}
_RULE = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "shortDescription": _TEXT,
        "fullDescription": _TEXT,
        "defaultConfiguration": {"type": "object", "properties": {"level": _LEVEL}, "additionalProperties": False},
        "properties": {"type": "object"},
    },
    "additionalProperties": False,
}
_NOTIFICATION = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "level": _LEVEL,
        "message": _MESSAGE,
        "descriptor": {"type": "object", "properties": {"id": {"type": "string"}}},
        "locations": {"type": "array", "items": _LOCATION},
    },
    "additionalProperties": False,
}
_RESULT = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "ruleId": {"type": "string"},
        "ruleIndex": {"type": "integer", "minimum": -1},
        "level": _LEVEL,
        "message": _MESSAGE,
        "locations": {"type": "array", "items": _LOCATION},
        "properties": {"type": "object"},
    },
    "additionalProperties": False,
}
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"]},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "semanticVersion": {"type": "string"},
                                    "informationUri": {"type": "string", "format": "uri"},
                                    "rules": {"type": "array", "items": _RULE},
                                },
                                "additionalProperties": False,
                            }
                        },
                        "additionalProperties": False,
                    },
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "executionSuccessful": {"type": "boolean"},
                                "toolExecutionNotifications": {"type": "array", "items": _NOTIFICATION},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "originalUriBaseIds": {"type": "object", "additionalProperties": _ARTIFACT},
                    "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                    "results": {"type": "array", "items": _RESULT},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(scan_cli.scan)
    return app


def _text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scan root (the working directory) with restricted, internal, confidential, zipped and unreadable files."""
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data" / "members.csv").write_text(f'größe,member_ssn\r\n"½ ünit",{SSN}\r\n', encoding="utf-8", newline="")
    (root / "data" / "providers.csv").write_text(f"npi\n{NPI}\n", encoding="utf-8")
    (root / "notes.txt").write_text(f"first line\r\nsecond: write to {EMAIL} today\n", encoding="utf-8", newline="")
    with zipfile.ZipFile(root / "export.zip", "w") as archive:
        archive.writestr("inner/people.csv", f"patient_ssn\n{SSN2}\n")
    (root / "blob.bin").write_bytes(bytes(range(256)))
    monkeypatch.chdir(root)
    return root


def _sarif(args: list[str]) -> dict[str, Any]:
    out = CliRunner().invoke(_app(), [*args, "--format", "sarif"])
    assert out.exit_code == 0, out.output
    for value in VALUES:
        assert value not in out.stdout
    doc: dict[str, Any] = json.loads(out.stdout)
    jsonschema.Draft7Validator(SARIF_SUBSET, format_checker=jsonschema.FormatChecker()).validate(doc)
    return doc


def test_sarif_has_the_required_structure_and_one_rule_per_entity_type(tree: Path) -> None:
    doc = _sarif(["."])
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] and driver["version"] and driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    assert len(rules) == len(driver["rules"])
    assert set(load_policy().type_levels) <= set(rules)
    assert rules["US_SSN"]["properties"]["level"] == "restricted"
    assert rules["US_SSN"]["defaultConfiguration"]["level"] == "error"
    assert rules["US_NPI"]["properties"]["level"] == "internal"
    assert all(r["shortDescription"]["text"] for r in rules.values())
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_levels_locations_and_regions(tree: Path) -> None:
    (run,) = _sarif(["."])["runs"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tree.as_uri() + "/"
    found = {
        (r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r
        for r in run["results"]
    }
    assert set(found) == {
        ("US_SSN", "error", "data/members.csv"),
        ("US_NPI", "note", "data/providers.csv"),
        ("EMAIL", "warning", "notes.txt"),
        ("US_SSN", "error", "export.zip!inner/people.csv"),
    }
    for (_, _, uri), result in found.items():
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        region = location["region"]
        if "!" not in uri:
            text = _text(tree / uri)
            value = text[region["charOffset"] : region["charOffset"] + region["charLength"]]
            assert value in VALUES
            line = text.replace("\r\n", "\n").split("\n")[region["startLine"] - 1]
            assert line[region["startColumn"] - 1 :].startswith(value)
            assert region["endColumn"] - region["startColumn"] == len(value)
        message = result["message"]["text"]
        assert result["ruleId"] in message and "score" in message and result["properties"]["level"] in message
    email = found[("EMAIL", "warning", "notes.txt")]["locations"][0]["physicalLocation"]["region"]
    assert (email["startLine"], email["startColumn"]) == (2, len("second: write to ") + 1)
    ssn = found[("US_SSN", "error", "data/members.csv")]
    assert "*******" + SSN[-2:] in ssn["message"]["text"]  # the redacted preview, never the value


def test_unreadable_files_are_tool_notifications_with_their_reason(tree: Path) -> None:
    (run,) = _sarif(["."])["runs"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is True
    (note,) = invocation["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "blob.bin"
    (blob,) = scan_file(Path("blob.bin"))
    assert blob.status == "unreadable" and blob.reason and blob.reason in note["message"]["text"]


def test_sarif_public_level_is_none_and_follows_a_site_policy(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tree.parent / "site_policy.toml"
    site.write_text(
        'default_level = "confidential"\nreport_threshold = 0.5\n'
        "[weights]\nrestricted = 100\nconfidential = 60\ninternal = 25\npublic = 0\n"
        '[levels]\nrestricted = ["US_SSN"]\npublic = ["EMAIL"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(POLICY_ENV, str(site))
    (run,) = _sarif(["notes.txt"])["runs"]
    (result,) = run["results"]
    assert (result["ruleId"], result["level"]) == ("EMAIL", "none")
    assert {r["id"]: r["defaultConfiguration"]["level"] for r in run["tool"]["driver"]["rules"]}["EMAIL"] == "none"


def test_paths_outside_the_root_and_document_spans(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(f"ssn\n{SSN}\n", encoding="utf-8")
    (run,) = sarif_document(scan_file(outside), root=tree)["runs"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": outside.as_uri()}
    pdf = FileResult("data/scan.pdf", "scanned", None, (ScanFinding("US_SSN", 10, 21, 90, 0.9, "ssn.dashed", "x"),))
    (run,) = sarif_document([pdf], root=tree)["runs"]
    (result,) = run["results"]
    assert "region" not in result["locations"][0]["physicalLocation"]  # offsets into the text layer, not the file
    assert result["properties"]["textLayerSpan"] == [10, 21]
    disguised = tree / "scan.txt"  # a PDF by content: the scanner reads its text layer, so no file region either
    disguised.write_bytes(b"%PDF-1.7\n%synthetic\n")
    (run,) = sarif_document([FileResult(str(disguised), "scanned", None, pdf.findings)], root=tree)["runs"]
    assert "region" not in run["results"][0]["locations"][0]["physicalLocation"]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_and_renders_hostile_names_inert(tree: Path) -> None:
    for name in HOSTILE:
        (tree / name).write_text(f"member_ssn\n{SSN}\n", encoding="utf-8")
    out = CliRunner().invoke(_app(), [".", "--format", "html"])
    assert out.exit_code == 0, out.output
    page = out.stdout
    parser = _Tags()
    parser.feed(page)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr", "th", "td", "code",
               "span", "details", "summary"}  # fmt: skip
    assert {tag for tag, _ in parser.tags} <= allowed
    for _, attrs in parser.tags:
        for attr, _ in attrs:
            assert not attr.startswith("on") and attr not in {"src", "href"}
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<!--" not in page
    shown = "".join(parser.text)
    for name in HOSTILE:
        assert name in shown  # shown as text, exactly
    for value in VALUES:
        assert value not in page
    assert "*******" + SSN[-2:] in shown and "US_SSN" in shown


def test_html_summary_counts_levels_and_caps_long_lists(tree: Path) -> None:
    results = scan_paths([tree])
    parser = _Tags()
    parser.feed(render_html(results))
    text = " ".join(t.strip() for t in parser.text if t.strip())
    assert "restricted 2 2" in text  # two restricted files (members.csv and the zip member), two findings
    assert "confidential 1 1" in text and "internal 1 1" in text and "unreadable 1" in text
    many = FileResult(
        "big.txt",
        "scanned",
        None,
        tuple(ScanFinding("EMAIL", i * 20, i * 20 + 15, 54, 0.9, "email", "***@***.org") for i in range(5)),
    )
    capped = render_html([many], max_findings=2)
    assert capped.count("***@***.org") == 2 and "3 more findings not listed" in capped


def test_json_output_is_unchanged(tree: Path) -> None:
    out = CliRunner().invoke(_app(), [".", "--format", "json"])
    assert out.exit_code == 0, out.output
    results = scan_paths([Path(".")])
    assert out.stdout == json.dumps({"files": [r.to_json() for r in results]}, indent=2) + "\n"
    assert out.stdout == render_json(results)
    first = json.loads(out.stdout)["files"][0]
    assert list(first) == ["path", "status", "reason", "level", "score", "findings"]


@pytest.mark.parametrize("template", ["", "AAAA", "MRN 999", "9" * 41])
def test_an_invalid_mrn_format_is_a_usage_error(tree: Path, template: str) -> None:
    out = CliRunner().invoke(_app(), ["notes.txt", "--mrn-format", "MRN-9999999", "--mrn-format", template])
    assert out.exit_code == 2
    assert "--mrn-format" in out.output and "MRN format" in out.output
    assert "Traceback" not in out.output


def test_too_many_mrn_formats_is_a_usage_error(tree: Path) -> None:
    args = ["notes.txt"] + [a for i in range(21) for a in ("--mrn-format", f"M{i}-9999")]
    assert CliRunner().invoke(_app(), args).exit_code == 2


def test_mrn_format_option_reaches_scan_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The templates given on the command line arrive at ``scan_file`` as the scan profile (the real scanner runs)."""
    seen: list[ScanProfile] = []

    def recording_scan_file(path: Path, *, profile: ScanProfile) -> list[FileResult]:
        seen.append(profile)
        return scan_file(path, profile=profile)

    monkeypatch.setattr(scan_cli, "scan_file", recording_scan_file)
    args = ["notes.txt", "data", "--mrn-format", "MRN-9999999", "--mrn-format", "AA999999", "--format", "json"]
    out = CliRunner().invoke(_app(), args)
    assert out.exit_code == 0, out.output
    assert seen == [ScanProfile(mrn_formats=("MRN-9999999", "AA999999"))] * 3
    assert len(json.loads(out.stdout)["files"]) == 3


def test_mrn_format_changes_the_findings(tree: Path) -> None:
    mrn = "QV" + "".join(RNG.choice("0123456789") for _ in range(7))
    path = tree / "visits.csv"
    path.write_text(f"ref,visit\n{mrn},follow-up\n", encoding="utf-8")  # no MRN context: only the template finds it
    without = CliRunner().invoke(_app(), ["visits.csv", "--format", "json"])
    assert without.exit_code == 0, without.output
    assert [f["type"] for f in json.loads(without.stdout)["files"][0]["findings"]] == []
    out = CliRunner().invoke(_app(), ["visits.csv", "--mrn-format", "AA9999999", "--format", "json"])
    assert out.exit_code == 0, out.output
    (doc,) = json.loads(out.stdout)["files"]
    start = _text(path).index(mrn)
    assert [(f["type"], f["start"], f["end"]) for f in doc["findings"]] == [("MRN", start, start + len(mrn))]
    assert doc["level"] == "restricted" and mrn not in out.stdout
