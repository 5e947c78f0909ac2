"""What a hostile or broken client tries against the relay, and what actually goes out upstream.

Each test talks SMTP to a real relay (in-process, on loopback) whose upstream is an aiosmtpd
sink; the sink's mailbox and the queue show what got through.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib

import pytest

from postdesk.core import credentials
from postdesk.core.relay import queue
from support.relay import DOMAIN

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

SENDER = f"shop@{DOMAIN}"


def session(port: int, username: str, password: str) -> smtplib.SMTP:
    """A logged-in smtplib client (STARTTLS, AUTH)."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.starttls()
    client.login(username, password)
    return client


def send_raw(
    client: smtplib.SMTP, raw: bytes, rcpt: str = "alice@client.test"
) -> tuple[int, bytes]:
    """MAIL, RCPT and DATA with the bytes as given (bare LFs stay bare); DATA's reply."""
    assert client.mail(SENDER)[0] == 250
    assert client.rcpt(rcpt)[0] == 250
    try:
        return client.data(raw)
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code, exc.smtp_error


def nothing_went_out(world) -> None:  # type: ignore[no-untyped-def]
    assert queue.counts(world.store)["pending"] == 0
    assert queue.list_messages(world.store) == []
    assert world.sink.messages == []


BAD_RECIPIENTS = {
    "nul": "c\x00@client.test",
    "control": "c\x01d@client.test",
    "no_domain": "postmaster",
    "dot_at_start": ".alice@client.test",
    "two_dots": "a..b@client.test",
    "local_65": "x" * 65 + "@client.test",
    "address_259": "x" * 64 + "@" + ".".join(["d" * 60] * 3) + ".dddddd.test",
    "single_label": "alice@localhost",
    "hyphen_label": "alice@-client.test",
    "empty_label": "alice@client..test",
    "ip_literal": "alice@[127.0.0.1]",
}


async def test_invalid_envelope_addresses_are_refused_with_a_reason(relay_world):
    world = relay_world
    relay = await world.start_relay()

    def conversation() -> dict[str, tuple[int, bytes]]:
        seen = {}
        with session(relay.port, world.username, world.password) as client:
            for label, bad in (
                ("sender_dot", f".shop@{DOMAIN}"),
                ("sender_control", f"sh\x01op@{DOMAIN}"),
            ):
                seen[label] = client.docmd("MAIL", f"FROM:<{bad}>")
                client.rset()
            assert client.mail(SENDER)[0] == 250
            for label, bad in BAD_RECIPIENTS.items():
                seen[label] = client.docmd("RCPT", f"TO:<{bad}>")
            seen["good"] = client.rcpt("alice@client.test")
            seen["data"] = client.data(b"From: shop@example.com\r\nSubject: one good\r\n\r\nhi\r\n")
        return seen

    seen = await asyncio.to_thread(conversation)
    for label in ("sender_dot", "sender_control"):
        code, text = seen[label]
        assert code == 553, (label, seen[label])
        assert text.startswith(b"5.1.7 Sender refused:"), (label, text)
    for label in BAD_RECIPIENTS:
        code, text = seen[label]
        assert code == 553, (label, seen[label])
        assert text.startswith(b"5.1.3 "), (label, text)
        assert b"Error" not in text, (label, text)  # a reason in words, not aiosmtpd's own
    assert b"has no @" in seen["no_domain"][1]
    assert b"longer than 64" in seen["local_65"][1]
    assert b"longer than 254" in seen["address_259"][1]
    assert b"hidden character (U+0000)" in seen["nul"][1]
    assert b"\x00" not in seen["nul"][1]  # named, never echoed raw
    assert seen["good"][0] == 250
    assert seen["data"][0] == 250
    received = await world.sink.await_for(1)
    assert [env.rcpt_tos for env in received] == [["alice@client.test"]]


