"""The pycasbin engine (RBAC with domains): grants read from the policy file, domains keep organizations apart,
no role is all-powerful and administration never reaches protected data."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

from claimvault.security.authorization import engine
from claimvault.security.permissions import (
    ADMINISTRATION_ROLES,
    PROTECTED_DATA_PERMISSIONS,
    Permission,
    Role,
    granted_permissions,
    role_allows,
    roles_allow,
)

ORG_A, ORG_B = uuid.uuid4(), uuid.uuid4()


def test_a_role_in_one_organization_grants_nothing_in_another() -> None:
    user = uuid.uuid4()
    memberships = {ORG_A: {"biller"}}
    assert engine.enforce(user_id=user, org_id=ORG_A, permission=Permission.PATIENT_READ, memberships=memberships)
    assert not engine.enforce(user_id=user, org_id=ORG_B, permission=Permission.PATIENT_READ, memberships=memberships)
    # Roles given for the request's organization count there only.
    assert engine.enforce(user_id=user, org_id=ORG_B, permission=Permission.PATIENT_READ, roles={"biller"})
    assert not engine.enforce(
        user_id=user, org_id=ORG_A, permission=Permission.PATIENT_READ, roles=(), memberships={ORG_B: {"biller"}}
    )


def test_another_users_grouping_grants_nothing() -> None:
    alice, bob = uuid.uuid4(), uuid.uuid4()
    enforcer = engine.build_enforcer([(str(alice), "biller", str(ORG_A))])
    assert enforcer.enforce(str(alice), str(ORG_A), "patient:read")
    assert not enforcer.enforce(str(bob), str(ORG_A), "patient:read")


def test_deny_by_default_and_unknown_roles_grant_nothing() -> None:
    user = uuid.uuid4()
    assert not engine.enforce(user_id=user, org_id=ORG_A, permission=Permission.PATIENT_READ, roles=())
    assert not engine.enforce(user_id=user, org_id=ORG_A, permission=Permission.PATIENT_READ, roles={"superuser"})
    assert not roles_allow(frozenset({"superuser", "*"}), Permission.PATIENT_READ)
    # A role name is not a wildcard domain: "*" as a grouping domain is refused.
    enforcer = engine.build_enforcer([(str(user), "biller", "*")])
    assert not enforcer.enforce(str(user), str(ORG_A), "patient:read")


def test_reserved_characters_cannot_smuggle_rules() -> None:
    with pytest.raises(ValueError):
        engine.build_enforcer([("u1, biller, x\np", "biller", str(ORG_A))])


def test_engine_matches_the_policy_file_line_by_line() -> None:
    rules = set(engine.policy_rules())
    assert rules  # read from role_policy.csv
    for role in Role:
        for permission in Permission:
            assert role_allows(role.value, permission) == ((role.value, permission.value) in rules)


def test_no_role_holds_every_permission() -> None:
    everything = set(Permission)
    for role in Role:
        assert granted_permissions(role.value) != everything, role


def test_administration_roles_hold_no_protected_data_permission() -> None:
    rules = engine.policy_rules()
    for role, permission in rules:
        if role in ADMINISTRATION_ROLES:
            assert permission not in {p.value for p in PROTECTED_DATA_PERMISSIONS}, (role, permission)
    assert {"security_admin", "org_admin"} == ADMINISTRATION_ROLES


def test_auditors_and_compliance_hold_no_patient_permission() -> None:
    # Compliance officers handle disclosures (recording them, and the patient's accounting), nothing else.
    disclosures = {Permission.DISCLOSURE_RECORD, Permission.DISCLOSURE_READ}
    assert not granted_permissions("auditor") & PROTECTED_DATA_PERMISSIONS
    assert granted_permissions("compliance_officer") & PROTECTED_DATA_PERMISSIONS == disclosures


def test_policy_file_with_unknown_names_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeFile:
        def __init__(self, text: str) -> None:
            self.text = text

        def joinpath(self, _: str) -> FakeFile:
            return self

        def read_text(self, _: str) -> str:
            return self.text

    for text in ("p, biller, patient:everything", "p, root, patient:read", "p, biller"):
        monkeypatch.setattr(engine.resources, "files", lambda _pkg, t=text: FakeFile(t))
        engine.policy_rules.cache_clear()
        with pytest.raises(ValueError):
            engine.policy_rules()
    monkeypatch.undo()
    engine.policy_rules.cache_clear()
    assert engine.policy_rules()


def test_per_call_enforcement_is_fast_and_thread_safe() -> None:
    users = [uuid.uuid4() for _ in range(8)]
    started = time.perf_counter()
    for _ in range(100):
        engine.enforce(user_id=users[0], org_id=ORG_A, permission=Permission.PATIENT_LIST, roles={"coder"})
    per_call = (time.perf_counter() - started) / 100
    assert per_call < 0.02  # about half a millisecond here; generous for slow CI machines

    errors: list[str] = []

    def worker(user: uuid.UUID, role: str, expected: bool) -> None:
        for _ in range(30):
            got = engine.enforce(user_id=user, org_id=ORG_A, permission=Permission.PATIENT_UPDATE, roles={role})
            if got != expected:
                errors.append(role)

    threads = [
        threading.Thread(target=worker, args=(u, role, expected))
        for u, (role, expected) in zip(users, [("biller", True), ("coder", False)] * 4, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_decisions_write_nothing_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """pycasbin logs its model, policy and every request at INFO; one enforcer per decision must stay quiet."""
    logging.getLogger("casbin").disabled = False  # as the app's logging setup leaves library loggers
    with caplog.at_level(logging.DEBUG):
        engine.enforce(user_id=uuid.uuid4(), org_id=ORG_A, permission=Permission.PATIENT_READ, roles={"biller"})
        engine.enforce(user_id=uuid.uuid4(), org_id=ORG_A, permission=Permission.KEY_MANAGE, roles={"biller"})
    assert not [r for r in caplog.records if r.name.startswith("casbin")]
