"""Relationship rules: providers reach only assigned patients, partner billers only client practices under an
active service agreement; both as policy functions and end to end through the API and the PHI gate."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Uuid, literal, select, update

from claimvault.accounts.models import AuthSession
from claimvault.accounts.services import create_organization
from claimvault.accounts.sessions import token_hash
from claimvault.billing.patients.models import Patient
from claimvault.errors import PermissionDenied
from claimvault.security import break_glass
from claimvault.security.authorization import relationships
from claimvault.security.authorization.models import CareAssignment, ServiceAgreement
from claimvault.security.authorization.scope import patient_scope
from claimvault.security.break_glass import service as break_glass_service
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission
from tests.conftest import World

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
P1 = {"given_name": "Wilhelmina", "family_name": "Ashcombe", "birth_date": "1950-02-03"}
P2 = {"given_name": "Barnaby", "family_name": "Thistlewood", "birth_date": "1972-08-19"}


def billing_company(world: World, slug: str) -> uuid.UUID:
    """A billing company known to ``world`` (its orgs are practices by default)."""
    if slug not in world._orgs:
        org = create_organization(
            db=world.runtime.db, keys=world.runtime.keys, ctx=None, slug=slug, name=slug.title(), kind="billing_company"
        )
        world._orgs[slug] = org.id
    return world._orgs[slug]


def reauthenticate_for_test(world: World, c: TestClient) -> None:
    """Mark the client's session as having just confirmed password and second factor (sensitive actions)."""
    settings = world.runtime.settings
    token = c.cookies.get(settings.session_cookie_name)
    assert token
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.token_hash == token_hash(settings, token))
            .values(reauthenticated_at=datetime.now(UTC))
        )


def patients(slug: str) -> str:
    return f"/api/v1/orgs/{slug}/patients"


def agree(world: World, client_slug: str, partner_slug: str) -> dict[str, Any]:
    """An active agreement made through the API by the practice's org_admin."""
    billing_company(world, partner_slug)
    admin = world.client(world.member(client_slug, "org_admin"))
    r = admin.post(f"/api/v1/orgs/{client_slug}/service-agreements", json={"partner_organization": partner_slug})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# Policy functions -------------------------------------------------------------------------------------------------
def test_care_assignment_window() -> None:
    hour = timedelta(hours=1)
    assert relationships.care_assignment_active(starts_at=NOW - hour, ends_at=None, now=NOW)
    assert relationships.care_assignment_active(starts_at=NOW, ends_at=NOW + hour, now=NOW)
    assert not relationships.care_assignment_active(starts_at=NOW + hour, ends_at=None, now=NOW)
    assert not relationships.care_assignment_active(starts_at=NOW - 2 * hour, ends_at=NOW, now=NOW)
    naive = (NOW - hour).replace(tzinfo=None)  # as SQLite returns it
    assert relationships.care_assignment_active(starts_at=naive, ends_at=None, now=NOW)


def test_agreement_needs_active_status_and_dates() -> None:
    hour = timedelta(hours=1)
    assert relationships.agreement_active(status="active", starts_at=NOW - hour, ends_at=None, now=NOW)
    for status in ("suspended", "ended"):
        assert not relationships.agreement_active(status=status, starts_at=NOW - hour, ends_at=None, now=NOW)
    assert not relationships.agreement_active(status="active", starts_at=NOW + hour, ends_at=None, now=NOW)
    assert not relationships.agreement_active(status="active", starts_at=NOW - hour, ends_at=NOW - 1 * hour, now=NOW)


# Providers --------------------------------------------------------------------------------------------------------
@pytest.fixture
def clinic(world: World) -> dict[str, Any]:
    staff = world.client(world.member("alpha", "biller"))
    p1 = staff.post(patients("alpha"), json=P1).json()["id"]
    p2 = staff.post(patients("alpha"), json=P2).json()["id"]
    provider = world.member("alpha", "provider")
    admin = world.client(world.member("alpha", "org_admin"))
    r = admin.post(
        "/api/v1/orgs/alpha/care-assignments", json={"provider_user_id": str(provider.user_id), "patient_id": p1}
    )
    assert r.status_code == 201, r.text
    assert r.json()["active"] is True
    return {
        "p1": p1,
        "p2": p2,
        "provider": provider,
        "pc": world.client(provider),
        "admin": admin,
        "assignment": r.json()["id"],
    }


