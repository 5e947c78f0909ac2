"""The certificate the relay offers with STARTTLS: the user's own, or one made on first run.

The private key of the relay's own listener is an ordinary file in the data directory (mode
0600), not a keyring secret: the TLS library loads it from a file, and it protects only this
machine's listener, which any process running as the user could replace anyway.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postdesk.core.config import data_dir
from postdesk.core.errors import UserError

CERT_NAME = "relay-cert.pem"
KEY_NAME = "relay-key.pem"
VALID_DAYS = 825
RENEW_BEFORE = dt.timedelta(days=30)


def tls_dir() -> Path:
    """Where the generated certificate and key live."""
    return data_dir() / "relay-tls"


def self_signed(hostname: str, folder: Path | None = None) -> tuple[Path, Path]:
    """The generated certificate and key files, made (or renewed) when missing or expiring."""
    folder = folder or tls_dir()
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    if cert_path.exists() and key_path.exists() and not _expiring(cert_path):
        return cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in {hostname, "localhost"}]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, key_pem)
    tmp = cert_path.with_suffix(".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp.replace(cert_path)
    return cert_path, key_path


def _write_private(path: Path, data: bytes) -> None:
    """Write a key file that only the owner can read, from the first byte on."""
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _expiring(cert_path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return True
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE


def server_context(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """A server TLS context presenting this certificate; a clear UserError when it can't load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(certfile), str(keyfile))
    except (OSError, ssl.SSLError) as exc:
        raise UserError(
            "relay.bad_certificate",
            f"The relay could not load its certificate {certfile} with key {keyfile} ({exc}).",
            "Give a PEM certificate and its matching unencrypted PEM key, or leave both out to "
            "use a self-signed certificate.",
        ) from None
    return context
