"""Second factors: TOTP (RFC 6238), WebAuthn security keys and passkeys, single-use recovery codes."""
