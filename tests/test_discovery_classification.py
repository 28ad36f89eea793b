"""The discovery policy: the packaged file gives the documented levels, weights and scores; a site's file named by
``CLAIMVAULT_DISCOVERY_POLICY`` replaces it; a malformed file stops with an error that names the problem."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from claimvault.cli.scan import scan
from claimvault.discovery import classification
from claimvault.discovery.classification import (
    PACKAGED,
    POLICY_ENV,
    DiscoveryPolicyError,
    Level,
    file_level,
    file_score,
    finding_score,
    level_of,
    load_policy,
    parse_policy,
    report_threshold,
    rollup_level,
    rollup_score,
)

ROOT = Path(__file__).resolve().parents[1]
RESTRICTED = ("US_SSN", "MEDICARE_MBI", "CREDIT_CARD", "BANK_ACCOUNT", "ABA_ROUTING", "MEMBER_ID", "MRN",
              "DATE_OF_BIRTH", "ICD10_CM")  # fmt: skip
CONFIDENTIAL = ("PERSON", "STREET_ADDRESS", "ZIP_CODE", "PHONE", "EMAIL", "IP_ADDRESS", "DEA_NUMBER",
                "PROCEDURE_CODE")  # fmt: skip
VALID = """
default_level = "confidential"
report_threshold = 0.5

[weights]
restricted = 100
confidential = 60
internal = 25
public = 0

