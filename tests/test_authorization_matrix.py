"""The authorization matrix: every route of the app, as a user holding exactly one role, in their own
organization and in another one, against the expectations written in ``the README's permission tables``.

Expectations come from that reviewed document only, never from the policy under test: a wrong grant, a missing
route or an undocumented change fails here. ``allow`` means the request got past authorization (not 401/403, not
the "no such organization" 404); sample inputs are built so that most allowed calls really succeed. ``deny`` means
403. Another organization always answers 404.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from claimvault.accounts.services import create_organization
from claimvault.accounts.sessions import csrf_token, start_session
from claimvault.security.authorization import engine, services
from claimvault.security.context import UserContext
from claimvault.security.permissions import Permission, Role
from tests.conftest import Member, World
from tests.test_relationships import billing_company, reauthenticate_for_test
from tests.test_route_permissions import _route_declaration, all_routes

DOC = Path(__file__).resolve().parents[1] / "README.md"  # its permission tables
ROLES = tuple(r.value for r in Role)
ORG_CELLS = {"allow", "allow*", "deny"}
USER_CELLS = {"any", "public"}
NO_SUCH_ORG = "No such organization."
OWN, OTHER, PARTNER, OTHER_PARTNER = "own", "other", "partner-co", "elsewhere-co"


# The document ---------------------------------------------------------------------------------------------------
def _rows(title: str) -> tuple[list[str], list[list[str]]]:
    """Header and body rows of the first table whose first header cell is ``title``."""
    lines = DOC.read_text("utf-8").splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == title:
            body = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                body.append([c.strip() for c in row.strip().strip("|").split("|")])
            return [c.strip("`") for c in cells], body
    raise AssertionError(f"the README's permission tables has no table starting with {title!r}")


def documented_routes() -> dict[tuple[str, str], dict[str, str]]:
    header, body = _rows("Route")
    assert set(ROLES) <= set(header), "the route table needs one column per role"
    table: dict[tuple[str, str], dict[str, str]] = {}
    for row in body:
        match = re.fullmatch(r"`([A-Z]+) (\S+)`", row[0])
        assert match, f"unreadable route cell {row[0]!r}"
        key = (match.group(1), match.group(2))
        assert key not in table, f"route listed twice: {key}"
        table[key] = {role: row[header.index(role)] for role in ROLES}
    return table


def documented_permissions() -> dict[str, set[str]]:
    header, body = _rows("Permission")
    return {row[0].strip("`"): {r for r in ROLES if row[header.index(r)] == "yes"} for row in body}


def app_routes(app: Any) -> dict[tuple[str, str], APIRoute]:
    found = {}
    for route in all_routes(app):
        if isinstance(route, APIRoute):
            for method in route.methods - {"HEAD"}:
                found[(method, route.path)] = route
    return found


def test_every_route_is_in_the_table_and_nothing_else(app: Any) -> None:
    documented, actual = set(documented_routes()), set(app_routes(app))
    assert not actual - documented, f"add to the README's permission tables: {sorted(actual - documented)}"
    assert not documented - actual, f"routes documented but gone: {sorted(documented - actual)}"


def test_cells_fit_the_kind_of_route(app: Any) -> None:
    routes = app_routes(app)
    for key, cells in documented_routes().items():
        values = set(cells.values())
        if "{org}" in key[1]:
            assert values <= ORG_CELLS, key
        else:
            assert len(values) == 1 and values <= USER_CELLS, key  # per-user routes are the same for every role
            declared = _route_declaration(routes[key]) if key in routes else set()
            assert ("public" in declared) == (values == {"public"}), f"{key}: public in the table and the code"


def test_permission_table_is_the_role_policy() -> None:
    documented = documented_permissions()
    assert set(documented) == {p.value for p in Permission}
    policy: dict[str, set[str]] = {p.value: set() for p in Permission}
    for role, permission in engine.policy_rules():
        policy[permission].add(role)
    assert documented == policy


# The requests -----------------------------------------------------------------------------------------------------
@dataclass
class Env:
    world: World
    patients: dict[str, str] = field(default_factory=dict)
    unassigned: dict[str, str] = field(default_factory=dict)
    providers: dict[str, Member] = field(default_factory=dict)
    admins: dict[str, Member] = field(default_factory=dict)
    agreements: dict[str, str] = field(default_factory=dict)
    setup_clients: dict[str, TestClient] = field(default_factory=dict)
    setup_members: dict[str, Member] = field(default_factory=dict)
    coverages: dict[str, str] = field(default_factory=dict)

    def coverage(self, slug: str) -> str:
        if slug not in self.coverages:
            body = {"rank": "primary", "payer_name": "Matrix Plan", "member_id": "MX1", "effective_from": "2024-01-01"}
            self.coverages[slug] = self.created(slug, "POST", f"/patients/{self.patients[slug]}/coverages", body)
        return self.coverages[slug]

    def admin_ctx(self, slug: str) -> UserContext:
        admin = self.admins[slug]
        return UserContext(user_id=admin.user_id, organization_id=admin.org_id, roles=frozenset({"org_admin"}))

    def fresh_member(self, slug: str) -> str:
        return str(self.world.member(slug, "coder").user_id)

    def fresh_assignment(self, slug: str) -> str:
        view = services.create_care_assignment(
            db=self.world.runtime.db,
            ctx=self.admin_ctx(slug),
            provider_user_id=self.providers[slug].user_id,
            patient_id=uuid.UUID(self.unassigned[slug]),
        )
        return str(view.id)

    def setup(self, slug: str) -> TestClient:
        """A re-authenticated administrator of ``slug`` who creates the entities other routes act on."""
        if slug not in self.setup_clients:
            member = self.world.member(slug, "security_admin", "compliance_officer", "org_admin", "front_desk")
            self.setup_members[slug] = member
            self.setup_clients[slug] = self.world.client(member)
            reauthenticate_for_test(self.world, self.setup_clients[slug])
        return self.setup_clients[slug]

    def created(self, slug: str, method: str, path: str, body: Any, key: str = "id") -> str:
        """The id of an entity made through the API by the administrator; a random id if that route changed
        (the call under test then meets a missing entity, which still shows it passed authorization)."""
        response = self.setup(slug).request(method, f"/api/v1/orgs/{slug}{path}", json=body)
        value = response.json().get(key) if response.status_code in (200, 201) else None
        return str(value) if value else str(uuid.uuid4())

    def fresh_grant(self, slug: str, key: str = "id") -> str:
        body = {
            "patient_id": self.patients[slug],
            "reason_code": "other",
            "justification": "Set up for the authorization matrix.",
        }
        return self.created(slug, "POST", "/break-glass", body, key)

    def fresh_billing_company(self) -> str:
        slug = f"b{uuid.uuid4().hex[:10]}"
        create_organization(
            db=self.world.runtime.db,
            keys=self.world.runtime.keys,
            ctx=None,
            slug=slug,
            name=slug,
            kind="billing_company",
        )
        return slug


Filler = Callable[[Env, str], Any]

PATH_PARAMS: dict[str, Filler] = {
    "patient_id": lambda env, org: env.patients[org],
    "coverage_id": lambda env, org: env.coverage(org),
    "assignment_id": lambda env, org: env.fresh_assignment(org),
    "agreement_id": lambda env, org: env.agreements[org],
    "user_id": lambda env, org: env.fresh_member(org),
    "grant_id": lambda env, org: env.fresh_grant(org),
    "alert_id": lambda env, org: env.fresh_grant(org, "alert_id"),
    "token_id": lambda env, org: env.created(
        org, "POST", "/tokens", {"name": "setup", "permissions": ["org:read"], "expires_in_days": 1}
    ),
}
PATIENT = {"given_name": "Ivo", "family_name": "Matrixson", "birth_date": "1990-01-01"}

# (method, path) -> body. Routes not listed send no body (POST/PATCH with a required body then get 422 when allowed,
# which still proves that authorization let them through).
BODIES: dict[tuple[str, str], Filler] = {
    ("POST", "/api/v1/orgs/{org}/patients"): lambda env, org: PATIENT,
    ("POST", "/api/v1/orgs/{org}/patients/search"): lambda env, org: {
        "family_name": "Matrixson",
        "birth_date": "1990-01-01",
    },
    ("PATCH", "/api/v1/orgs/{org}/patients/{patient_id}"): lambda env, org: {"given_name": "Iva"},
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/coverages"): lambda env, org: {
        "rank": "tertiary",
        "payer_name": "Matrix Plan",
        "member_id": f"MX{uuid.uuid4().hex[:8]}",
        "effective_from": "2024-01-01",
        "effective_to": "2024-01-01",
    },
    ("PATCH", "/api/v1/orgs/{org}/coverages/{coverage_id}"): lambda env, org: {"payer_name": "Matrix Plan B"},
    ("POST", "/api/v1/orgs/{org}/coverages/search"): lambda env, org: {"member_id": "MX1"},
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures"): lambda env, org: {
        "disclosed_on": "2024-01-02",
        "recipient_name": "Matrix Health Dept",
        "description": "Lab result",
        "purpose": "Disease reporting",
        "purpose_code": "public_health",
    },
    ("POST", "/api/v1/orgs/{org}/disclosure-suspensions"): lambda env, org: {
        "agency_name": "Matrix Agency",
        "agency_kind": "law_enforcement",
        "statement_kind": "written",
        "reason_code": "investigation",
        "starts_on": "2024-01-01",
        "ends_on": "2024-02-01",
    },
    ("POST", "/api/v1/orgs/{org}/care-assignments"): lambda env, org: {
        "provider_user_id": str(env.providers[org].user_id),
        "patient_id": env.unassigned[org],
    },
    ("POST", "/api/v1/orgs/{org}/service-agreements"): lambda env, org: {
        "partner_organization": env.fresh_billing_company()
    },
    ("PATCH", "/api/v1/orgs/{org}/service-agreements/{agreement_id}"): lambda env, org: {"status": "active"},
    ("POST", "/api/v1/orgs/{org}/users"): lambda env, org: {
        "username": f"n{uuid.uuid4().hex[:10]}",
        "roles": ["coder"],
    },
    ("POST", "/api/v1/orgs/{org}/users/{user_id}/roles"): lambda env, org: {"roles": ["biller"]},
    ("POST", "/api/v1/orgs/{org}/approvals"): lambda env, org: {
        "kind": "mfa_reset",
        "subject_id": env.fresh_member(org),
    },
    ("POST", "/api/v1/orgs/{org}/approvals/{request_id}/decide"): lambda env, org: {
        "approve": False,
        "reason_code": "matrix",
    },
    ("POST", "/api/v1/orgs/{org}/access-reviews/{campaign_id}/entries/{entry_id}/decide"): lambda env, org: {
        "decision": "keep"
    },
    ("POST", "/api/v1/orgs/{org}/alerts/{alert_id}/assign"): lambda env, org: {
        "user_id": str(env.setup_members[org].user_id) if org in env.setup_members else env.fresh_member(org)
    },
    ("POST", "/api/v1/orgs/{org}/tokens"): lambda env, org: {
        "name": "matrix",
        "permissions": ["org:read"],
        "expires_in_days": 1,
    },
    ("POST", "/api/v1/orgs/{org}/break-glass"): lambda env, org: {
        "patient_id": env.patients[org],
        "reason_code": "other",
        "justification": "Authorization matrix check of this route.",
    },
    ("POST", "/api/v1/orgs/{org}/break-glass/{grant_id}/review"): lambda env, org: {
        "decision": "approved",
        "note_code": "justified",
    },
}

# Allowed calls that must really succeed with the samples above (the rest may meet a missing id or a rule of
# their own, such as "not your own request", after authorization).
MUST_SUCCEED = {
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/coverages"),
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/coverages"),
    ("POST", "/api/v1/orgs/{org}/coverages/search"),
    ("GET", "/api/v1/orgs/{org}/coverages/{coverage_id}"),
    ("PATCH", "/api/v1/orgs/{org}/coverages/{coverage_id}"),
    ("POST", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures"),
    ("POST", "/api/v1/orgs/{org}/disclosure-suspensions"),
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures"),
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}/disclosures/accounting"),
    ("GET", "/api/v1/orgs/{org}/disclosure-suspensions"),
    ("GET", "/api/v1/orgs/{org}/audit/events"),
    ("GET", "/api/v1/orgs/{org}"),
    ("GET", "/api/v1/orgs/{org}/patients"),
    ("POST", "/api/v1/orgs/{org}/patients"),
    ("POST", "/api/v1/orgs/{org}/patients/search"),
    ("GET", "/api/v1/orgs/{org}/patients/{patient_id}"),
    ("PATCH", "/api/v1/orgs/{org}/patients/{patient_id}"),
    ("GET", "/api/v1/orgs/{org}/care-assignments"),
    ("POST", "/api/v1/orgs/{org}/care-assignments"),
    ("DELETE", "/api/v1/orgs/{org}/care-assignments/{assignment_id}"),
    ("GET", "/api/v1/orgs/{org}/service-agreements"),
    ("POST", "/api/v1/orgs/{org}/service-agreements"),
    ("PATCH", "/api/v1/orgs/{org}/service-agreements/{agreement_id}"),
    ("GET", "/api/v1/orgs/{org}/users"),
    ("GET", "/api/v1/orgs/{org}/tokens"),
    ("GET", "/api/v1/orgs/{org}/alerts"),
    ("GET", "/api/v1/orgs/{org}/approvals"),
    ("GET", "/api/v1/orgs/{org}/access-reviews"),
    ("GET", "/api/v1/orgs/{org}/break-glass/reviews"),
    ("POST", "/api/v1/orgs/{org}/break-glass"),
}


def _fill(template: str, env: Env, org: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "org":
            return org
        return str(PATH_PARAMS[name](env, org)) if name in PATH_PARAMS else str(uuid.uuid4())

    return re.sub(r"\{(\w+)\}", one, template)


def _error(response: Any) -> dict[str, Any]:
    """The standard error's code and message; FHIR routes carry the same ones in an OperationOutcome."""
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    if body.get("resourceType") == "OperationOutcome":
        issue = body["issue"][0]
        message = re.sub(r" \(request [0-9a-f]+\)$", "", issue.get("diagnostics", ""))
        return {"code": issue["details"]["coding"][0]["code"], "message": message}
    return body.get("error", {}) if isinstance(body, dict) else {}


