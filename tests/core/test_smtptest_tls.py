"""Certificates: untrusted, wrong name, expired, pinned — and fingerprints as users type them."""

from __future__ import annotations

import pytest

from postdesk.core.errors import UserError
from postdesk.core.smtptest import (
    build_test_message,
    fingerprint_sha256,
    normalize_pin,
    run_test,
)
from postdesk.core.smtptest.tlsinfo import hostname_matches
from support.smtpd import SMTP_PASSWORD, SmtpServer, endpoint_for


def _message():
    return build_test_message(
        "hello@shop.example.com", "owner@example.org", "Postdesk test", "Hi", "<p>Hi</p>"
    )


def _client_lines(result) -> list[str]:
    return [line.text for line in result.transcript if line.direction == "client"]


def _stopped_before_login(result, server: SmtpServer) -> None:
    assert not any(t.startswith(("AUTH", "MAIL")) for t in _client_lines(result))
    assert server.handler.messages == []
    assert SMTP_PASSWORD not in result.transcript_text()


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_self_signed_certificate_is_untrusted_and_reported(smtp_server, security) -> None:
    server = smtp_server(security=security, cert="self_signed")
    result = await run_test(endpoint_for(server), _message())
    assert (result.ok, result.category, result.stage) == (False, "cert_untrusted", "tls")
    assert result.tls["verified"] is False
    assert result.tls["self_signed"] is True
    assert result.tls["sha256"] == server.fingerprint
    assert result.tls["pinned"] is False
    assert server.fingerprint in result.advice  # what to pin, if the user trusts it
    assert "pin" in result.advice
    _stopped_before_login(result, server)


async def test_certificate_from_an_unknown_ca_is_untrusted(smtp_server) -> None:
    server = smtp_server(cert="good")
    result = await run_test(endpoint_for(server, cafile=None), _message())
    assert result.category == "cert_untrusted"
    assert "Postdesk Test CA" in result.tls["issuer"]
    _stopped_before_login(result, server)


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_certificate_for_another_name_is_cert_hostname(smtp_server, security) -> None:
    server = smtp_server(security=security, cert="wrong_name")
    result = await run_test(endpoint_for(server), _message())
    assert (result.category, result.stage) == ("cert_hostname", "tls")
    assert result.tls["names"] == ["mail.other.example"]
    assert result.tls["hostname_matched"] is False
    assert "mail.other.example" in result.advice
    _stopped_before_login(result, server)


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_expired_certificate_is_cert_expired(smtp_server, security) -> None:
    server = smtp_server(security=security, cert="expired")
    result = await run_test(endpoint_for(server), _message())
    assert (result.category, result.stage) == ("cert_expired", "tls")
    assert result.tls["expired"] is True
    assert result.tls["hostname_matched"] is True
    assert result.tls["not_after"][:10] in result.advice
    _stopped_before_login(result, server)


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_pinned_fingerprint_lets_a_self_signed_server_pass(smtp_server, security) -> None:
    server = smtp_server(security=security, cert="self_signed")
    pin = server.fingerprint.replace(":", "").lower()  # as a user might paste it
    result = await run_test(endpoint_for(server, pinned_sha256=pin), _message())
    assert result.ok, result.advice
    assert result.tls["pinned"] is True and result.tls["verified"] is False
    assert len(server.handler.messages) == 1
    assert any("pinned fingerprint" in line.text for line in result.transcript)


async def test_wrong_pin_does_not_let_a_self_signed_server_pass(smtp_server) -> None:
    server = smtp_server(cert="self_signed")
    result = await run_test(endpoint_for(server, pinned_sha256="AB" * 32), _message())
    assert result.category == "cert_untrusted"
    assert result.tls["pinned"] is False
    _stopped_before_login(result, server)


async def test_pin_does_not_override_verification_of_a_trusted_certificate(smtp_server) -> None:
    # A different pin on a certificate that verifies: verification decides, the send works.
    server = smtp_server(cert="good")
    result = await run_test(endpoint_for(server, pinned_sha256="CD" * 32), _message())
    assert result.ok
    assert result.tls["verified"] is True and result.tls["pinned"] is False


def test_fingerprint_is_colon_separated_upper_case_hex() -> None:
    fingerprint = fingerprint_sha256(b"certificate bytes")
    parts = fingerprint.split(":")
    assert len(parts) == 32
    assert all(len(p) == 2 and p == p.upper() for p in parts)
    assert normalize_pin(fingerprint.lower().replace(":", " ")) == fingerprint


@pytest.mark.parametrize(
    "typed",
    [
        "AB" * 32,
        ":".join(["ab"] * 32),
        "-".join(["Ab"] * 32),
        "SHA256 Fingerprint=" + ":".join(["AB"] * 32),
        "sha256:" + "ab" * 32,
        "  " + "ab" * 32 + "\n",
    ],
)
def test_pins_are_normalised_however_they_are_typed(typed: str) -> None:
    assert normalize_pin(typed) == ":".join(["AB"] * 32)


@pytest.mark.parametrize("typed", ["", "AB" * 31, "ZZ" * 32, "AB" * 33])
def test_pins_that_are_not_sha256_fingerprints_are_refused(typed: str) -> None:
    with pytest.raises(UserError) as caught:
        normalize_pin(typed)
    assert caught.value.code == "smtp.invalid_pin"


@pytest.mark.parametrize(
    ("names", "host", "matches"),
    [
        (["smtp.example.com"], "SMTP.Example.com", True),
        (["*.example.com"], "smtp.example.com", True),
        (["*.example.com"], "a.b.example.com", False),
        (["*.example.com"], "example.com", False),
        (["127.0.0.1"], "127.0.0.1", True),
        (["localhost"], "127.0.0.1", False),
        (["::1"], "[::1]", True),
    ],
)
def test_hostname_matching(names: list[str], host: str, matches: bool) -> None:
    assert hostname_matches(names, host) is matches
