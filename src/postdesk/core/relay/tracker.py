"""The tracking endpoint: ``/o/<token>.gif`` records an open, ``/c/<token>?u=…&s=…`` a click.

A click is only redirected when the URL's signature matches the message's key, so the endpoint
is no open redirect. Unknown tokens still get the image (nothing is recorded), so the endpoint
tells a prober nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging

from aiohttp import web
from sqlalchemy import select

from postdesk.core import activity, unsubscribe
from postdesk.core.relay.rewrite import url_signature
from postdesk.core.store import Store
from postdesk.core.store.models import QueuedMessage, TrackingEvent, utcnow

log = logging.getLogger(__name__)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
}


def record_open(store: Store, token: str, remote: str | None) -> bool:
    """Note that a message's image was loaded; False for an unknown token."""
    with store.session() as s:
        message_id = s.scalar(select(QueuedMessage.id).where(QueuedMessage.tracking_token == token))
        if message_id is None:
            return False
        now = utcnow()
        s.add(TrackingEvent(message_id=message_id, kind="open", remote=remote, at=now))
        activity.record_event(s, message_id, "opened", source="tracking", at=now)
        return True


def record_click(store: Store, token: str, url: str, signature: str, remote: str | None) -> bool:
    """Note a click when the link is genuine (right token, URL signed by that message's key)."""
    with store.session() as s:
        row = s.execute(
            select(QueuedMessage.id, QueuedMessage.tracking_key).where(
                QueuedMessage.tracking_token == token
            )
        ).first()
        if row is None or not hmac.compare_digest(url_signature(row[1], url), signature):
            return False
        now = utcnow()
        s.add(TrackingEvent(message_id=row[0], kind="click", url=url[:4000], remote=remote, at=now))
        activity.record_event(s, row[0], "clicked", source="tracking", detail=url, at=now)
        return True


def _not_found() -> web.Response:
    """The same answer for every token that is not genuine: it tells a prober nothing."""
    return web.Response(status=404, text="This link is not valid.", headers=_NO_CACHE)


def make_app(store: Store) -> web.Application:
    """The aiohttp application serving both routes."""

    async def pixel(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        try:
            await asyncio.to_thread(record_open, store, token, request.remote)
        except Exception:
            log.exception("could not record an open")
        return web.Response(body=PIXEL, content_type="image/gif", headers=_NO_CACHE)

    async def click(request: web.Request) -> web.Response:
        token = request.match_info["token"]
        url = request.query.get("u", "")
        signature = request.query.get("s", "")
        ok = url.lower().startswith(("http://", "https://")) and await asyncio.to_thread(
            record_click, store, token, url, signature, request.remote
        )
        if not ok:
            return web.Response(
                status=404,
                text="This link is not valid. Copy the address from the original email instead.",
                headers=_NO_CACHE,
            )
        raise web.HTTPFound(location=url, headers=_NO_CACHE)

    async def unsubscribe_page(request: web.Request) -> web.Response:
        # A GET never unsubscribes: link scanners and previews follow GETs.
        token = request.match_info["token"]
        target = await asyncio.to_thread(unsubscribe.find_target, store, token)
        if target is None:
            return _not_found()
        return web.Response(
            text=unsubscribe.confirm_page(target), content_type="text/html", headers=_NO_CACHE
        )

    async def unsubscribe_post(request: web.Request) -> web.Response:
        form = await request.post() if request.can_read_body else {}
        if form.get("List-Unsubscribe") != "One-Click":
            return web.Response(status=400, text=f"Send {unsubscribe.POST_VALUE} to unsubscribe.")
        target = await asyncio.to_thread(
            unsubscribe.unsubscribe, store, request.match_info["token"]
        )
        if target is None:
            return _not_found()
        return web.Response(
            text=unsubscribe.done_page(target), content_type="text/html", headers=_NO_CACHE
        )

    app = web.Application()
    app.router.add_get("/o/{token}.gif", pixel)
    app.router.add_get("/c/{token}", click)
    app.router.add_get("/u/{token}", unsubscribe_page)
    app.router.add_post("/u/{token}", unsubscribe_post)
    # Providers' event webhooks share the endpoint (the same public name, one port to open).
    from postdesk.core.webhooks.receive import add_routes

    add_routes(app, store)
    return app


async def start_tracker(store: Store, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the endpoint on the running loop; returns the runner and the bound port."""
    runner = web.AppRunner(make_app(store), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    sockets = getattr(site._server, "sockets", None)  # the bound port when 0 was asked for
    if sockets:
        bound = int(sockets[0].getsockname()[1])
    return runner, bound
