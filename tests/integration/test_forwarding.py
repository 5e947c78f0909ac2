"""Forwarding received mail: the copy goes out through the relay with an SRS envelope sender,
the original DKIM signature intact and a valid ARC set; loops stop; bounces to SRS addresses go
back to the original sender only when the address is ours and fresh.

Real parts: the relay and its worker, an aiosmtpd upstream, NSD publishing both the sender's
and the dedicated domain's DKIM keys, dkimpy verifying as a destination would.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.policy import SMTP

import dkim
import dns.message
import dns.query
import pytest
from sqlalchemy import select

from postdesk.core import audit, conversations, dkimkeys, forwarding, srs, suppression, usage
from postdesk.core.errors import UserError
from postdesk.core.relay import queue
from postdesk.core.store.models import (
    DedicatedDomain,
    DkimKey,
    InboundMessage,
    MessageEvent,
    QueuedMessage,
)
from support.nsd import txt

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

SENDER_DOMAIN = "sender.test"
AUTHSERV = "relay.test"


def _dnsfunc(port: int):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=timeout)
        for rrset in answer.answer:
            for rdata in rrset:
                return b"".join(rdata.strings)
        return b""

    return lookup


async def _sender_key(world):  # type: ignore[no-untyped-def]
    """A DKIM key for the outside sender, published in NSD beside the dedicated domain's."""
    key = await asyncio.to_thread(dkimkeys.generate_dkim_key)
    with world.store.session() as s:
        ours = s.scalars(select(DkimKey)).one()
        ours_txt = dkimkeys.dkim_txt_value(ours.public_key)
    world.nsd.serve(
        {
            "example.com": f"{world.selector}._domainkey IN TXT {txt(ours_txt)}",
            SENDER_DOMAIN: f"{key.selector}._domainkey IN TXT {txt(key.txt_value)}",
        }
    )
    return key


def _original(key, subject: str = "Question about my order", to: str = "info@example.com"):  # type: ignore[no-untyped-def]
    """A message from the outside sender, DKIM-signed by it, as it arrives."""
    msg = EmailMessage()
    msg["From"] = f"Alice <alice@{SENDER_DOMAIN}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Sun, 29 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<{abs(hash(subject))}@{SENDER_DOMAIN}>"
    msg.set_content("Hello,\nwhere is my parcel?\n")
    raw = msg.as_bytes(policy=SMTP)
    signature = dkim.sign(
        raw, key.selector.encode(), SENDER_DOMAIN.encode(), key.private_pem.encode()
    )
    return signature + raw


def _received(raw: bytes, *, hops: int = 1) -> bytes:
    """Stamped as the inbound server stamps what it receives."""
    stamp = (
        f"Authentication-Results: {AUTHSERV}; spf=pass smtp.mailfrom={SENDER_DOMAIN};\r\n"
        f"\tdkim=pass header.d={SENDER_DOMAIN}; dmarc=pass header.from={SENDER_DOMAIN}\r\n"
    )
    received = "".join(
        f"Received: from mx{i}.sender.test ([192.0.2.{i % 250 + 1}]) by {AUTHSERV};\r\n"
        "\tSun, 29 Nov 2026 10:00:01 +0000\r\n"
        for i in range(hops)
    )
    return (stamp + received).encode() + raw


def _file(world, raw: bytes, *, rcpt: str = "info@example.com", mail_from: str = "") -> int:  # type: ignore[no-untyped-def]
    with world.store.session() as s:
        return conversations.file_inbound(
            s,
            domain_id=1,
            raw=raw,
            mail_from=mail_from or f"alice@{SENDER_DOMAIN}",
            rcpt_tos=[rcpt],
            remote_ip="192.0.2.1",
            helo=f"mx.{SENDER_DOMAIN}",
            verdicts={"spf": "pass", "dkim": "pass", "dmarc": "pass"},
            auth_results=raw.split(b"\r\n\t", 1)[0].decode(),
        )


def _signatures_valid(content: bytes, port: int) -> dict[str, bool]:
    """Each DKIM signature of the message, by signing domain: verifies now?"""
    headers, _ = dkim.rfc822_parse(content)
    domains = []
    for name, value in headers:
        if name.lower() == b"dkim-signature":
            tags = dkim.util.parse_tag_value(value)
            domains.append(tags[b"d"].decode())
    return {
        domain: dkim.DKIM(content).verify(idx=i, dnsfunc=_dnsfunc(port))
        for i, domain in enumerate(domains)
    }


def _header(content: bytes, name: bytes) -> bytes:
    headers, _ = dkim.rfc822_parse(content)
    return next(value for key, value in headers if key.lower() == name)


