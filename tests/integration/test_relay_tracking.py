"""Open and click tracking end to end: rewritten mail, the pixel, signed redirects, counts.

Mail is tracked only through the domain's verified tracking CNAME (``track.<domain>``), never
through an address of this computer.
"""

from __future__ import annotations

import asyncio
import email
import http.client
import re
from email import policy
from urllib.parse import urlsplit

import pytest

from postdesk.core import tracking
from postdesk.core.domains import get_domain
from postdesk.core.relay import queue
from postdesk.core.store.models import DomainRecord, utcnow
from support.relay import DOMAIN, message

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

HTML = """<html><body><p>Hi!</p>
<p><a href="https://shop.example.com/offer?a=1&amp;b=2">See the offer</a></p>
<p><a href="mailto:help@example.com">Write to us</a></p>
<p><a href="https://news.example.com/prefs">Unsubscribe</a></p>
<p><a href="https://news.example.com/u/42">Stop these emails</a></p>
</body></html>"""


TRACK_HOST = f"track.{DOMAIN}"


def _add_tracking_record(store, status: str = "ok", target: str = "track.mailer.test") -> None:  # type: ignore[no-untyped-def]
    """The optional tracking CNAME among the domain's records, as Verify Now leaves it."""
    with store.session() as s:
        domain = get_domain(s, DOMAIN)
        s.add(
            DomainRecord(
                domain_id=domain.id,
                position=9,
                kind="tracking",
                type="CNAME",
                host=TRACK_HOST,
                value=target,
                required=False,
                status=status,
            )
        )


def _get(url: str, port: int) -> http.client.HTTPResponse:
    """GET a tracked URL from the relay's endpoint (as DNS would route track.<domain> to it)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "GET",
        parts.path + ("?" + parts.query if parts.query else ""),
        headers={"Host": parts.netloc},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _html_of(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    return parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_tracked_mail_counts_opens_and_clicks(relay_world):
    world = relay_world
    _add_tracking_record(world.store)
    relay = await world.start_relay()
    port = relay.tracking_port
    msg = message(
        "tracked",
        html=HTML,
        headers={"List-Unsubscribe": "<https://news.example.com/u/42>, <mailto:u@example.com>"},
    )
    code, _ = await asyncio.to_thread(world.send, relay.port, msg)
    assert code == 250
    (env,) = await world.sink.await_for(1)
    assert world.dkim_valid(env.content)  # signed after the rewriting
    html = _html_of(env.content)
    base = relay.tracking_base(TRACK_HOST)
    assert base == f"http://{TRACK_HOST}:{port}"
    assert f'src="{base}/o/' in html
    assert "127.0.0.1" not in html and "localhost" not in html
    tracked = re.findall(r'href="([^"]+)"', html)
    assert tracked[0].startswith(f"{base}/c/")
    assert tracked[1:] == [
        "mailto:help@example.com",
        "https://news.example.com/prefs",
        "https://news.example.com/u/42",
    ]

    pixel = re.search(r'<img src="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    opened = await asyncio.to_thread(_get, pixel, port)
    assert opened.status == 200 and opened.getheader("Content-Type") == "image/gif"
    link = tracked[0].replace("&amp;", "&")
    clicked = await asyncio.to_thread(_get, link, port)
    assert clicked.status == 302
    assert clicked.getheader("Location") == "https://shop.example.com/offer?a=1&b=2"
    forged = link.replace("shop.example.com", "evil.test")
    assert (await asyncio.to_thread(_get, forged, port)).status == 404

    (info,) = queue.list_messages(world.store)
    assert (info.opens, info.clicks) == (1, 1)
    assert queue.message_stats(world.store, info.id) == {"opens": 1, "clicks": 1}


async def test_tracking_off_leaves_the_html_alone(relay_world):
    world = relay_world
    _add_tracking_record(world.store)
    past = utcnow()
    for feature in ("open", "click"):
        tracking.set_tracking(world.store, DOMAIN, feature, False, at=past.replace(year=2000))
    relay = await world.start_relay()
    await asyncio.to_thread(world.send, relay.port, message("untracked", html=HTML))
    (env,) = await world.sink.await_for(1)
    html = _html_of(env.content)
    assert "/o/" not in html and "/c/" not in html
    assert 'href="https://shop.example.com/offer?a=1&amp;b=2"' in html
    assert world.dkim_valid(env.content)


def _untracked(html: str) -> bool:
    return (
        "/o/" not in html
        and "/c/" not in html
        and 'href="https://shop.example.com/offer?a=1&amp;b=2"' in html
    )


@pytest.mark.parametrize("record", [None, "pending", "mismatch"])
async def test_without_a_verified_tracking_cname_mail_is_not_tracked(relay_world, record):
    world = relay_world
    if record is not None:
        _add_tracking_record(world.store, status=record)
    with world.store.session() as s:
        status = tracking.tracking_address_status(s, DOMAIN)
    assert status.address is None
    assert TRACK_HOST in (status.reason or "") and "verify" in (status.reason or "").lower()

    relay = await world.start_relay()  # tracking is on (the default) and the endpoint runs
    await asyncio.to_thread(world.send, relay.port, message("no address yet", html=HTML))
    (env,) = await world.sink.await_for(1)
    html = _html_of(env.content)
    assert _untracked(html) and "127.0.0.1" not in html
    assert world.dkim_valid(env.content)


async def test_a_tracking_cname_pointing_at_this_computer_is_never_used(relay_world):
    world = relay_world
    _add_tracking_record(world.store, target="127.0.0.1")
    with world.store.session() as s:
        status = tracking.tracking_address_status(s, DOMAIN)
    assert status.address is None and "cannot reach" in (status.reason or "")
    relay = await world.start_relay()
    await asyncio.to_thread(world.send, relay.port, message("loopback", html=HTML))
    (env,) = await world.sink.await_for(1)
    html = _html_of(env.content)
    assert _untracked(html) and "127.0.0.1" not in html
