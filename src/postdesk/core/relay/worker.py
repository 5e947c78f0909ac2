"""The delivery loop: claim queued messages, apply tracking, DKIM-sign, hand them upstream.

Delivery is at least once. A message is marked sent only after the upstream service answered
250 for it; if this process dies between that answer and the database update (milliseconds),
the message is delivered again when its lease runs out — a rare duplicate, never a loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiosmtplib
from sqlalchemy import select

from postdesk.core import secrets, services
from postdesk.core.relay import dkimsign, queue, rewrite
from postdesk.core.relay.options import RelayOptions
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, DkimKey, QueuedMessage

log = logging.getLogger(__name__)


class TemporaryFailure(Exception):
    """Try again later: the reply (or what went wrong) is kept on the message."""


class PermanentFailure(Exception):
    """The upstream refused the message for good: it bounces."""


@dataclass
class Upstream:
    """Everything needed to deliver one domain's mail (read once per batch)."""

    domain: str
    host: str
    port: int
    security: str
    username: str
    password: str | None
    pinned_sha256: str | None
    service_name: str
    selector: str | None
    private_pem: str | None


def load_upstream(store: Store, domain_id: int) -> Upstream:
    """The domain's service, its password and the active DKIM key (keyring: blocking)."""
    with store.session() as s:
        domain = s.get(DedicatedDomain, domain_id)
        if domain is None:
            raise PermanentFailure("The domain was removed from Postdesk.")
        service = domain.service
        if service is None:
            raise TemporaryFailure(
                f"{domain.name} has no SMTP service to send through; choose one in Domain Settings."
            )
        keys = s.scalars(
            select(DkimKey)
            .where(DkimKey.domain_id == domain_id, DkimKey.state == "active")
            .order_by(DkimKey.created_at.desc(), DkimKey.id.desc())
        ).all()
        key = next((k for k in keys if k.selector == domain.dkim_selector), None)
        key = key or (keys[0] if keys else None)
        upstream = Upstream(
            domain=domain.name,
            host=service.host,
            port=service.port,
            security=service.security,
            username=service.username,
            password=None,
            pinned_sha256=service.pinned_sha256,
            service_name=service.name,
            selector=key.selector if key else None,
            private_pem=None,
        )
        key_ref = key.secret_ref if key else None
        try:
            upstream.password = services.service_password(service)
            upstream.private_pem = secrets.read_secret(key_ref) if key_ref else None
        except secrets.SecretsUnavailable as exc:
            raise TemporaryFailure(f"{exc.message} {exc.hint}") from None
    if upstream.selector and not upstream.private_pem:
        log.warning("the DKIM key of %s is missing from the keyring; sending unsigned", domain)
    return upstream


def prepare(message: QueuedMessage, upstream: Upstream, tracking_base: str | None) -> bytes:
    """Tracking first (it changes the body), then the DKIM signature over the final bytes."""
    data = message.raw
    if tracking_base and (message.track_open or message.track_click):
        data = rewrite.apply_tracking(
            data,
            base=tracking_base,
            token=message.tracking_token,
            key=message.tracking_key,
            track_open=message.track_open,
            track_click=message.track_click,
        )
    if upstream.selector and upstream.private_pem:
        data = dkimsign.sign(
            data,
            domain=upstream.domain,
            selector=upstream.selector,
            private_pem=upstream.private_pem,
        )
    return data


def _pin_matches(smtp: aiosmtplib.SMTP, pinned: str) -> bool:
    transport = smtp.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return False
    digest = hashlib.sha256(der).hexdigest().upper()
    wanted = pinned.replace(":", "").replace(" ", "").upper()
    return digest == wanted


async def connect(upstream: Upstream, timeout: float) -> aiosmtplib.SMTP:
    """An open, logged-in connection to the upstream service (TemporaryFailure otherwise)."""
    context = ssl.create_default_context()
    if upstream.pinned_sha256:
        # The user explicitly trusts this one certificate: checked by fingerprint below.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    smtp = aiosmtplib.SMTP(
        hostname=upstream.host,
        port=upstream.port,
        use_tls=upstream.security == "tls",
        start_tls=upstream.security == "starttls",
        tls_context=context,
        timeout=timeout,
    )
    where = f"'{upstream.service_name}' ({upstream.host}:{upstream.port})"
    try:
        await smtp.connect()
        if upstream.pinned_sha256 and not _pin_matches(smtp, upstream.pinned_sha256):
            raise TemporaryFailure(
                f"The SMTP service {where} presented a certificate other than the pinned one."
            )
        if upstream.username and upstream.password:
            await smtp.login(upstream.username, upstream.password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        await _close(smtp)
        raise TemporaryFailure(
            f"The SMTP service {where} refused Postdesk's login ({exc.code} {exc.message}); "
            "check its username and password in SMTP Service."
        ) from None
    except TemporaryFailure:
        await _close(smtp)
        raise
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as exc:
        await _close(smtp)
        raise TemporaryFailure(f"Could not connect to the SMTP service {where}: {exc}") from None
    return smtp


async def _close(smtp: aiosmtplib.SMTP | None) -> None:
    if smtp is None:
        return
    with contextlib.suppress(Exception):
        if smtp.is_connected:
            await smtp.quit()
    with contextlib.suppress(Exception):
        smtp.close()


async def send_one(smtp: aiosmtplib.SMTP, message: QueuedMessage, data: bytes) -> str:
    """Hand one message over; returns the reply, or raises Temporary/PermanentFailure."""
    try:
        refused, reply = await smtp.sendmail(message.mail_from, message.rcpt_tos, data)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"<{r.recipient}>: {r.code} {r.message}" for r in exc.recipients)
        if any(400 <= c < 500 for c in codes):
            raise TemporaryFailure(text) from None
        raise PermanentFailure(text) from None
    except aiosmtplib.SMTPResponseException as exc:
        text = f"{exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            raise PermanentFailure(text) from None
        raise TemporaryFailure(text) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TemporaryFailure(f"The connection to the SMTP service failed: {exc}") from None
    text = str(reply)
    if refused:
        # Some recipients were refused: the others got it, which is what "sent" means here.
        text += " (refused: " + "; ".join(f"<{r}>: {v[0]} {v[1]}" for r, v in refused.items())
        text += ")"
    return text


