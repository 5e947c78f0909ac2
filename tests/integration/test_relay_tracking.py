"""Open and click tracking end to end: rewritten mail, the pixel, signed redirects, counts."""

from __future__ import annotations

import asyncio
import email
import http.client
import re
from email import policy
from urllib.parse import urlsplit

import pytest

from postdesk.core import tracking
from postdesk.core.relay import queue
from postdesk.core.store.models import utcnow
from support.relay import DOMAIN, message

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

HTML = """<html><body><p>Hi!</p>
<p><a href="https://shop.example.com/offer?a=1&amp;b=2">See the offer</a></p>
<p><a href="mailto:help@example.com">Write to us</a></p>
<p><a href="https://news.example.com/prefs">Unsubscribe</a></p>
<p><a href="https://news.example.com/u/42">Stop these emails</a></p>
</body></html>"""


def _get(url: str) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def _html_of(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    return parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_tracked_mail_counts_opens_and_clicks(relay_world):
    world = relay_world
    relay = await world.start_relay()
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
    base = relay.tracking_base(DOMAIN)
    assert f'src="{base}/o/' in html
    tracked = re.findall(r'href="([^"]+)"', html)
    assert tracked[0].startswith(f"{base}/c/")
    assert tracked[1:] == [
        "mailto:help@example.com",
        "https://news.example.com/prefs",
        "https://news.example.com/u/42",
    ]

    pixel = re.search(r'<img src="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    opened = await asyncio.to_thread(_get, pixel)
    assert opened.status == 200 and opened.getheader("Content-Type") == "image/gif"
    link = tracked[0].replace("&amp;", "&")
    clicked = await asyncio.to_thread(_get, link)
    assert clicked.status == 302
    assert clicked.getheader("Location") == "https://shop.example.com/offer?a=1&b=2"
    forged = link.replace("shop.example.com", "evil.test")
    assert (await asyncio.to_thread(_get, forged)).status == 404

    (info,) = queue.list_messages(world.store)
    assert (info.opens, info.clicks) == (1, 1)
    assert queue.message_stats(world.store, info.id) == {"opens": 1, "clicks": 1}


async def test_tracking_off_leaves_the_html_alone(relay_world):
    world = relay_world
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
