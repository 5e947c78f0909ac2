"""TLS details for the report: certificate facts, fingerprints, pins, and what a TLS error means."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from postdesk.core.errors import UserError

if TYPE_CHECKING:  # loaded when a certificate is described, not with every page that shows one
    from cryptography import x509

# OpenSSL's X509_V_ERR_* codes, grouped by what the user has to do about them.
_EXPIRED_CODES = {9, 10}  # not yet valid, expired
_HOSTNAME_CODES = {62, 64}  # host name mismatch, IP address mismatch

# Reasons OpenSSL gives when the other side does not speak TLS at all (a plaintext SMTP greeting
# read as a TLS record): the security setting does not fit the port.
_NOT_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "UNKNOWN_PROTOCOL",
    "HTTP_REQUEST",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "UNEXPECTED_RECORD",
}

_PIN_PREFIX = re.compile(r"^\s*(sha-?256)?\s*(fingerprint)?\s*[=:]?\s*", re.IGNORECASE)


def fingerprint_sha256(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate as users see it: ``AB:CD:…`` (upper-case)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def normalize_pin(text: str) -> str:
    """Turn a typed or pasted SHA-256 fingerprint into the ``AB:CD:…`` form, or raise UserError.

    Accepts colons, spaces or dashes between bytes, any case, and an ``SHA256 Fingerprint=``
    prefix as printed by ``openssl x509 -fingerprint -sha256``.
    """
    stripped = _PIN_PREFIX.sub("", text or "", count=1)
    digits = re.sub(r"[\s:\-]", "", stripped)
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", digits):
        raise UserError(
            "smtp.invalid_pin",
            "The pinned certificate fingerprint is not a SHA-256 fingerprint.",
            "Paste the 64 hexadecimal characters of the certificate's SHA-256 fingerprint "
            "(colons are optional), or leave the field empty.",
        )
    digits = digits.upper()
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def make_context(verify: bool, cafile: str | None = None) -> ssl.SSLContext:
    """A client TLS context: verifying (system trust plus ``cafile``), or not, to inspect only."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if cafile:
        # An extra trust anchor on top of the system's, never instead of it.
        context.load_verify_locations(cafile=cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def certificate_category(error: ssl.SSLCertVerificationError) -> str:
    """The verdict category of a failed certificate check."""
    code = getattr(error, "verify_code", None)
    if code in _EXPIRED_CODES:
        return "cert_expired"
    if code in _HOSTNAME_CODES:
        return "cert_hostname"
    return "cert_untrusted"


def describe_verify_error(error: ssl.SSLCertVerificationError) -> str:
    """OpenSSL's reason for rejecting a certificate, without the source-file noise."""
    message = getattr(error, "verify_message", None) or str(error)
    return str(message)


def handshake_category(error: BaseException) -> str:
    """``tls_mode_mismatch`` when the server is not speaking TLS at all, else ``tls_handshake``."""
    if isinstance(error, ssl.SSLError):
        reason = (getattr(error, "reason", None) or "").upper()
        if reason in _NOT_TLS_REASONS or "WRONG VERSION NUMBER" in str(error).upper():
            return "tls_mode_mismatch"
    return "tls_handshake"


def describe_handshake_error(error: BaseException) -> str:
    """Why a TLS handshake failed, in a few words."""
    if isinstance(error, ssl.SSLError) and error.reason:
        return str(error.reason).replace("_", " ").lower()
    if isinstance(error, ConnectionError):
        return "the server closed the connection during the handshake"
    return str(error) or type(error).__name__


def hostname_matches(names: list[str], host: str) -> bool:
    """Whether ``host`` is one of the certificate names (one-label ``*.`` wildcards allowed)."""
    host = host.rstrip(".").lower()
    try:
        wanted_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(
            host.strip("[]")
        )
    except ValueError:
        wanted_ip = None
    for name in names:
        name = name.rstrip(".").lower()
        if wanted_ip is not None:
            try:
                if ipaddress.ip_address(name) == wanted_ip:
                    return True
            except ValueError:
                continue
        elif name == host or _wildcard_matches(name, host):
            return True
    return False


def _wildcard_matches(name: str, host: str) -> bool:
    # A wildcard stands for exactly one label: *.example.com matches a.example.com only.
    return name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]


def _names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        # Without subjectAltName, clients fall back to nothing today; show the CN for the report.
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return dns_names + ips