class Worker:
    """Claims and delivers until stopped; one task per domain batch, in order within it."""

    def __init__(self, store: Store, options: RelayOptions, tracking_base: Any = None) -> None:
        self.store = store
        self.options = options
        self.tracking_base = tracking_base  # callable(domain) -> base URL, or None
        self.wake = asyncio.Event()
        self._stopping = False
        self._active: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self.counts: dict[str, int] = {}

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the message being sent, give the rest back, then return."""
        self._stopping = True
        self.wake.set()
        tasks = [t for t in (self._loop_task, *self._active.values()) if t is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)

    async def _run(self) -> None:
        opts = self.options
        while not self._stopping:
            self.wake.clear()
            free = opts.concurrency - len(self._active)
            if free > 0:
                try:
                    claims = await asyncio.to_thread(
                        queue.claim,
                        self.store,
                        opts.worker_id,
                        lease=opts.lease,
                        batch_size=opts.batch_size,
                        skip_domains=set(self._active),
                        max_domains=free,
                    )
                    self.counts = await asyncio.to_thread(queue.counts, self.store)
                except Exception:
                    log.exception("could not read the relay queue")
                    claims = []
                for claim in claims:
                    task = asyncio.get_running_loop().create_task(self._deliver(claim))
                    self._active[claim.domain_id] = task
                    task.add_done_callback(functools.partial(self._done, claim.domain_id))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), opts.poll_interval)

    def _done(self, domain_id: int, _task: object = None) -> None:
        self._active.pop(domain_id, None)
        if not self._stopping:
            self.wake.set()  # the domain may have more ready messages

    async def _deliver(self, claim: queue.Claim) -> None:
        opts, me = self.options, self.options.worker_id
        remaining = list(claim.ids)
        smtp: aiosmtplib.SMTP | None = None
        renewed = time.monotonic()
        try:
            upstream = await asyncio.to_thread(load_upstream, self.store, claim.domain_id)
            base = self.tracking_base(upstream.domain) if self.tracking_base else None
            while remaining and not self._stopping:
                message_id = remaining[0]
                message = await asyncio.to_thread(queue.load, self.store, message_id, me)
                if message is not None:
                    data = await asyncio.to_thread(prepare, message, upstream, base)
                    if smtp is None:
                        smtp = await connect(upstream, opts.upstream_timeout)
                    try:
                        reply = await send_one(smtp, message, data)
                    except PermanentFailure as exc:
                        await asyncio.to_thread(
                            queue.mark_bounced, self.store, message_id, me, str(exc)
                        )
                    else:
                        await asyncio.to_thread(queue.mark_sent, self.store, message_id, me, reply)
                remaining.pop(0)
                if time.monotonic() - renewed > opts.lease / 3:
                    await asyncio.to_thread(
                        queue.extend_lease, self.store, remaining, me, opts.lease
                    )
                    renewed = time.monotonic()
        except TemporaryFailure as exc:
            await self._retry_head(remaining, str(exc))
        except PermanentFailure as exc:
            for message_id in remaining:
                await asyncio.to_thread(queue.mark_bounced, self.store, message_id, me, str(exc))
            remaining = []
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("delivery failed unexpectedly")
            await self._retry_head(remaining, f"Postdesk could not send the message: {exc}")
        finally:
            await _close(smtp)
            if remaining:
                # Later messages wait for the head's retry, keeping the domain's order.
                await asyncio.shield(asyncio.to_thread(queue.release, self.store, remaining, me))

    async def _retry_head(self, remaining: list[int], reason: str) -> None:
        if not remaining:
            return
        opts = self.options
        head = remaining.pop(0)
        status = await asyncio.to_thread(
            queue.mark_retry,
            self.store,
            head,
            opts.worker_id,
            reason,
            base=opts.retry_base,
            cap=opts.retry_cap,
            max_age=opts.max_age,
        )
        log.info("message %d: temporary failure (%s), now %s", head, reason, status)
