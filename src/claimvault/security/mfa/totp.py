"""TOTP (RFC 6238) as ClaimVault uses it: SHA-1, 6 digits, 30-second steps, one step of clock drift either way,
and each step usable at most once (the caller stores the last accepted step and passes it back)."""

from __future__ import annotations

import hmac
import re
import time

import pyotp
import segno

ISSUER = "ClaimVault"
DIGITS = 6
INTERVAL = 30
DRIFT_STEPS = 1
_CODE = re.compile(r"^[0-9]{6}$")


def current_time() -> float:
    """The clock TOTP checks against (tests replace it)."""
    return time.time()


def new_secret() -> str:
    """A fresh 160-bit secret, base32 (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no script, no style: safe under the strict CSP)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, title="TOTP enrolment QR code")
    return svg


def normalize_code(code: str) -> str:
    return "".join(code.split())


def matching_step(secret: str, code: str, *, last_used_step: int | None, at: float | None = None) -> int | None:
    """The time step ``code`` is valid for (now, or one step either side), if that step is later than
    ``last_used_step``; otherwise None. Constant-time comparison of each candidate."""
    code = normalize_code(code)
    if not _CODE.match(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now_step = int((current_time() if at is None else at) // INTERVAL)
    found = None
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        candidate = totp.generate_otp(step)
        if hmac.compare_digest(candidate, code) and (last_used_step is None or step > last_used_step):
            found = step
    return found
