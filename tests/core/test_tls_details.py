"""A certificate described from the ssl module's own decoding reads exactly as cryptography's.

A test send describes the server's certificate from ``getpeercert()`` when the session was
verified, and with cryptography otherwise; the report must not change with the path taken.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postdesk.core.smtptest import build_test_message, run_test
from postdesk.core.smtptest.tlsinfo import describe_certificate, describe_decoded
from support.smtpd import endpoint_for

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


def _certificate(
    subject: x509.Name,
    issuer: x509.Name | None = None,
    alt: list[x509.GeneralName] | None = None,
    valid: tuple[dt.datetime, dt.datetime] = (
        NOW - dt.timedelta(days=1),
        NOW + dt.timedelta(days=90),
    ),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
    )
    if alt is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return builder.sign(KEY, hashes.SHA256())


def _decoded(cert: x509.Certificate, folder: Path) -> dict:
    """What ``getpeercert()`` gives for this certificate (the ssl module's own decoder)."""
    path = folder / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]


CA = _name((NameOID.COUNTRY_NAME, "DE"), (NameOID.ORGANIZATION_NAME, "Test CA"))
DNS = [x509.DNSName("mail.shop.example"), x509.DNSName("*.shop.example")]
IPS = [
    x509.IPAddress(ipaddress.ip_address("192.0.2.25")),
    x509.IPAddress(ipaddress.ip_address("2001:db8::25")),
]

SAME = {
    "common names and both kinds of alternative name": _certificate(
        _name(
            (NameOID.COUNTRY_NAME, "US"),
            (NameOID.STATE_OR_PROVINCE_NAME, "Oregon"),
            (NameOID.LOCALITY_NAME, "Portland"),
            (NameOID.ORGANIZATION_NAME, "Shop, Inc."),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Mail + Ops"),
            (NameOID.COMMON_NAME, "mail.shop.example"),
        ),
        CA,
        [IPS[1], *DNS, IPS[0]],
    ),
    "characters RFC 4514 escapes": _certificate(
        _name(
            (NameOID.ORGANIZATION_NAME, '#1 "Best" <Mail>; a\\b '),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, " leading space"),
            (NameOID.COMMON_NAME, "Ünïcödé Mail"),
        ),
        CA,
        DNS,
    ),
    "domain components and a user id": _certificate(
        _name(
            (NameOID.DOMAIN_COMPONENT, "example"),
            (NameOID.DOMAIN_COMPONENT, "shop"),
            (NameOID.USER_ID, "mailer"),
            (NameOID.STREET_ADDRESS, "1 Main St"),
            (NameOID.COMMON_NAME, "mail.shop.example"),
        ),
        CA,
        DNS,
    ),
    "self-signed without alternative names (the CN is shown)": _certificate(
        _name((NameOID.COMMON_NAME, "localhost"))
    ),
    "alternative names without a host name": _certificate(
        _name((NameOID.COMMON_NAME, "mail.shop.example")),
        CA,
        [x509.RFC822Name("postmaster@shop.example")],
    ),
    "expired": _certificate(
        _name((NameOID.COMMON_NAME, "old.shop.example")),
        CA,
        DNS,
        (NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=35)),
    ),
    "not yet valid": _certificate(
        _name((NameOID.COMMON_NAME, "new.shop.example")),
        CA,
        DNS,
        (NOW + dt.timedelta(days=2), NOW + dt.timedelta(days=92)),
    ),
}


@pytest.mark.parametrize("case", list(SAME))
def test_decoded_certificate_reads_as_cryptography_reads_it(case: str, tmp_path: Path) -> None:
    cert = SAME[case]
    der = cert.public_bytes(serialization.Encoding.DER)
    assert describe_decoded(_decoded(cert, tmp_path), der, NOW) == describe_certificate(der, NOW)


MULTI_VALUED = x509.Name(
    [
        x509.RelativeDistinguishedName(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "mail.shop.example"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Mail"),
            ]
        )
    ]
)


@pytest.mark.parametrize(
    "subject",
    [
        _name((NameOID.EMAIL_ADDRESS, "pm@shop.example"), (NameOID.COMMON_NAME, "shop")),
        MULTI_VALUED,
    ],
    ids=["an attribute without a short name", "a multi-valued RDN"],
)
def test_names_beyond_the_common_attributes_are_left_to_cryptography(
    subject: x509.Name, tmp_path: Path
) -> None:
    cert = _certificate(subject, CA, DNS)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert describe_decoded(_decoded(cert, tmp_path), der, NOW) is None
    assert describe_decoded({}, der, NOW) is None  # an unverified session decodes nothing


async def test_a_verified_test_send_reports_the_certificate_as_before(
    smtp_server, smtp_pki
) -> None:
    server = smtp_server(security="starttls", cert="good")
    message = build_test_message(
        "hello@shop.example.com", "owner@example.org", "Hi", "Hi", "<p>Hi</p>"
    )
    result = await run_test(endpoint_for(server), message)
    assert result.ok and result.tls["verified"] is True
    der = ssl.PEM_cert_to_DER_cert(Path(smtp_pki.chains["good"][0]).read_text())
    expected = describe_certificate(der)
    for field in ("subject", "issuer", "names", "not_before", "not_after", "self_signed"):
        assert result.tls[field] == expected[field]
    assert result.tls["sha256"] == server.fingerprint
