"""Where each provider posts its events, the key it is verified with, and what arrived so far.

Keys live in the OS keyring through the secrets gateway; the workspace's settings keep only the
meaningless names they are stored under.
Postmark signs nothing, so its URL carries a random path segment made on first use. The URL's
host is the workspace's tracking host (or a domain's verified ``track.<domain>`` CNAME, which
points there): the same endpoint that serves open pixels and click redirects.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets as _random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from postdesk.core import secrets, settings, tracking
from postdesk.core.errors import UserError
from postdesk.core.relay.options import DEFAULT_TRACKING_PORT
from postdesk.core.store import Store
from postdesk.core.store.models import WebhookEvent
from postdesk.core.webhooks.events import PROVIDERS

POSTMARK_PATH = "postmark-path"
COUNTS_KEY = "webhook_counts"
REFS_KEY = "webhook_secret_refs"  # provider → the keyring name of its key (never the key)

#: What each provider's secret is, in the words of its own settings page.
SECRET_WORDS = {
    "sendgrid": "the Verification Key of SendGrid's Signed Event Webhook (base64)",
    "mailgun": "Mailgun's HTTP webhook signing key",
    "postmark": "the webhook's basic-auth credentials as user:password",
    "ses": "the ARN of the SNS topic SES publishes to (several separated by spaces)",
}
_TOPIC_ARN = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class WebhookInfo:
    """One provider's webhook as the Domain Settings tab and ``postdesk webhooks`` show it."""

    provider: str
    url: str | None  # None while no tracking host is set
    has_secret: bool
    last_event_at: dt.datetime | None  # the newest event taken in (a test event counts)
    received: int  # events taken in
    unmatched: int  # of those, events about no message Postdesk sent

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "url": self.url,
            "has_secret": self.has_secret,
            "last_event_at": None if self.last_event_at is None else self.last_event_at.isoformat(),
            "received": self.received,
            "unmatched": self.unmatched,
        }


def check_secret(provider: str, value: str) -> str:
    """The secret in its stored form, or a UserError saying what to paste instead."""
    if provider not in PROVIDERS:
        raise UserError(
            "webhooks.provider",
            f"'{provider[:40]}' is not a provider Postdesk takes events from.",
            f"Use one of: {', '.join(PROVIDERS)}.",
        )
    value = value.strip()
    wanted = f"Paste {SECRET_WORDS[provider]}."
    bad = "webhooks.bad_key"
    if provider == "sendgrid":
        from postdesk.core.webhooks.sendgrid import load_key

        try:
            load_key(value)
        except ValueError:
            raise UserError(bad, "This is not a SendGrid verification key.", wanted) from None
    elif provider == "postmark" and (":" not in value or value.startswith(":")):
        raise UserError(bad, "The credentials need a user name and a password.", wanted)
    elif provider == "ses":
        topics = value.replace(",", " ").split()
        if not topics or not all(_TOPIC_ARN.match(t) for t in topics):
            raise UserError(bad, "This is not an SNS topic ARN.", wanted)
        value = " ".join(topics)
    elif not value:
        raise UserError(bad, "No key was given.", wanted)
    return value


def _ref(session: Any, name: str, *, create: bool) -> str | None:
    """The keyring name this workspace keeps ``name`` under (made and recorded if asked)."""
    refs = dict(settings.get(session, REFS_KEY) or {})
    ref = refs.get(name)
    if ref is None and create:
        ref = refs[name] = secrets.new_secret_ref("webhook")
        settings.put(session, REFS_KEY, refs)
    return ref


def set_secret(store: Store, provider: str, value: str) -> None:
    """Store a provider's verification key (checked first) in the keyring."""
    stored = check_secret(provider, value)
    secrets.require_storage()
    with store.session() as s:
        ref = _ref(s, provider, create=True)
        assert ref is not None
        # Inside the transaction: a keyring failure leaves no reference to a missing key.
        secrets.store_secret(ref, stored)


def read_secret(store: Store, provider: str) -> str | None:
    """A provider's verification key, None when none was stored."""
    with store.session() as s:
        ref = _ref(s, provider, create=False)
    return None if ref is None else secrets.read_secret(ref)


def postmark_path(store: Store, *, create: bool) -> str | None:
    """The random path segment of Postmark's URL (made and stored when ``create``)."""
    with store.session() as s:
        ref = _ref(s, POSTMARK_PATH, create=False)
    found = None if ref is None else secrets.read_secret(ref)
    if found is None and create:
        secrets.require_storage()
        found = _random.token_urlsafe(24)
        with store.session() as s:
            ref = _ref(s, POSTMARK_PATH, create=True)
            assert ref is not None
            secrets.store_secret(ref, found)
    return found


def base_url(session: Any, domain: str | None = None) -> str | None:
    """The endpoint's public address: the domain's tracking name, else the tracking host."""
    host = None
    if domain is not None:
        address = tracking.tracking_address(session, domain)
        host = None if address is None else address.host
    host = host or settings.get(session, "tracking_target")
    if not host:
        return None
    port = "" if DEFAULT_TRACKING_PORT == 80 else f":{DEFAULT_TRACKING_PORT}"
    return f"http://{host}{port}"


def webhook_status(
    store: Store, domain: str | None = None, base: str | None = None
) -> list[WebhookInfo]:
    """Each provider's URL, whether its key is stored, and what arrived (reads the keyring:
    call it off the GUI thread). ``base`` overrides the endpoint address (a running relay's)."""
    path = postmark_path(store, create=True)
    with store.session() as s:
        base = (base or base_url(s, domain) or "").rstrip("/") or None
        counts = settings.get(s, COUNTS_KEY) or {}
        last = dict(
            s.execute(
                select(WebhookEvent.provider, func.max(WebhookEvent.received_at)).group_by(
                    WebhookEvent.provider
                )
            ).all()
        )
    found = []
    for provider in PROVIDERS:
        suffix = f"postmark/{path}" if provider == "postmark" else provider
        count = counts.get(provider, {})
        found.append(
            WebhookInfo(
                provider=provider,
                url=None if base is None else f"{base}/hooks/{suffix}",
                has_secret=read_secret(store, provider) is not None,
                last_event_at=last.get(provider),
                received=int(count.get("received", 0)),
                unmatched=int(count.get("unmatched", 0)),
            )
        )
    return found
