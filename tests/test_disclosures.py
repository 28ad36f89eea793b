"""Accounting of disclosures (45 CFR 164.528) end to end on both backends: recording, listing, the six-year
accounting as JSON and PDF, exemptions, suspensions, permissions, tenancy, the audit trail and the logs."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from faker import Faker
from sqlalchemy import select, text

from claimvault.privacy.disclosures.accounting import window_start
from claimvault.security.models import AuditEvent
from tests.conftest import World, captured_logs
from tests.needles import without_ids

fake = Faker("en_US")
Faker.seed(164528)

PATIENT = {"given_name": "Wilhelmina", "family_name": "Okonkwo-Strand", "birth_date": "1957-08-19"}
EXCLUDED = (
    "treatment",
    "payment",
    "operations",
    "individual",
    "incident",
    "authorization",
    "facility_directory",
    "persons_involved",
    "national_security",
    "correctional",
    "limited_data_set",
)


def _disclosures(slug: str, patient_id: uuid.UUID | str) -> str:
    return f"/api/v1/orgs/{slug}/patients/{patient_id}/disclosures"


def _suspensions(slug: str) -> str:
    return f"/api/v1/orgs/{slug}/disclosure-suspensions"


def _today() -> date:
    # The test organizations use the default time zone (America/New_York); so does the service's "today".
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("America/New_York")).date()


def _body(disclosed_on: date, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "disclosed_on": disclosed_on.isoformat(),
        "recipient_name": f"{fake.last_name()} County Health Department",
        "recipient_address": fake.address().replace("\n", ", "),
        "description": "Immunization history and laboratory result",
        "purpose": "Communicable disease reporting required by state law",
        "purpose_code": "public_health",
    }
    body.update(overrides)
    return body


class Setup:
    def __init__(self, world: World, slug: str = "alpha") -> None:
        self.world = world
        self.slug = slug
        self.biller_member = world.member(slug, "biller")
        self.officer_member = world.member(slug, "compliance_officer")
        self.biller = world.client(self.biller_member)
        self.officer = world.client(self.officer_member)
        self.patient_id = world.create_patient(self.biller_member, PATIENT)

    def record(self, body: dict[str, Any], client: Any = None) -> dict[str, Any]:
        r = (client or self.biller).post(_disclosures(self.slug, self.patient_id), json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def accounting(self, **params: Any) -> dict[str, Any]:
        r = self.officer.get(f"{_disclosures(self.slug, self.patient_id)}/accounting", params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def setup(world: World) -> Setup:
    return Setup(world)


def _audit_events(world: World, org_id: uuid.UUID) -> list[AuditEvent]:
    """The organization's audit events (the one place to adjust if the audit tables change shape)."""
    with world.runtime.db.session(tenant_id=org_id) as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.organization_id == org_id)))
        s.expunge_all()
    return events


def _entry(body: dict[str, Any], count: int = 1, last: str | None = None) -> dict[str, Any]:
    return {
        "disclosed_on": body["disclosed_on"],
        "recipient_name": body["recipient_name"],
        "recipient_address": body.get("recipient_address"),
        "description": body["description"],
        "purpose": body["purpose"],
        "purpose_code": body["purpose_code"],
        "disclosure_count": count,
        "last_disclosed_on": last or body["disclosed_on"],
    }


def _pdf_text(pdf: bytes) -> str:
    """The text shown by an uncompressed PDF's content streams (string operands of Tj), wrapped lines joined by
    spaces."""
    shown = re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", pdf)
    unescaped = [re.sub(rb"\\(.)", rb"\1", s).decode("latin-1") for s in shown]
    return " ".join(" ".join(unescaped).split())


