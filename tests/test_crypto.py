"""Field encryption, per-organization data keys, blind indexes, the keyring, and where decryption may happen."""

from __future__ import annotations

import ast
import json
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text
from sqlalchemy.orm import Session

import claimvault
from claimvault.errors import ConfigurationError
from claimvault.ids import uuid7
from claimvault.runtime import Runtime
from claimvault.security.crypto.fields import (
    BLIND_INDEX_BYTES,
    FORMAT_V1,
    DecryptionError,
    OrgCrypto,
    _aad,
)
from claimvault.security.crypto.keys import KeyService
from claimvault.security.crypto.provider import KeyUnwrapError, LocalKeyring
from claimvault.security.models import DataKey
from tests.conftest import World

INDEX = "patients.name_dob_bidx"
PLAINTEXT = "Quintero-Ørsted"


@contextmanager
def org_crypto(runtime: Runtime, org_id: uuid.UUID) -> Iterator[OrgCrypto]:
    with runtime.db.session(tenant_id=org_id) as session:
        yield OrgCrypto(keys=runtime.keys, session=session, org_id=org_id)


def _encrypt(crypto: OrgCrypto, row_id: uuid.UUID, plaintext: str = PLAINTEXT) -> bytes:
    return crypto.encrypt(table="patients", column="family_name", row_id=row_id, plaintext=plaintext.encode())


@pytest.fixture
def alpha(world: World) -> uuid.UUID:
    return world.org("alpha")


@pytest.fixture
def beta(world: World) -> uuid.UUID:
    return world.org("beta")


# Field encryption ---------------------------------------------------------------------------------------------


def test_round_trip_and_ciphertext_layout(runtime: Runtime, alpha: uuid.UUID) -> None:
    row_id = uuid7()
    with runtime.db.session(tenant_id=alpha) as session:
        crypto = OrgCrypto(keys=runtime.keys, session=session, org_id=alpha)
        ct = _encrypt(crypto, row_id)
        assert crypto.decrypt(table="patients", column="family_name", row_id=row_id, ciphertext=ct) == (
            PLAINTEXT.encode()
        )
        assert PLAINTEXT.encode() not in ct

        plain_len = len(PLAINTEXT.encode())
        assert len(ct) == 1 + 16 + 12 + plain_len + 16
        assert ct[0] == FORMAT_V1 == 1
        key_id = uuid.UUID(bytes=ct[1:17])
        key_row = session.get(DataKey, key_id)
        assert key_row is not None and key_row.organization_id == alpha and key_row.purpose == "field"

        # The remaining bytes are exactly nonce ‖ AES-GCM(ciphertext+tag) under that data key.
        key = runtime.keys.key_by_id(session, alpha, key_id)
        aad = _aad(alpha, "patients", "family_name", row_id)
        assert AESGCM(key).decrypt(ct[17:29], ct[29:], aad) == PLAINTEXT.encode()

        again = _encrypt(crypto, row_id)
        assert again != ct and again[17:29] != ct[17:29]  # fresh random nonce
        assert again[:17] == ct[:17]  # same version and data key
        assert crypto.decrypt(table="patients", column="family_name", row_id=row_id, ciphertext=again) == (
            PLAINTEXT.encode()
        )


@pytest.mark.parametrize(
    ("table", "column", "other_row"),
    [
        ("patients", "family_name", True),  # copied to another row
        ("patients", "given_name", False),  # moved to another column
        ("claims", "family_name", False),  # moved to another table
    ],
    ids=["other_row", "other_column", "other_table"],
)
def test_ciphertext_is_bound_to_row_column_and_table(
    runtime: Runtime, alpha: uuid.UUID, table: str, column: str, other_row: bool
) -> None:
    row_id = uuid7()
    with org_crypto(runtime, alpha) as crypto:
        ct = _encrypt(crypto, row_id)
        target_row = uuid7() if other_row else row_id
        with pytest.raises(DecryptionError):
            crypto.decrypt(table=table, column=column, row_id=target_row, ciphertext=ct)
        # Control: the untouched binding still decrypts.
        assert crypto.decrypt(table="patients", column="family_name", row_id=row_id, ciphertext=ct)


def test_ciphertext_is_bound_to_the_organization(runtime: Runtime, alpha: uuid.UUID, beta: uuid.UUID) -> None:
    row_id = uuid7()
    with org_crypto(runtime, alpha) as crypto:
        ct = _encrypt(crypto, row_id)
    with org_crypto(runtime, beta) as other, pytest.raises(DecryptionError):
        other.decrypt(table="patients", column="family_name", row_id=row_id, ciphertext=ct)