def _ids(response: Any) -> list[str]:
    data = response.json()
    return [p["id"] for p in (data["items"] if isinstance(data, dict) else data)]


def test_provider_reaches_assigned_patients_only(world: World, clinic: dict[str, Any]) -> None:
    pc: TestClient = clinic["pc"]
    assert pc.get(f"{patients('alpha')}/{clinic['p1']}").status_code == 200
    hidden = pc.get(f"{patients('alpha')}/{clinic['p2']}")
    assert hidden.status_code == 404  # not 403: existence is not revealed
    assert hidden.json()["error"]["code"] == "not_found" and "Thistlewood" not in hidden.text
    assert _ids(pc.get(patients("alpha"))) == [clinic["p1"]]
    search = pc.post(f"{patients('alpha')}/search", json={"family_name": "Thistlewood", "birth_date": "1972-08-19"})
    assert search.status_code == 200 and search.json() == []
    found = pc.post(f"{patients('alpha')}/search", json={"family_name": "Ashcombe", "birth_date": "1950-02-03"})
    assert _ids(found) == [clinic["p1"]]
    # The refusal is on record, with the reason.
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        denied = list(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.outcome == "denied", AuditEvent.organization_id == world.org("alpha")
                )
            )
        )
    assert [(e.reason, str(e.entity_id)) for e in denied] == [("no_care_relationship", clinic["p2"])]


def test_provider_holds_no_write_permission(clinic: dict[str, Any]) -> None:
    pc: TestClient = clinic["pc"]
    assert pc.post(patients("alpha"), json=P2).status_code == 403
    assert pc.patch(f"{patients('alpha')}/{clinic['p1']}", json={"given_name": "X"}).status_code == 403


def _set_window(world: World, assignment_id: str, starts_at: datetime, ends_at: datetime | None) -> None:
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        s.execute(
            update(CareAssignment)
            .where(CareAssignment.id == uuid.UUID(assignment_id))
            .values(starts_at=starts_at, ends_at=ends_at)
        )


def test_expired_or_future_assignment_is_refused(world: World, clinic: dict[str, Any]) -> None:
    pc: TestClient = clinic["pc"]
    now = datetime.now(UTC)
    _set_window(world, clinic["assignment"], now - timedelta(days=30), now - timedelta(days=1))
    assert pc.get(f"{patients('alpha')}/{clinic['p1']}").status_code == 404
    assert _ids(pc.get(patients("alpha"))) == []
    _set_window(world, clinic["assignment"], now + timedelta(days=1), None)
    assert pc.get(f"{patients('alpha')}/{clinic['p1']}").status_code == 404
    _set_window(world, clinic["assignment"], now - timedelta(days=1), now + timedelta(days=1))
    assert pc.get(f"{patients('alpha')}/{clinic['p1']}").status_code == 200


def test_ending_an_assignment_through_the_api(world: World, clinic: dict[str, Any]) -> None:
    admin: TestClient = clinic["admin"]
    r = admin.delete(f"/api/v1/orgs/alpha/care-assignments/{clinic['assignment']}")
    assert r.status_code == 204
    assert clinic["pc"].get(f"{patients('alpha')}/{clinic['p1']}").status_code == 404
    listed = admin.get("/api/v1/orgs/alpha/care-assignments", params={"patient_id": clinic["p1"]}).json()
    assert [(a["id"], a["active"]) for a in listed] == [(clinic["assignment"], False)]
    assert admin.get("/api/v1/orgs/alpha/care-assignments", params={"active": True}).json() == []
    assert admin.delete(f"/api/v1/orgs/alpha/care-assignments/{uuid.uuid4()}").status_code == 404
    with world.runtime.db.session(tenant_id=world.org("alpha")) as s:
        found = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity_type == "care_assignments", AuditEvent.organization_id == world.org("alpha")
            )
        )
        events = {e.action: e for e in found}
    assert set(events) == {"care_assignment.create", "care_assignment.end"}
    assert events["care_assignment.create"].patient_ids == [clinic["p1"]]