def test_record_list_and_accounting_json(setup: Setup) -> None:
    today = _today()
    older = _body(today - timedelta(days=400), purpose_code="judicial", purpose="Court order in a civil case")
    newer = _body(today - timedelta(days=3), recipient_address=None)
    tpo = _body(today - timedelta(days=10), purpose_code="other", excluded_category="payment")
    created = [setup.record(newer), setup.record(older), setup.record(tpo)]
    assert created[0]["recipient_name"] == newer["recipient_name"] and created[0]["recipient_address"] is None
    assert created[0]["recorded_by"] == str(setup.biller_member.user_id)
    assert created[2]["excluded_category"] == "payment"

    listed = setup.officer.get(_disclosures("alpha", setup.patient_id))
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()] == [created[1]["id"], created[2]["id"], created[0]["id"]]

    result = setup.accounting()
    generated = datetime.fromisoformat(result.pop("generated_at"))
    assert abs(datetime.now(UTC) - generated) < timedelta(minutes=5)
    assert result == {
        "title": "Accounting of disclosures of protected health information",
        "regulation": "45 CFR 164.528",
        "organization": {"id": str(setup.officer_member.org_id), "name": "Alpha"},
        "patient_id": str(setup.patient_id),
        "period": {"start": window_start(today).isoformat(), "end": today.isoformat()},
        "summarized": False,
        "entry_count": 2,
        "entries": [_entry(older), _entry(newer)],
    }


def test_six_year_window_boundaries(setup: Setup) -> None:
    as_of = date(2024, 3, 15)
    on_start = setup.record(_body(date(2018, 3, 15), description="Exactly six years"))
    setup.record(_body(date(2018, 3, 14), description="One day too old"))
    on_end = setup.record(_body(as_of, description="On the request date"))
    setup.record(_body(date(2024, 3, 16), description="After the request date"))
    result = setup.accounting(as_of=as_of.isoformat())
    assert result["period"] == {"start": "2018-03-15", "end": "2024-03-15"}
    assert [e["description"] for e in result["entries"]] == [on_start["description"], on_end["description"]]
    # Today's accounting no longer reaches back to 2018.
    assert setup.accounting()["entries"][0]["disclosed_on"] == "2024-03-15"


def test_window_start_on_leap_day() -> None:
    assert window_start(date(2024, 2, 29)) == date(2018, 2, 28)
    assert window_start(date(2025, 1, 1)) == date(2019, 1, 1)


def test_exempt_categories_are_recorded_but_never_accounted(setup: Setup) -> None:
    today = _today()
    for i, category in enumerate(EXCLUDED):
        setup.record(_body(today - timedelta(days=i), purpose_code="other", excluded_category=category))
    accountable = setup.record(_body(today - timedelta(days=50)))
    listed = setup.officer.get(_disclosures("alpha", setup.patient_id)).json()
    assert sorted(d["excluded_category"] for d in listed if d["excluded_category"]) == sorted(EXCLUDED)
    result = setup.accounting()
    assert result["entry_count"] == 1
    assert [e["recipient_name"] for e in result["entries"]] == [accountable["recipient_name"]]


def test_suspension_withholds_then_releases(setup: Setup) -> None:
    today = _today()
    police = {"purpose_code": "law_enforcement", "purpose": "Response to an administrative request"}
    active_d = setup.record(_body(today - timedelta(days=20), recipient_name="Metro Police Fraud Unit", **police))
    ended_d = setup.record(_body(today - timedelta(days=90), recipient_name="State Police Records", **police))
    public = setup.record(_body(today - timedelta(days=5)))

    active = setup.officer.post(
        _suspensions("alpha"),
        json={
            "agency_name": "Metro Police Fraud Unit",
            "agency_kind": "law_enforcement",
            "statement_kind": "written",
            "reason_code": "investigation",
            "starts_on": (today - timedelta(days=10)).isoformat(),
            "ends_on": (today + timedelta(days=60)).isoformat(),
            "disclosure_ids": [active_d["id"]],
        },
    )
    assert active.status_code == 201, active.text
    ended = setup.officer.post(
        _suspensions("alpha"),
        json={
            "agency_name": "State Police Records",
            "agency_kind": "law_enforcement",
            "statement_kind": "oral",
            "reason_code": "investigation",
            "starts_on": (today - timedelta(days=40)).isoformat(),
            "ends_on": (today - timedelta(days=11)).isoformat(),
            "disclosure_ids": [ended_d["id"]],
        },
    )
    assert ended.status_code == 201, ended.text
    # Recorded with the suspension from the start.
    later_d = setup.record(
        _body(today - timedelta(days=2), suspension_id=active.json()["id"], recipient_name="Metro Police", **police)
    )

    names = [e["recipient_name"] for e in setup.accounting()["entries"]]
    assert names == [ended_d["recipient_name"], public["recipient_name"]]  # ended: released; active: withheld
    # While the oral statement was in force, its disclosure was withheld too.
    during = setup.accounting(as_of=(today - timedelta(days=15)).isoformat())
    assert [e["recipient_name"] for e in during["entries"]] == []
    # Dating an accounting back before the active suspension does not reveal what it withholds.
    before = setup.accounting(as_of=(today - timedelta(days=12)).isoformat())
    assert active_d["recipient_name"] not in str(before)

    listed = setup.officer.get(_suspensions("alpha")).json()
    assert [(s["agency_name"], s["disclosure_ids"]) for s in listed] == [
        ("State Police Records", [ended_d["id"]]),
        ("Metro Police Fraud Unit", sorted([active_d["id"], later_d["id"]])),
    ]
    # The full list still shows every disclosure, with its suspension.
    by_id = {d["id"]: d for d in setup.officer.get(_disclosures("alpha", setup.patient_id)).json()}
    assert by_id[active_d["id"]]["suspension_id"] == active.json()["id"]