def _passed_authorization(response: Any) -> bool:
    if response.status_code in (401, 403):
        return False
    return not (response.status_code == 404 and _error(response).get("message") == NO_SUCH_ORG)


@pytest.fixture
def env(world: World) -> Env:
    e = Env(world)
    billing_company(world, PARTNER)
    billing_company(world, OTHER_PARTNER)
    for slug, partner in ((OWN, PARTNER), (OTHER, OTHER_PARTNER)):
        staff = world.client(world.member(slug, "biller"))
        e.patients[slug] = staff.post(
            f"/api/v1/orgs/{slug}/patients", json=PATIENT, params={"confirm_new": True}
        ).json()["id"]
        e.unassigned[slug] = staff.post(
            f"/api/v1/orgs/{slug}/patients", json={**PATIENT, "given_name": "Una"}, params={"confirm_new": True}
        ).json()["id"]
        e.providers[slug] = world.member(slug, "provider")
        e.admins[slug] = world.member(slug, "org_admin")
        view = services.create_service_agreement(db=world.runtime.db, ctx=e.admin_ctx(slug), partner_slug=partner)
        e.agreements[slug] = str(view.id)
    return e


def _actor(env: Env, role: str) -> TestClient:
    """A user holding exactly ``role``: in the own practice, or for partner_biller in the billing company that has
    an agreement with it. A provider gets a care assignment for the own practice's sample patient."""
    world = env.world
    member = world.member(PARTNER if role == "partner_biller" else OWN, role)
    if role == "provider":
        services.create_care_assignment(
            db=world.runtime.db,
            ctx=env.admin_ctx(OWN),
            provider_user_id=member.user_id,
            patient_id=uuid.UUID(env.patients[OWN]),
        )
    client = world.client(member)
    reauthenticate_for_test(world, client)
    return client


