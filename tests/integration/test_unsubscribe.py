"""One-click unsubscribe (RFC 8058) end to end: the headers under the DKIM signature, the POST
that suppresses the recipient for the domain, the GET that only asks, forged tokens refused."""

from __future__ import annotations

import asyncio
import email
import http.client
from email import policy
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from postdesk.core import suppression, unsubscribe
from postdesk.core.domains import get_domain
from postdesk.core.store.models import DomainRecord, MessageEvent
from support.relay import DOMAIN, message

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

FAN = "fan@client.test"
FORM = "application/x-www-form-urlencoded"


def _verified_tracking_cname(store) -> None:  # type: ignore[no-untyped-def]
    """The domain's tracking CNAME as Verify Now leaves it: the link's host."""
    with store.session() as s:
        domain = get_domain(s, DOMAIN)
        s.add(
            DomainRecord(
                domain_id=domain.id,
                position=9,
                kind="tracking",
                type="CNAME",
                host=f"track.{DOMAIN}",
                value="track.mailer.test",
                required=False,
                status="ok",
            )
        )


def _request(url: str, port: int, method: str = "GET", body: str | None = None):  # type: ignore[no-untyped-def]
    """Send to the relay's endpoint as DNS would route the link's host to it."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": parts.netloc}
    if body is not None:
        headers["Content-Type"] = FORM
    connection.request(method, parts.path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, text


def _link(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    value = str(parsed["List-Unsubscribe"])
    assert value.startswith("<") and value.endswith(">")
    return value[1:-1]


def _suppressed(store, address: str, domain: str) -> bool:  # type: ignore[no-untyped-def]
    with store.session() as s:
        return suppression.is_suppressed(s, address, domain) is not None


async def test_one_click_post_suppresses_the_recipient_for_the_domain(relay_world):
    world = relay_world
    _verified_tracking_cname(world.store)
    unsubscribe.set_one_click(world.store, DOMAIN, True)
    relay = await world.start_relay()
    port = relay.tracking_port
    code, _ = await asyncio.to_thread(world.send, relay.port, message("news", to=FAN))
    assert code == 250
    (received,) = await world.sink.await_for(1)
    raw = received.content

    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = _link(raw)
    assert link.startswith(f"http://track.{DOMAIN}:{port}/u/")
    # Both headers are signed: the signature holds, and breaks if either is changed.
    assert world.dkim_valid(raw)
    signed = {
        h.strip().lower()
        for h in str(parsed["DKIM-Signature"]).split("h=")[1].split(";")[0].split(":")
    }
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= signed
    assert not world.dkim_valid(raw.replace(link.encode(), link.encode()[:-1] + b"X"))
    assert not world.dkim_valid(raw.replace(b"=One-Click", b"=One-Clack"))

    # A GET only asks; a POST without the RFC 8058 body does nothing.
    status, page = await asyncio.to_thread(_request, link, port)
    assert status == 200 and "<form method='post'>" in page and FAN in page
    status, _ = await asyncio.to_thread(_request, link, port, "POST", "something=else")
    assert status == 400
    assert not _suppressed(world.store, FAN, DOMAIN)

    status, page = await asyncio.to_thread(
        _request, link, port, "POST", "List-Unsubscribe=One-Click"
    )
    assert status == 200 and "Unsubscribed" in page
    with world.store.session() as s:
        entry = suppression.is_suppressed(s, FAN, DOMAIN)
        assert entry is not None and entry.reason == "unsubscribe" and entry.scope == DOMAIN
        assert suppression.is_suppressed(s, FAN, "other.example") is None
        (event,) = s.scalars(select(MessageEvent).where(MessageEvent.kind == "unsubscribed"))
        assert event.recipient == FAN
    # Again is harmless: one entry, one event.
    status, _ = await asyncio.to_thread(_request, link, port, "POST", "List-Unsubscribe=One-Click")
    assert status == 200

    # The next message from the domain to that address is refused at RCPT, saying why.
    code, text = await asyncio.to_thread(world.send, relay.port, message("more", to=FAN))
    assert code == 550
    assert f"suppression list for {DOMAIN} (unsubscribed on ".encode() in text


async def test_forged_or_unknown_tokens_get_a_404_that_says_nothing(relay_world):
    world = relay_world
    _verified_tracking_cname(world.store)
    unsubscribe.set_one_click(world.store, DOMAIN, True)
    relay = await world.start_relay()
    port = relay.tracking_port
    await asyncio.to_thread(world.send, relay.port, message("news", to=FAN))
    (received,) = await world.sink.await_for(1)
    link = _link(received.content)
    public, _, signature = link.rsplit("/", 1)[1].partition(".")
    forged_signature = (
        link[: -len(signature)] + ("A" if signature[0] != "A" else "B") + signature[1:]
    )
    other_address = link.replace(
        signature, unsubscribe.make_token(public, "0" * 64, "boss@client.test").split(".")[1]
    )
    unknown = link.replace(public, "nosuchmessage")
    for bad in (forged_signature, other_address, unknown, link + "x"):
        for method, body in (("GET", None), ("POST", "List-Unsubscribe=One-Click")):
            status, text = await asyncio.to_thread(_request, bad, port, method, body)
            assert (status, text) == (404, "This link is not valid.")
    assert not _suppressed(world.store, FAN, DOMAIN)


async def test_no_header_for_several_recipients_or_with_the_setting_off(relay_world):
    world = relay_world
    _verified_tracking_cname(world.store)
    relay = await world.start_relay()
    await asyncio.to_thread(world.send, relay.port, message("off", to=FAN))
    await world.sink.await_for(1)  # the setting is read when a message is signed
    unsubscribe.set_one_click(world.store, DOMAIN, True)
    await asyncio.to_thread(
        world.send, relay.port, message("two"), rcpts=[FAN, "other@client.test"]
    )
    received = await world.sink.await_for(2)
    for envelope in received:
        assert b"List-Unsubscribe" not in envelope.content
        assert world.dkim_valid(envelope.content)
