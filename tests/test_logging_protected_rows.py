"""Database errors on protected rows reach the log without values, on both backends."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import pytest
from sqlalchemy.exc import IntegrityError

from claimvault.billing.patients.models import Patient
from claimvault.observability.logging import configure_logging
from claimvault.runtime import Runtime
from claimvault.security.context import system_context
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from tests.conftest import World


def test_integrity_error_on_a_patient_row_is_logged_without_values(world: World, runtime: Runtime) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", protected_field_names={"given_name", "family_name"}, stream=stream)
    org_id = world.org("alpha")
    ctx = system_context("test", organization_id=org_id, permissions={Permission.PATIENT_CREATE})
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        created = gate.create(
            Patient,
            {"given_name": "Wilhelmina", "family_name": "Throckmorton", "birth_date": date(1944, 2, 29)},
            permission=Permission.PATIENT_CREATE,
        )
    with pytest.raises(IntegrityError) as caught, runtime.db.session(tenant_id=org_id) as session:
        duplicate = Patient(
            id=created.id,
            organization_id=org_id,
            given_name=b"Wilhelmina",
            family_name=b"Throckmorton",
            birth_date=b"1944-02-29",
            name_dob_bidx=b"Throckmorton1944",
        )
        session.add(duplicate)
        session.flush()
    logging.getLogger("claimvault.test").error("insert failed", exc_info=caught.value)
    output = stream.getvalue()
    record = json.loads(output.strip().splitlines()[-1])
    assert record["exception"]["type"].endswith("IntegrityError")
    for value in ("Wilhelmina", "Throckmorton", "1944-02-29", "INSERT", str(created.id)):
        assert value not in output, value