def _send(client: TestClient, env: Env, method: str, template: str, org: str) -> Any:
    body = BODIES.get((method, template))
    params = {"confirm_new": True} if (method, template) == ("POST", "/api/v1/orgs/{org}/patients") else None
    return client.request(method, _fill(template, env, org), json=body(env, org) if body else None, params=params)


@pytest.mark.parametrize("role", ROLES)
def test_org_routes_follow_the_table(app: Any, env: Env, role: str) -> None:
    client = _actor(env, role)
    problems = []
    for (method, template), cells in sorted(documented_routes().items()):
        if "{org}" not in template:
            continue
        expected = cells[role]
        own = _send(client, env, method, template, OWN)
        where = f"{role} {method} {template}"
        if expected == "deny":
            if own.status_code != 403:
                problems.append(f"{where}: expected 403 in own org, got {own.status_code}")
        elif not _passed_authorization(own):
            problems.append(f"{where}: expected allowed in own org, got {own.status_code} {_error(own).get('code')}")
        elif (method, template) in MUST_SUCCEED and not 200 <= own.status_code < 300:
            problems.append(f"{where}: allowed but failed with {own.status_code} {_error(own).get('code')}")
        other = _send(client, env, method, template, OTHER)
        if other.status_code != 404 or _error(other).get("message") != NO_SUCH_ORG:
            problems.append(f"{where}: another organization answered {other.status_code}")
    assert not problems, "\n".join(problems)