FOREIGN_FROM_TRICKS = {
    # (raw header lines, the code, a phrase of the reason)
    "second_from_obsolete_space": (
        b"From: shop@example.com\r\nFrom : ceo@bank.test\r\n",
        550,
        b"2 From headers",
    ),
    "second_from_other_case": (
        b"From: shop@example.com\r\nfROM: ceo@bank.test\r\n",
        550,
        b"2 From",
    ),
    "second_from_tab": (b"From: shop@example.com\r\nFrom\t: ceo@bank.test\r\n", 550, b"2 From"),
    "only_from_obsolete": (b"From : ceo@bank.test\r\n", 553, b"<ceo@bank.test> is not on"),
    "folded_second_address": (
        b"From: shop@example.com,\r\n ceo@bank.test\r\n",
        553,
        b"<ceo@bank.test> is not on",
    ),
    "address_list": (b"From: Shop <shop@example.com>, ceo@bank.test\r\n", 553, b"ceo@bank.test"),
    "group": (b"From: team: shop@example.com, ceo@bank.test;\r\n", 553, b"ceo@bank.test"),
    "no_comma": (b"From: shop@example.com ceo@bank.test\r\n", 550, b"not a list of addresses"),
    "foreign_sender": (
        b"From: shop@example.com\r\nSender: ceo@bank.test\r\n",
        553,
        b"Sender address <ceo@bank.test>",
    ),
    "two_senders": (
        b"From: shop@example.com\r\nSender: a@example.com\r\nsender : b@example.com\r\n",
        550,
        b"2 Sender headers",
    ),
    "line_that_is_no_field": (
        b"From: shop@example.com\r\nX-Note\r\nFrom: ceo@bank.test\r\n",
        550,
        b"not a header field",
    ),
    "bare_cr": (b"From: shop@example.com\rFrom: ceo@bank.test\r\n", 550, b"control character"),
    "non_ascii_domain": (
        "From: Chef <ceo@bänk.test>\r\n".encode(),
        553,
        b"<ceo@xn--bnk-qla.test> is not on example.com",
    ),
    "non_ascii_local_part": ("From: jörg@bank.test\r\n".encode(), 553, b"<j\\xf6rg@bank.test>"),
    "not_utf8": (b"From: shop@example.com\xff\r\n", 550, b"not a list of addresses"),
    "no_from": (b"To: alice@client.test\r\n", 550, b"no From header"),
}


async def test_from_tricks_are_refused_with_a_reason_and_nothing_goes_out(relay_world):
    world = relay_world
    relay = await world.start_relay()

    def conversation() -> dict[str, tuple[int, bytes]]:
        seen = {}
        with session(relay.port, world.username, world.password) as client:
            for label, (head, _, _) in FOREIGN_FROM_TRICKS.items():
                raw = (
                    head + b"To: alice@client.test\r\nSubject: " + label.encode() + b"\r\n\r\nx\r\n"
                )
                seen[label] = send_raw(client, raw)
        return seen

    seen = await asyncio.to_thread(conversation)
    for label, (_, code, phrase) in FOREIGN_FROM_TRICKS.items():
        assert seen[label][0] == code, (label, seen[label])
        assert phrase in seen[label][1], (label, seen[label])
        assert b"Error" not in seen[label][1], (label, seen[label])
    await asyncio.sleep(0.5)  # a wrongly queued message would reach the sink by now
    nothing_went_out(world)


async def test_headers_end_at_the_first_empty_line_whatever_its_line_ending(relay_world):
    world = relay_world
    relay = await world.start_relay()
    raw = (
        b"From: shop@example.com\n"
        b"To: alice@client.test\n"
        b"Subject: bare line feeds\n"
        b"\n"
        b"First body line.\r\n"
        b"\r\n"
        b"Second paragraph.\r\n"
    )

    def conversation() -> tuple[int, bytes]:
        with session(relay.port, world.username, world.password) as client:
            return send_raw(client, raw)

    assert (await asyncio.to_thread(conversation))[0] == 250
    [received] = await world.sink.await_for(1)
    head, _, body = received.content.partition(b"\r\n\r\n")
    assert body.startswith(b"First body line.\r\n\r\nSecond paragraph.")
    assert b"\r\nmessage-id: <" in head.lower()
    assert b"\r\ndate: " in head.lower()
    assert b"message-id" not in body.lower() and b"date:" not in body.lower()
    assert world.dkim_valid(received.content)
    assert [m.subject for m in queue.list_messages(world.store)] == ["bare line feeds"]


async def test_an_obsolete_from_on_the_domain_goes_out_as_a_plain_from(relay_world):
    world = relay_world
    relay = await world.start_relay()
    raw = b"From : Shop <shop@example.com>\r\nTo: alice@client.test\r\nSubject: old\r\n\r\nhi\r\n"

    def conversation() -> tuple[int, bytes]:
        with session(relay.port, world.username, world.password) as client:
            return send_raw(client, raw)

    assert (await asyncio.to_thread(conversation))[0] == 250
    [received] = await world.sink.await_for(1)
    # Written the way every receiver reads it, and covered by the signature as such.
    assert b"\r\nFrom: Shop <shop@example.com>\r\n" in received.content
    assert world.dkim_valid(received.content)