@pytest.mark.parametrize("position", [0, 1, 16, 17, 28, 29, -17, -1], ids=lambda p: f"byte{p}")
def test_tampering_is_detected(runtime: Runtime, alpha: uuid.UUID, position: int) -> None:
    row_id = uuid7()
    with org_crypto(runtime, alpha) as crypto:
        ct = bytearray(_encrypt(crypto, row_id))
        ct[position] ^= 0x01
        with pytest.raises(DecryptionError):
            crypto.decrypt(table="patients", column="family_name", row_id=row_id, ciphertext=bytes(ct))


@pytest.mark.parametrize(
    "ciphertext", [b"", b"\x01", bytes(44), b"\x02" + bytes(60)], ids=["empty", "one", "short", "v2"]
)
def test_malformed_ciphertext_is_refused(runtime: Runtime, alpha: uuid.UUID, ciphertext: bytes) -> None:
    with org_crypto(runtime, alpha) as crypto, pytest.raises(DecryptionError):
        crypto.decrypt(table="patients", column="family_name", row_id=uuid7(), ciphertext=ciphertext)


# Blind indexes ------------------------------------------------------------------------------------------------


def test_blind_index_is_deterministic_per_org_and_index_name(
    runtime: Runtime, alpha: uuid.UUID, beta: uuid.UUID
) -> None:
    value = "Quintero\x1f1961-03-05"
    with org_crypto(runtime, alpha) as crypto:
        first = crypto.blind_index(name=INDEX, value=value)
        assert crypto.blind_index(name=INDEX, value=value) == first
        assert len(first) == BLIND_INDEX_BYTES == 16
        assert crypto.blind_index(name="patients.other_bidx", value=value) != first
        assert crypto.blind_index(name=INDEX, value="Quintero\x1f1961-03-06") != first
    with org_crypto(runtime, beta) as other:
        assert other.blind_index(name=INDEX, value=value) != first


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Quintero", "QUINTERO"),
        ("Quintero", "  quintero \t"),
        ("Mary Ann", "mary   ann"),
        ("Mary Ann", "Mary\u00a0Ann"),  # NFKC folds the no-break space, then whitespace collapses
        ("Quintero", "\uff31\uff55\uff49\uff4e\uff54\uff45\uff52\uff4f"),  # fullwidth letters
        ("Jos\u00e9", "Jose\u0301"),  # precomposed vs combining accent
        ("Strasse", "STRASSE"),
    ],
)
def test_blind_index_normalizes(runtime: Runtime, alpha: uuid.UUID, a: str, b: str) -> None:
    with org_crypto(runtime, alpha) as crypto:
        assert crypto.blind_index(name=INDEX, value=a) == crypto.blind_index(name=INDEX, value=b)
        assert crypto.blind_index(name=INDEX, value=a) != crypto.blind_index(name=INDEX, value=a + "x")


# Data keys ----------------------------------------------------------------------------------------------------


def _key_rows(session: Session, org_id: uuid.UUID) -> dict[str, DataKey]:
    rows = session.scalars(select(DataKey).where(DataKey.organization_id == org_id)).all()
    return {row.purpose: row for row in rows}


def test_data_keys_are_stored_only_wrapped(runtime: Runtime, alpha: uuid.UUID, tmp_path: Path) -> None:
    with runtime.db.session(tenant_id=alpha) as session:
        rows = _key_rows(session, alpha)
        assert set(rows) == {"field", "index"}  # provisioned with the organization
        for purpose, row in rows.items():
            key_id, key = runtime.keys.active_key(session, alpha, purpose)
            assert key_id == row.id and len(key) == 32
            assert key not in row.wrapped_key
            assert len(row.wrapped_key) == 12 + 32 + 16  # nonce ‖ wrapped key ‖ tag

            # A fresh key service (empty cache) unwraps with the right keyring ...
            assert KeyService(runtime.keys.provider).key_by_id(session, alpha, row.id) == key
            # ... and not with another keyring, even one whose KEK has the same id.
            other = LocalKeyring.create(tmp_path / purpose / "keyring.json")
            assert other.current_kek_id() == row.kek_id
            with pytest.raises(KeyUnwrapError):
                KeyService(other).key_by_id(session, alpha, row.id)


