"""The file scanner: structure-aware extraction with exact code-point offsets (CSV headers, JSON keys, X12
element meaning), chunk borders, zip recursion, unreadable files, classification, and the ``scan`` command's
JSON shape, exit codes and redaction. Synthetic identifiers only, generated with the validators."""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from claimvault.cli.scan import scan
from claimvault.discovery import extract_base
from claimvault.discovery.classification import Level, file_score, finding_score
from claimvault.discovery.scanner import FileResult, scan_paths
from claimvault.discovery.validators import card_valid, luhn_valid, npi_valid, ssn_valid

RNG = random.Random(9)


def _npi() -> str:
    while True:
        body = RNG.choice("12") + "".join(RNG.choice("0123456789") for _ in range(8))
        for d in "0123456789":
            if luhn_valid("80840" + body + d) and npi_valid(body + d):
                return body + d


def _ssn() -> str:
    while True:
        value = f"{RNG.randint(1, 665):03d}{RNG.randint(1, 99):02d}{RNG.randint(1, 9999):04d}"
        if ssn_valid(value):
            return value


def _card() -> str:
    body = "4" + "".join(RNG.choice("0123456789") for _ in range(14))
    card = next(body + d for d in "0123456789" if luhn_valid(body + d))
    assert card_valid(card)
    return card


NPI, SSN, CARD = _npi(), _ssn(), _card()


def _text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def _one(results: list[FileResult], suffix: str) -> FileResult:
    (found,) = [r for r in results if r.path.endswith(suffix)]
    return found


def _spans(result: FileResult, text: str) -> list[tuple[str, str]]:
    return [(f.type, text[f.start : f.end]) for f in result.findings]


def _isa() -> str:
    isa = "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *260101*1200*^*00501*000000001*0*T*:~"
    assert len(isa) == 106 and isa[104] == ":" and isa[105] == "~"
    return isa


