"""The webhook routes of the tracking endpoint: verify, parse, fold, answer.

Every request is checked against its provider's scheme before anything is parsed into the
store; a refusal (forged, stale, replayed, malformed, oversized, not set up) is a 4xx (a keyring
or certificate fetch failure a 5xx, so the provider retries) and records nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import ClientSession, ClientTimeout, web
from sqlalchemy.exc import IntegrityError

from postdesk.core.errors import UserError
from postdesk.core.store import Store
from postdesk.core.webhooks import mailgun, postmark, sendgrid, sns
from postdesk.core.webhooks.events import MAX_BODY_BYTES, ProviderEvent, Refused, parse_json
from postdesk.core.webhooks.fold import FoldResult, fold
from postdesk.core.webhooks.urls import postmark_path, read_secret

log = logging.getLogger(__name__)
_CERT_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers: the HTTP status and a short text."""

    status: int
    text: str


async def fetch_https(url: str) -> bytes:
    """GET a small document (an SNS certificate or subscription link); no redirects."""
    async with (
        ClientSession(timeout=ClientTimeout(total=15)) as client,
        client.get(url, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise OSError(f"HTTP {response.status}")
        body = await response.content.read(_CERT_MAX_BYTES + 1)
        if len(body) > _CERT_MAX_BYTES:
            raise OSError("response too large")
        return body


#: How SNS certificates and subscription links are fetched (tests put a local stand-in here).
fetcher = fetch_https


async def _secret(store: Store, provider: str) -> str:
    try:
        value = await asyncio.to_thread(read_secret, store, provider)
    except UserError:
        raise Refused(503, "the keyring is not available") from None
    if value is None:
        raise Refused(403, f"no {provider} key is set in Postdesk")
    return value


async def verified_events(
    store: Store,
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    path_secret: str = "",
    now: dt.datetime | None = None,
) -> tuple[list[ProviderEvent], str | None]:
    """A request's events once its provider's signature checks out, and its one-time token."""
    now = now or dt.datetime.now(dt.UTC)
    if provider == "sendgrid":
        sendgrid.verify(body, headers, await _secret(store, "sendgrid"), now)
        return sendgrid.parse(body), None
    if provider == "mailgun":
        payload = parse_json(body)
        token = mailgun.verify(payload, await _secret(store, "mailgun"), now)
        return mailgun.parse(payload), token
    if provider == "postmark":
        try:
            expected = await asyncio.to_thread(postmark_path, store, create=False)
            basic = await asyncio.to_thread(read_secret, store, "postmark")
        except UserError:
            raise Refused(503, "the keyring is not available") from None
        postmark.check_access(path_secret, expected or "", headers.get("Authorization", ""), basic)
        return postmark.parse(body), None
    if provider == "ses":
        message = sns.parse_message(body)
        topics = (await _secret(store, "ses")).split()
        await sns.verify(message, topics, fetcher, now)
        if message["Type"] == "SubscriptionConfirmation":
            await sns.confirm_subscription(message, fetcher)
            return [], None
        if message["Type"] != "Notification":
            return [], None
        return sns.parse_ses(message), None
    raise Refused(404, "not found")


def _fold(store: Store, provider: str, events: list[ProviderEvent], once: str | None) -> FoldResult:
    try:
        with store.session() as session:
            return fold(session, provider, events, once=once)
    except IntegrityError:
        # Another delivery of the same event (or another request's first count) committed
        # first. Not a 4xx: some providers never retry those; the retry then answers 409 if
        # the events really were taken in.
        raise Refused(503, "busy, try again") from None
    except UserError as exc:
        if exc.code == "store.busy":  # SQLite: another writer held the database
            raise Refused(503, "busy, try again") from None
        raise


async def receive(
    store: Store, provider: str, body: bytes, headers: Mapping[str, str], *, path_secret: str = ""
) -> Answer:
    """Handle one webhook request end to end."""
    try:
        events, once = await verified_events(
            store, provider, body, headers, path_secret=path_secret
        )
        if not events and once is None:
            return Answer(200, "ok")
        result = await asyncio.to_thread(_fold, store, provider, events, once)
    except Refused as refused:
        log.info("%s webhook refused: %s", provider, refused.reason)
        return Answer(refused.status, refused.reason)
    log.info(
        "%s webhook: %d events, %d matched, %d about other mail",
        provider,
        result.taken,
        result.matched,
        result.unmatched,
    )
    return Answer(200, "ok")


async def _read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise Refused(413, "the body is too large")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise Refused(413, "the body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


def add_routes(app: web.Application, store: Store) -> None:
    """Add ``POST /hooks/<provider>`` (Postmark: ``/hooks/postmark/<secret>``) to the endpoint."""

    async def handle(request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        try:
            body = await _read_body(request)
        except Refused as refused:
            return web.Response(status=refused.status, text=refused.reason)
        try:
            answer = await receive(
                store,
                provider,
                body,
                request.headers,
                path_secret=request.match_info.get("secret", ""),
            )
        except Exception:
            log.exception("a %s webhook could not be taken in", provider)
            answer = Answer(500, "the event could not be recorded")
        return web.Response(status=answer.status, text=answer.text)

    app.router.add_post("/hooks/{provider:sendgrid|mailgun|ses}", handle)
    app.router.add_post("/hooks/{provider:postmark}/{secret}", handle)