def test_break_glass_grants_count(monkeypatch: pytest.MonkeyPatch, world: World, clinic: dict[str, Any]) -> None:
    seen: list[tuple[uuid.UUID, uuid.UUID]] = []

    def grants(session: Any, *, user_id: uuid.UUID, organization_id: uuid.UUID) -> set[uuid.UUID]:
        seen.append((user_id, organization_id))
        return {uuid.UUID(clinic["p2"])}

    monkeypatch.setattr(break_glass_service, "active_grant_patient_ids", grants)
    pc: TestClient = clinic["pc"]
    assert pc.get(f"{patients('alpha')}/{clinic['p2']}").status_code == 200
    assert sorted(_ids(pc.get(patients("alpha")))) == sorted([clinic["p1"], clinic["p2"]])
    assert seen[0] == (clinic["provider"].user_id, world.org("alpha"))


def test_provider_breaking_the_glass_reaches_that_patient(world: World, clinic: dict[str, Any]) -> None:
    pc: TestClient = clinic["pc"]
    reauthenticate_for_test(world, pc)
    assert pc.get(f"{patients('alpha')}/{clinic['p2']}").status_code == 404
    body = {
        "patient_id": clinic["p2"],
        "reason_code": "emergency_care",
        "justification": "Unconscious on arrival, no chart.",
    }
    r = pc.post("/api/v1/orgs/alpha/break-glass", json=body)
    assert r.status_code == 201, r.text
    assert pc.get(f"{patients('alpha')}/{clinic['p2']}").json()["family_name"] == "Thistlewood"
    assert sorted(_ids(pc.get(patients("alpha")))) == sorted([clinic["p1"], clinic["p2"]])


def test_break_glass_hook_absent_means_no_grants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(break_glass_service, "active_grant_patient_ids")
    monkeypatch.delattr(break_glass, "active_grant_patient_ids", raising=False)
    assert relationships.break_glass_patients(None, user_id=uuid.uuid4(), organization_id=uuid.uuid4()) == set()  # type: ignore[arg-type]


def test_registered_relationship_sources_count(
    monkeypatch: pytest.MonkeyPatch, world: World, clinic: dict[str, Any]
) -> None:
    """The hook the billing work uses for encounters."""
    monkeypatch.setattr(relationships, "_PATIENT_SOURCES", list(relationships._PATIENT_SOURCES))

    def encounters(provider_user_id: uuid.UUID, organization_id: uuid.UUID, now: datetime) -> Any:
        # A stand-in for "patients with an encounter of this provider": the second patient.
        return select(literal(uuid.UUID(clinic["p2"]), type_=Uuid()))

    relationships.register_patient_relationship_source(encounters)
    assert clinic["pc"].get(f"{patients('alpha')}/{clinic['p2']}").status_code == 200


def test_care_assignment_validation(world: World, clinic: dict[str, Any]) -> None:
    admin: TestClient = clinic["admin"]
    coder = world.member("alpha", "coder")
    base = "/api/v1/orgs/alpha/care-assignments"
    not_provider = admin.post(base, json={"provider_user_id": str(coder.user_id), "patient_id": clinic["p2"]})
    assert not_provider.status_code == 422
    other = world.client(world.member("bravo", "biller")).post(patients("bravo"), json=P2).json()["id"]
    foreign = admin.post(base, json={"provider_user_id": str(clinic["provider"].user_id), "patient_id": other})
    assert foreign.status_code == 404
    backwards = admin.post(
        base,
        json={
            "provider_user_id": str(clinic["provider"].user_id),
            "patient_id": clinic["p2"],
            "starts_at": "2030-01-02T00:00:00Z",
            "ends_at": "2030-01-01T00:00:00Z",
        },
    )
    assert backwards.status_code == 422
    assert world.client(coder).get(base).status_code == 403


# Partner billers --------------------------------------------------------------------------------------------------
@pytest.fixture
def partner(world: World) -> dict[str, Any]:
    staff = world.client(world.member("alpha", "biller"))
    p1 = staff.post(patients("alpha"), json=P1).json()["id"]
    agreement = agree(world, "alpha", "acme-billing")
    member = world.member("acme-billing", "partner_biller")
    return {"p1": p1, "agreement": agreement, "member": member, "pc": world.client(member)}


def _set_agreement(world: World, agreement_id: str, **values: Any) -> None:
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(update(ServiceAgreement).where(ServiceAgreement.id == uuid.UUID(agreement_id)).values(**values))


