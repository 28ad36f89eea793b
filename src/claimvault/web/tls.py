"""TLS material: the generated localhost development certificate and the server SSL context (TLS 1.2+)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from claimvault.errors import ConfigurationError

DEV_CERTIFICATE_ORGANIZATION = "ClaimVault Development Certificate"
"""Subject organization that marks the generated certificate; production refuses certificates carrying it."""

CERT_SETTING = "CLAIMVAULT_TLS_CERT_FILE"
KEY_SETTING = "CLAIMVAULT_TLS_KEY_FILE"

DEV_CERTIFICATE_VALIDITY = datetime.timedelta(days=397)
_CLOCK_SKEW_ALLOWANCE = datetime.timedelta(minutes=5)

# TLS 1.2 suites: forward-secret ECDHE with AEAD ciphers only (Mozilla "intermediate"). TLS 1.3 suites are
# configured separately by OpenSSL and are all AEAD.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


def ensure_dev_certificate(cert_path: Path, key_path: Path) -> bool:
    """Generate a self-signed localhost certificate unless both files exist. Returns True if it generated one.

    The key is written to a 0600 temporary file created exclusively and then renamed into place, so it never
    exists on disk with wider permissions.
    """
    if cert_path.exists() and key_path.exists():
        return False

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_CERTIFICATE_ORGANIZATION),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + DEV_CERTIFICATE_VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.IPAddress(ipaddress.IPv6Address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )

    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)

    for directory in {cert_path.parent, key_path.parent}:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_atomically(key_path, key_pem, 0o600)
    _write_atomically(cert_path, cert_pem, 0o644)
    return True


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a new file created with ``mode`` next to ``path``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed it; never widens beyond ``mode``
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def is_dev_certificate(cert_path: Path) -> bool:
    """True when the (first) certificate in ``cert_path`` carries the development-certificate marker."""
    certificate = _load_certificate(cert_path)
    organizations = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(attribute.value == DEV_CERTIFICATE_ORGANIZATION for attribute in organizations)


def _read_file(path: Path, setting: str, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{setting}: {what} file {path} does not exist.") from None
    except OSError:
        raise ConfigurationError(f"{setting}: {what} file {path} cannot be read.") from None


def _load_certificate(cert_path: Path) -> x509.Certificate:
    data = _read_file(cert_path, CERT_SETTING, "certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        # Do not chain: the parser's message could quote file contents.
        raise ConfigurationError(f"{CERT_SETTING}: certificate file {cert_path} is not a PEM certificate.") from None


class _EncryptedKeyError(Exception):
    """Raised from the password callback: we never prompt for or accept a key passphrase."""


def _refuse_password() -> str:
    raise _EncryptedKeyError


def build_server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """Server context that accepts only TLS 1.2+ with forward-secret AEAD suites, loaded with our cert/key."""
    _load_certificate(cert_path)  # names the certificate file precisely when it is the broken one
    _read_file(key_path, KEY_SETTING, "private key")

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_SINGLE_ECDH_USE
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    context.set_ciphers(TLS12_CIPHERS)
    try:
        context.load_cert_chain(cert_path, key_path, password=_refuse_password)
    except _EncryptedKeyError:
        raise ConfigurationError(
            f"{KEY_SETTING}: private key file {key_path} is encrypted; provide an unencrypted key "
            "readable only by the service account."
        ) from None
    except (ssl.SSLError, OSError, ValueError):
        # The certificate parsed above, so the key is unusable or does not belong to the certificate.
        raise ConfigurationError(
            f"{KEY_SETTING}: private key file {key_path} is not a PEM private key matching the certificate "
            f"in {CERT_SETTING}."
        ) from None
    return context
