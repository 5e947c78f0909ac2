"""Building the test message, and the endpoint's handling of the password and pin."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from postdesk.core.errors import UserError
from postdesk.core.smtptest import SmtpEndpoint, build_test_message
from postdesk.core.smtptest.message import summarize, wire_bytes


def _message(**overrides: str):
    fields = {
        "from_addr": "Shop <hello@shop.example.com>",
        "to_addr": "owner@example.org",
        "subject": "Postdesk test",
        "text": "It works.",
        "html": "<p>It <b>works</b>.</p>",
    }
    fields.update(overrides)
    return build_test_message(**fields)


def test_message_has_text_and_html_parts_and_the_headers_mail_needs() -> None:
    parsed = message_from_bytes(wire_bytes(_message()), policy=default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().strip() == "It works."
    assert "<b>works</b>" in parsed.get_body(("html",)).get_content()
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Subject"] == "Postdesk test"
    assert parsed["From"].addresses[0].addr_spec == "hello@shop.example.com"
    assert parsed["From"].addresses[0].display_name == "Shop"
    assert parsed["Date"].datetime is not None
    assert parsed["Message-ID"].endswith("@shop.example.com>")


def test_wire_format_uses_crlf_line_endings() -> None:
    data = wire_bytes(_message())
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("subject", {"subject": "Hello\r\nBcc: victim@example.net"}),
        ("subject", {"subject": "Hello\nthere"}),
        ("subject", {"subject": "tab\there"}),
        ("sender address", {"from_addr": "hello@shop.example.com\r\nBcc: x@example.net"}),
        ("recipient address", {"to_addr": "owner@example.org\nCc: x@example.net"}),
    ],
)
def test_line_breaks_in_a_header_field_are_refused_naming_the_field(
    field: str, overrides: dict[str, str]
) -> None:
    with pytest.raises(UserError) as caught:
        _message(**overrides)
    assert caught.value.code == "message.header_injection"
    assert field in caught.value.message


@pytest.mark.parametrize(
    "address",
    [
        "owner.example.org",
        "owner@@example.org",
        "a@b@example.org",
        "owner@",
        "@example.org",
        "owner@localhost",
        "owner@exa mple.org",
        "owner@-bad-.example",
    ],
)
def test_invalid_recipient_addresses_are_refused_with_a_clear_message(address: str) -> None:
    with pytest.raises(UserError) as caught:
        _message(to_addr=address)
    assert caught.value.code == "message.invalid_address"
    assert "recipient address" in caught.value.message
    assert address in caught.value.message
    assert "name@example.com" in caught.value.hint


def test_body_may_have_line_breaks() -> None:
    message = _message(text="line one\nline two", html="<p>one</p>\n<p>two</p>")
    assert "line two" in message.get_body(("plain",)).get_content()


def test_summary_describes_the_message_without_its_body() -> None:
    message = _message(text="secret body text")
    data = wire_bytes(message)
    summary = summarize(message, len(data))
    assert summary == f"DATA: {len(data):,} bytes, 2 parts, subject 'Postdesk test'"
    assert "secret body text" not in summary


def test_password_is_not_in_the_endpoint_repr() -> None:
    endpoint = SmtpEndpoint("smtp.example.com", 587, "starttls", "user", "hunter2-secret")
    assert "hunter2-secret" not in repr(endpoint)
    assert "hunter2-secret" not in str(endpoint)
    assert endpoint.password == "hunter2-secret"


def test_endpoint_normalises_a_pasted_pin_and_refuses_garbage() -> None:
    pin = "sha256 Fingerprint=" + "ab" * 32
    endpoint = SmtpEndpoint("smtp.example.com", 465, "tls", pinned_sha256=pin)
    assert endpoint.pinned_sha256 == ":".join(["AB"] * 32)
    with pytest.raises(UserError) as caught:
        SmtpEndpoint("smtp.example.com", 465, "tls", pinned_sha256="not a fingerprint")
    assert caught.value.code == "smtp.invalid_pin"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"host": "", "port": 587, "security": "starttls"}, "smtp.invalid_host"),
        (
            {"host": "smtp.example.com\r\nx", "port": 587, "security": "starttls"},
            "smtp.invalid_host",
        ),
        ({"host": "smtp.example.com", "port": 0, "security": "starttls"}, "smtp.invalid_port"),
        ({"host": "smtp.example.com", "port": 70000, "security": "tls"}, "smtp.invalid_port"),
        ({"host": "smtp.example.com", "port": 587, "security": "ssl"}, "smtp.invalid_security"),
    ],
)
def test_endpoint_refuses_impossible_settings(kwargs: dict, code: str) -> None:
    with pytest.raises(UserError) as caught:
        SmtpEndpoint(**kwargs)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "bad",
    [".alice@shop.test", "al..ice@shop.test", "alice.@shop.test", "a" * 65 + "@shop.test"],
)
def test_a_test_message_refuses_addresses_no_receiver_would_take(bad: str) -> None:
    with pytest.raises(UserError):
        build_test_message(bad, "owner@example.org", "s", "t", "<p>h</p>")
    with pytest.raises(UserError):
        build_test_message("shop@shop.test", bad, "s", "t", "<p>h</p>")