def _stopped_reasons(world) -> list[str]:  # type: ignore[no-untyped-def]
    with world.store.session() as s:
        return [
            str(e.detail.get("reason")) for e in audit.recent(s) if e.action == "forward.stopped"
        ]


async def test_a_forwarded_copy_keeps_dkim_gets_arc_and_an_srs_sender(relay_world):
    world = relay_world
    key = await _sender_key(world)
    forwarding.add_rule(world.store, "example.com", "info", "owner@inbox.test")
    original = _original(key)
    inbound_id = await asyncio.to_thread(_file, world, _received(original))

    assert await forwarding.forward_message(world.store, inbound_id) == 1
    relay = await world.start_relay()
    (envelope,) = await world.sink.await_for(1)

    assert envelope.rcpt_tos == ["owner@inbox.test"]
    assert envelope.mail_from.startswith("SRS0=") and envelope.mail_from.endswith("@example.com")
    back = srs.reverse(envelope.mail_from, await asyncio.to_thread(srs.load_key, world.store))
    assert back.address == f"alice@{SENDER_DOMAIN}"

    content = envelope.content
    # Only headers were added in front: the original is there byte for byte.
    assert content.endswith(original)
    valid = _signatures_valid(content, world.nsd.port)
    assert valid == {"example.com": True, SENDER_DOMAIN: True}
    cv, _results, reason = dkim.arc_verify(content, dnsfunc=_dnsfunc(world.nsd.port))
    assert cv == b"pass", reason
    # The seal repeats what Postdesk saw as the receiver.
    aar = b" ".join(_header(content, b"arc-authentication-results").split())
    assert aar.startswith(b"i=1; relay.test;")
    assert b"spf=pass" in aar and b"dkim=pass header.d=sender.test" in aar

    # Counted in the day's usage like any other mail of the domain.
    assert usage.today(world.store).sent == 1
    (info,) = queue.list_messages(world.store)
    with world.store.session() as s:
        assert s.get(QueuedMessage, info.id).source == "forward"

    # Calling it again (a restart) queues nothing twice.
    assert await forwarding.forward_message(world.store, inbound_id) == 0
    await relay.stop()
    world.relays.remove(relay)


async def test_a_copy_that_comes_back_is_not_forwarded_again(relay_world):
    world = relay_world
    key = await _sender_key(world)
    forwarding.add_rule(world.store, "example.com", "*", "owner@inbox.test")
    first = await asyncio.to_thread(_file, world, _received(_original(key)))
    assert await forwarding.forward_message(world.store, first) == 1
    await world.start_relay()
    (envelope,) = await world.sink.await_for(1)

    # The destination sends it back to the domain (a forward there, say): our ARC seal is on it.
    again = await asyncio.to_thread(
        _file, world, _received(envelope.content), rcpt="sales@example.com"
    )
    assert await forwarding.forward_message(world.store, again) == 0
    assert any("ARC seal of example.com" in r for r in _stopped_reasons(world))

    # A message that went round many servers is taken for a loop too.
    looping = _received(_original(key, "Round and round"), hops=forwarding.MAX_RECEIVED + 1)
    looping_id = await asyncio.to_thread(_file, world, looping)
    assert await forwarding.forward_message(world.store, looping_id) == 0
    assert any("mail servers" in r for r in _stopped_reasons(world))
    assert len(queue.list_messages(world.store)) == 1  # only the first copy was ever queued
    assert usage.today(world.store).sent == 1


async def test_a_bounce_to_an_srs_address_goes_back_only_when_it_is_ours(relay_world):
    world = relay_world
    key = await asyncio.to_thread(srs.load_key, world.store)
    address = srs.forward_address(f"alice@{SENDER_DOMAIN}", "example.com", key)
    dsn = (
        b"From: MAILER-DAEMON@inbox.test\r\nTo: " + address.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@inbox.test>\r\n\r\nThe mailbox is full.\r\n"
    )
    bounce_id = await asyncio.to_thread(_file, world, dsn, rcpt=address, mail_from="")
    assert await forwarding.forward_message(world.store, bounce_id) == 1
    (returned,) = queue.list_messages(world.store)
    assert returned.rcpt_tos == [f"alice@{SENDER_DOMAIN}"]
    assert returned.mail_from == ""  # a bounce is sent with the null sender

    forged = address.replace("SRS0=", "SRS0=x", 1)
    forged_dsn = dsn.replace(b"bounce-1", b"bounce-2")
    forged_id = await asyncio.to_thread(_file, world, forged_dsn, rcpt=forged, mail_from="")
    assert await forwarding.forward_message(world.store, forged_id) == 0
    assert any("hash does not match" in r for r in _stopped_reasons(world))
    assert len(queue.list_messages(world.store)) == 1


