"""The inbound server: mail from the internet for the dedicated domains that receive it.

aiosmtpd with STARTTLS and no AUTH. A recipient is accepted only on a dedicated domain that is
verified and has reception on; anything else is ``550 5.7.1 relaying denied`` and nothing is
ever sent onwards from here. Each message is checked (SPF, DKIM, DMARC), stamped with
``Received:`` and ``Authentication-Results:``, committed, and only then answered 250; what
follows (bounce reports, DMARC reports, forwarding, confirmation codes) runs afterwards in
``pipeline.process``.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import re
import ssl
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from aiosmtpd.smtp import SMTP

from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.domains import lookup_name
from postdesk.core.inbound import auth, pipeline
from postdesk.core.inbound.filing import Received, ReceivingDomains, file_received
from postdesk.core.inbound.limits import PeerLimits
from postdesk.core.relay.addresses import envelope_problem, smtp_safe
from postdesk.core.store import Store

log = logging.getLogger(__name__)

RELAYING_DENIED = "550 5.7.1 relaying denied"
CHECK_FAILED = "451 4.3.0 Postdesk could not check the message; please try again shortly"
ADDRESSES_KEPT = 4096  # envelope addresses whose reading is kept (senders repeat them)
T = TypeVar("T")
_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]*:")


@dataclass(frozen=True)
class Arrived:
    """One message as the connection delivered it, before its checks and commit."""

    domain_id: int
    domain_name: str
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    ip: str
    helo: str
    tls: bool


@functools.lru_cache(maxsize=ADDRESSES_KEPT)
def _envelope_problem(address: str, role: str) -> str | None:
    # The same addresses come again and again (a regular sender, the domain's own addresses):
    # the answer depends on the text alone.
    return envelope_problem(address, role)


class InboundHandler:
    """aiosmtpd hooks: recipients on receiving domains only, then check, stamp and commit."""

    def __init__(
        self,
        store: Store,
        *,
        server_name: str,
        dns: Callable[[], DnsClient],
        limits: PeerLimits,
        max_recipients: int = 100,
        after_commit: Callable[[Received], Awaitable[None]] | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.server_name = server_name
        self.dns = dns
        self.limits = limits
        self.max_recipients = max_recipients
        self.after_commit = after_commit
        self.domains = ReceivingDomains(store)
        # Threads of its own for the database work: senders waiting for a group commit must not
        # hold every thread of the loop's default pool (the GUI's, when embedded).
        self.executor = executor
        self._background: set[asyncio.Task[None]] = set()

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # No AUTH here: nobody logs in to deliver mail to a domain.
        return [r for r in responses if not r[4:].upper().startswith("AUTH")]

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        wait = self.limits.message(_peer_ip(session))
        if wait > 0:
            return f"451 4.7.1 Too many messages from your address; try again in {wait:.0f} s"
        # The null sender stays "<>" in the envelope: aiosmtpd reads "" as "no MAIL yet".
        if address != "<>":
            problem = _envelope_problem(address, "Sender")
            if problem:
                return f"553 5.1.7 {problem}"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        _, at, host = address.rpartition("@")
        domain_id, name = None, ""
        if at and not _envelope_problem(address, "Recipient"):
            name = lookup_name(host)
            known, domain_id = self.domains.recent(name)
            if not known:  # not read lately: the database, in a worker thread
                domain_id = await self._blocking(self.domains.lookup, name)
        if domain_id is None:
            return RELAYING_DENIED
        current = getattr(envelope, "inbound_domain_id", None)
        if current is not None and current != domain_id:
            # One message is filed on one domain; the sender's server sends the rest again.
            return "452 4.5.3 Recipients on another domain: send them in a separate message"
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return f"452 4.5.3 At most {self.max_recipients} recipients per message"
        envelope.inbound_domain_id = domain_id
        envelope.inbound_domain_name = name
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content)
        mail_from = "" if envelope.mail_from == "<>" else str(envelope.mail_from)
        ip = _peer_ip(session)
        helo = str(session.host_name or "")
        try:
            looked = await auth.look_up(
                self.dns(), raw=raw, remote_ip=ip, mail_from=mail_from, helo=helo
            )
        except Exception:
            # A bug, not the sender's fault: a temporary reply, so the message comes again.
            log.exception("could not check a received message")
            return CHECK_FAILED
        tls = isinstance(server, InboundSMTP) and server.tls_in_use
        arrived = Arrived(
            envelope.inbound_domain_id,
            envelope.inbound_domain_name,
            raw,
            mail_from,
            list(envelope.rcpt_tos),
            ip,
            helo,
            tls,
        )
        # One trip to a worker thread for everything CPU- or disk-bound: DKIM, DMARC, the
        # stamp, parsing and the group commit.
        message = await self._blocking(self._check_and_file, arrived, looked)
        if message is None:
            return CHECK_FAILED
        if message.failed or message.inbound_id is None:
            return "451 4.3.0 Postdesk could not store the message; please try again shortly"
        if self.after_commit is not None and not message.settled:
            task = asyncio.ensure_future(self.after_commit(message))
            self._background.add(task)  # a reference, so the task is not collected mid-way
            task.add_done_callback(self._background.discard)
        return f"250 2.0.0 Received as {message.inbound_id}"

    def _check_and_file(self, arrived: Arrived, looked: auth.Lookups) -> Received | None:
        """Verdicts, stamp and commit of one message (blocking: a worker thread); None when
        the checks themselves failed."""
        try:
            verdicts = auth.decide(
                looked,
                raw=arrived.raw,
                mail_from=arrived.mail_from,
                helo=arrived.helo,
                authserv_id=self.server_name,
            )
        except Exception:
            log.exception("could not check a received message")
            return None
        stamped = stamp(
            arrived.raw,
            self.server_name,
            verdicts.header,
            arrived.helo,
            arrived.ip,
            arrived.tls,
            arrived.rcpt_tos,
        )
        message = Received(
            arrived.domain_id,
            stamped,
            arrived.mail_from,
            arrived.rcpt_tos,
            arrived.ip,
            arrived.helo,
            verdicts.as_dict(),
            verdicts.header.partition(": ")[2],
            domain_name=arrived.domain_name,
        )
        file_received(self.store, message)
        if message.inbound_id is not None and not message.failed:
            # Worked out here, off the event loop: most mail needs no after-commit step.
            message.settled = pipeline.nothing_to_do(
                message.raw, message.mail_from, message.owes_forwarding
            )
        return message

    async def _blocking(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    async def drain(self) -> None:
        """Wait for the after-commit work already started (at stop)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)


