"""Reading received messages one after another: header lines parsed once and kept are shared
between messages without one message's values showing up in another's."""

from __future__ import annotations

from postdesk.core.conversations.parse import HEADER_CACHE_CHARS, parse_message


def _raw(subject: str, sender: str, *, ctype: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"From: {sender}\r\nTo: Shop <hello@shop.test>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{abs(hash(subject))}@x.test>\r\nContent-Type: {ctype}\r\n"
        "Content-Transfer-Encoding: 8bit\r\nMIME-Version: 1.0\r\n\r\n"
        f"Body of {subject}\r\n"
    ).encode()


def test_messages_sharing_header_lines_keep_their_own_values() -> None:
    first = parse_message(_raw("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "=?utf-8?q?J=C3=B6rg?= <j@x.test>"))
    second = parse_message(_raw("Order 2", "Ann <ann@y.test>"))
    again = parse_message(_raw("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "=?utf-8?q?J=C3=B6rg?= <j@x.test>"))
    assert (first.subject, first.from_header, first.text) == (
        "Grüße",
        "Jörg <j@x.test>",
        "Body of =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n",
    )
    assert (second.subject, second.from_header) == ("Order 2", "Ann <ann@y.test>")
    assert second.to_header == first.to_header == "Shop <hello@shop.test>"
    assert again == first


def test_a_header_line_longer_than_what_is_kept_is_read_the_same() -> None:
    long_subject = "word " * (HEADER_CACHE_CHARS // 5 + 10)
    parsed = parse_message(_raw(long_subject, "Ann <ann@y.test>"))
    assert parsed.subject == long_subject.strip()


def test_a_part_type_seen_before_still_decides_what_the_body_is() -> None:
    html = parse_message(_raw("html", "a@x.test", ctype="text/html; charset=utf-8"))
    plain = parse_message(_raw("plain", "a@x.test"))
    assert html.html.startswith("Body of html") and html.text == "Body of html"
    assert plain.html == "" and plain.text == "Body of plain\n"