def test_partner_under_active_agreement_reaches_client_patients(world: World, partner: dict[str, Any]) -> None:
    pc: TestClient = partner["pc"]
    assert pc.get("/api/v1/orgs/alpha").json()["your_roles"] == ["partner_biller"]
    assert pc.get(f"{patients('alpha')}/{partner['p1']}").json()["family_name"] == "Ashcombe"
    assert _ids(pc.get(patients("alpha"))) == [partner["p1"]]
    created = pc.post(patients("alpha"), json=P2)
    assert created.status_code == 201
    assert pc.get("/api/v1/orgs/alpha/care-assignments").status_code == 403  # only what partner_biller grants
    membership = relationships.partner_membership(
        db=world.runtime.db, user_id=partner["member"].user_id, org_slug="alpha"
    )
    assert membership is not None
    assert membership.organization.slug == "alpha" and membership.roles == {"partner_biller"}
    assert (
        relationships.partner_membership(db=world.runtime.db, user_id=partner["member"].user_id, org_slug="nope")
        is None
    )


@pytest.mark.parametrize(
    "change",
    [
        {"status": "suspended"},
        {"status": "ended"},
        {"starts_at": datetime.now(UTC) + timedelta(days=3)},
        {"ends_at": datetime.now(UTC) - timedelta(days=1), "starts_at": datetime.now(UTC) - timedelta(days=9)},
    ],
    ids=["suspended", "ended", "not-yet-started", "past-end-date"],
)
def test_partner_refused_without_an_active_agreement(
    world: World, partner: dict[str, Any], change: dict[str, Any]
) -> None:
    _set_agreement(world, partner["agreement"]["id"], **change)
    pc: TestClient = partner["pc"]
    for response in (
        pc.get(f"{patients('alpha')}/{partner['p1']}"),
        pc.get(patients("alpha")),
        pc.get("/api/v1/orgs/alpha"),
    ):
        assert response.status_code == 404 and "Ashcombe" not in response.text


def test_partner_reaches_only_practices_it_has_an_agreement_with(world: World, partner: dict[str, Any]) -> None:
    world.client(world.member("bravo", "biller")).post(patients("bravo"), json=P2)
    pc: TestClient = partner["pc"]
    assert pc.get(patients("bravo")).status_code == 404
    # Staff of another billing company, without an agreement, reach neither practice.
    billing_company(world, "other-billing")
    stranger = world.client(world.member("other-billing", "partner_biller"))
    assert stranger.get(patients("alpha")).status_code == 404
    assert stranger.get(f"{patients('alpha')}/{partner['p1']}").status_code == 404
    # Another role of the billing company does not ride on the agreement.
    assert world.client(world.member("acme-billing", "biller")).get(patients("alpha")).status_code == 404


def test_partner_biller_as_a_direct_member_reaches_no_patient(world: World, partner: dict[str, Any]) -> None:
    """The role's patient permissions hold only under an agreement, never through a plain membership."""
    direct = world.client(world.member("alpha", "partner_biller"))
    assert direct.get(patients("alpha")).json()["items"] == []
    assert direct.get(f"{patients('alpha')}/{partner['p1']}").status_code == 404
    assert direct.post(patients("alpha"), json=P2).status_code == 403