def test_wrapped_keys_are_bound_to_their_row(runtime: Runtime, alpha: uuid.UUID, beta: uuid.UUID) -> None:
    with runtime.db.session(tenant_id=alpha) as session:
        alpha_wrapped = {p: r.wrapped_key for p, r in _key_rows(session, alpha).items()}
    with runtime.db.session(tenant_id=beta) as session:
        beta_wrapped = {p: r.wrapped_key for p, r in _key_rows(session, beta).items()}

    # Swap the wrapped field keys between the two organizations' rows, as someone with database access might.
    for org_id, foreign in ((alpha, beta_wrapped), (beta, alpha_wrapped)):
        with runtime.db.session(tenant_id=org_id) as session:
            _key_rows(session, org_id)["field"].wrapped_key = foreign["field"]
    for org_id in (alpha, beta):
        with runtime.db.session(tenant_id=org_id) as session:
            row = _key_rows(session, org_id)["field"]
            with pytest.raises(KeyUnwrapError):
                KeyService(runtime.keys.provider).key_by_id(session, org_id, row.id)

    # Within one organization, the index key's wrapping does not open the field key either (purpose and id bound).
    with runtime.db.session(tenant_id=alpha) as session:
        rows = _key_rows(session, alpha)
        rows["index"].wrapped_key = rows["field"].wrapped_key = alpha_wrapped["index"]
        session.flush()
        with pytest.raises(KeyUnwrapError):
            KeyService(runtime.keys.provider).key_by_id(session, alpha, rows["field"].id)
        assert len(KeyService(runtime.keys.provider).key_by_id(session, alpha, rows["index"].id)) == 32


def test_key_lookup_refuses_another_organizations_key(runtime: Runtime, alpha: uuid.UUID, beta: uuid.UUID) -> None:
    with runtime.db.session(tenant_id=alpha) as session:
        alpha_key_id, _ = runtime.keys.active_key(session, alpha, "field")
    with runtime.db.session(tenant_id=beta) as session, pytest.raises(LookupError):
        runtime.keys.key_by_id(session, beta, alpha_key_id)


# The keyring file ---------------------------------------------------------------------------------------------


