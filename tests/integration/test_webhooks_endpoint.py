"""Provider events over real HTTP to the tracking endpoint the relay starts: a message the relay
sent gets the provider's events in its timeline, a complaint or hard bounce suppresses the
address (the relay then refuses it at RCPT), and forged, replayed, stale, malformed and
oversized requests are refused with nothing recorded."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys

import aiohttp
import pytest

from fixtures.webhooks.signing import TOPIC, SendGridSigner, SnsSigner, mailgun_body, sample
from postdesk.core import activity, settings, suppression
from postdesk.core.webhooks import receive, sns
from postdesk.core.webhooks.events import MAX_BODY_BYTES
from postdesk.core.webhooks.urls import postmark_path, set_secret, webhook_status
from support.relay import DOMAIN, message

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


async def _post(port: int, path: str, body: bytes, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"http://127.0.0.1:{port}{path}", data=body, headers=headers or {}) as reply,
    ):
        return reply.status, await reply.text()


async def _sent(world, relay, message_id: str, to: str) -> int:  # type: ignore[no-untyped-def]
    """Send one message through the relay and wait until the sink has it; its activity id."""
    count = len(world.sink.messages)
    msg = message(f"order {message_id}", to=to, headers={"Message-ID": message_id})
    code, _ = await asyncio.to_thread(world.send, relay.port, msg)
    assert code == 250
    await world.sink.await_for(count + 1)
    with world.store.session() as s:
        found = activity.find_message(s, message_id_header=message_id)
    assert found is not None
    return found


def _timeline(store, message_id: int, source: str) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    detail = activity.message_detail(store, message_id)
    return [(t.kind, t.bounce_class) for t in detail.timeline if t.source == source]


def _suppressed(store, address: str):  # type: ignore[no-untyped-def]
    with store.session() as s:
        return suppression.is_suppressed(s, address, DOMAIN)


async def test_sendgrid_events_reach_the_timeline_and_a_complaint_stops_mail(relay_world):
    world = relay_world
    signer = SendGridSigner()
    await asyncio.to_thread(set_secret, world.store, "sendgrid", signer.public_b64)
    relay = await world.start_relay()
    port = relay.tracking_port
    to = "reader@client.test"
    sent = await _sent(world, relay, "<order-1@example.com>", to)

    body = json.dumps(
        sample("sendgrid_events.json", to=to, message_id="<order-1@example.com>")
    ).encode()
    # Forged (another key), tampered, unsigned: refused, nothing recorded.
    forged = SendGridSigner().headers(body)
    assert (await _post(port, "/hooks/sendgrid", body, forged))[0] == 403
    tampered = body.replace(b"spamreport", b"spamreporT")
    assert (await _post(port, "/hooks/sendgrid", tampered, signer.headers(body)))[0] == 403
    assert (await _post(port, "/hooks/sendgrid", body))[0] == 401
    assert _timeline(world.store, sent, "sendgrid") == []

    status, _ = await _post(port, "/hooks/sendgrid", body, signer.headers(body))
    assert status == 200
    assert _timeline(world.store, sent, "sendgrid") == [
        ("delivered", None),
        ("opened", None),
        ("complained", None),
    ]
    assert _suppressed(world.store, to).reason == "complaint"  # type: ignore[union-attr]
    # The same request again (a replay, even freshly signed): refused, the timeline unchanged.
    assert (await _post(port, "/hooks/sendgrid", body, signer.headers(body)))[0] == 409
    assert len(_timeline(world.store, sent, "sendgrid")) == 3

    # The relay now refuses the address at RCPT.
    code, reply = await asyncio.to_thread(
        world.send, relay.port, message("again", to=to, headers={"Message-ID": "<o2@example.com>"})
    )
    assert code >= 500 and b"complain" in reply.lower()

    (info,) = [
        i for i in await asyncio.to_thread(webhook_status, world.store) if i.provider == "sendgrid"
    ]
    assert info.has_secret and info.last_event_at is not None and info.received == 4


async def test_mailgun_hard_bounce_over_http_and_refusals(relay_world):
    world = relay_world
    await asyncio.to_thread(set_secret, world.store, "mailgun", MAILGUN_KEY)
    relay = await world.start_relay()
    port = relay.tracking_port
    to = "gone@client.test"
    sent = await _sent(world, relay, "<order-3@example.com>", to)
    event = sample("mailgun_failed.json", to=to, message_id_bare="order-3@example.com")

    stale = mailgun_body(MAILGUN_KEY, event, timestamp="1700000000")
    assert (await _post(port, "/hooks/mailgun", stale))[0] == 403
    assert (await _post(port, "/hooks/mailgun", mailgun_body("wrong-key", event)))[0] == 403
    assert (await _post(port, "/hooks/mailgun", b"{not json"))[0] == 400
    big = b"[" + b" " * (MAX_BODY_BYTES + 10) + b"]"
    assert (await _post(port, "/hooks/mailgun", big))[0] == 413
    assert _timeline(world.store, sent, "mailgun") == []

    genuine = mailgun_body(MAILGUN_KEY, event)
    assert (await _post(port, "/hooks/mailgun", genuine))[0] == 200
    assert _timeline(world.store, sent, "mailgun") == [("bounced", "hard.unknown_user")]
    (recipient,) = activity.message_detail(world.store, sent).row.recipients
    assert (recipient.status, recipient.bounce_class) == ("bounced", "hard.unknown_user")
    assert _suppressed(world.store, to).reason == "hard_bounce"  # type: ignore[union-attr]
    assert (await _post(port, "/hooks/mailgun", genuine))[0] == 409  # the token was used


async def test_ses_subscription_and_complaint_through_sns(relay_world, monkeypatch):
    world = relay_world
    signer = SnsSigner()
    sns._certificates.clear()
    monkeypatch.setattr(receive, "fetcher", signer.fetch)  # the public internet is not here
    relay = await world.start_relay()
    port = relay.tracking_port
    subscription = signer.subscription()
    # No topic named yet: nothing is confirmed.
    assert (await _post(port, "/hooks/ses", subscription))[0] == 403
    assert signer.fetched == []
    await asyncio.to_thread(set_secret, world.store, "ses", TOPIC)
    assert (await _post(port, "/hooks/ses", subscription))[0] == 200
    assert any("Action=ConfirmSubscription" in url for url in signer.fetched)

    to = "angry@client.test"
    sent = await _sent(world, relay, "<order-4@example.com>", to)
    event = sample(
        "ses_complaint.json", to=to, message_id="<order-4@example.com>", provider_id="0100abc"
    )
    body = signer.notification(event, version="2")
    foreign = signer.notification(event, TopicArn="arn:aws:sns:eu-west-1:999999999999:x")
    assert (await _post(port, "/hooks/ses", foreign))[0] == 403
    assert (await _post(port, "/hooks/ses", body))[0] == 200
    assert _timeline(world.store, sent, "ses") == [("complained", None)]
    assert activity.message_detail(world.store, sent).provider_message_id == "0100abc"
    assert _suppressed(world.store, to).reason == "complaint"  # type: ignore[union-attr]
    assert (await _post(port, "/hooks/ses", body))[0] == 409


async def test_postmark_needs_its_secret_path_and_counts_other_mail(relay_world):
    world = relay_world
    relay = await world.start_relay()
    port = relay.tracking_port
    (info,) = [
        i for i in await asyncio.to_thread(webhook_status, world.store) if i.provider == "postmark"
    ]
    path = await asyncio.to_thread(postmark_path, world.store, create=False)
    assert path and info.url is None  # no tracking host set: no URL to paste yet
    body = json.dumps(sample("postmark_bounce.json", to="x@client.test", provider_id="pm-9"))
    assert (await _post(port, "/hooks/postmark/guess", body.encode()))[0] == 404
    assert (await _post(port, f"/hooks/postmark/{path}", body.encode()))[0] == 200
    await asyncio.to_thread(set_secret, world.store, "postmark", "hooks:pw-1")
    again = body.replace("4323372036854775807", "4323372036854775808").encode()
    assert (await _post(port, f"/hooks/postmark/{path}", again))[0] == 401
    basic = {"Authorization": "Basic " + base64.b64encode(b"hooks:pw-1").decode()}
    assert (await _post(port, f"/hooks/postmark/{path}", again, basic))[0] == 200
    (info,) = [
        i for i in await asyncio.to_thread(webhook_status, world.store) if i.provider == "postmark"
    ]
    assert (info.received, info.unmatched) == (2, 2)
    assert _suppressed(world.store, "x@client.test") is None


def _postdesk(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postdesk", *args],
        input=stdin,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_gives_each_url_and_stores_keys_without_echoing_them(
    store, secret_service, verified_domain
):
    with store.session() as s:
        settings.change(s, "tracking_target", "track.mailer.test")
    signer = SendGridSigner()
    stored = _postdesk("webhooks", "secret", "sendgrid", "--stdin", stdin=signer.public_b64 + "\n")
    assert stored.returncode == 0, stored.stderr
    assert signer.public_b64 not in stored.stdout + stored.stderr
    refused = _postdesk("webhooks", "secret", "sendgrid", "--stdin", stdin="SG.not-a-key\n")
    assert refused.returncode == 1 and "not a SendGrid verification key" in refused.stderr
    assert "Traceback" not in refused.stderr

    listed = _postdesk("webhooks", "--json")
    assert listed.returncode == 0, listed.stderr
    by_provider = {item["provider"]: item for item in json.loads(listed.stdout)}
    base = "http://track.mailer.test:2580/hooks/"
    assert by_provider["sendgrid"]["url"] == base + "sendgrid"
    assert by_provider["sendgrid"]["has_secret"] is True
    assert by_provider["mailgun"] == {
        "provider": "mailgun",
        "url": base + "mailgun",
        "has_secret": False,
        "last_event_at": None,
        "received": 0,
        "unmatched": 0,
    }
    assert by_provider["ses"]["url"] == base + "ses"
    path = postmark_path(store, create=False)
    assert path and by_provider["postmark"]["url"] == f"{base}postmark/{path}"
    # The same URLs again: the Postmark path is made once.
    again = json.loads(_postdesk("webhooks", "--json", "--domain", verified_domain).stdout)
    assert [item["url"] for item in again] == [item["url"] for item in by_provider.values()]
    table = _postdesk("webhooks")
    assert table.returncode == 0 and "never" in table.stdout
