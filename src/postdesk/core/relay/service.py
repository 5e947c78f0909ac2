"""``Relay``: the submission server, the delivery worker and the tracking endpoint together.

Usable embedded in any running asyncio loop (the GUI's qasync loop) or headless from the CLI:
``await relay.start()``, ``relay.status``, ``await relay.stop()``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from postdesk.core import settings
from postdesk.core.errors import UserError
from postdesk.core.relay import tlscert
from postdesk.core.relay.delivery import DeliveryProcess
from postdesk.core.relay.options import (
    DEFAULT_MAX_MESSAGE_BYTES,
    RelayOptions,
    is_loopback,
    tracking_base,
)
from postdesk.core.relay.ratelimit import LoginLimiter
from postdesk.core.relay.server import SESSION_THREADS, RelayHandler, start_smtp_server
from postdesk.core.relay.tracker import start_tracker
from postdesk.core.relay.worker import Worker
from postdesk.core.store import Store

log = logging.getLogger(__name__)


@dataclass
class RelayStatus:
    """What the status bar shows: whether it runs, where, and the queue by status."""

    running: bool
    smtp_address: str | None = None
    tls: str = "starttls"
    auth_without_tls: bool = False
    tracking_url: str | None = None
    inbound_address: str | None = None  # where mail to the dedicated domains is received
    queue: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Relay:
    """One relay process's parts; start and stop it on the running event loop."""

    def __init__(self, store: Store, options: RelayOptions | None = None) -> None:
        self.store = store
        self.options = options or RelayOptions()
        self._server: asyncio.Server | None = None
        self._tracker: Any = None
        self._worker: Worker | None = None
        self._delivery: DeliveryProcess | None = None  # when delivering in a process of its own
        self._status = RelayStatus(running=False)
        self._tracking_port: int | None = None
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._inbound: Any = None  # the inbound server's part (core.inbound.service)
        self._session_threads: ThreadPoolExecutor | None = None

    @property
    def status(self) -> RelayStatus:
        """The current status (queue counts as of the worker's last look)."""
        if self._delivery is not None:
            self._status.queue = dict(self._delivery.counts)
        elif self._worker is not None:
            self._status.queue = dict(self._worker.counts)
        return self._status

    @property
    def port(self) -> int | None:
        """The SMTP port actually listened on (useful when 0 was asked for)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def tracking_port(self) -> int | None:
        """The open and click tracking port actually listened on (None when not served)."""
        return self._tracking_port

    def wake(self) -> None:
        """Look at the queue now (after a retry-now from the GUI, for example)."""
        if self._delivery is not None:
            self._delivery.wake()
        elif self._worker is not None:
            self._worker.wake.set()

    async def start(self) -> None:
        """Open the listeners and start delivering; raises UserError when it can't listen."""
        if self._server is not None:
            return
        opts = self.options
        with self.store.session() as s:
            port = (
                opts.listen_port
                if opts.listen_port is not None
                else int(settings.get(s, "relay_port"))
            )
            server_name = opts.server_name or str(settings.get(s, "relay_host") or "localhost")
            size_mb = settings.get(s, "relay_max_message_mb")
        max_bytes = opts.max_message_bytes or (
            int(float(size_mb) * 1024 * 1024) if size_mb else DEFAULT_MAX_MESSAGE_BYTES
        )
        if opts.certfile and opts.keyfile:
            certfile, keyfile = opts.certfile, opts.keyfile
        else:
            certfile, keyfile = await asyncio.to_thread(tlscert.self_signed, server_name)
        context = tlscert.server_context(certfile, keyfile)
        limiter = LoginLimiter(
            delay=opts.fail_delay,
            delay_max=opts.fail_delay_max,
            ban_after=opts.ban_after,
            window=opts.ban_window,
            ban_for=opts.ban_seconds,
        )
        if not opts.delivery_process:
            self._worker = Worker(self.store, opts, tracking_base=self.tracking_base)
        self._session_threads = ThreadPoolExecutor(
            SESSION_THREADS, thread_name_prefix="postdesk-smtp"
        )
        handler = RelayHandler(
            self.store,
            max_recipients=opts.max_recipients,
            on_queued=lambda _id: self.wake(),
            executor=self._session_threads,
        )
        plain_auth = opts.auth_without_tls
        if plain_auth is None:
            plain_auth = is_loopback(opts.listen_host)
        try:
            self._server = await start_smtp_server(
                handler,
                store=self.store,
                limiter=limiter,
                host=opts.listen_host,
                port=port,
                tls_context=context,
                require_tls_for_auth=not plain_auth,
                server_name=server_name,
                max_message_bytes=max_bytes,
                connections=self._connections,
            )
        except OSError as exc:
            await self.stop()
            raise UserError(
                "relay.cannot_listen",
                f"The relay could not listen on {opts.listen_host}:{port} ({exc.strerror}).",
                "Another program may use that port; choose another with --listen HOST:PORT "
                "or stop the other program.",
            ) from None
        if opts.tracking_port is not None:
            host = opts.tracking_host or opts.listen_host
            try:
                self._tracker, self._tracking_port = await start_tracker(
                    self.store, host, opts.tracking_port
                )
            except OSError as exc:
                await self.stop()
                raise UserError(
                    "relay.tracking_cannot_listen",
                    f"The relay's open and click tracking could not listen on "
                    f"{host}:{opts.tracking_port} ({exc.strerror}).",
                    "Another program may use that port; choose another with --tracking-listen "
                    "HOST:PORT, turn tracking off with --no-tracking, or stop the other program.",
                ) from None
        inbound_address = await self._start_inbound(server_name, context)
        if self._worker is not None:
            self._worker.start()
        else:
            self._delivery = DeliveryProcess(opts, self._tracking_port)
            self._delivery.start()
        self._status = RelayStatus(
            running=True,
            smtp_address=f"{opts.listen_host}:{self.port}",
            auth_without_tls=plain_auth,
            tracking_url=self._tracking_description(),
            inbound_address=inbound_address,
        )
        log.info("relay listening on %s", self._status.smtp_address)

    async def _start_inbound(self, server_name: str, context: Any) -> str | None:
        from postdesk.core.inbound.service import Inbound

        inbound = Inbound(self.store, self.options, on_queued=self.wake)
        try:
            address = await inbound.start(server_name, context)
        except UserError:
            await self.stop()
            raise
        if address is not None:
            self._inbound = inbound
        return address

    @property
    def inbound_port(self) -> int | None:
        """The inbound port actually listened on (None when reception is not served)."""
        return self._inbound.port if self._inbound is not None else None

    def tracking_base(self, tracking_host: str) -> str | None:
        """The base URL of tracked links for a domain's verified public tracking host; None
        when tracking is not served (``options.tracking_base``)."""
        return tracking_base(self.options, self._tracking_port, tracking_host)

    def _tracking_description(self) -> str | None:
        if self._tracker is None and not self.options.tracking_base_url:
            return None
        # Never this computer's address: only domains with a verified tracking CNAME are tracked.
        example = self.tracking_base("track.<domain>")
        return f"{example} for each domain whose tracking CNAME is verified"

    async def stop(self) -> None:
        """Stop listening, let the message in flight finish, and give unsent claims back."""
        if self._server is not None:
            self._server.close()
            # Open sessions are cut: a client mid-DATA gets no 250 and sends again later, which
            # is the SMTP contract; a message already answered 250 is in the database.
            for protocol in list(self._connections):
                if protocol.transport is not None:
                    protocol.transport.close()
            self._server = None
        if self._inbound is not None:
            await self._inbound.stop()
            self._inbound = None
        if self._worker is not None:
            await self._worker.stop()
            self._worker = None
        if self._delivery is not None:
            await self._delivery.stop()
            self._delivery = None
        if self._tracker is not None:
            await self._tracker.cleanup()
            self._tracker = None
            self._tracking_port = None
        if self._session_threads is not None:
            # Sessions were cut above; a commit still under way finishes on its thread.
            self._session_threads.shutdown(wait=False)
            self._session_threads = None
        self._status = RelayStatus(running=False)