def test_relationship_limited_cells_need_the_relationship(env: Env) -> None:
    """The same routes without the relationship: an unassigned patient is hidden from a provider, and a partner
    biller whose agreement is suspended reaches nothing (``allow*`` really is limited)."""
    provider = _actor(env, "provider")
    assert provider.get(f"/api/v1/orgs/{OWN}/patients/{env.unassigned[OWN]}").status_code == 404
    listed = provider.get(f"/api/v1/orgs/{OWN}/patients").json()["items"]
    assert [p["id"] for p in listed] == [env.patients[OWN]]
    partner = _actor(env, "partner_biller")
    assert partner.get(f"/api/v1/orgs/{OWN}/patients").status_code == 200
    services.change_service_agreement(
        db=env.world.runtime.db, ctx=env.admin_ctx(OWN), agreement_id=uuid.UUID(env.agreements[OWN]), status="suspended"
    )
    assert partner.get(f"/api/v1/orgs/{OWN}").status_code == 404


# Per-user and public routes ---------------------------------------------------------------------------------------
def _per_user_routes() -> list[tuple[str, str]]:
    return sorted(k for k, cells in documented_routes().items() if set(cells.values()) == {"any"})


def _session_for(world: World, member: Member) -> TestClient:
    """A client with a fresh, fully verified and just re-authenticated session for ``member`` (no HTTP login: this
    test needs many sessions)."""
    runtime = world.runtime
    token, _ = start_session(
        db=runtime.db, settings=runtime.settings, user_id=member.user_id, source_address="testclient", mfa_verified=True
    )
    client = TestClient(world.app, base_url="https://testserver", raise_server_exceptions=False)
    client.cookies.set(runtime.settings.session_cookie_name, token, domain="testserver.local", path="/")
    client.headers["X-CSRF-Token"] = csrf_token(runtime.settings, token)
    return client


