"""Test sends and connection tests: the workflow around the pure ``smtptest`` checker.

It reads the password from the keyring, runs the conversation, remembers the result for the
service's badge, and counts every successful test send as an email sent by the account.

The store's modules (SQLAlchemy and the models, ~0.5 s) are imported where they are used, so the
command line's light test send (``sendlite``) can share this module's pieces without them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.policy
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from postdesk.core.errors import UserError
from postdesk.core.servicesecret import service_password
from postdesk.core.serviceview import ServiceView
from postdesk.core.smtptest import (
    MessageSigner,
    SmtpEndpoint,
    TestResult,
    TranscriptLine,
    build_test_message,
    run_test,
)
from postdesk.core.smtptest.verdicts import Situation, advice

if TYPE_CHECKING:
    from postdesk.core.store import Store

DEFAULT_SUBJECT = "Postdesk test email"
DEFAULT_TEXT = (
    "This is a test email sent with Postdesk.\n\n"
    "If it reached your inbox, the SMTP settings used to send it work."
)
DEFAULT_HTML = (
    "<html><body><p>This is a <strong>test email</strong> sent with Postdesk.</p>"
    "<p>If it reached your inbox, the SMTP settings used to send it work.</p></body></html>"
)
OnLine = Callable[[TranscriptLine], None]


@dataclass
class TestEmail:
    """What the Send test email form collects."""

    __test__ = False  # not a pytest test class

    from_addr: str
    to_addr: str
    subject: str = DEFAULT_SUBJECT
    text: str = DEFAULT_TEXT
    html: str = DEFAULT_HTML


def _endpoint(service: ServiceView, password: str | None) -> SmtpEndpoint:
    return SmtpEndpoint(
        host=service.host,
        port=service.port,
        security=service.security,  # type: ignore[arg-type]
        username=service.username or None,
        password=password,
        pinned_sha256=service.pinned_sha256,
    )


def _summary(result: TestResult) -> str:
    return result.advice if not result.ok else "Connected, TLS and login accepted."


async def test_service_connection(
    store: Store, name: str, *, on_line: OnLine | None = None
) -> TestResult:
    """Connect, TLS, EHLO and AUTH with a service — no message is sent."""
    from postdesk.core import services

    service = services.get_service(store, name)
    password = await asyncio.to_thread(service_password, service)
    result = await run_test(_endpoint(service, password), None, on_line=on_line)
    services.record_test(store, name, result.ok, result.category, _summary(result))
    return result


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(">")


def _check_from_service(store: Store, service: ServiceView, from_addr: str) -> int | None:
    """The sender must be on one of the user's domains, or be the service's own address."""
    from sqlalchemy import select

    from postdesk.core.store.models import DedicatedDomain

    domain = _domain_of(from_addr)
    with store.session() as s:
        ours = s.scalars(select(DedicatedDomain).where(DedicatedDomain.name == domain)).first()
        if ours is not None:
            return ours.id
    if "@" in service.username and _domain_of(service.username) == domain:
        return None
    raise UserError(
        "test_send.foreign_sender",
        f"{from_addr} is not on one of your dedicated domains.",
        "Send from an address on a domain you added in Dedicated Domain And IP, or from the "
        "service's own address.",
    )


async def send_through_service(
    store: Store, service_name: str, email: TestEmail, *, on_line: OnLine | None = None
) -> TestResult:
    """Send a test email through an upstream service; a success counts towards today's usage."""
    message = build_test_message(
        email.from_addr, email.to_addr, email.subject, email.text, email.html
    )
    from postdesk.core import services

    service = services.get_service(store, service_name)
    domain_id = _check_from_service(store, service, email.from_addr)
    password = await asyncio.to_thread(service_password, service)
    signer = await asyncio.to_thread(dkim_signer, store, domain_id) if domain_id else None
    result = await run_test(_endpoint(service, password), message, on_line=on_line, signer=signer)
    await asyncio.to_thread(record_outcome, store, service, domain_id, message, result)
    return result


def record_outcome(
    store: Store,
    service: ServiceView,
    domain_id: int | None,
    message: EmailMessage,
    result: TestResult,
) -> None:
    """Keep what a test send through a service did: the service's badge, the domain's activity
    and, when it was sent, today's count (blocking: call it in a thread)."""
    from postdesk.core import services, usage

    services.record_test(store, service.name, result.ok, result.category, _summary(result))
    if domain_id is not None:
        _record_activity(store, domain_id, message, service, result)
    if result.ok:
        usage.record_sent(store, recipients=1, service_id=service.id, domain_id=domain_id)


def final_reply(result: TestResult) -> tuple[int | None, str]:
    """The server's last word on the message (its reply to the data, or the refusal)."""
    if result.reply_code is not None:
        return result.reply_code, f"{result.reply_code} {result.reply_text or ''}".strip()
    for line in reversed(result.transcript):
        text = line.text.strip()
        if line.direction == "server" and text[:3].isdigit() and not text.startswith("221"):
            return int(text[:3]), text
    return None, result.advice