async def test_rules_exact_address_wins_and_own_domains_are_refused(relay_world):
    world = relay_world
    key = await _sender_key(world)
    forwarding.add_rule(world.store, "example.com", "*", "everything@inbox.test")
    forwarding.add_rule(world.store, "example.com", "Info", "info-desk@inbox.test")
    with pytest.raises(UserError) as own:
        forwarding.add_rule(world.store, "example.com", "sales", "team@example.com")
    assert own.value.code == "forward.own_domain"
    with pytest.raises(UserError) as twice:
        forwarding.add_rule(world.store, "example.com", "info", "info-desk@inbox.test")
    assert twice.value.code == "forward.exists"
    rules = forwarding.list_rules(world.store, "example.com")
    assert [(r.local_part, r.destination) for r in rules] == [
        ("*", "everything@inbox.test"),
        ("info", "info-desk@inbox.test"),
    ]

    to_info = await asyncio.to_thread(_file, world, _received(_original(key)))
    to_other = await asyncio.to_thread(
        _file, world, _received(_original(key, "Other")), rcpt="hello@example.com"
    )
    assert await forwarding.forward_message(world.store, to_info) == 1
    assert await forwarding.forward_message(world.store, to_other) == 1
    destinations = sorted(m.rcpt_tos[0] for m in queue.list_messages(world.store))
    assert destinations == ["everything@inbox.test", "info-desk@inbox.test"]

    assert forwarding.remove_rule(world.store, "example.com", "*") == 1
    assert [r.local_part for r in forwarding.list_rules(world.store)] == ["info"]


async def test_a_paused_rule_keeps_its_mail_here_and_resumes(relay_world):
    world = relay_world
    key = await _sender_key(world)
    forwarding.add_rule(world.store, "example.com", "*", "everything@inbox.test")
    forwarding.add_rule(world.store, "example.com", "info", "info-desk@inbox.test")
    paused = forwarding.set_enabled(world.store, "example.com", "INFO", None, False)
    assert [(r.address, r.enabled) for r in paused] == [("info@example.com", False)]
    assert [r.enabled for r in forwarding.list_rules(world.store, "example.com")] == [True, False]

    # Paused, info@ is neither forwarded to its own inbox nor caught by the catch-all.
    first = await asyncio.to_thread(_file, world, _received(_original(key)))
    assert await forwarding.forward_message(world.store, first) == 0
    assert queue.list_messages(world.store) == []

    forwarding.set_enabled(world.store, "example.com", "info", "info-desk@inbox.test", True)
    again = await asyncio.to_thread(_file, world, _received(_original(key, "Again")))
    assert await forwarding.forward_message(world.store, again) == 1
    assert [m.rcpt_tos[0] for m in queue.list_messages(world.store)] == ["info-desk@inbox.test"]
    with pytest.raises(UserError) as unknown:
        forwarding.set_enabled(world.store, "example.com", "sales", None, False)
    assert unknown.value.code == "forward.not_found"


async def test_a_suppressed_destination_gets_no_copy_and_copies_have_a_timeline(relay_world):
    world = relay_world
    key = await _sender_key(world)
    forwarding.add_rule(world.store, "example.com", "info", "gone@inbox.test")
    forwarding.add_rule(world.store, "example.com", "info", "kept@inbox.test")
    with world.store.session() as s:
        assert suppression.suppress(s, "gone@inbox.test", "hard_bounce", detail="550 no such user")
    inbound_id = await asyncio.to_thread(_file, world, _received(_original(key)))
    assert await forwarding.forward_message(world.store, inbound_id) == 1
    (copy,) = queue.list_messages(world.store)
    assert copy.rcpt_tos == ["kept@inbox.test"]
    assert any("gone@inbox.test is on the suppression list" in r for r in _stopped_reasons(world))
    with world.store.session() as s:
        events = s.scalars(select(MessageEvent).where(MessageEvent.message_id == copy.id)).all()
        assert [e.kind for e in events] == ["accepted"]
        assert "Forwarded copy" in events[0].detail and "SRS0=" in events[0].detail