async def test_8bitmime_is_accepted_and_smtputf8_is_refused_in_words(relay_world):
    world = relay_world
    relay = await world.start_relay()
    body = "Grüße aus Köln – 8-bit text.\r\n".encode()
    raw = (
        b"From: shop@example.com\r\nTo: alice@client.test\r\nSubject: eight bit\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body
    )

    def conversation() -> dict[str, object]:
        seen: dict[str, object] = {}
        with session(relay.port, world.username, world.password) as client:
            client.ehlo()
            seen["offers_8bitmime"] = client.has_extn("8bitmime")
            seen["offers_smtputf8"] = client.has_extn("smtputf8")
            seen["smtputf8"] = client.docmd("MAIL", f"FROM:<{SENDER}> SMTPUTF8")
            client.rset()
            client.command_encoding = "utf-8"  # what a client ignoring the EHLO answer sends
            seen["utf8_rcpt"] = client.docmd("MAIL", "FROM:<jörg@example.com>")
            client.rset()
            client.command_encoding = "ascii"
            seen["mail"] = client.mail(SENDER, ["BODY=8BITMIME"])
            seen["rcpt"] = client.rcpt("alice@client.test")
            seen["data"] = client.data(raw)
        return seen

    seen = await asyncio.to_thread(conversation)
    assert seen["offers_8bitmime"] is True
    assert seen["offers_smtputf8"] is False
    code, text = seen["smtputf8"]  # type: ignore[misc]
    assert code == 555 and b"does not offer SMTPUTF8" in text
    code, text = seen["utf8_rcpt"]  # type: ignore[misc]
    assert code == 553 and b"Non-ASCII characters" in text
    assert seen["mail"][0] == 250  # type: ignore[index]
    assert seen["data"][0] == 250  # type: ignore[index]
    [received] = await world.sink.await_for(1)
    assert received.content.endswith(body)  # the 8-bit text arrives byte for byte
    assert "BODY=8BITMIME" in received.mail_options  # and is announced as 8-bit upstream
    assert world.dkim_valid(received.content)


async def _wrong_login(port: int, username: str) -> int:
    """One connection, one AUTH PLAIN with a wrong password; the reply code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:

        async def reply() -> int:
            while True:
                line = await reader.readline()
                if not line:
                    return 0
                if line[3:4] != b"-":
                    return int(line[:3])

        await reply()
        writer.write(b"EHLO guesser.test\r\n")
        await reply()
        token = base64.b64encode(f"\0{username}\0guess".encode()).decode()
        writer.write(f"AUTH PLAIN {token}\r\n".encode())
        return await reply()
    finally:
        writer.close()


async def test_parallel_password_guessing_is_mostly_refused_unchecked(relay_world):
    world = relay_world
    relay = await world.start_relay(ban_after=10, ban_seconds=600)
    # Half the guesses name the real login, half a login that does not exist: both count.
    names = [world.username if i % 2 else f"nobody{i}@{DOMAIN}" for i in range(100)]
    codes = await asyncio.gather(*(_wrong_login(relay.port, name) for name in names))
    # 535: the password was checked and was wrong; 454: refused before any check.
    assert sorted(set(codes)) == [454, 535]
    assert codes.count(535) == 10
    assert codes.count(454) == 90

    def right_password() -> int:
        try:
            session(relay.port, world.username, world.password).quit()
        except (smtplib.SMTPConnectError, smtplib.SMTPAuthenticationError) as exc:
            return exc.smtp_code
        return 235

    assert await asyncio.to_thread(right_password) == 421  # the address is refused for now


async def test_an_unknown_login_costs_one_password_check_like_a_known_one(relay_world, monkeypatch):
    world = relay_world
    relay = await world.start_relay()
    checks: list[str] = []
    real_verify = credentials.verify_password

    def counting(password: str, stored: str) -> bool:
        checks.append(password)
        return real_verify(password, stored)

    monkeypatch.setattr(credentials, "verify_password", counting)
    for username in (world.username, f"nobody@{DOMAIN}", "shop@not-a-domain.test", "no-at-sign"):
        before = len(checks)
        assert await _wrong_login(relay.port, username) == 535, username
        assert len(checks) - before == 1, username