def _record_activity(
    store: Store, domain_id: int, message: EmailMessage, service: ServiceView, result: TestResult
) -> None:
    """A test send from one of the user's domains shows in its activity, marked critical."""
    from postdesk.core import activity

    code, reply = final_reply(result)
    activity.record_test_send(
        store,
        domain_id=domain_id,
        raw=message.as_bytes(policy=email.policy.SMTP),
        mail_from=str(message["From"].addresses[0].addr_spec),
        rcpt_to=str(message["To"].addresses[0].addr_spec),
        subject=str(message["Subject"]),
        message_id_header=str(message["Message-ID"]),
        service=service.name,
        ok=result.ok,
        reply_code=code,
        reply=reply,
    )


def dkim_signer(store: Store, domain_id: int) -> MessageSigner | None:
    """Sign like the relay: with the domain's active DKIM key (keyring: call it in a thread).

    None when the domain has no active key yet; an active key that cannot be read is an error,
    because the relay would hold real mail for the same reason.
    """
    from sqlalchemy import select

    from postdesk.core.store.models import DedicatedDomain, DkimKey

    with store.session() as s:
        domain = s.get(DedicatedDomain, domain_id)
        if domain is None:
            return None
        keys = s.scalars(
            select(DkimKey)
            .where(DkimKey.domain_id == domain_id, DkimKey.state == "active")
            .order_by(DkimKey.created_at.desc(), DkimKey.id.desc())
        ).all()
        key = next((k for k in keys if k.selector == domain.dkim_selector), None) or (
            keys[0] if keys else None
        )
        if key is None:
            return None
        name, selector, ref = domain.name, key.selector, key.secret_ref
    return signer_for(name, selector, ref)


def signer_for(name: str, selector: str, ref: str) -> MessageSigner:
    """A signer with the DKIM key stored under ``ref`` (keyring: call it in a thread)."""
    import dns._features

    from postdesk.core import secrets

    # dkimpy imports dnspython's resolver; without this, that pulls in its DNS-over-HTTPS client
    # stack whenever one is installed (see ``dnscheck``).
    dns._features.force("doh", False)
    from postdesk.core.relay import dkimsign

    pem = secrets.read_secret(ref)
    if not pem:
        raise UserError(
            "dkim.key_unreadable",
            f"The DKIM private key of {name} (selector {selector}) is missing from the keyring.",
            "Rotate the DKIM key in Domain Settings, publish the new record and verify it.",
        )
    loaded = dkimsign.load_key(name, selector, pem)
    return MessageSigner(
        f"DKIM d={name} s={selector}", lambda data: dkimsign.sign_with(data, loaded)
    )


def relay_endpoint(store: Store, username: str, password: str | None) -> SmtpEndpoint:
    """How an app (or a test send) reaches this workspace's relay as one SMTP user."""
    from postdesk.core import settings
    from postdesk.core.relay.tlscert import CERT_NAME, tls_dir

    generated = tls_dir() / CERT_NAME
    with store.session() as s:
        host = str(settings.get(s, "relay_host"))
        port = int(settings.get(s, "relay_port"))
        security = str(settings.get(s, "relay_security"))
    return SmtpEndpoint(
        host=host,
        port=port,
        security=security,  # type: ignore[arg-type]
        username=username,
        password=password,
        # The relay's own certificate (made on first run) is trusted by this machine's tools.
        cafile=str(generated) if generated.exists() else None,
    )


async def send_as_smtp_user(
    store: Store, domain: str, login: str, email: TestEmail, *, on_line: OnLine | None = None
) -> TestResult:
    """Send a test email as an SMTP user through the relay (the relay counts it)."""
    from postdesk.core import credentials

    message = build_test_message(
        email.from_addr, email.to_addr, email.subject, email.text, email.html
    )
    password = await asyncio.to_thread(credentials.smtp_user_password, store, domain, login)
    if password is None:
        raise UserError(
            "test_send.no_password",
            f"Postdesk has no stored password for {login}.",
            "Reset the user's password in SMTP Settings, then try again.",
        )
    name = credentials.username(login.strip().lower(), _stored_domain(store, domain))
    endpoint = relay_endpoint(store, name, password)
    result = await run_test(endpoint, message, on_line=on_line)
    if result.category == "refused" and result.stage == "connect":
        # Nothing listens where the relay should: the built-in relay is stopped, which is what
        # the user can act on (not the port advice meant for an upstream provider).
        situation = Situation(endpoint.host, endpoint.port, endpoint.security, "connect")
        result = dataclasses.replace(
            result, category="relay_stopped", advice=advice("relay_stopped", situation)
        )
    return result


def _stored_domain(store: Store, domain: str) -> str:
    from postdesk.core.domains import get_domain

    with store.session() as s:
        return get_domain(s, domain).name