def test_csv_cells_get_their_column_header_as_context(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    # a bare 9-digit SSN is reported only with context: here the header gives it; a non-ASCII name shifts offsets
    path.write_text(f'name,patient_ssn,order\r\n"Zoë, Ann",{SSN},{SSN}\r\n', encoding="utf-8", newline="")
    (result,) = scan_paths([path])
    text = _text(path)
    assert result.status == "scanned"
    assert _spans(result, text) == [("US_SSN", SSN)]
    assert result.findings[0].start == text.index(SSN)
    assert result.level == Level.restricted


def test_tsv_uses_tabs(tmp_path: Path) -> None:
    path = tmp_path / "providers.tsv"
    path.write_text(f"name\tnpi\nClinic\t{NPI}\n", encoding="utf-8")
    (result,) = scan_paths([path])
    assert _spans(result, _text(path)) == [("US_NPI", NPI)]
    assert result.level == Level.internal


def test_json_values_get_their_key_as_context(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    doc = {"note": "é", "patient": {"ssn": int(SSN), "old_ssns": ["x", SSN]}, "order": int(SSN)}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    (result,) = scan_paths([path])
    text = _text(path)
    first = text.index(SSN)
    assert [(f.type, f.start) for f in result.findings] == [
        ("US_SSN", first),
        ("US_SSN", text.index(SSN, first + 1)),
    ]  # the third one, under "order", has no context and is not reported
    assert all(text[f.start : f.end] == SSN for f in result.findings)


def test_x12_element_meaning_gives_context_and_types(tmp_path: Path) -> None:
    path = tmp_path / "claim.837"
    body = (
        _isa() + "\nGS*HC*S*R*20260101*1200*1*X*005010X222A1~\nST*837*0001~\n"
        f"NM1*85*2*CLINIC*****XX*{NPI}~\n"
        "NM1*IL*1*DOE*JANE****MI*ZX9912345~\nN3*12 ELM ST~\nN4*SPRINGFIELD*IL*62701~\n"
        f"DMG*D8*19800101*F~\nREF*SY*{SSN}~\nSE*8*0001~\n"
    )
    path.write_text(body, encoding="utf-8", newline="")
    (result,) = scan_paths([path])
    text = _text(path)
    assert _spans(result, text) == [
        ("US_NPI", NPI),
        ("PERSON", "DOE"),
        ("PERSON", "JANE"),
        ("MEMBER_ID", "ZX9912345"),
        ("STREET_ADDRESS", "12 ELM ST"),
        ("ZIP_CODE", "62701"),
        ("DATE_OF_BIRTH", "19800101"),
        ("US_SSN", SSN),
    ]
    npi = result.findings[0]
    assert (npi.start, npi.end) == (text.index(NPI), text.index(NPI) + 10)
    assert npi.rule.startswith("structure.") and "NPI" in npi.rule  # the element meaning, checksum passed


def test_x12_without_isa_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "bad.x12"
    path.write_text("NM1*85*2*CLINIC~", encoding="utf-8")
    (result,) = scan_paths([path])
    assert (result.status, result.reason) == ("unreadable", "not an X12 interchange (no ISA header)")


@pytest.mark.parametrize("shift", range(-14, 3))
def test_a_value_across_a_chunk_border_is_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shift: int
) -> None:
    monkeypatch.setattr(extract_base, "CHUNK", 500)
    path = tmp_path / "notes.txt"
    lead = "lorem ipsum " * 100
    cut = 1000 + shift - len("SSN: ")  # the value starts near the second chunk border
    text = lead[:cut] + f"SSN: {SSN[:3]} {SSN[3:5]} {SSN[5:]}" + " é" + lead
    path.write_text(text, encoding="utf-8")
    (result,) = scan_paths([path])
    spaced = f"{SSN[:3]} {SSN[3:5]} {SSN[5:]}"  # needs its context word, which sits before the border
    assert [(f.type, f.start, f.end) for f in result.findings] == [("US_SSN", cut + 5, cut + 5 + len(spaced))]


def test_many_chunks_report_each_value_once_with_exact_offsets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_base, "CHUNK", 97)
    path = tmp_path / "big.txt"
    parts = [f"row {i} ünïcode card {CARD} end\n" for i in range(60)]
    path.write_text("".join(parts), encoding="utf-8")
    (result,) = scan_paths([path])
    text = _text(path)
    starts = [i for i in range(len(text)) if text.startswith(CARD, i)]
    assert [f.start for f in result.findings] == starts
    assert {f.type for f in result.findings} == {"CREDIT_CARD"}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_zip_archives_are_scanned_recursively(tmp_path: Path) -> None:
    inner = _zip({"deep.json": json.dumps({"ssn": SSN}).encode()})
    path = tmp_path / "outer.zip"
    path.write_bytes(
        _zip({"dir/inner.csv": f"npi\n{NPI}\n".encode(), "nested.zip": inner, "blob.bin": b"\x00\x01\x02"})
    )
    results = scan_paths([path])
    assert sorted(r.path for r in results) == sorted(
        f"{path}!{m}" for m in ("dir/inner.csv", "nested.zip!deep.json", "blob.bin")
    )
    csv_result = _one(results, "!dir/inner.csv")
    assert [(f.type, f.start) for f in csv_result.findings] == [("US_NPI", 4)]
    deep = _one(results, "!nested.zip!deep.json")
    assert [(f.type, f.start) for f in deep.findings] == [("US_SSN", 9)]
    assert _one(results, "!blob.bin").status == "unreadable"


