"""``claimvault claims`` in-process on a real ./var/ (SQLite): scrub, release one 837P file per payer (0600, valid
for pyx12), import a 999 and a 277CA (and the same 999 again, which changes nothing), and refuse a malformed
acknowledgement with exit 1 and no data on screen."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import select

from claimvault.billing.claims.models import Claim, X12File
from claimvault.billing.x12.validation import validate_x12
from claimvault.runtime import build_runtime
from tests.ack_files import make_277ca, make_999
from tests.billing_world import build_billing_world
from tests.test_cli import _everything, _ok, _run, _settings


def test_scrub_export_and_acknowledge(tmp_path: Path) -> None:
    var = tmp_path / "var"
    _ok(var, "init")
    rt = build_runtime(_settings(var))
    try:
        world = build_billing_world(rt)
        world.patient(family="Lamarr", seed=11)
        from claimvault.billing.claims.schemas import ClaimCreate
        from claimvault.billing.claims.service import create_claim
        from claimvault.billing.encounters.models import Encounter

        with world.gate() as gate:
            encounter_id = gate.session.scalar(select(Encounter.id))
            assert encounter_id is not None
            create_claim(gate=gate, data=ClaimCreate(encounter_id=encounter_id))
    finally:
        rt.close()

    scrubbed = _ok(var, "claims", "scrub", "--org", "clinic", "--today", "2026-07-01")
    assert "1 ready" in _everything(scrubbed)
    out = tmp_path / "out"
    exported = _ok(var, "claims", "export-837", "--org", "clinic", "--out", str(out))
    (released,) = sorted(out.iterdir())
    assert released.name in _everything(exported)
    assert stat.S_IMODE(released.stat().st_mode) == 0o600 and stat.S_IMODE(out.stat().st_mode) == 0o700
    assert validate_x12(released.read_text()).valid
    assert "Lamarr".upper() not in _everything(exported)

    rt = build_runtime(_settings(var))
    try:
        with rt.db.session(tenant_id=world.org_id) as session:
            sent = session.scalar(select(X12File))
            claim = session.scalar(select(Claim))
            assert sent is not None and claim is not None
            group, control, total = sent.group_control, claim.control_number, claim.total_charge
    finally:
        rt.close()
    assert group is not None
    ack999 = tmp_path / "ack.999"
    ack999.write_text(make_999(group_control=group, transaction_controls=[1]))
    assert "1 accepted" in _everything(_ok(var, "claims", "import-ack", str(ack999), "--org", "clinic"))
    assert "imported before" in _everything(_ok(var, "claims", "import-ack", str(ack999), "--org", "clinic"))
    ack277 = tmp_path / "ack.277"
    ack277.write_text(make_277ca(claims=[(control, total)], rejected={control: ("A7", "562", "85")}))
    assert "1 rejected" in _everything(_ok(var, "claims", "import-ack", str(ack277), "--org", "clinic"))

    broken = tmp_path / "broken.999"
    broken.write_text(make_999(group_control=group, transaction_controls=[1]).replace("AK9*A", "AK9*SECRETMARK"))
    result = _run(var, "claims", "import-ack", str(broken), "--org", "clinic")
    assert result.exit_code == 1 and "SECRETMARK" not in _everything(result)