def stamp(
    raw: bytes,
    server_name: str,
    auth_results: str,
    helo: str,
    ip: str,
    tls: bool,
    rcpt_tos: list[str],
) -> bytes:
    """The message with this server's Received and Authentication-Results on top, and any
    Authentication-Results claiming to be from this server removed (RFC 8601 section 5)."""
    protocol = "ESMTPS" if tls else "ESMTP"
    recipient = f"\r\n\tfor <{rcpt_tos[0]}>" if len(rcpt_tos) == 1 else ""
    received = (
        f"Received: from {_token(helo or 'unknown')} ([{ip}])\r\n\tby {server_name} "
        f"(Postdesk) with {protocol}{recipient};\r\n\t{email.utils.formatdate(usegmt=True)}"
    )
    head = f"{auth_results}\r\n{received}\r\n".encode("ascii", "replace")
    return head + _without_forged(raw, server_name)


def _token(text: str) -> str:
    return smtp_safe(text, 255).replace(" ", "_").replace("(", "_").replace(")", "_")


def _without_forged(raw: bytes, server_name: str) -> bytes:
    split = raw.find(b"\r\n\r\n")
    if split < 0 or b"authentication-results" not in raw[:split].lower():
        return raw
    lines = raw[:split].split(b"\r\n")
    kept: list[bytes] = []
    dropping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        match = _FIELD_NAME.match(line)
        dropping = bool(
            match
            and match.group(1).lower() == b"authentication-results"
            and line[match.end() :].split(b";", 1)[0].strip().lower()
            == server_name.lower().encode()
        )
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + raw[split:]


_ADDRESS_READINGS: dict[tuple[str, int], tuple[str | None, str | None]] = {}


def _peer_ip(session: Any) -> str:
    peer = session.peer if session is not None else None
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


class InboundSMTP(SMTP):
    """aiosmtpd's protocol with per-address connection limits and clearer size replies."""

    def __init__(self, handler: InboundHandler, *, limits: PeerLimits, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._limits = limits

    @property
    def tls_in_use(self) -> bool:
        return self._tls_protocol is not None

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd reads MAIL and RCPT arguments with the email package's full address parser;
        # its reading depends on the text (and the fixed local-part limit) alone.
        key = (arg, self.local_part_limit)
        found = _ADDRESS_READINGS.get(key)
        if found is None:
            found = super()._getaddr(arg)
            if len(_ADDRESS_READINGS) >= ADDRESSES_KEPT:
                _ADDRESS_READINGS.clear()
            _ADDRESS_READINGS[key] = found
        return found

    async def _handle_client(self) -> None:
        ip = _peer_ip(self.session)
        if not self._limits.connect(ip):
            await self.push("421 4.7.0 Too many connections from your address; try again later")
            if self.transport is not None:
                self.transport.close()
            return
        try:
            await super()._handle_client()
        finally:
            self._limits.disconnect(ip)

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            limit_mb = (self.data_size_limit or 0) / (1024 * 1024)
            status = f"552 5.3.4 The message is larger than the {limit_mb:g} MB this domain takes"
        await super().push(status)


async def start_inbound_server(
    handler: InboundHandler,
    *,
    host: str,
    port: int,
    tls_context: ssl.SSLContext,
    max_message_bytes: int,
    connections: weakref.WeakSet[InboundSMTP] | None = None,
) -> asyncio.Server:
    """Listen on the running loop and serve each connection."""
    loop = asyncio.get_running_loop()

    def factory() -> InboundSMTP:
        protocol = InboundSMTP(
            handler,
            limits=handler.limits,
            hostname=handler.server_name,
            ident="Postdesk",
            tls_context=tls_context,
            require_starttls=False,  # senders without TLS still deliver (RFC 3207 on port 25)
            data_size_limit=max_message_bytes,
            auth_required=False,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
            timeout=300,
            loop=loop,
        )
        if connections is not None:
            connections.add(protocol)
        return protocol

    return await loop.create_server(factory, host=host, port=port)
