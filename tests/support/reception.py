"""Reception tests: a receiving dedicated domain, senders with SPF/DKIM/DMARC published in NSD,
and a relay listening for inbound mail.

Senders (all connect from 127.0.0.1):
- ``sender.test``: SPF allows 127.0.0.1, a DKIM key at ``s1``, DMARC ``p=reject``.
- ``elsewhere.test``: SPF allows only 192.0.2.1 (so mail from here fails SPF), key at ``s1``,
  DMARC ``p=quarantine``.
- ``bare.test``: publishes nothing at all.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

import dkim
import dns.message
import dns.query
import pytest_asyncio

from support.services import free_port

RECEIVING = "shop.test"
SERVER_NAME = "mx.shop.test"


@lru_cache(maxsize=1)
def sender_key() -> Any:
    """One 2048-bit key for every sender domain (generating one takes a moment)."""
    from postdesk.core.dkimkeys import generate_dkim_key

    return generate_dkim_key(selector="s1")


def sender_zones() -> dict[str, str]:
    from support.nsd import txt

    key = sender_key()
    record = f"s1._domainkey IN TXT {txt(key.txt_value)}"
    return {
        "sender.test": f"""
@ IN TXT {txt("v=spf1 ip4:127.0.0.1 -all")}
{record}
_dmarc IN TXT {txt("v=DMARC1; p=reject; rua=mailto:dmarc@sender.test")}
""",
        "elsewhere.test": f"""
@ IN TXT {txt("v=spf1 ip4:192.0.2.1 -all")}
{record}
_dmarc IN TXT {txt("v=DMARC1; p=quarantine")}
""",
        "bare.test": "www IN A 192.0.2.80",
    }


def mail(
    subject: str,
    *,
    sender: str = "alice@sender.test",
    to: str = f"hello@{RECEIVING}",
    body: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash(subject))}@{sender.rpartition('@')[2]}>"
    msg.set_content(body or f"Hello, this is {subject}.\n")
    return msg


def signed(msg: EmailMessage, domain: str) -> bytes:
    """The message as bytes, DKIM-signed for ``domain`` with the published key."""
    raw = msg.as_bytes(policy=policy.SMTP)
    key = sender_key().private_pem.encode()
    signature = dkim.sign(
        raw, b"s1", domain.encode(), key, include_headers=[b"from", b"to", b"subject"]
    )
    return signature + raw


@dataclass
class InboundWorld:
    """The store, NSD, the running relay and where it receives."""

    store: Any
    nsd: Any
    relay: Any
    port: int
    domain_id: int
    relays: list[Any] = field(default_factory=list)

    def deliver(
        self,
        raw: bytes,
        *,
        mail_from: str,
        rcpts: list[str] | None = None,
        starttls: bool = False,
    ) -> tuple[int, bytes]:
        """Send raw bytes as one message with smtplib; the first refusal's reply, or DATA's."""
        # On the wire every line ends in CRLF (smtplib sends bytes as they are).
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
            client.ehlo("client.sender.test")
            if starttls:
                client.starttls()
                client.ehlo("client.sender.test")
            code, text = client.mail(mail_from)
            if code != 250:
                return code, text
            for rcpt in rcpts or [f"hello@{RECEIVING}"]:
                code, text = client.rcpt(rcpt)
                if code != 250:
                    return code, text
            return client.data(raw)

    def dkim_verifies(self, raw: bytes) -> bool:
        """dkimpy's own verdict, with its key lookups sent straight to NSD."""

        def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
            query = dns.message.make_query(name.decode().rstrip("."), "TXT")
            answer = dns.query.udp(query, "127.0.0.1", port=self.nsd.port, timeout=timeout)
            for rrset in answer.answer:
                for rdata in rrset:
                    return b"".join(rdata.strings)
            return b""

        return bool(dkim.verify(raw, dnsfunc=dnsfunc))

    def stored(self) -> list[Any]:
        from sqlalchemy import select

        from postdesk.core.store.models import InboundMessage

        with self.store.session() as s:
            rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
            s.expunge_all()
            return list(rows)


def add_receiving_domain(store: Any, name: str = RECEIVING, *, reception: bool = True) -> int:
    from postdesk.core.store.models import DedicatedDomain, utcnow

    with store.session() as s:
        domain = DedicatedDomain(
            name=name,
            ownership_token="t",
            status="verified",
            verified_at=utcnow(),
            reception=reception,
        )
        s.add(domain)
        s.flush()
        return int(domain.id)


async def start_inbound_relay(store: Any, **overrides: Any) -> tuple[Any, int]:
    from postdesk.core.relay import Relay, RelayOptions

    port = free_port()
    values: dict[str, Any] = {
        "listen_port": free_port(),
        "tracking_port": None,
        "server_name": SERVER_NAME,
        "inbound_host": "127.0.0.1",
        "inbound_port": port,
        "poll_interval": 0.2,
    }
    values.update(overrides)
    relay = Relay(store, RelayOptions(**values))
    await relay.start()
    return relay, port


@pytest_asyncio.fixture
async def inbound_world(store: Any, nsd: Any) -> AsyncIterator[InboundWorld]:
    """``shop.test`` receiving (verified, reception on), senders in NSD, a relay receiving."""
    await asyncio.to_thread(sender_key)
    nsd.serve(sender_zones())
    domain_id = add_receiving_domain(store)
    relay, port = await start_inbound_relay(store)
    world = InboundWorld(store, nsd, relay, port, domain_id)
    try:
        yield world
    finally:
        await relay.stop()
