"""Blind indexes on phone and member id: HMAC-SHA256 truncated to 16 bytes under a key per index AND per
organization. The same phone or member id in two practices gives unrelated tokens; the same string under two
indexes gives different tokens; within one index and organization equal values give equal tokens (the documented
equality and frequency leak)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from claimvault.billing.coverage.models import Coverage
from claimvault.billing.patients.models import Patient
from claimvault.runtime import Runtime
from claimvault.security.crypto.fields import BLIND_INDEX_BYTES, OrgCrypto
from tests.conftest import World

PHONE = "+14155550123"
MEMBER = "XQ98812345"
COVERAGE = {"rank": "primary", "payer_name": "Example Care Plan", "member_id": MEMBER, "effective_from": "2024-01-01"}


@contextmanager
def _crypto(runtime: Runtime, org_id: uuid.UUID) -> Iterator[OrgCrypto]:
    with runtime.db.session(tenant_id=org_id) as session:
        yield OrgCrypto(keys=runtime.keys, session=session, org_id=org_id)


def _seed(world: World, slug: str, given: str) -> tuple[uuid.UUID, uuid.UUID]:
    member = world.member(slug, "biller")
    body = {"given_name": given, "family_name": "Quintero", "birth_date": "1961-03-05", "phone": "(415) 555-0123"}
    pid = world.create_patient(member, body)
    r = world.client(member).post(f"/api/v1/orgs/{slug}/patients/{pid}/coverages", json=COVERAGE)
    assert r.status_code == 201, r.text
    return pid, uuid.UUID(r.json()["id"])


def _stored(world: World, slug: str) -> tuple[list[bytes | None], list[bytes | None]]:
    with world.runtime.db.session(tenant_id=world.org(slug)) as s:
        phones = list(s.scalars(select(Patient.phone_bidx).order_by(Patient.id)))
        members = list(s.scalars(select(Coverage.member_id_bidx).order_by(Coverage.id)))
    return phones, members


def test_same_phone_and_member_id_in_two_organizations_give_unrelated_tokens(world: World) -> None:
    _seed(world, "alpha", "Ada")
    _seed(world, "bravo", "Ada")
    (alpha_phone,), (alpha_member,) = _stored(world, "alpha")
    (bravo_phone,), (bravo_member,) = _stored(world, "bravo")
    assert alpha_phone is not None and bravo_phone is not None and alpha_member is not None
    assert len(alpha_phone) == len(alpha_member) == BLIND_INDEX_BYTES
    assert alpha_phone != bravo_phone and alpha_member != bravo_member
    # Unrelated, not merely different: no shared prefix beyond chance.
    assert alpha_phone[:4] != bravo_phone[:4] and alpha_member[:4] != bravo_member[:4]


def test_stored_tokens_are_keyed_per_index_name(world: World, runtime: Runtime) -> None:
    _seed(world, "alpha", "Ada")
    (phone_token,), (member_token,) = _stored(world, "alpha")
    with _crypto(runtime, world.org("alpha")) as crypto:
        assert crypto.blind_index(name="patients.phone_bidx", value=PHONE) == phone_token
        assert crypto.blind_index(name="coverages.member_id_bidx", value=MEMBER) == member_token
        # The same string under each index gives a different token: a key per field.
        same = "4155550123"
        tokens = {
            crypto.blind_index(name=name, value=same)
            for name in ("patients.phone_bidx", "coverages.member_id_bidx", "patients.ssn_bidx")
        }
        assert len(tokens) == 3


def test_equal_values_in_one_organization_share_a_token(world: World) -> None:
    """The documented leak: whoever reads the database sees which rows share a phone or a member id (and how
    many), never the value."""
    _seed(world, "alpha", "Ada")
    _seed(world, "alpha", "Bea")  # same phone, same member id (e.g. a family plan keyed on one card)
    phones, members = _stored(world, "alpha")
    assert len(phones) == 2 and phones[0] == phones[1]
    assert len(members) == 2 and members[0] == members[1]
    assert PHONE.encode() not in phones[0] and MEMBER.encode() not in members[0]  # type: ignore[operator]