def test_unreadable_files_get_a_reason_and_the_scan_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a_binary.dat").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    (tmp_path / "b_latin1.txt").write_bytes(b"caf\xe9 " * 10)
    (tmp_path / "c_truncated.zip").write_bytes(_zip({"x.csv": b"ssn\n" + SSN.encode()})[:30])
    (tmp_path / "d_bad.json").write_text('{"ssn": [1, 2', encoding="utf-8")
    (tmp_path / "e_good.csv").write_text(f"ssn\n{SSN}\n", encoding="utf-8")
    results = {Path(r.path.split("!")[0]).name: r for r in scan_paths([tmp_path])}
    assert results["a_binary.dat"].reason == "binary content (NUL bytes)"
    assert results["b_latin1.txt"].reason == "not valid UTF-8 text"
    assert results["c_truncated.zip"].reason == "not a valid zip archive (truncated or corrupt)"
    assert results["d_bad.json"].reason == "malformed JSON"
    assert all(results[n].status == "unreadable" for n in ("a_binary.dat", "b_latin1.txt", "c_truncated.zip"))
    assert results["e_good.csv"].status == "scanned"
    assert [f.type for f in results["e_good.csv"].findings] == ["US_SSN"]
    assert scan_paths([tmp_path / "missing.txt"])[0].reason == "no such file"


def test_scores_follow_the_documented_formula() -> None:
    assert finding_score("US_SSN", 0.9) == 90
    assert finding_score("EMAIL", 0.9) == 54
    assert finding_score("US_NPI", 0.4) == 10
    assert file_score([]) == 0
    assert file_score([("US_SSN", 0.9)] * 10 + [("EMAIL", 0.95)]) == 100
    assert file_score([("EMAIL", 0.9), ("PHONE", 0.7)]) == 54 + 3


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(scan)
    return app


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "restricted": tmp_path / "r.csv",
        "internal": tmp_path / "i.csv",
        "public": tmp_path / "p.txt",
        "card": tmp_path / "c.txt",
    }
    made["restricted"].write_text(f"member_ssn\n{SSN}\n", encoding="utf-8")
    made["internal"].write_text(f"npi\n{NPI}\n", encoding="utf-8")
    made["public"].write_text("nothing to see here\n", encoding="utf-8")
    made["card"].write_text(f"paid with {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}\n", encoding="utf-8")
    return made


def test_json_output_has_the_issue_shape(files: dict[str, Path]) -> None:
    out = CliRunner().invoke(_app(), [str(files["restricted"]), str(files["public"]), "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert list(doc) == ["files"]
    first, second = doc["files"]
    assert list(first) == ["path", "status", "reason", "level", "score", "findings"]
    assert (first["status"], first["reason"], first["level"], first["score"]) == ("scanned", None, "restricted", 90)
    assert first["findings"] == [
        {
            "type": "US_SSN",
            "start": 11,
            "end": 20,
            "score": 90,
            "rule": "ssn.spaced_or_bare",
            "preview": "*******" + SSN[-2:],
        }
    ]
    assert (second["level"], second["score"], second["findings"]) == ("public", 0, [])


@pytest.mark.parametrize(
    ("names", "fail_on", "code"),
    [
        (["restricted"], "restricted", 1),
        (["internal", "public"], "restricted", 0),
        (["internal", "public"], "confidential", 0),
        (["internal", "public"], "internal", 1),
        (["card"], "confidential", 1),
        (["public"], None, 0),
        (["restricted"], None, 0),
    ],
)
def test_fail_on_sets_the_exit_code(files: dict[str, Path], names: list[str], fail_on: str | None, code: int) -> None:
    args = [str(files[n]) for n in names] + (["--fail-on", fail_on] if fail_on else [])
    assert CliRunner().invoke(_app(), args).exit_code == code


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_no_full_value_in_any_output(files: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    x12 = tmp_path / "claim.x12"
    x12.write_text(_isa() + f"NM1*85*2*CLINIC*****XX*{NPI}~REF*SY*{SSN}~", encoding="utf-8")
    out = CliRunner().invoke(_app(), [str(tmp_path), "--format", fmt])
    assert out.exit_code == 0, out.output
    flat = out.output.replace(" ", "").replace("\n", "").replace("│", "")
    for value in (SSN, NPI, CARD, SSN[:3] + "-" + SSN[3:5] + "-" + SSN[5:]):
        assert value not in out.output and value not in flat
    if fmt == "json":
        assert len(json.loads(out.stdout)["files"]) == 5
