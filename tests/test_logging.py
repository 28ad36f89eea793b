"""Structured logging: JSON lines, PHI redaction, safe exceptions, library loggers and the access log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from starlette.types import Message

from claimvault.errors import ClaimVaultError, NotFound
from claimvault.observability.context import request_id_var
from claimvault.observability.logging import LIBRARY_LOGGERS, configure_logging
from claimvault.observability.redaction import Redactor, luhn_valid
from claimvault.web.access_log import AccessLogMiddleware
from tests.conftest import captured_logs

PROTECTED = ("family_name", "given_name", "birth_date", "ssn", "member_id", "phone")
NAME = "Zebulon Quixote"
REDACTOR = Redactor(PROTECTED)
log = logging.getLogger("claimvault.tests.logging")


def with_luhn_digit(prefix: str) -> str:
    """Append the check digit that makes ``prefix`` Luhn-valid."""
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


VISA = with_luhn_digit("453201511283036")  # 16 digits, Visa range
MASTERCARD_2 = with_luhn_digit("222100487654321")  # 16 digits, Mastercard 2-series
AMEX = with_luhn_digit("37828224631000")  # 15 digits
LUHN_FAIL = VISA[:-1] + str((int(VISA[-1]) + 1) % 10)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    with captured_logs(protected_field_names=PROTECTED) as out:
        yield out


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line]


def last(out: io.StringIO) -> dict[str, Any]:
    return records(out)[-1]


def format_card(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def test_record_shape(stream: io.StringIO) -> None:
    log.warning("hello %s", "world", extra={"claim_count": 3, "thing": object()})
    rec = last(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["ts"])
    assert (rec["level"], rec["logger"], rec["message"]) == ("WARNING", log.name, "hello world")
    assert rec["claim_count"] == 3
    assert rec["thing"].startswith("<object object at")
    assert "request_id" not in rec


def test_identifiers_are_redacted(stream: io.StringIO) -> None:
    record_id = str(uuid.uuid4())
    values = {
        "ssn dashed": "123-45-6789",
        "ssn spaced": "987 65 4321",
        "visa": format_card(VISA, " "),
        "mastercard": format_card(MASTERCARD_2, "-"),
        "visa bare": VISA,
        "amex": AMEX,
        "mbi": "1EG4-TE5-MK73",
        "mbi bare lower": "1eg4te5mk73",
        "email": "zeb.q+bills@example.org",
        "dob iso": "1980-04-12",
        "dob us": "04/12/1980",
        "dob short": "4/12/1980",
        "dob ymd": "1980/04/12",
    }
    text = "; ".join(f"{k}: %s" for k in values)
    log.info(text + " id=%s other=%s ts=%s", *values.values(), record_id, LUHN_FAIL, "1700000000123")
    out = stream.getvalue()
    for label, value in values.items():
        assert value not in out, label
    message = last(stream)["message"]
    for placeholder in ("SSN", "CARD", "MBI", "EMAIL", "DOB"):
        assert f"[REDACTED:{placeholder}]" in message
    assert not luhn_valid(LUHN_FAIL)
    assert f"id={record_id}" in message
    assert f"other={LUHN_FAIL}" in message
    assert "ts=1700000000123" in message


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("SSN 123456789", "123456789"),
        ("social security no. 123456789", "123456789"),
        ("dob=19800412", "19800412"),
        ("Date of birth: 04121980", "04121980"),
    ],
)
def test_context_dependent_shapes(text: str, secret: str) -> None:
    assert secret not in Redactor().redact(text)


def test_bare_numbers_without_context_survive() -> None:
    text = "batch 123456789 run 19800412 uuid 550e8400-e29b-41d4-a716-446655440000"
    assert Redactor().redact(text) == text


def test_protected_fields(stream: io.StringIO) -> None:
    log.info(
        "update family_name=Quixote, FAMILY_NAME: Quix2 body={'given_name': 'Zebulon'} "
        '{"member_id": "M-77 QXW", "phone":"5550100"} birth_date=\'1980-04-12\'',
        extra={"family_name": "Quixote3", "patient.ssn": 123456789, "note": "given_name=Zeb4", "visits": 4},
    )
    out = stream.getvalue()
    for secret in ("Quixote", "Quix2", "Zebulon", "M-77", "QXW", "5550100", "1980", "123456789", "Zeb4"):
        assert secret not in out, secret
    rec = last(stream)
    assert rec["family_name"] == "[REDACTED]"
    assert rec["patient.ssn"] == "[REDACTED]"
    assert rec["note"] == "given_name=[REDACTED]"
    assert rec["visits"] == 4
    assert "family_name=[REDACTED]" in rec["message"]
    assert "'given_name': '[REDACTED]'" in rec["message"]


def test_nested_and_unserializable_extras(stream: io.StringIO) -> None:
    class Patient:
        def __repr__(self) -> str:
            return "Patient(family_name='Quixote', ssn_hint='123-45-6789')"

    log.info("nested", extra={"payload": {"given_name": "Zeb", "items": [Patient(), "x@example.com"]}})
    out = stream.getvalue()
    assert "Zeb" not in out and "Quixote" not in out and "123-45-6789" not in out and "x@example" not in out
    assert last(stream)["payload"]["given_name"] == "[REDACTED]"


def raise_with_name_in_local() -> None:
    patient_name = NAME
    raise ValueError(f"cannot bill {patient_name}")


def test_exception_message_and_locals_are_withheld(stream: io.StringIO) -> None:
    patient_name = NAME
    try:
        raise_with_name_in_local()
    except ValueError as exc:
        assert patient_name in str(exc)  # the test is only meaningful if the message holds the name
        log.exception("billing failed")
        log.error("billing failed again: %s", exc)
    out = stream.getvalue()
    assert "Zebulon" not in out
    first, second = records(stream)
    exc_info = first["exception"]
    assert exc_info["type"] == "ValueError"
    assert exc_info["message_withheld"] is True
    assert "message" not in exc_info
    assert exc_info["frames"][-1]["function"] == "raise_with_name_in_local"
    assert set(exc_info["frames"][-1]) == {"file", "line", "function"}
    assert second["message"] == "billing failed again: <ValueError>"


def test_claimvault_error_message_kept_and_chain_followed(stream: io.StringIO) -> None:
    try:
        try:
            raise KeyError(NAME)
        except KeyError as inner:
            raise NotFound("claim not found") from inner
    except ClaimVaultError:
        log.exception("lookup failed")
    exc_info = last(stream)["exception"]
    assert exc_info["type"] == "claimvault.errors.NotFound"
    assert exc_info["message"] == "claim not found"
    (cause,) = exc_info["chain"]
    assert cause == {**cause, "type": "KeyError", "relation": "cause", "message_withheld": True}
    assert "Zebulon" not in stream.getvalue()


def test_implicit_context_and_exc_info_argument(stream: io.StringIO) -> None:
    lookup: dict[str, int] = {}
    try:
        try:
            raise RuntimeError(NAME)
        except RuntimeError:
            lookup[NAME] += 1  # KeyError quoting the name, implicitly chained to the RuntimeError
    except KeyError as exc:
        log.warning("failed", exc_info=exc)
    exc_info = last(stream)["exception"]
    assert exc_info["type"] == "KeyError"
    assert [c["type"] for c in exc_info["chain"]] == ["RuntimeError"]
    assert exc_info["chain"][0]["relation"] == "context"
    assert "Zebulon" not in stream.getvalue()


def test_stack_info_is_frames_only(stream: io.StringIO) -> None:
    log.warning("where am I", stack_info=True)  # Zebulon Quixote
    rec = last(stream)
    assert rec["stack"][-1]["function"] == "test_stack_info_is_frames_only"
    assert "Zebulon" not in stream.getvalue()


def test_database_integrity_error_is_not_leaked(stream: io.StringIO, tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'claims.db'}")
    metadata = sa.MetaData()
    patients = sa.Table(
        "patients",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("display_name", sa.String, unique=True),
    )
    metadata.create_all(engine)
    caught: IntegrityError | None = None
    try:
        with engine.begin() as conn:
            conn.execute(patients.insert(), {"display_name": NAME})
            conn.execute(patients.insert(), {"display_name": NAME})
    except IntegrityError as exc:
        caught = exc
        log.exception("insert failed")
    assert caught is not None and NAME in str(caught)  # SQLAlchemy does quote the value
    engine.dispose()
    out = stream.getvalue()
    assert "Zebulon" not in out and "INSERT" not in out
    (rec,) = [r for r in records(stream) if r["message"] == "insert failed"]
    exc_info = rec["exception"]
    assert exc_info["type"] == "sqlalchemy.exc.IntegrityError"
    assert exc_info["orig_type"] == "sqlite3.IntegrityError"
    assert exc_info["message_withheld"] is True
    assert exc_info["chain"][0]["type"] == "sqlite3.IntegrityError"


def test_sql_echo_never_reaches_output(stream: io.StringIO, tmp_path: Any) -> None:
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() >= logging.WARNING
    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    engine_logger.setLevel(logging.INFO)  # what echo=True does
    try:
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'echo.db'}")
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (v TEXT)"))
            conn.execute(sa.text("INSERT INTO t (v) VALUES (:v)"), {"v": NAME})
        engine.dispose()
    finally:
        engine_logger.setLevel(logging.NOTSET)
    assert "Zebulon" not in stream.getvalue()
    assert "INSERT" not in stream.getvalue()


def test_library_loggers_propagate_and_uvicorn_access_is_off(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info('1.2.3.4 - "GET /patients?ssn=1 HTTP/1.1" 200')
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("httpx").info("HTTP Request: GET https://x.test/?name=%s", NAME)
    names = [r["logger"] for r in records(stream)]
    assert names == ["uvicorn.error"]
    assert all(not logging.getLogger(n).handlers for n in LIBRARY_LOGGERS)


def test_configure_logging_is_idempotent(stream: io.StringIO) -> None:
    second = io.StringIO()
    configure_logging(level="INFO", protected_field_names=PROTECTED, stream=second)
    configure_logging(level="INFO", protected_field_names=PROTECTED, stream=second)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_claimvault_handler", False)]
    assert len(ours) == 1
    log.info("once")
    log.debug("below level")
    assert [r["message"] for r in records(second)] == ["once"]
    assert stream.getvalue() == ""


def test_request_id_included_when_set(stream: io.StringIO) -> None:
    token = request_id_var.set("req-7f3a")
    try:
        log.info("inside")
    finally:
        request_id_var.reset(token)
    log.info("outside")
    inside, outside = records(stream)
    assert inside["request_id"] == "req-7f3a"
    assert "request_id" not in outside


def test_unformattable_message_does_not_raise(stream: io.StringIO) -> None:
    log.info("%d items for %s", "not-a-number", NAME)
    assert last(stream)["message"] == "[REDACTED:UNFORMATTABLE]"
    assert "Zebulon" not in stream.getvalue()


def test_access_log_has_path_but_no_query(stream: io.StringIO) -> None:
    app = FastAPI()

    @app.get("/patients")
    def list_patients() -> dict[str, int]:
        return {"count": 0}

    client = TestClient(AccessLogMiddleware(app))
    response = client.get("/patients?ssn=123-45-6789&name=Zebulon")
    assert response.status_code == 200
    (rec,) = access_records(stream)
    assert (rec["method"], rec["path"], rec["status"], rec["client"]) == ("GET", "/patients", 200, "testclient")
    assert isinstance(rec["duration_ms"], float) and rec["duration_ms"] >= 0
    out = stream.getvalue()
    for secret in ("123-45-6789", "Zebulon", "ssn=", "?"):
        assert secret not in out, secret


async def receive_empty() -> Message:
    return {"type": "http.request", "body": b""}


async def send_nothing(message: Message) -> None:
    raise AssertionError("nothing should be sent")


def access_records(out: io.StringIO) -> list[dict[str, Any]]:
    return [r for r in records(out) if r["logger"] == "claimvault.access"]


def test_access_log_records_500_when_app_raises_before_response(stream: io.StringIO) -> None:
    async def broken_app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError(NAME)

    scope = {"type": "http", "method": "POST", "path": "/claims", "query_string": b"x=1", "client": ("10.0.0.9", 5)}
    with pytest.raises(RuntimeError):
        asyncio.run(AccessLogMiddleware(broken_app)(scope, receive_empty, send_nothing))
    (rec,) = access_records(stream)
    assert (rec["method"], rec["path"], rec["status"], rec["client"]) == ("POST", "/claims", 500, "10.0.0.9")
    assert "Zebulon" not in stream.getvalue()


def test_access_log_ignores_non_http_scopes(stream: io.StringIO) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    for scope_type in ("lifespan", "websocket"):
        asyncio.run(AccessLogMiddleware(app)({"type": scope_type, "path": "/ws"}, receive_empty, send_nothing))
    assert seen == ["lifespan", "websocket"]
    assert access_records(stream) == []


separators = st.sampled_from(["-", " "])


@given(
    prefix=st.text(max_size=30),
    suffix=st.text(max_size=30),
    digits=st.from_regex(r"\A[0-9]{9}\Z"),
    sep1=separators,
    sep2=separators,
)
def test_ssn_never_survives_redaction(prefix: str, suffix: str, digits: str, sep1: str, sep2: str) -> None:
    ssn = f"{digits[:3]}{sep1}{digits[3:5]}{sep2}{digits[5:]}"
    assert ssn not in REDACTOR.redact(prefix + ssn + suffix)


@given(
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
    body=st.from_regex(r"\A[2-6][0-9]{14}\Z"),
    sep=st.sampled_from(["", " ", "-"]),
)
def test_valid_card_never_survives_redaction(prefix: str, suffix: str, body: str, sep: str) -> None:
    card = format_card(with_luhn_digit(body), sep)
    assert card not in REDACTOR.redact(f"{prefix} {card} {suffix}")


@given(text=st.text(max_size=200))
def test_redact_never_raises(text: str) -> None:
    assert isinstance(REDACTOR.redact(text), str)
