"""The two-person rule: thresholds, requests holding ids and codes only, a decider who always differs from the
requester and holds the right role, executors run only on approval, MFA resets requested by one administrator and
approved by another, and every refusal audited. Runs on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from claimvault.accounts.models import AuthSession
from claimvault.accounts.sessions import now_utc
from claimvault.errors import ClaimVaultError, Conflict, PermissionDenied, ValidationFailed
from claimvault.security.approvals import service
from claimvault.security.approvals.models import ApprovalRequest
from claimvault.security.approvals.service import (
    Execution,
    decide_request,
    needs_approval,
    register_executor,
    request_approval,
)
from claimvault.security.context import SystemContext, UserContext
from claimvault.security.models import AuditEvent
from claimvault.security.permissions import Permission, Role
from tests.conftest import Member, World

ALL_ROLES = frozenset(r.value for r in Role)
APPROVALS = "/api/v1/orgs/alpha/approvals"


def ctx_of(member: Member, *roles: str) -> UserContext:
    return UserContext(user_id=member.user_id, organization_id=member.org_id, roles=frozenset(roles))


def _request(world: World, ctx: UserContext | SystemContext, **kw: Any) -> ApprovalRequest:
    args: dict[str, Any] = {
        "kind": "write_off",
        "amount": Decimal("250.00"),
        "subject_type": "claims",
        "subject_id": uuid.uuid4(),
        "payload": {"reason": "small_balance", "claim_id": str(uuid.uuid4())},
    }
    args.update(kw)
    with world.runtime.db.session(tenant_id=ctx.organization_id) as s:
        return request_approval(s, ctx=ctx, **args)


def _stored(world: World, org_id: uuid.UUID, request_id: uuid.UUID) -> ApprovalRequest:
    with world.runtime.db.session(tenant_id=org_id) as s:
        row = s.scalar(select(ApprovalRequest).where(ApprovalRequest.id == request_id))
    assert row is not None
    return row


@pytest.fixture
def executed() -> Iterator[list[Execution]]:
    """A recording executor for write-offs (the billing issue registers the real one)."""
    calls: list[Execution] = []
    previous = service.executor_for("write_off")
    register_executor("write_off", calls.append)
    yield calls
    if previous is None:
        service._EXECUTORS.pop("write_off", None)
    else:
        register_executor("write_off", previous)


# Rules --------------------------------------------------------------------------------------------------------
def test_needs_approval_thresholds() -> None:
    assert needs_approval(kind="write_off", amount=Decimal("100.00"))
    assert needs_approval(kind="refund", amount=Decimal("100.01"))
    assert not needs_approval(kind="adjustment", amount=Decimal("99.99"))
    assert not needs_approval(kind="write_off", amount=Decimal("250.00"), threshold=Decimal("500.00"))
    assert needs_approval(kind="write_off", amount=Decimal("25.00"), threshold=Decimal("20.00"))
    assert needs_approval(kind="mfa_reset") and needs_approval(kind="user_reactivation")
    for bad in (100.0, Decimal("1.234"), Decimal("-5.00"), Decimal("NaN"), None, True):
        with pytest.raises(ValidationFailed):
            needs_approval(kind="refund", amount=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        needs_approval(kind="transfer", amount=Decimal("1.00"))


def test_request_stores_decimal_amount_and_codes_only(world: World) -> None:
    requester = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"), amount=Decimal("250.5"))
    stored = _stored(world, requester.org_id, row.id)
    assert stored.amount == Decimal("250.50") and isinstance(stored.amount, Decimal)
    assert stored.status == "pending" and stored.currency == "USD" and stored.requested_by == requester.user_id
    for payload in ({"note": "Patient said she cannot pay"}, {"nested": {"a": 1}}, {"bad key": "x"}, {"f": 1.5}):
        with pytest.raises(ValidationFailed):
            _request(world, ctx_of(requester, "billing_manager"), payload=payload)
    with pytest.raises(ValidationFailed):
        _request(world, ctx_of(requester, "billing_manager"), amount=None)
    with pytest.raises(Conflict):
        _request(world, ctx_of(requester, "billing_manager"), subject_id=stored.subject_id)


# Decisions ----------------------------------------------------------------------------------------------------
def test_requester_cannot_approve_own_request_even_with_every_role(world: World, executed: list[Execution]) -> None:
    requester = world.member("alpha", *ALL_ROLES)
    row = _request(world, ctx_of(requester, *ALL_ROLES))
    with pytest.raises(PermissionDenied) as err:
        decide_request(
            db=world.runtime.db, ctx=ctx_of(requester, *ALL_ROLES), request_id=row.id, approve=True, reason_code="ok"
        )
    assert err.value.code == "approval_same_person"
    assert _stored(world, requester.org_id, row.id).status == "pending" and executed == []
    with world.runtime.db.session(tenant_id=requester.org_id) as s:
        denied = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "approval.decide")))
    assert [(e.outcome, e.reason, e.actor_id) for e in denied] == [
        ("denied", "approval_same_person", requester.user_id)
    ]


@pytest.mark.parametrize(
    "roles",
    [
        ("security_admin",),  # approval:decide, but money needs billing_manager
        ("biller",),  # no approval:decide
        ("org_admin", "compliance_officer"),
    ],
)
def test_wrong_role_cannot_decide_money(world: World, executed: list[Execution], roles: tuple[str, ...]) -> None:
    requester = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"))
    decider = world.member("alpha", *roles)
    with pytest.raises(PermissionDenied):
        decide_request(
            db=world.runtime.db, ctx=ctx_of(decider, *roles), request_id=row.id, approve=True, reason_code="ok"
        )
    assert _stored(world, requester.org_id, row.id).status == "pending" and executed == []


def test_a_different_billing_manager_approves_and_the_executor_runs(world: World, executed: list[Execution]) -> None:
    requester = world.member("alpha", "billing_manager")
    approver = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"))
    done = decide_request(
        db=world.runtime.db, ctx=ctx_of(approver, "billing_manager"), request_id=row.id, approve=True, reason_code="ok"
    )
    assert done.status == "executed" and done.executed_at is not None and done.decided_by == approver.user_id
    assert [e.request.id for e in executed] == [row.id] and executed[0].ctx.user_id == approver.user_id
    with pytest.raises(Conflict):
        decide_request(
            db=world.runtime.db,
            ctx=ctx_of(approver, "billing_manager"),
            request_id=row.id,
            approve=True,
            reason_code="ok",
        )
    assert len(executed) == 1
    with world.runtime.db.session(tenant_id=requester.org_id) as s:
        actions = {e.action for e in s.scalars(select(AuditEvent).where(AuditEvent.entity_id == row.id))}
    assert {"approval.request", "approval.approve", "approval.execute"} <= actions


def test_rejection_runs_nothing(world: World, executed: list[Execution]) -> None:
    requester = world.member("alpha", "billing_manager")
    approver = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"))
    done = decide_request(
        db=world.runtime.db,
        ctx=ctx_of(approver, "billing_manager"),
        request_id=row.id,
        approve=False,
        reason_code="not_justified",
    )
    assert done.status == "rejected" and done.reason_code == "not_justified" and executed == []


def test_kind_without_executor_stays_approved(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    requester = world.member("alpha", "billing_manager")
    approver = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"), kind="refund")
    monkeypatch.delitem(service._EXECUTORS, "refund")  # runtimes register one; this kind is left without
    assert service.executor_for("refund") is None
    done = decide_request(
        db=world.runtime.db, ctx=ctx_of(approver, "billing_manager"), request_id=row.id, approve=True, reason_code="ok"
    )
    assert done.status == "approved"


def test_a_system_context_never_decides(world: World) -> None:
    requester = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"))
    system = SystemContext(
        command="test", organization_id=requester.org_id, permissions=frozenset({Permission.APPROVAL_DECIDE})
    )
    with pytest.raises(PermissionDenied):
        decide_request(db=world.runtime.db, ctx=system, request_id=row.id, approve=True, reason_code="ok")


def test_requests_of_another_org_are_not_found(world: World) -> None:
    requester = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"))
    outsider = world.member("bravo", "billing_manager")
    with pytest.raises(ClaimVaultError) as err:
        decide_request(
            db=world.runtime.db,
            ctx=ctx_of(outsider, "billing_manager"),
            request_id=row.id,
            approve=True,
            reason_code="ok",
        )
    assert err.value.status_code == 404
    c = world.client(outsider)
    assert c.get("/api/v1/orgs/bravo/approvals").json() == []
    assert (
        c.post(f"/api/v1/orgs/bravo/approvals/{row.id}/decide", json={"approve": True, "reason_code": "ok"}).status_code
        == 404
    )
    assert c.get(APPROVALS).status_code == 404


# API and MFA reset --------------------------------------------------------------------------------------------
def test_list_pending_approvals(world: World) -> None:
    requester = world.member("alpha", "billing_manager")
    pending = _request(world, ctx_of(requester, "billing_manager"))
    other = _request(world, ctx_of(requester, "billing_manager"))
    decide_request(
        db=world.runtime.db,
        ctx=ctx_of(world.member("alpha", "billing_manager"), "billing_manager"),
        request_id=other.id,
        approve=False,
        reason_code="no",
    )
    c = world.client(world.member("alpha", "security_admin"))
    r = c.get(APPROVALS, params={"status": "pending"})
    assert r.status_code == 200
    assert [(a["id"], a["amount"], a["kind"]) for a in r.json()] == [(str(pending.id), "250.00", "write_off")]
    assert len(c.get(APPROVALS).json()) == 2
    assert c.get(APPROVALS, params={"status": "bogus"}).status_code == 422
    assert world.client(world.member("alpha", "biller")).get(APPROVALS).status_code == 403


def test_api_creates_only_account_kinds(world: World) -> None:
    admin = world.client(world.member("alpha", "security_admin"))
    target = world.member("alpha", "biller")
    body = {"kind": "write_off", "subject_id": str(target.user_id)}
    assert admin.post(APPROVALS, json=body).status_code == 422
    assert (
        world.client(world.member("alpha", "billing_manager"))
        .post(APPROVALS, json={"kind": "mfa_reset", "subject_id": str(target.user_id)})
        .status_code
        == 403
    )  # creating account requests needs user:manage
    outsider = world.member("bravo", "biller")
    assert admin.post(APPROVALS, json={"kind": "mfa_reset", "subject_id": str(outsider.user_id)}).status_code == 404


def test_mfa_reset_requested_by_one_admin_approved_by_another(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import claimvault.security.mfa.service as mfa

    resets: list[uuid.UUID] = []
    monkeypatch.setattr(
        mfa, "apply_mfa_reset", lambda *, db, target_user_id: resets.append(target_user_id), raising=False
    )
    first = world.member("alpha", "security_admin")
    second = world.member("alpha", "security_admin")
    target = world.member("alpha", "biller")
    target_client = world.client(target)
    c1 = world.client(first)
    r = c1.post(f"/api/v1/orgs/alpha/users/{target.user_id}/mfa-reset")
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    assert r.json()["kind"] == "mfa_reset" and r.json()["subject_id"] == str(target.user_id)
    assert c1.post(f"/api/v1/orgs/alpha/users/{target.user_id}/mfa-reset").status_code == 409  # one pending at once

    decide = f"{APPROVALS}/{request_id}/decide"
    assert c1.post(decide, json={"approve": True, "reason_code": "lost_device"}).status_code == 403
    assert resets == []
    done = world.client(second).post(decide, json={"approve": True, "reason_code": "lost_device"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "executed" and resets == [target.user_id]
    assert target_client.get("/api/v1/auth/me").status_code == 401  # sessions ended with the reset


def test_subject_cannot_approve_a_request_about_themselves(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import claimvault.security.mfa.service as mfa

    monkeypatch.setattr(mfa, "apply_mfa_reset", lambda *, db, target_user_id: None, raising=False)
    requester = world.member("alpha", "security_admin")
    subject = world.member("alpha", "security_admin")
    r = world.client(requester).post(f"/api/v1/orgs/alpha/users/{subject.user_id}/mfa-reset")
    decided = world.client(subject).post(
        f"{APPROVALS}/{r.json()['id']}/decide", json={"approve": True, "reason_code": "x"}
    )
    assert decided.status_code == 403 and decided.json()["error"]["code"] == "approval_same_person"


def test_mfa_reset_without_the_mfa_service_stays_approved(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import claimvault.security.mfa.service as mfa

    monkeypatch.delattr(mfa, "apply_mfa_reset", raising=False)
    target = world.member("alpha", "biller")
    r = world.client(world.member("alpha", "security_admin")).post(
        f"/api/v1/orgs/alpha/users/{target.user_id}/mfa-reset"
    )
    decided = world.client(world.member("alpha", "security_admin")).post(
        f"{APPROVALS}/{r.json()['id']}/decide", json={"approve": True, "reason_code": "lost_device"}
    )
    assert decided.status_code == 503 and decided.json()["error"]["code"] == "mfa_reset_unavailable"
    assert _stored(world, world.org("alpha"), uuid.UUID(r.json()["id"])).status == "approved"


def test_mfa_reset_request_needs_user_manage_and_reauth(world: World) -> None:
    target = world.member("alpha", "biller")
    path = f"/api/v1/orgs/alpha/users/{target.user_id}/mfa-reset"
    assert world.client(world.member("alpha", "org_admin")).post(path).status_code == 403
    admin = world.member("alpha", "security_admin")
    c = world.client(admin)
    with world.runtime.db.session(tenant_id=None) as s:
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == admin.user_id)
            .values(reauthenticated_at=now_utc() - timedelta(minutes=6))
        )
    assert c.post(path).json()["error"]["code"] == "reauthentication_required"
    with world.runtime.db.session(tenant_id=target.org_id) as s:
        assert list(s.scalars(select(ApprovalRequest))) == []


def test_decision_body_is_validated(world: World) -> None:
    requester = world.member("alpha", "billing_manager")
    row = _request(world, ctx_of(requester, "billing_manager"))
    c = world.client(world.member("alpha", "billing_manager"))
    decide = f"{APPROVALS}/{row.id}/decide"
    assert c.post(decide, json={"approve": True, "reason_code": "free text with spaces"}).status_code == 422
    assert c.post(decide, json={"approve": True}).status_code == 422
    assert c.post(decide, json={"approve": True, "reason_code": "ok", "extra": 1}).status_code == 422
    assert _stored(world, requester.org_id, row.id).status == "pending"


def test_the_configured_threshold_applies_when_none_is_passed(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "DEFAULT_THRESHOLD", service.DEFAULT_THRESHOLD)  # restored after the test
    configured = settings.model_copy(update={"approval_threshold": Decimal("50.00")})
    service.configure_threshold(configured.approval_threshold)  # what build_runtime does with the setting
    assert needs_approval(kind="write_off", amount=Decimal("60.00"))
    assert not needs_approval(kind="write_off", amount=Decimal("49.99"))
    assert needs_approval(kind="write_off", amount=Decimal("49.99"), threshold=Decimal("10.00"))