def describe_certificate(der: bytes, now: datetime | None = None) -> dict[str, Any]:
    """Subject, issuer, names, validity and fingerprint of a DER certificate."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    now = now or datetime.now(UTC)
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "names": _names(cert),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "self_signed": cert.issuer == cert.subject,
        "sha256": fingerprint_sha256(der),
    }


# The attribute names the ssl module decodes, as RFC 4514 writes them (cryptography's short names);
# a name with any other attribute is described by cryptography.
_SHORT_NAMES = {
    "commonName": "CN",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def _escape(value: str) -> str:
    """An attribute value escaped as RFC 4514 §2.4 (and cryptography) write it."""
    if not value:
        return ""
    for char, escaped in (
        ("\\", "\\\\"),
        ('"', '\\"'),
        ("+", "\\+"),
        (",", "\\,"),
        (";", "\\;"),
        ("<", "\\<"),
        (">", "\\>"),
        ("\0", "\\00"),
    ):
        value = value.replace(char, escaped)
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _rfc4514(name: tuple[tuple[tuple[str, str], ...], ...]) -> str | None:
    """A name decoded by the ssl module as RFC 4514 text; None when it has a multi-valued RDN or
    an attribute without a short name (cryptography describes those)."""
    parts = []
    for rdn in reversed(name):  # RFC 4514 writes the last RDN first
        if len(rdn) != 1 or rdn[0][0] not in _SHORT_NAMES:
            return None
        kind, value = rdn[0]
        parts.append(f"{_SHORT_NAMES[kind]}={_escape(value)}")
    return ",".join(parts)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _decoded_time(text: str) -> datetime:
    """A certificate time in OpenSSL's format ("Nov  9 21:37:18 2027 GMT"), as
    ``ssl.cert_time_to_seconds`` reads it but without its ``strptime`` (which loads the
    locale-aware ``_strptime`` module and compiles its patterns for two dates)."""
    month, day, clock, year, zone = text.split()  # ValueError when not five parts
    hour, minute, second = clock.split(":")
    numbers = (year, day, hour, minute, second)
    if (
        zone != "GMT"
        or month not in _MONTHS
        or not all(n.isascii() and n.isdigit() for n in numbers)
    ):
        raise ValueError(f"not a certificate time: {text!r}")
    return datetime(
        int(year),
        _MONTHS.index(month) + 1,
        int(day),
        int(hour),
        int(minute),
        int(second),
        tzinfo=UTC,
    )


def describe_decoded(
    decoded: dict[str, Any], der: bytes, now: datetime | None = None
) -> dict[str, Any] | None:
    """As :func:`describe_certificate`, from the ssl module's own decoding of a verified peer
    certificate (``getpeercert()``), without loading cryptography's certificate reader (~0.05 s
    of a command-line test send). None when the decoding lacks something (an unverified session
    decodes nothing) or a name needs more than the common attributes."""
    try:
        subject, issuer = _rfc4514(decoded["subject"]), _rfc4514(decoded["issuer"])
        not_before = _decoded_time(decoded["notBefore"])
        not_after = _decoded_time(decoded["notAfter"])
    except (KeyError, TypeError, ValueError):
        return None
    if subject is None or issuer is None:
        return None
    alt = decoded.get("subjectAltName")
    if alt is None:  # no subjectAltName: the CN, as cryptography's reading gives it
        names = [value for rdn in decoded["subject"] for kind, value in rdn if kind == "commonName"]
    else:
        dns_names = [value for kind, value in alt if kind == "DNS"]
        # OpenSSL writes IPv6 addresses uncompressed and in capitals: normalise as ipaddress does.
        ips = [
            str(ipaddress.ip_address(value.strip())) for kind, value in alt if kind == "IP Address"
        ]
        names = dns_names + ips
    now = now or datetime.now(UTC)
    return {
        "subject": subject,
        "issuer": issuer,
        "names": names,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "expired": now > not_after,
        "not_yet_valid": now < not_before,
        "self_signed": decoded["issuer"] == decoded["subject"],
        "sha256": fingerprint_sha256(der),
    }


def session_details(ssl_object: Any, host: str, verified: bool) -> dict[str, Any]:
    """Everything the report shows about an established TLS session and its leaf certificate."""
    cipher = ssl_object.cipher() if ssl_object is not None else None
    details: dict[str, Any] = {
        "protocol": ssl_object.version() if ssl_object is not None else None,
        "cipher": cipher[0] if cipher else None,
        "bits": cipher[2] if cipher else None,
        "verified": verified,
        "hostname_matched": None,
        "pinned": False,
        "problem": None,
    }
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der:
        decoded = describe_decoded(ssl_object.getpeercert(), der)
        details.update(decoded if decoded is not None else describe_certificate(der))
        details["hostname_matched"] = hostname_matches(details["names"], host)
    return details