def test_suspension_rules(setup: Setup) -> None:
    today = _today()
    base = {
        "agency_name": "Office of Inspector General",
        "agency_kind": "health_oversight",
        "statement_kind": "oral",
        "reason_code": "audit",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=31)).isoformat(),
    }
    too_long = setup.officer.post(_suspensions("alpha"), json=base)
    assert too_long.status_code == 422 and "Inspector" not in too_long.text
    backwards = setup.officer.post(_suspensions("alpha"), json={**base, "ends_on": "2000-01-01"})
    assert backwards.status_code == 422
    public = setup.record(_body(today))
    mismatch = setup.officer.post(
        _suspensions("alpha"), json={**base, "ends_on": today.isoformat(), "disclosure_ids": [public["id"]]}
    )
    assert mismatch.status_code == 409
    unknown = setup.officer.post(
        _suspensions("alpha"), json={**base, "ends_on": today.isoformat(), "disclosure_ids": [str(uuid.uuid4())]}
    )
    assert unknown.status_code == 404
    assert setup.officer.get(_suspensions("alpha")).json() == []  # refused requests left nothing behind
    police = _body(today, purpose_code="law_enforcement", suspension_id=str(uuid.uuid4()))
    r = setup.biller.post(_disclosures("alpha", setup.patient_id), json=police)
    assert r.status_code == 404
    wrong_kind = _body(today, suspension_id=str(uuid.uuid4()))  # public health cannot be suspended
    assert setup.biller.post(_disclosures("alpha", setup.patient_id), json=wrong_kind).status_code == 422
    assert setup.biller.post(_suspensions("alpha"), json=base).status_code == 403


def test_summary_of_repeated_disclosures(setup: Setup) -> None:
    today = _today()
    same = {"recipient_name": "Acme Workers Comp Insurer", "purpose_code": "workers_comp", "purpose": "Claim 7"}
    first = setup.record(_body(today - timedelta(days=300), **same))
    setup.record(_body(today - timedelta(days=200), **{**same, "recipient_address": first["recipient_address"]}))
    last = setup.record(_body(today - timedelta(days=100), **{**same, "recipient_address": first["recipient_address"]}))
    other = setup.record(_body(today - timedelta(days=150)))
    summarized = setup.accounting(summarize="true")
    assert summarized["summarized"] is True and summarized["entry_count"] == 2
    assert summarized["entries"] == [_entry(first, count=3, last=last["disclosed_on"]), _entry(other)]
    assert setup.accounting()["entry_count"] == 4