async def test_mail_received_by_the_inbound_server_is_forwarded_sealed(relay_world):
    from support.reception import mail, sender_key, sender_zones, signed
    from support.services import free_port

    world = relay_world
    await asyncio.to_thread(sender_key)
    with world.store.session() as s:
        ours = s.scalars(select(DkimKey)).one()
        ours_txt = dkimkeys.dkim_txt_value(ours.public_key)
        s.scalars(select(DedicatedDomain)).one().reception = True
    world.nsd.serve(
        {"example.com": f"{world.selector}._domainkey IN TXT {txt(ours_txt)}", **sender_zones()}
    )
    forwarding.add_rule(world.store, "example.com", "info", "owner@inbox.test")
    inbound_port = free_port()
    await world.start_relay(inbound_host="127.0.0.1", inbound_port=inbound_port)
    original = signed(mail("Parcel", to="info@example.com"), "sender.test")

    def deliver() -> int:
        with smtplib.SMTP("127.0.0.1", inbound_port, timeout=30) as client:
            client.ehlo("client.sender.test")
            client.sendmail("alice@sender.test", ["info@example.com"], original)
        return 250

    assert await asyncio.to_thread(deliver) == 250
    (envelope,) = await world.sink.await_for(1)
    assert envelope.rcpt_tos == ["owner@inbox.test"]
    assert envelope.mail_from.startswith("SRS0=") and "=sender.test=alice@" in envelope.mail_from
    assert envelope.content.endswith(original)
    dnsfunc = _dnsfunc(world.nsd.port)
    assert _signatures_valid(envelope.content, world.nsd.port) == {
        "example.com": True,
        "sender.test": True,
    }
    cv, _results, reason = dkim.arc_verify(envelope.content, dnsfunc=dnsfunc)
    assert cv == b"pass", reason
    aar = b" ".join(_header(envelope.content, b"arc-authentication-results").split())
    assert b"spf=pass" in aar and b"dmarc=pass" in aar  # what the inbound server found

    # The destination bounces the copy: the bounce comes to the SRS address and goes back to
    # the original sender, with the null sender.
    bounce = (
        b"From: MAILER-DAEMON@inbox.test\r\nTo: " + envelope.mail_from.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-9@inbox.test>\r\n\r\nMailbox full.\r\n"
    )

    def deliver_bounce() -> None:
        with smtplib.SMTP("127.0.0.1", inbound_port, timeout=30) as client:
            client.sendmail("", [envelope.mail_from], bounce)

    await asyncio.to_thread(deliver_bounce)
    returned = await world.sink.await_for(2)
    assert returned[1].rcpt_tos == ["alice@sender.test"]
    assert returned[1].mail_from == "<>"  # MAIL FROM:<> as aiosmtpd reports it
    assert returned[1].content.endswith(bounce)


async def test_copies_owed_when_the_relay_stopped_are_sent_when_it_starts_again(relay_world):
    """A relay killed between a message's 250 and queuing its copies leaves the message
    marked (the mark is written in the commit that files it): the next start sends them."""
    world = relay_world
    key = await _sender_key(world)
    forwarding.add_rule(world.store, "example.com", "info", "owner@inbox.test")
    owed = _file(world, _received(_original(key, "Owed before the stop")))
    done = _file(world, _received(_original(key, "Handled before the stop")))
    with world.store.session() as s:
        s.get(InboundMessage, owed).pending = forwarding.OWED  # as the inbound commit marks it
    assert forwarding.owed_messages(world.store) == [owed]

    await world.start_relay(inbound_host="127.0.0.1", inbound_port=0)
    (envelope,) = await world.sink.await_for(1)
    assert envelope.rcpt_tos == ["owner@inbox.test"]
    assert b"Subject: Owed before the stop" in envelope.content
    assert forwarding.owed_messages(world.store) == []
    with world.store.session() as s:
        copies = s.scalars(select(QueuedMessage).where(QueuedMessage.source == "forward")).all()
        assert len(copies) == 1  # the message handled before the stop owed nothing
        assert s.get(InboundMessage, done).pending == ""


async def test_received_mail_is_marked_only_while_its_domain_forwards(relay_world):
    from support.reception import mail, sender_key, sender_zones, signed

    world = relay_world
    await asyncio.to_thread(sender_key)
    with world.store.session() as s:
        s.scalars(select(DedicatedDomain)).one().reception = True
    world.nsd.serve({**sender_zones()})
    relay = await world.start_relay(inbound_host="127.0.0.1", inbound_port=0)
    port = relay.inbound_port

    def deliver(subject: str) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail(
                "alice@sender.test",
                ["hello@example.com"],
                signed(mail(subject, to="hello@example.com"), "sender.test"),
            )

    await asyncio.to_thread(deliver, "No rule yet")
    forwarding.add_rule(world.store, "example.com", "*", "owner@inbox.test")
    await asyncio.to_thread(deliver, "Caught by the catch-all")
    (envelope,) = await world.sink.await_for(1)
    assert b"Caught by the catch-all" in envelope.content
    with world.store.session() as s:
        rows = s.execute(select(InboundMessage.subject, InboundMessage.pending)).all()
    assert sorted(rows) == [("Caught by the catch-all", ""), ("No rule yet", "")]
    assert world.sink.messages == [envelope]  # the first message, before the rule, stays here