def test_agreement_lifecycle_through_the_api(world: World, partner: dict[str, Any]) -> None:
    admin = world.client(world.member("alpha", "org_admin"))
    base = "/api/v1/orgs/alpha/service-agreements"
    agreement_id = partner["agreement"]["id"]
    assert admin.post(base, json={"partner_organization": "acme-billing"}).status_code == 409  # already in place
    assert admin.post(base, json={"partner_organization": "bravo"}).status_code == 422  # not a billing company
    assert admin.post(base, json={"partner_organization": "nowhere"}).status_code == 422  # same answer
    suspended = admin.patch(f"{base}/{agreement_id}", json={"status": "suspended"})
    assert suspended.status_code == 200 and suspended.json()["active"] is False
    assert partner["pc"].get(patients("alpha")).status_code == 404
    assert admin.patch(f"{base}/{agreement_id}", json={"status": "active"}).json()["active"] is True
    assert partner["pc"].get(patients("alpha")).status_code == 200
    ended = admin.patch(f"{base}/{agreement_id}", json={"status": "ended"})
    assert ended.json()["status"] == "ended" and ended.json()["ends_at"] is not None
    assert admin.patch(f"{base}/{agreement_id}", json={"status": "active"}).status_code == 409  # final
    assert partner["pc"].get(patients("alpha")).status_code == 404
    # The billing company's administrator sees the agreement but cannot change it; other practices cannot either.
    partner_admin = world.client(world.member("acme-billing", "org_admin"))
    seen = partner_admin.get("/api/v1/orgs/acme-billing/service-agreements").json()
    assert [(a["client_organization"], a["partner_organization"]) for a in seen] == [("alpha", "acme-billing")]
    assert (
        partner_admin.patch(
            f"/api/v1/orgs/acme-billing/service-agreements/{agreement_id}", json={"status": "active"}
        ).status_code
        == 404
    )
    bravo_admin = world.client(world.member("bravo", "org_admin"))
    assert bravo_admin.get("/api/v1/orgs/bravo/service-agreements").json() == []
    assert (
        bravo_admin.patch(f"/api/v1/orgs/bravo/service-agreements/{agreement_id}", json={"status": "ended"}).status_code
        == 404
    )
    # Both organizations' trails hold every change.
    for slug in ("alpha", "acme-billing"):
        with world.runtime.db.session(tenant_id=world.org(slug)) as s:
            actions = [
                e.action
                for e in s.scalars(
                    select(AuditEvent)
                    .where(
                        AuditEvent.entity_type == "service_agreements", AuditEvent.organization_id == world.org(slug)
                    )
                    .order_by(AuditEvent.recorded_at, AuditEvent.id)
                )
            ]
        assert actions == [
            "service_agreement.create",
            "service_agreement.suspended",
            "service_agreement.active",
            "service_agreement.ended",
        ], slug


def test_only_agreement_managers_of_the_client_create_agreements(world: World, partner: dict[str, Any]) -> None:
    billing_company(world, "new-billing")
    for role in ("biller", "billing_manager", "security_admin", "front_desk"):
        c = world.client(world.member("alpha", role))
        r = c.post("/api/v1/orgs/alpha/service-agreements", json={"partner_organization": "new-billing"})
        assert r.status_code == 403, role
    assert partner["pc"].get("/api/v1/orgs/alpha/service-agreements").status_code == 403


def test_scope_is_sql_on_both_backends(world: World, clinic: dict[str, Any]) -> None:
    """The provider's scope as the gate evaluates it for a row it is about to write (a literal patient id)."""
    provider = clinic["provider"]
    ctx = UserContext(user_id=provider.user_id, organization_id=provider.org_id, roles=frozenset({"provider"}))
    with world.runtime.db.session(tenant_id=provider.org_id) as s:
        scope = patient_scope(s, ctx, Permission.PATIENT_READ)
        assert not scope.unrestricted and scope.reason == "no_care_relationship"

        def reaches(pid: str) -> bool:
            return bool(s.scalar(select(scope.criterion(literal(uuid.UUID(pid), type_=Uuid())))))

        assert reaches(clinic["p1"]) and not reaches(clinic["p2"])
        # Permissions that are not about patient data are not limited (break-the-glass itself, for one).
        assert patient_scope(s, ctx, Permission.BREAK_GLASS).unrestricted
        biller_ctx = UserContext(user_id=provider.user_id, organization_id=provider.org_id, roles=frozenset({"biller"}))
        assert patient_scope(s, biller_ctx, Permission.PATIENT_READ).unrestricted


def test_relationship_limited_context_registers_no_patient(world: World, clinic: dict[str, Any]) -> None:
    """Even a limited role that held patient:create could not add a patient with no relationship."""
    provider = clinic["provider"]
    ctx = UserContext(user_id=provider.user_id, organization_id=provider.org_id, roles=frozenset({"partner_biller"}))
    runtime = world.runtime
    with pytest.raises(PermissionDenied), open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        gate.create(
            Patient,
            {"given_name": "A", "family_name": "B", "birth_date": date(1970, 1, 1)},
            permission=Permission.PATIENT_CREATE,
        )
    with runtime.db.session(tenant_id=provider.org_id) as s:
        reasons = [
            e.reason
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.outcome == "denied", AuditEvent.organization_id == provider.org_id)
            )
        ]
    assert reasons == ["no_service_agreement"]
