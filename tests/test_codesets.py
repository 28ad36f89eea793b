"""Code sets: each file format loads (one transaction, idempotent by SHA-256, malformed files rejected by line and
load nothing), versions are chosen by the date of service (before, inside, gaps and after give ``no_version``),
per-code dates are honoured, ICD-10-CM billable/header/invalid from the built-in release and from order files,
PTP pairs with their modifier indicator, MUE limits, and the lookup's caching. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from claimvault.billing.codesets import synthetic as syn
from claimvault.billing.codesets.formats import CodeSetFileError, Kind, procedure_kind
from claimvault.billing.codesets.icd10cm import builtin_icd10cm_version
from claimvault.billing.codesets.interfaces import CodeLookup, PTPEdit
from claimvault.billing.codesets.loader import LoadResult, load_code_set
from claimvault.billing.codesets.lookup import DatabaseCodeLookup
from claimvault.billing.codesets.models import CodeSetVersion, HcpcsCode
from claimvault.billing.codesets.versions import list_versions
from claimvault.storage.database import Database
from claimvault.storage.models import metadata

YEAR = 2026
JAN1 = date(YEAR, 1, 1)
CODESET_TABLES = {"code_set_versions", "hcpcs_codes", "cpt_codes", "icd10cm_codes", "ncci_ptp_edits", "mue_limits"}


@pytest.fixture
def files(tmp_path: Path) -> syn.SyntheticFiles:
    return syn.write_synthetic_code_sets(tmp_path / "codes", year=YEAR)


@pytest.fixture
def loaded(db: Database, tmp_path: Path) -> Database:
    syn.load_synthetic_code_sets(db=db, directory=tmp_path / "demo-codes", year=YEAR)
    return db


@contextmanager
def lookup(db: Database) -> Iterator[DatabaseCodeLookup]:
    with db.session(tenant_id=None) as session:
        yield DatabaseCodeLookup(session)


def _load(
    db: Database, kind: Kind, path: Path, start: date = JAN1, end: date | None = None, label: str | None = None
) -> LoadResult:
    return load_code_set(db=db, kind=kind, path=path, effective_from=start, effective_to=end, label=label)


def _version_count(db: Database) -> int:
    with db.session(tenant_id=None) as s:
        return int(s.scalar(select(func.count()).select_from(CodeSetVersion)) or 0)


# Schema -------------------------------------------------------------------------------------------------------
def test_migration_creates_exactly_the_code_set_tables(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)

    def mine(entry: object) -> bool:
        text = repr(entry)
        return any(f"'{t}'" in text or f"<{t}>" in text for t in CODESET_TABLES)

    flat = [d for group in diff for d in (group if isinstance(group, list) else [group])]
    assert [d for d in flat if mine(d)] == []
    for table in CODESET_TABLES:
        assert "organization_id" not in metadata.tables[table].columns  # platform-level reference data


# Loading ------------------------------------------------------------------------------------------------------
def test_each_format_loads_with_its_row_count(db: Database, files: syn.SyntheticFiles) -> None:
    hcpcs = _load(db, "hcpcs", files.hcpcs)
    assert hcpcs.created and hcpcs.version.label == "HCPCS 2026-01-01"
    invented = hcpcs.version.row_count - len(syn.HCPCS_CODES) - 2  # + mid-year and terminated codes
    assert 1 <= invented <= 6  # modifier and continuation records are not codes
    assert _load(db, "hcpcs", files.hcpcs_csv).version.row_count == hcpcs.version.row_count - 1  # no mid-year row
    assert _load(db, "cpt", files.cpt).version.row_count == len(syn.CPT_CODES)
    assert _load(db, "ncci_ptp", files.ptp).version.row_count == len(syn.PTP_PAIRS) + 3
    assert _load(db, "mue", files.mue).version.row_count == len(syn.MUE_LIMITS)
    icd = _load(db, "icd10cm", files.icd10cm_order, date(2026, 10, 1), date(2027, 9, 30))
    assert icd.version.row_count == len(syn.ICD10CM_BILLABLE) + len(syn.ICD10CM_HEADERS)
    with db.session(tenant_id=None) as s:
        row = s.scalar(select(HcpcsCode).where(HcpcsCode.code == syn.HCPCS_TERMINATED).limit(1))
        assert row is not None and row.terminated_on == date(YEAR, 3, 31)
        assert row.short_description == "Synthetic retired code"


def test_loading_the_same_file_twice_adds_nothing(db: Database, files: syn.SyntheticFiles) -> None:
    first = _load(db, "ncci_ptp", files.ptp)
    again = _load(db, "ncci_ptp", files.ptp, date(2027, 1, 1), label="another label")
    assert (again.created, again.version.id, again.version.label) == (False, first.version.id, first.version.label)
    assert _version_count(db) == 1


@pytest.mark.parametrize(
    ("kind", "content", "line", "problem"),
    [
        ("cpt", "99213\tX\n9921\tY\n", 2, "not a CPT code"),
        ("hcpcs", "G0008001003" + " " * 100 + "\nG00", 2, "too short"),
        ("hcpcs", "HCPC,SHORT DESCRIPTION,ADD DT\nG0008,Flu,20260101\nG0009,Pneumo,2026ABCD\n", 3, "ADD DT"),
        ("ncci_ptp", "Column 1\tColumn 2\n20610\t99213\t\t20200101\t*\t1\tx\n20610\t99214\t\t20200101\t*\t5\tx\n",
         3, "modifier indicator"),
        ("ncci_ptp", "20610\t99213\t\t20201301\t*\t1\n", 1, "effective date"),
        ("ncci_ptp", "20610\t99213\t\t20200101\t*\t1\n20610\t99213\t\t20200101\t*\t0\n", 2, "repeats"),
        ("mue", '"note"\n"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator"\n'
         '"99213","1","2 Date of Service Edit: Policy"\n"99214","many","2 x"\n', 4, "whole number"),
        ("mue", '"HCPCS/CPT Code","Practitioner Services MUE Values","MUE Adjudication Indicator"\n'
         '"99213","1","7 Something"\n', 2, "adjudication indicator"),
        ("icd10cm", "00001 E11     0 Header\n00002 E119    2 Bad flag\n", 2, "billable flag"),
        ("icd10cm", "00001 E11     0 Header\n00002 E11     0 Again\n", 2, "twice"),
    ],
)  # fmt: skip
def test_a_malformed_file_names_the_line_and_loads_nothing(
    db: Database, tmp_path: Path, kind: Kind, content: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CodeSetFileError) as failed:
        _load(db, kind, path)
    assert failed.value.line in (line, None)
    assert problem in failed.value.message
    assert failed.value.message.startswith(f"line {line}:") or "lines 1-" in failed.value.message
    for value in ("2026ABCD", "20201301", "many", "Something", "Bad flag"):
        assert value not in failed.value.message  # names the problem, not the values
    assert _version_count(db) == 0


def test_an_empty_file_or_a_bad_date_range_is_refused(db: Database, files: syn.SyntheticFiles, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(CodeSetFileError, match="no codes"):
        _load(db, "cpt", empty)
    with pytest.raises(Exception, match="comes before"):
        _load(db, "cpt", files.cpt, date(2026, 5, 1), date(2026, 4, 1))
    assert _version_count(db) == 0


# Versions by date ---------------------------------------------------------------------------------------------
def test_the_version_in_force_on_the_date_of_service_decides(
    db: Database, files: syn.SyntheticFiles, tmp_path: Path
) -> None:
    with lookup(db) as codes:
        assert codes.procedure("99213", JAN1).status == "not_loaded"
    _load(db, "cpt", files.cpt, JAN1, date(2026, 3, 31), label="CPT Q1")
    _load(db, "cpt", _cpt_without(tmp_path, "99213"), date(2026, 7, 1), label="CPT Q3")
    with lookup(db) as codes:
        assert codes.procedure("99213", date(2025, 12, 31)).status == "no_version"  # before
        assert codes.procedure("99213", date(2026, 2, 1)) == codes.procedure("99213", date(2026, 3, 31))
        assert codes.procedure("99213", date(2026, 2, 1)).version == "CPT Q1"
        assert codes.procedure("99213", date(2026, 5, 1)).status == "no_version"  # the gap
        later = codes.procedure("99213", date(2027, 2, 1))  # after: the open-ended Q3 file, which lacks it
        assert (later.status, later.version) == ("invalid", "CPT Q3")
        assert codes.procedure("99214", date(2027, 2, 1)).status == "valid"
        assert codes.procedure("99213", JAN1).status == "valid"


def _cpt_without(tmp_path: Path, code: str) -> Path:
    path = tmp_path / "cpt-q3.txt"
    path.write_text("".join(f"{c}\tPLACEHOLDER\n" for c in syn.CPT_CODES if c != code), encoding="utf-8")
    return path


def test_a_later_version_overrides_an_open_ended_one(db: Database, files: syn.SyntheticFiles, tmp_path: Path) -> None:
    _load(db, "cpt", files.cpt, date(2025, 1, 1), label="old")
    _load(db, "cpt", _cpt_without(tmp_path, "0001U"), date(2026, 1, 1), label="new")
    with lookup(db) as codes:
        assert codes.procedure("0001U", date(2025, 6, 1)).status == "valid"
        newer = codes.procedure("0001U", date(2026, 6, 1))
        assert (newer.status, newer.version) == ("invalid", "new")


def test_hcpcs_add_and_termination_dates_are_honoured(loaded: Database) -> None:
    with lookup(loaded) as codes:
        assert codes.procedure(syn.HCPCS_ADDED_MIDYEAR, date(YEAR, 6, 30)).status == "invalid"
        assert codes.procedure(syn.HCPCS_ADDED_MIDYEAR, date(YEAR, 7, 1)).status == "valid"
        assert codes.procedure(syn.HCPCS_TERMINATED, date(YEAR, 3, 31)).status == "valid"
        assert codes.procedure(syn.HCPCS_TERMINATED, date(YEAR, 4, 1)).status == "invalid"
        assert codes.procedure("g0008 ", date(YEAR, 5, 1)).status == "valid"
        assert codes.procedure("J9999", date(YEAR, 5, 1)).status == "invalid"  # well-formed, not in the file
        assert codes.procedure("G0008", date(YEAR - 1, 5, 1)).status == "no_version"


def test_procedure_formats(loaded: Database) -> None:
    on = date(YEAR, 5, 1)
    with lookup(loaded) as codes:
        for code in ("1036F", "0042T", "0001U", "99213"):
            assert codes.procedure(code, on).status == "valid", code
        for code in ("9921A", "F1234", "I1234", "W1234", "G01", "992131", ""):
            assert codes.procedure(code, on).status == "invalid", code
            assert codes.procedure(code, on).version is None
    assert [procedure_kind(c) for c in ("99213", "1036F", "0042T", "0001U", "0002M", "G0008", "D0120", "N1234")] == [
        "cpt", "cpt", "cpt", "cpt", "cpt", "hcpcs", "hcpcs", None]  # fmt: skip


# ICD-10-CM ----------------------------------------------------------------------------------------------------
def test_icd10cm_from_the_built_in_release(db: Database) -> None:
    builtin = builtin_icd10cm_version()
    assert (builtin.effective_from, builtin.effective_to) == (date(2025, 10, 1), date(2026, 9, 30))
    on = date(2026, 3, 1)
    with lookup(db) as codes:
        assert codes.diagnosis("E11.9", on).status == "valid"
        assert codes.diagnosis("E119", on).version == "ICD-10-CM FY2026 (built-in)"
        assert codes.diagnosis("S52521A", on).status == "valid"  # seventh character
        assert codes.diagnosis("E11", on).status == "not_billable"
        assert codes.diagnosis("S52.521", on).status == "not_billable"
        for code in ("E11.999", "A00-A09", "Z9999", "11", ""):
            assert codes.diagnosis(code, on).status == "invalid", code
        assert codes.diagnosis("E119", date(2025, 9, 30)).status == "no_version"
        assert codes.diagnosis("E119", date(2026, 10, 1)).status == "no_version"


def test_icd10cm_order_file_versions_decide_their_fiscal_year(loaded: Database) -> None:
    fy27 = date(2026, 11, 2)
    with lookup(loaded) as codes:
        assert codes.diagnosis("E11.9", fy27).status == "valid"
        assert codes.diagnosis("E11.9", fy27).version == "ICD-10-CM FY2027 (synthetic)"
        assert codes.diagnosis("E11", fy27).status == "not_billable"
        assert codes.diagnosis("E1122", fy27).status == "invalid"  # not in the (small) FY2027 file
        assert codes.diagnosis("E1122", date(2026, 9, 30)).status == "valid"  # the built-in FY2026 release
        assert codes.diagnosis("E119", date(2027, 10, 1)).status == "no_version"


# NCCI ---------------------------------------------------------------------------------------------------------
def test_ptp_pairs_with_their_modifier_indicator(loaded: Database) -> None:
    on = date(YEAR, 5, 1)
    with lookup(loaded) as codes:
        found = codes.ptp_edits(frozenset({"20610", "99213", "93000", "93005", "J1100"}), on)
        assert [(e.column1, e.column2, e.modifier_allowed) for e in found] == [
            ("20610", "99213", True), ("93000", "93005", False)]  # fmt: skip
        assert all(e.version == f"NCCI PTP {YEAR} (synthetic)" for e in found)
        assert codes.ptp_edits(frozenset({"99213"}), on) == []
        assert codes.ptp_edits(frozenset({"20610", "99213"}), date(YEAR - 1, 12, 31)) == []  # no version


def test_ptp_effective_deletion_and_retracted_edits(loaded: Database) -> None:
    deleted, midyear, retracted = syn.PTP_DELETED, syn.PTP_MIDYEAR, syn.PTP_RETRACTED
    with lookup(loaded) as codes:

        def pairs(edit: tuple[str, str, str], on: date) -> list[PTPEdit]:
            return codes.ptp_edits(frozenset(edit[:2]), on)

        assert len(pairs(deleted, date(YEAR, 3, 31))) == 1
        assert pairs(deleted, date(YEAR, 4, 1)) == []  # not in force on or after the deletion date
        assert pairs(midyear, date(YEAR, 6, 30)) == []
        assert len(pairs(midyear, date(YEAR, 7, 1))) == 1
        assert pairs(retracted, JAN1) == [] and pairs(retracted, date(YEAR, 8, 1)) == []


def test_mue_limits(loaded: Database) -> None:
    on = date(YEAR, 5, 1)
    with lookup(loaded) as codes:
        limit = codes.mue("99213", on)
        assert limit is not None and (limit.max_units, limit.adjudication_indicator) == (1, "2")
        j1100 = codes.mue("J1100", on)
        assert j1100 is not None and (j1100.max_units, j1100.adjudication_indicator) == (20, "3")
        assert codes.mue("99215", on) is None
        assert codes.mue("99213", date(YEAR - 1, 5, 1)) is None


# The lookup ---------------------------------------------------------------------------------------------------
def test_lookup_satisfies_the_protocol_and_caches(loaded: Database) -> None:
    with loaded.session(tenant_id=None) as session:
        codes: CodeLookup = DatabaseCodeLookup(session)
        on = date(YEAR, 5, 1)
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append("x")

        bind = session.connection()
        event.listen(bind, "before_cursor_execute", count)
        try:
            claim = frozenset({"99213", "20610", "36415"})

            def scrub() -> None:
                for code in claim:
                    codes.procedure(code, on)
                    codes.mue(code, on)
                codes.ptp_edits(claim, on)
                codes.diagnosis("E119", on)

            scrub()
            first = len(statements)
            for _ in range(50):
                scrub()
            assert first > 0 and len(statements) == first  # every later claim is answered from the cache
        finally:
            event.remove(bind, "before_cursor_execute", count)


def test_list_versions_includes_the_built_in_release(loaded: Database) -> None:
    with loaded.session(tenant_id=None) as session:
        found = list_versions(session)
    kinds = sorted(v.kind for v in found)
    assert kinds == sorted(["cpt", "hcpcs", "icd10cm", "icd10cm", "mue", "ncci_ptp"])
    assert [v.builtin for v in found if v.kind == "icd10cm"].count(True) == 1


def test_reference_tables_are_readable_in_a_tenant_session(loaded: Database) -> None:
    import uuid

    with loaded.session(tenant_id=uuid.uuid4()) as session:
        assert isinstance(session, Session)
        assert DatabaseCodeLookup(session).procedure("99213", date(YEAR, 5, 1)).status == "valid"