def test_pdf_accounting(setup: Setup) -> None:
    today = _today()
    shown = setup.record(_body(today - timedelta(days=30), recipient_name="Riverside Coroner (Dept. B)"))
    hidden = setup.record(_body(today - timedelta(days=20), excluded_category="treatment", purpose_code="other"))
    r = setup.officer.get(f"{_disclosures('alpha', setup.patient_id)}/accounting", params={"format": "pdf"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    disposition = r.headers["content-disposition"]
    assert disposition == f'attachment; filename="accounting-of-disclosures-{today.isoformat()}.pdf"'
    assert r.headers["cache-control"] == "no-store"
    pdf = r.content
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    shown_text = _pdf_text(pdf)
    assert "Riverside Coroner (Dept. B)" in shown_text
    assert shown["description"] in shown_text and shown["purpose"] in shown_text
    assert shown["disclosed_on"] in shown_text
    assert str(setup.patient_id) in shown_text and "Alpha" in shown_text
    assert f"{window_start(today).isoformat()} to {today.isoformat()}" in shown_text
    assert hidden["recipient_name"] not in shown_text
    # Document properties carry no patient data.
    assert b"/Title (Accounting of disclosures)" in pdf
    info = pdf[pdf.find(b"/Title") - 200 : pdf.find(b"/Title") + 200]
    assert b"Okonkwo" not in info and str(setup.patient_id).encode() not in info
    empty = Setup(setup.world, "bravo")
    r = empty.officer.get(f"{_disclosures('bravo', empty.patient_id)}/accounting", params={"format": "pdf"})
    assert "No disclosures subject to accounting" in _pdf_text(r.content)


@pytest.mark.parametrize(
    ("role", "can_record", "can_read"),
    [
        ("front_desk", True, False),
        ("biller", True, False),
        ("billing_manager", True, False),
        ("compliance_officer", True, True),
        ("coder", False, False),
        ("provider", False, False),
        ("auditor", False, False),
        ("security_admin", False, False),
        ("org_admin", False, False),
    ],
)
def test_permissions(setup: Setup, role: str, can_record: bool, can_read: bool) -> None:
    c = setup.world.client(setup.world.member("alpha", role))
    base = _disclosures("alpha", setup.patient_id)
    r = c.post(base, json=_body(_today()))
    assert r.status_code == (201 if can_record else 403), r.text
    assert c.get(base).status_code == (200 if can_read else 403)
    assert c.get(f"{base}/accounting").status_code == (200 if can_read else 403)
    assert c.get(f"{base}/accounting", params={"format": "pdf"}).status_code == (200 if can_read else 403)
    assert c.get(_suspensions("alpha")).status_code == (200 if can_read else 403)


def test_unknown_and_other_tenant_patients_are_not_found(setup: Setup, world: World) -> None:
    setup.record(_body(_today()))
    bravo_member = world.member("bravo", "compliance_officer", "biller")
    bravo = world.client(bravo_member)
    cases = [
        (bravo, _disclosures("bravo", setup.patient_id)),  # alpha's patient through bravo's scope
        (bravo, _disclosures("alpha", setup.patient_id)),  # not a member of alpha
        (setup.officer, _disclosures("alpha", uuid.uuid4())),  # no such patient
    ]
    for client, base in cases:
        for r in (
            client.post(base, json=_body(_today())),
            client.get(base),
            client.get(f"{base}/accounting"),
            client.get(f"{base}/accounting", params={"format": "pdf"}),
        ):
            assert r.status_code == 404, r.text
            assert "County Health" not in r.text
    assert bravo.get(_suspensions("bravo")).json() == []
    assert len(setup.officer.get(_disclosures("alpha", setup.patient_id)).json()) == 1


def test_validation_errors_do_not_echo(setup: Setup) -> None:
    base = _disclosures("alpha", setup.patient_id)
    cases = [
        {**_body(_today()), "disclosed_on": "ZZmarker-date"},
        {**_body(_today()), "disclosed_on": "2999-01-01"},
        _body(_today(), purpose_code="ZZmarker-code"),
        _body(_today(), excluded_category="ZZmarker-cat"),
        _body(_today(), recipient_name="   "),
        _body(_today(), description="ZZmarker" * 300),
        {**_body(_today()), "ZZmarker": "ZZmarker-extra"},
    ]
    for body in cases:
        r = setup.biller.post(base, json=body)
        assert r.status_code == 422, r.text
        assert "ZZmarker" not in r.text and "2999" not in without_ids(r.text)
        assert r.json()["error"]["code"] == "validation_failed"
    future = (_today() + timedelta(days=3)).isoformat()
    r = setup.officer.get(f"{base}/accounting", params={"as_of": future})
    assert r.status_code == 422 and future not in r.text
    r = setup.officer.get(f"{base}/accounting", params={"format": "ZZmarker"})
    assert r.status_code == 422 and "ZZmarker" not in r.text
    assert setup.officer.get(base).json() == []


def test_audit_trail_names_patients_never_values(setup: Setup, world: World) -> None:
    body = _body(_today(), recipient_name="ZZaudit Marker Recipient", description="ZZaudit marker description")
    created = setup.record(body)
    assert setup.officer.get(_disclosures("alpha", setup.patient_id)).status_code == 200
    setup.accounting()
    r = setup.officer.get(f"{_disclosures('alpha', setup.patient_id)}/accounting", params={"format": "pdf"})
    assert r.status_code == 200
    refused = world.client(world.member("alpha", "auditor")).get(
        f"{_disclosures('alpha', setup.patient_id)}/accounting"
    )
    assert refused.status_code == 403

    events = [e for e in _audit_events(world, setup.officer_member.org_id) if e.entity_type == "disclosures"]
    actions = [e.action for e in events]
    pid = str(setup.patient_id)
    create = next(e for e in events if e.action == "create")
    assert create.patient_ids == [pid] and create.entity_id == uuid.UUID(created["id"])
    assert "recipient_name" in create.fields and create.actor_id == setup.biller_member.user_id
    disclose = next(e for e in events if e.action == "disclose")
    assert disclose.patient_ids == [pid] and disclose.entity_id == uuid.UUID(created["id"])
    assert disclose.detail == {"purpose_code": "public_health", "excluded_category": None}
    assert disclose.permission == "disclosure:record" and disclose.request_id
    exports = [e for e in events if e.action == "export"]
    assert len(exports) == 2 and all(e.patient_ids == [pid] for e in exports)
    accountings = [e for e in events if e.action == "accounting"]
    assert sorted(e.detail["format"] for e in accountings) == ["json", "pdf"]
    assert all(e.patient_ids == [pid] and e.actor_id == setup.officer_member.user_id for e in accountings)
    assert "list" in actions
    denied = [e for e in _audit_events(world, setup.officer_member.org_id) if e.outcome == "denied"]
    assert [e.permission for e in denied] == ["disclosure:read"]
    dumped = repr([(e.fields, e.detail, e.reason, e.actor_name, e.entity_type) for e in events])
    for value in ("ZZaudit", body["recipient_address"].split(",")[0], "Communicable", "Okonkwo"):
        assert value not in dumped


def test_values_are_ciphertext_at_rest(setup: Setup, world: World) -> None:
    marker = "ZZrest Marker Clinic"
    created = setup.record(_body(date(2021, 7, 4), recipient_name=marker, description=f"{marker} notes"))
    with world.runtime.db.session(tenant_id=setup.officer_member.org_id) as s:
        row = s.execute(
            text("SELECT disclosed_on, recipient_name, description, purpose_code FROM disclosures WHERE id = :id"),
            {"id": uuid.UUID(created["id"]) if s.bind.dialect.name == "postgresql" else uuid.UUID(created["id"]).hex},
        ).one()
    assert row.purpose_code == "public_health"
    for raw in (row.disclosed_on, row.recipient_name, row.description):
        assert isinstance(raw, bytes) and b"ZZrest" not in raw and b"2021-07-04" not in raw


def test_no_values_in_logs(setup: Setup) -> None:
    marker = "ZZlogmarker"
    with captured_logs() as logs:
        created = setup.record(_body(_today(), recipient_name=f"{marker} Agency", purpose=f"{marker} purpose"))
        setup.officer.get(_disclosures("alpha", setup.patient_id))
        setup.accounting()
        setup.officer.get(f"{_disclosures('alpha', setup.patient_id)}/accounting", params={"format": "pdf"})
        setup.biller.post(_disclosures("alpha", setup.patient_id), json=_body(_today(), purpose_code=marker))
    output = logs.getvalue()
    assert output, "the capture saw no log lines at all"
    assert marker not in output and created["recipient_address"] not in output