def test_keyring_file_is_created_owner_only(tmp_path: Path, runtime: Runtime) -> None:
    path = tmp_path / "keys" / "keyring.json"
    LocalKeyring.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(runtime.settings.resolved_keyring_path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # never overwrites an existing keyring
        LocalKeyring.create(path)
    assert LocalKeyring(path).current_kek_id() == "local-1"


_VALID_KEY = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 bytes of "A"
MALFORMED_KEYRINGS: dict[str, bytes] = {
    "not_json": b"MARKER-keyring-content not json",
    "empty": b"",
    "missing_current": json.dumps({"keys": {"local-1": {"key": _VALID_KEY}}, "comment": "MARKER"}).encode(),
    "missing_keys": json.dumps({"current": "MARKER"}).encode(),
    "current_unknown": json.dumps({"current": "MARKER", "keys": {"local-1": {"key": _VALID_KEY}}}).encode(),
    "short_key": json.dumps({"current": "local-1", "keys": {"local-1": {"key": "TUFSS0VSLXNob3J0"}}}).encode(),
    "bad_base64": json.dumps({"current": "local-1", "keys": {"local-1": {"key": "MARKER!"}}}).encode(),
    "not_utf8": b"\xff\xfeMARKER",
}
MALFORMED_KEYRING_SHAPES = {
    "list": "[]",
    "keys_is_list": json.dumps({"current": "local-1", "keys": []}),
    "entry_is_string": json.dumps({"current": "local-1", "keys": {"local-1": "MARKER"}}),
    "current_is_list": json.dumps({"current": ["local-1"], "keys": {"local-1": {"key": _VALID_KEY}}}),
}


def _assert_refused_without_content(path: Path) -> None:
    with pytest.raises(ConfigurationError) as refused:
        LocalKeyring(path)
    assert "MARKER" not in str(refused.value) and "keyring" in str(refused.value)
    assert "MARKER" not in str(refused.value.__cause__ or "")


@pytest.mark.parametrize("content", list(MALFORMED_KEYRINGS.values()), ids=list(MALFORMED_KEYRINGS))
def test_malformed_keyring_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "keyring.json"
    path.write_bytes(content)
    _assert_refused_without_content(path)


@pytest.mark.parametrize(
    "content",
    [pytest.param(c, id=name) for name, c in MALFORMED_KEYRING_SHAPES.items()],
)
def test_wrongly_shaped_keyring_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(content, encoding="utf-8")
    _assert_refused_without_content(path)


def test_missing_keyring_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        LocalKeyring(tmp_path / "absent.json")


# No plaintext at rest -----------------------------------------------------------------------------------------

DISTINCT = {"given_name": "Xanthippe", "family_name": "Brightwater", "birth_date": "1957-08-19"}
DISTINCT_2 = {"given_name": "Quillon", "family_name": "Marchbanks", "birth_date": "1957-08-19"}


def _contains(value: object, needle: str) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return needle.lower().encode() in bytes(value).lower()
    return needle.lower() in str(value).lower()


def test_database_never_holds_patient_plaintext(world: World, runtime: Runtime) -> None:
    member = world.member("alpha", "biller")
    c = world.client(member)
    ids = []
    for body in (DISTINCT, DISTINCT_2):
        created = c.post("/api/v1/orgs/alpha/patients", json=body, params={"confirm_new": True})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    got = c.get(f"/api/v1/orgs/alpha/patients/{ids[0]}").json()
    assert (got["given_name"], got["family_name"], got["birth_date"]) == tuple(DISTINCT.values())

    needles = [*DISTINCT.values(), DISTINCT_2["given_name"], DISTINCT_2["family_name"]]
    with runtime.db.session(tenant_id=member.org_id) as session:
        rows = session.execute(text("SELECT * FROM patients")).mappings().all()
    assert len(rows) == 2
    for row in rows:
        for column, value in row.items():
            for needle in needles:
                assert not _contains(value, needle), f"patients.{column} holds plaintext"

    if runtime.db.dialect == "sqlite":
        database = runtime.db.engine.url.database
        assert database
        files = [Path(database), Path(f"{database}-wal")]
        raw = b"".join(p.read_bytes() for p in files if p.exists())
        assert b"alpha" in raw  # control: plain metadata (the organization's slug) is visible in what was read
        for needle in needles:
            assert needle.encode() not in raw and needle.lower().encode() not in raw.lower(), needle


# Only the gate decrypts -------------------------------------------------------------------------------------------

SRC = Path(claimvault.__file__).resolve().parent
ALLOWED = (SRC / "security" / "gate.py", SRC / "security" / "crypto")


def decrypt_uses(source: str, filename: str) -> list[str]:
    """Every place ``source`` calls or references a ``decrypt``: attribute access, ``getattr`` or an import."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Attribute) and node.attr == "decrypt":
            found.append(f"{filename}:{node.lineno}: .decrypt")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "attrgetter", "methodcaller"}
            and any(isinstance(a, ast.Constant) and a.value == "decrypt" for a in node.args)
        ):
            found.append(f"{filename}:{node.lineno}: {node.func.id}(..., 'decrypt')")
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "decrypt" for alias in node.names):
            found.append(f"{filename}:{node.lineno}: import of decrypt")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "crypto.decrypt(table='t', column='c', row_id=r, ciphertext=b'')",
        "fn = OrgCrypto.decrypt",
        "AESGCM(key).decrypt(nonce, body, aad)",
        "getattr(crypto, 'decrypt')(ciphertext=b'')",
        "from claimvault.security.crypto.fields import decrypt",
        "def f(g):\n    return g._crypto.decrypt(b'')",
    ],
)
def test_decrypt_detector_finds_uses(snippet: str) -> None:
    assert decrypt_uses(snippet, "snippet.py")


@pytest.mark.parametrize("snippet", ["crypto.encrypt(b'')", "self._decrypt_row(row)", "x = 'decrypt'"])
def test_decrypt_detector_ignores_other_code(snippet: str) -> None:
    assert decrypt_uses(snippet, "snippet.py") == []


def test_only_the_gate_and_crypto_package_decrypt() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 20
    offenders: list[str] = []
    allowed_uses: list[str] = []
    for module in modules:
        uses = decrypt_uses(module.read_text("utf-8"), str(module.relative_to(SRC.parent)))
        if any(module == a or a in module.parents for a in ALLOWED):
            allowed_uses.extend(uses)
        else:
            offenders.extend(uses)
    assert offenders == [], "decryption outside the PHI gate:\n" + "\n".join(offenders)
    assert any("security/gate.py" in use for use in allowed_uses)  # the detector sees the gate's own call
