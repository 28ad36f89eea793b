"""Sensitive-data discovery routes: the organization's scan profile (MRN templates), the scan of an uploaded file,
and the compliance view of the scheduled blob-store scans.

The upload is read only after authorization, straight from the request stream into memory (python-multipart's
push parser, never a temporary file), at most ``MAX_UPLOAD_BYTES``; it is scanned and dropped. The answer carries
the scanner's JSON (types, spans, scores, rules, redacted previews: never a value); the audit event carries the
level, score and counts per type, never the file name (names often hold patient names or record numbers).
"""

from __future__ import annotations

import uuid
from pathlib import PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from claimvault.discovery import service
from claimvault.discovery.service import ProfileOut, RunDetailOut, RunOut, UploadScanOut
from claimvault.errors import ClaimVaultError, ValidationFailed
from claimvault.security.context import UserContext
from claimvault.security.gate import open_gate
from claimvault.security.permissions import Permission
from claimvault.web.deps import RuntimeDep, requires

if TYPE_CHECKING:  # a typing-only name in python-multipart
    from python_multipart.multipart import MultipartCallbacks

router = APIRouter(prefix="/api/v1/orgs/{org}/discovery", tags=["discovery"])

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
FILE_FIELD = "file"
MAX_NAME = 255

_scan_ctx = requires(Permission.DISCOVERY_SCAN)  # one dependency object: resolved once, before the body is read
ScanCtx = Annotated[UserContext, Depends(_scan_ctx)]
ConfigureCtx = Annotated[UserContext, Depends(requires(Permission.DISCOVERY_CONFIGURE))]
ReadCtx = Annotated[UserContext, Depends(requires(Permission.DISCOVERY_READ))]


class UploadTooLarge(ClaimVaultError):
    status_code = 413
    code = "file_too_large"


class UnsupportedUpload(ClaimVaultError):
    status_code = 415
    code = "unsupported_media_type"


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mrn_formats: list[Annotated[str, Field(max_length=64)]] = Field(
        max_length=50,
        description="Templates: 9 a digit, A an uppercase letter, X either; any other character stands for itself"
        " (MRN-9999999, AA999999).",
    )


class _Upload:
    """Collects the one ``file`` part of a multipart body in memory, refusing it past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.name: str | None = None
        self.data = bytearray()
        self.files = 0
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: setattr(self, "_field", self._field + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "_value", self._value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }

    def _part_begin(self) -> None:
        self._headers, self._in_file = {}, False

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") == FILE_FIELD.encode() and b"filename" in options:
            self.files += 1
            if self.files > 1:
                raise ValidationFailed("Send one file per scan.")
            self._in_file = True
            self.name = options[b"filename"].decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            if len(self.data) + (end - start) > self.limit:
                raise UploadTooLarge(f"The file is larger than the {self.limit // (1024 * 1024)} MB scan limit.")
            self.data += data[start:end]


def _safe_name(raw: str | None) -> str:
    """The base name only (no directories), printable, at most 255 characters; ``upload`` when absent."""
    if not raw:
        return "upload"
    base = PureWindowsPath(PurePosixPath(raw).name).name
    cleaned = "".join(ch for ch in base if ch.isprintable())[:MAX_NAME]
    return cleaned or "upload"


async def read_upload(request: Request, _ctx: ScanCtx) -> tuple[str, bytes]:
    """The uploaded file's name and bytes, read after authorization (``_ctx``) into memory only."""
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedUpload(f"Send the file as multipart/form-data in a field named {FILE_FIELD!r}.")
    upload = _Upload(MAX_UPLOAD_BYTES)
    parser = MultipartParser(boundary, upload.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
                raise UploadTooLarge(f"The file is larger than the {MAX_UPLOAD_BYTES // (1024 * 1024)} MB scan limit.")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise ValidationFailed("The upload is not valid multipart form data.") from None
    if upload.files == 0:
        raise ValidationFailed(f"Send the file in a multipart field named {FILE_FIELD!r}.")
    return _safe_name(upload.name), bytes(upload.data)


Upload = Annotated[tuple[str, bytes], Depends(read_upload)]


@router.get("/profile", summary="The organization's scan profile: its medical record number formats")
def get_profile(runtime: RuntimeDep, ctx: ConfigureCtx) -> ProfileOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.get_profile(gate=gate)


@router.put(
    "/profile",
    summary="Set the organization's medical record number formats (used by upload and blob-store scans)",
    description="An unusable template answers 422 naming the rule it breaks. Audited.",
)
def put_profile(body: ProfileIn, runtime: RuntimeDep, ctx: ConfigureCtx) -> ProfileOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.set_profile(gate=gate, mrn_formats=body.mrn_formats)


@router.post(
    "/scan",
    summary="Scan an uploaded file for PHI, PII and payment data without keeping it",
    description="multipart/form-data with one file in the field `file`, at most 25 MB (413 beyond). The answer is"
    " the scanner's JSON for the file (a zip archive: for each member) with redacted previews only. Nothing is"
    " stored; one audit event records the level, score and counts per type (not the file name).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [FILE_FIELD],
                        "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
def scan_upload(runtime: RuntimeDep, ctx: ScanCtx, upload: Upload) -> UploadScanOut:
    name, data = upload
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.scan_upload(gate=gate, name=name, data=data)


@router.get("/scans", summary="Blob-store scan runs, newest first (counts and levels, no values)")
def list_scans(runtime: RuntimeDep, ctx: ReadCtx, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunOut]:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.list_runs(gate=gate, limit=limit)


@router.get("/scans/{run_id}", summary="One blob-store scan run with its per-blob results (highest score first)")
def get_scan(
    run_id: uuid.UUID,
    runtime: RuntimeDep,
    ctx: ReadCtx,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> RunDetailOut:
    with open_gate(db=runtime.db, keys=runtime.keys, ctx=ctx) as gate:
        return service.get_run(gate=gate, run_id=run_id, limit=limit, offset=offset)