def test_per_user_routes_are_not_role_gated(world: World) -> None:
    """Every role gets the same answer from a route about one's own account, and it is never 401; without a
    session the route refuses (401, or a redirect to the login page)."""
    billing_company(world, PARTNER)
    members = {role: world.member(PARTNER if role == "partner_biller" else OWN, role) for role in ROLES}
    reusable = {role: _session_for(world, members[role]) for role in ROLES}
    problems = []
    anonymous = world.client()
    for method, template in _per_user_routes():
        path = re.sub(r"\{(\w+)\}", lambda _: str(uuid.uuid4()), template)
        statuses = {}
        for role in ROLES:
            # State-changing calls (logout, password change...) get a session of their own.
            client = reusable[role] if method == "GET" else _session_for(world, members[role])
            statuses[role] = client.request(method, path).status_code
        if len(set(statuses.values())) != 1:
            problems.append(f"{method} {template}: answers differ by role {statuses}")
        elif 401 in statuses.values():
            problems.append(f"{method} {template}: a logged-in user got 401")
        refused = anonymous.request(method, path, follow_redirects=False)
        if refused.status_code not in (401, 403, 303, 307):
            problems.append(f"{method} {template}: without a session got {refused.status_code}")
    assert not problems, "\n".join(problems)


def test_public_routes_answer_without_login(world: World) -> None:
    member = world.member(OWN, "coder")
    anonymous = world.client()
    public = sorted(k for k, cells in documented_routes().items() if set(cells.values()) == {"public"})
    assert public
    for method, template in public:
        body = {"username": member.username, "password": member.password} if template == "/api/v1/auth/login" else None
        response = anonymous.request(method, template, json=body, follow_redirects=False)
        assert response.status_code not in (401, 404) and response.status_code < 500, (method, template)
