"""The inbound listener as one part of a running relay: start it, stop it, know its port."""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from postdesk.core import forwarding, settings
from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.errors import UserError
from postdesk.core.inbound import pipeline
from postdesk.core.inbound.dnscache import caching
from postdesk.core.inbound.filing import Received
from postdesk.core.inbound.limits import PeerLimits
from postdesk.core.inbound.server import InboundHandler, start_inbound_server
from postdesk.core.relay.options import DEFAULT_MAX_MESSAGE_BYTES, RelayOptions, parse_hostport
from postdesk.core.store import Store

log = logging.getLogger(__name__)
INBOUND_THREADS = 8  # senders waiting for one group commit at once, at most
# How often messages still owing forwarded copies are tried again (a DKIM key the keyring
# would not give, a failure); at start they are tried at once (a relay stopped mid-way).
OWED_RETRY_EVERY = 300.0


class Inbound:
    """Reception inside one relay process (started by ``Relay.start`` when configured)."""

    def __init__(self, store: Store, options: RelayOptions, on_queued: Callable[[], None]) -> None:
        self.store = store
        self.options = options
        self.on_queued = on_queued
        self.handler: InboundHandler | None = None
        self._server: asyncio.Server | None = None
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.limits = PeerLimits(connections=20, messages_per_minute=600)  # until start() reads
        self._executor = ThreadPoolExecutor(INBOUND_THREADS, thread_name_prefix="postdesk-inbound")
        self._in_flight: set[int] = set()  # committed, their after-commit steps running
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    def _where(self) -> tuple[str, int, int] | None:
        """(host, port, size limit) from the options, else the workspace settings; None: off.
        Also fills in the per-address limits the options leave to the settings."""
        opts = self.options
        with self.store.session() as s:
            listen = settings.get(s, "inbound_listen")
            size_mb = settings.get(s, "inbound_max_message_mb")
            connections = int(settings.get(s, "inbound_connections_per_ip"))
            per_minute = int(settings.get(s, "inbound_messages_per_minute"))
        self.limits = PeerLimits(
            connections=opts.inbound_connections_per_ip or connections,
            messages_per_minute=opts.inbound_messages_per_minute or per_minute,
        )
        max_bytes = opts.inbound_max_message_bytes or (
            int(float(size_mb) * 1024 * 1024) if size_mb else DEFAULT_MAX_MESSAGE_BYTES
        )
        if opts.inbound_port is not None:
            return opts.inbound_host, opts.inbound_port, max_bytes
        if not listen:
            return None
        try:
            host, port = parse_hostport(str(listen))
        except ValueError as exc:
            raise UserError(
                "relay.bad_inbound_setting",
                f"The inbound_listen setting ({listen}) is not a HOST:PORT address: {exc}.",
                "Change it in Settings, e.g. 0.0.0.0:25, or clear it to receive no mail.",
            ) from None
        return host, port, max_bytes

    async def start(self, server_name: str, tls_context: ssl.SSLContext) -> str | None:
        """Listen when reception is configured; the address listened on, or None when not."""
        where = await asyncio.to_thread(self._where)
        if where is None:
            return None
        host, port, max_bytes = where
        opts = self.options
        # One cache for the relay's life: a sender's records are asked once per TTL, not per
        # message.
        dns = caching(make_client())
        self.handler = InboundHandler(
            self.store,
            server_name=server_name,
            dns=dns.fresh,
            limits=self.limits,
            max_recipients=min(opts.max_recipients, 100),
            after_commit=self._after_commit,
            executor=self._executor,
        )
        try:
            self._server = await start_inbound_server(
                self.handler,
                host=host,
                port=port,
                tls_context=tls_context,
                max_message_bytes=max_bytes,
                connections=self._connections,
            )
        except OSError as exc:
            raise UserError(
                "relay.inbound_cannot_listen",
                f"The relay could not receive mail on {host}:{port} ({exc.strerror}).",
                "Port 25 needs administrator rights or another program (a mail server) holds "
                "it; choose another with --inbound HOST:PORT.",
            ) from None
        address = f"{host}:{self.port}"
        log.info("receiving mail on %s", address)
        self._sweeper = asyncio.create_task(self._sweep_owed())
        return address

    async def _after_commit(self, message: Received) -> None:
        inbound_id = message.inbound_id
        if inbound_id is None:
            return
        self._in_flight.add(inbound_id)
        try:
            processed = await pipeline.process(
                self.store,
                inbound_id,
                raw=message.raw,
                mail_from=message.mail_from,
                owed=message.owes_forwarding,
            )
        except Exception:
            log.exception("processing received message %d failed", inbound_id)
            return
        finally:
            self._in_flight.discard(inbound_id)
        if processed.forwarded:
            self.on_queued()  # forwarded copies wait in the queue

    async def _sweep_owed(self) -> None:
        """Queue the copies still owed by messages received earlier: at start (a relay
        stopped between a message's 250 and its copies), then every few minutes."""
        while True:
            try:
                owed = await asyncio.to_thread(forwarding.owed_messages, self.store)
            except Exception:
                log.exception("could not read the messages that still owe forwarded copies")
                owed = []
            queued = 0
            for inbound_id in owed:
                if inbound_id in self._in_flight:
                    continue  # its own after-commit steps are on it
                try:
                    processed = await pipeline.process(self.store, inbound_id)
                except Exception:
                    log.exception("forwarding received message %d failed", inbound_id)
                    continue
                queued += processed.forwarded
            if queued:
                log.info("queued %d forwarded copies owed by earlier messages", queued)
                self.on_queued()
            await asyncio.sleep(OWED_RETRY_EVERY)

    async def stop(self) -> None:
        """Stop listening; a sender mid-DATA gets no 250 and sends again later."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._server is not None:
            self._server.close()
            for protocol in list(self._connections):
                if protocol.transport is not None:
                    protocol.transport.close()
            self._server = None
        if self.handler is not None:
            await self.handler.drain()
        self._executor.shutdown(wait=False)
