"""Whatever arrives is filed: broken MIME, bad encodings and hostile headers never lose a message
(the inbound server has already promised to keep it), and what is stored is what a database
takes."""

from __future__ import annotations

import pytest

from postdesk.core.conversations import get_thread, list_threads
from postdesk.core.conversations.parse import parse_message
from postdesk.core.store.models import InboundMessage

BROKEN = {
    "garbage": bytes(range(256)) * 4,
    "empty": b"",
    "nul and 8-bit headers": (
        b"From: \xff\xfeBoss\x00 <boss@\xe9vil.example>\r\nSubject: Caf\xe9\x00 order\r\n"
        b"Message-ID: <nul\x00@evil.example>\r\n\r\nbody with a NUL \x00 and \xff bytes\r\n"
    ),
    "unknown charset": (
        b"From: a@b.example\r\nSubject: =?x-unknown?q?Hi?=\r\nContent-Type: text/plain; "
        b"charset=x-no-such-charset\r\n\r\nHello\r\n"
    ),
    "bad base64 and no closing boundary": (
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@!!!not base64"
        b"\r\n--zz\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="=?utf-8?q?broken?=\r\n\r\nxx'
    ),
    "endless header": b"From: a@b.example\r\nSubject: " + b"x" * 200_000 + b"\r\n\r\nhi\r\n",
    "deep nesting": b"From: a@b.example\r\n"
    + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(300)
    )
    + b"Content-Type: text/plain\r\n\r\ndeep\r\n",
    "message/rfc822 inside": (
        b"From: a@b.example\r\nSubject: Fwd: note\r\nContent-Type: multipart/mixed; boundary=q"
        b"\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--q\r\nContent-Type: "
        b"message/rfc822\r\n\r\nFrom: c@d.example\r\nSubject: inner\r\n\r\ninner text\r\n--q--\r\n"
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_message_is_filed_and_shown(conversations_store, file_sample, name: str) -> None:
    message_id = file_sample(BROKEN[name])
    with conversations_store.session() as s:
        row = s.get(InboundMessage, message_id)
        assert row.raw == BROKEN[name]  # kept byte for byte
        assert "\x00" not in row.subject + row.from_header + row.body_text
        assert len(row.subject) <= 300 and len(row.message_id_header) <= 300
    [thread] = list_threads(conversations_store, "example.com")
    get_thread(conversations_store, thread.id)  # and it can be opened


def test_headers_are_decoded_and_the_text_comes_from_html_when_alone() -> None:
    raw = (
        "From: =?utf-8?q?Jos=C3=A9_Ni=C3=B1o?= <jose@ejemplo.example>\r\n"
        "Subject: =?utf-8?b?wqFIb2xhIQ==?=\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><head><style>p{color:red}</style><script>var x=1</script></head>"
        "<body><p>Primera&nbsp;línea</p><p>Segunda</p></body></html>\r\n"
    ).encode()
    parsed = parse_message(raw)
    assert parsed.from_header == "José Niño <jose@ejemplo.example>"
    assert parsed.subject == "¡Hola!"
    assert parsed.text.splitlines() == ["Primera línea", "", "Segunda"]


def test_a_message_id_taken_as_written_is_what_the_full_parser_reads() -> None:
    import random

    from postdesk.core.conversations.parse import (
        _message_id,
        first_message_id,
        header,
        message_object,
    )

    atext = "abcXYZ0189!#$%&'*+-/=?^_`{|}~"
    rng = random.Random(7)
    ids = ["<a@b>", " <x.y@z.example> ", "<=?utf-8?q?x?=@b>", "<a..b@c>", "<a@b@c>", '<a"b@c>',
           "<a(b)@c>", "<a@[192.0.2.1]>", "no-brackets@x", "<a@b> <c@d>", ""]  # fmt: skip
    ids += [
        "<" + "".join(rng.choice(atext + ".@") for _ in range(rng.randint(3, 30))) + ">"
        for _ in range(2000)
    ]
    for value in ids:
        raw = f"From: a@b.example\r\nMessage-ID: {value}\r\nSubject: x\r\n\r\nbody\r\n".encode()
        msg = message_object(raw)
        assert _message_id(msg) == first_message_id(header(msg, "Message-ID")), value


@pytest.mark.parametrize("name", ["Subject", "In-Reply-To", "References"])
def test_plain_text_taken_as_written_is_what_the_full_parser_reads(name: str) -> None:
    import email

    from postdesk.core.conversations.parse import _POLICY, clean_text, header

    values = [
        "Where is my order?",
        "  spaced   out\t words  ",
        "folded over\r\n two lines",
        'Re: [club] a (comment) "quoted" <not@an.address>',
        "=?utf-8?q?encoded?= and plain",  # decoded by the parser, never taken as written
        "=?broken",
        "caf\udce9 in raw 8-bit",
        "",
        "<a@b> <c@d>",
    ]
    for value in values:
        raw = f"From: a@b.example\r\n{name}: {value}\r\n\r\nbody\r\n".encode(
            "utf-8", "surrogateescape"
        )
        msg = email.message_from_bytes(raw, policy=_POLICY)
        parsed = msg.get(name)
        expected = " ".join(clean_text(str(parsed)).split()) if parsed is not None else ""
        assert header(msg, name) == expected, value