[levels]
restricted = ["US_SSN"]
confidential = ["EMAIL"]
internal = ["US_NPI"]
public = []
"""


@pytest.fixture(autouse=True)
def _packaged_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POLICY_ENV, raising=False)


def test_the_packaged_policy_has_the_documented_defaults() -> None:
    policy = load_policy()
    assert policy.source == PACKAGED
    assert {t for t, lv in policy.type_levels.items() if lv == Level.restricted} == set(RESTRICTED)
    assert {t for t, lv in policy.type_levels.items() if lv == Level.confidential} == set(CONFIDENTIAL)
    assert {t for t, lv in policy.type_levels.items() if lv == Level.internal} == {"US_NPI"}
    assert dict(policy.weights) == {Level.restricted: 100, Level.confidential: 60, Level.internal: 25,
                                    Level.public: 0}  # fmt: skip
    assert policy.default_level == Level.confidential and policy.report_threshold == 0.5
    assert level_of("SOMETHING_NEW") == Level.confidential
    # the names code used when these were constants still answer
    assert classification.TYPE_LEVELS["MRN"] == Level.restricted
    assert classification.LEVEL_WEIGHT[Level.internal] == 25
    default, threshold = classification.DEFAULT_LEVEL, classification.REPORT_THRESHOLD
    assert default == Level.confidential and threshold == 0.5


def test_the_policy_is_package_data() -> None:
    assert resources.files("claimvault.security").joinpath("discovery_policy.toml").is_file()
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    assert any(fnmatch("security/discovery_policy.toml", p) for p in patterns["claimvault"])


def test_scores_follow_the_documented_formula() -> None:
    assert finding_score("US_SSN", 0.9) == 90
    assert finding_score("EMAIL", 0.9) == 54
    assert finding_score("US_NPI", 0.4) == 10
    assert finding_score("US_SSN", 1.7) == 100 and finding_score("US_SSN", -1) == 0
    assert file_score([]) == 0
    assert file_score([("US_SSN", 0.9)] * 10 + [("EMAIL", 0.95)]) == 100
    assert file_score([("EMAIL", 0.9), ("PHONE", 0.7)]) == 54 + 3
    assert file_level(["EMAIL", "US_NPI"]) == Level.confidential and file_level([]) == Level.public


def test_tables_roll_up_their_columns_like_files_roll_up_findings() -> None:
    columns = [(Level.restricted, 90)] * 3 + [(Level.confidential, 60), (Level.internal, 25)]
    assert rollup_level(lv for lv, _ in columns) == Level.restricted
    assert rollup_score(columns) == 90 + 5  # 10 * log10(3 restricted columns), rounded
    assert rollup_score([]) == 0 and rollup_level([]) == Level.public
    assert rollup_score([(Level.restricted, 95)] * 100) == 100


def test_a_site_policy_file_replaces_the_packaged_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        VALID.replace("internal = 25", "internal = 40")
        .replace('internal = ["US_NPI"]', 'internal = ["US_NPI", "ZIP_CODE"]')
        .replace('"confidential"', '"internal"')
        .replace("0.5", "0.7"),
        encoding="utf-8",
    )
    monkeypatch.setenv(POLICY_ENV, str(site))
    policy = load_policy()
    assert policy.source == f"discovery policy {site}"
    assert level_of("ZIP_CODE") == Level.internal and finding_score("ZIP_CODE", 1.0) == 40
    assert level_of("MRN") == Level.internal  # not listed in the site's file: its default level
    assert report_threshold() == 0.7
    monkeypatch.delenv(POLICY_ENV)
    assert level_of("MRN") == Level.restricted and load_policy().source == PACKAGED


def test_an_explicit_policy_argument_wins(tmp_path: Path) -> None:
    policy = parse_policy(VALID.replace('restricted = ["US_SSN"]', 'restricted = ["US_SSN", "US_NPI_X"]'), source="t")
    assert level_of("US_NPI_X", policy=policy) == Level.restricted
    assert level_of("US_NPI_X") == Level.confidential


def test_a_missing_site_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POLICY_ENV, str(tmp_path / "absent.toml"))
    with pytest.raises(DiscoveryPolicyError, match=f"{POLICY_ENV}: .* cannot be read"):
        level_of("US_SSN")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("public = []", 'secret = ["X_ID"]', "levels key 'secret' must be one of restricted, confidential"),
        ('default_level = "confidential"', 'default_level = "Restricted"', "default_level must be one of"),
        ("restricted = 100", "restricted = 101", "weight of restricted must be a whole number from 0 to 100"),
        ("public = 0", "public = -1", "weight of public must be a whole number from 0 to 100"),
        ("internal = 25", "internal = 25.5", "weight of internal must be a whole number"),
        ("internal = 25", "internal = true", "weight of internal must be a whole number"),
        ("internal = 25", "internal = 70", "weight of confidential may not be below the weight of internal"),
        ("public = 0\n", "", r"\[weights\] has no weight for public"),
        ("public = 0\n", "top = 0\n", "weights key 'top' must be one of"),
        (
            'internal = ["US_NPI"]',
            'internal = ["US_NPI", "EMAIL"]',
            r"EMAIL is listed twice \(under confidential and internal\)",
        ),
        ('restricted = ["US_SSN"]', 'restricted = ["US_SSN", "US_SSN"]', "US_SSN is listed twice"),
        ('internal = ["US_NPI"]', 'internal = ["us_npi"]', "levels.internal holds a name that is not an entity type"),
        ('internal = ["US_NPI"]', 'internal = "US_NPI"', "levels.internal must be a list"),
        ("report_threshold = 0.5", "report_threshold = 1.5", "report_threshold must be a number from 0 to 1"),
        ("report_threshold = 0.5", "report_treshold = 0.5", "unknown setting 'report_treshold'"),
        ('default_level = "confidential"', "", "missing setting 'default_level'"),
        ("[weights]", "[weights", "not valid TOML"),
    ],
)
def test_a_malformed_policy_is_rejected_with_the_problem_named(old: str, new: str, message: str) -> None:
    assert old in VALID
    with pytest.raises(DiscoveryPolicyError, match=message) as caught:
        parse_policy(VALID.replace(old, new, 1), source="site.toml")
    assert caught.value.message.startswith("site.toml: ")


def test_a_malformed_site_policy_is_a_clean_cli_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "bad.toml"
    site.write_text(VALID.replace("restricted = 100", "restricted = 500"), encoding="utf-8")
    monkeypatch.setenv(POLICY_ENV, str(site))
    target = tmp_path / "ids.csv"
    target.write_text("npi\n1234567893\n", encoding="utf-8")
    app = typer.Typer()
    app.command()(scan)
    out = CliRunner().invoke(app, [str(target)])
    assert out.exit_code == 1
    assert "weight of restricted must be a whole number from 0 to 100" in out.output
    assert "Traceback" not in out.output


def test_fail_on_follows_the_site_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "providers.csv"
    target.write_text("npi\n1234567893\n", encoding="utf-8")  # the NPI specification's own example number
    app = typer.Typer()
    app.command()(scan)
    assert CliRunner().invoke(app, [str(target), "--fail-on", "restricted"]).exit_code == 0
    site = tmp_path / "site.toml"
    site.write_text(VALID.replace('internal = ["US_NPI"]', "internal = []").replace(
        '["US_SSN"]', '["US_SSN", "US_NPI"]'), encoding="utf-8")  # fmt: skip
    monkeypatch.setenv(POLICY_ENV, str(site))
    assert CliRunner().invoke(app, [str(target), "--fail-on", "restricted"]).exit_code == 1
