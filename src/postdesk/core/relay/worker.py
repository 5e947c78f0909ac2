"""The delivery loop: claim queued messages, apply tracking, DKIM-sign, hand them upstream.

Delivery is at least once. A message is marked sent only after the upstream service answered
250 for it, and the next message of the domain is handed over only after that mark is
committed; if this process dies between an answer and its database update (milliseconds),
that one message is delivered again when its lease runs out — a rare duplicate, never a loss.

Within a domain everything else overlaps: claimed messages are read a window at a time, the
next message is signed (in a thread) while the current one is sent, and the domain's upstream
connection stays open across messages and batches (see ``upstream.Pool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiosmtplib

from postdesk.core.relay import dkimsign, queue, rewrite
from postdesk.core.relay.options import RelayOptions
from postdesk.core.relay.upstream import (
    ConnectionLost,
    PermanentFailure,
    Pool,
    TemporaryFailure,
    Upstream,
    close,
    load_upstream,
    send_one,
)
from postdesk.core.store import Store
from postdesk.core.store.models import QueuedMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["PermanentFailure", "TemporaryFailure", "Worker", "prepare"]

WINDOW_MESSAGES = 16  # claimed messages read from the database in one query...
WINDOW_BYTES = 16 * 1024 * 1024  # ...and at most this much of them held in memory at once
COUNTS_EVERY = 0.5  # seconds between refreshes of the queue counts the status bar shows


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
    if upstream.key is not None:
        data = dkimsign.sign_with(data, upstream.key)
    return data


def _window(remaining: list[int], sizes: dict[int, int]) -> list[int]:
    """The next ids to read at once: a few, and never more bytes than the cap (at least one)."""
    window: list[int] = []
    total = 0
    for message_id in remaining[:WINDOW_MESSAGES]:
        total += sizes.get(message_id, 0)
        if window and total > WINDOW_BYTES:
            break
        window.append(message_id)
    return window


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
        self._counted = 0.0
        self.pool = Pool(options.upstream_timeout)
        # Delivery's own threads: accepting sessions wait for the database in the default
        # executor, and must never leave a domain's next step queued behind them.
        self._executor = ThreadPoolExecutor(
            max_workers=2 * options.concurrency + 2, thread_name_prefix="postdesk-delivery"
        )

    def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Run blocking work (database, keyring, signing) on a delivery thread."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        try:
            return loop.run_in_executor(self._executor, call)
        except RuntimeError:  # stopped already: a late clean-up step still gets its thread
            return loop.run_in_executor(None, call)

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
        await self.pool.close_all()
        self._executor.shutdown(wait=False)

    async def _run(self) -> None:
        opts = self.options
        while not self._stopping:
            self.wake.clear()
            free = opts.concurrency - len(self._active)
            if free > 0:
                try:
                    claims = await self._call(
                        queue.claim,
                        self.store,
                        opts.worker_id,
                        lease=opts.lease,
                        batch_size=opts.batch_size,
                        skip_domains=set(self._active),
                        max_domains=free,
                    )
                    if time.monotonic() - self._counted >= COUNTS_EVERY:
                        # Every accepted message wakes this loop; the counts need not follow
                        # each one.
                        self.counts = await self._call(queue.counts, self.store)
                        self._counted = time.monotonic()
                except Exception:
                    log.exception("could not read the relay queue")
                    claims = []
                for claim in claims:
                    task = asyncio.get_running_loop().create_task(self._deliver(claim))
                    self._active[claim.domain_id] = task
                    task.add_done_callback(functools.partial(self._done, claim.domain_id))
            await self.pool.close_idle()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), opts.poll_interval)

    def _done(self, domain_id: int, _task: object = None) -> None:
        self._active.pop(domain_id, None)
        if not self._stopping:
            self.wake.set()  # the domain may have more ready messages

    async def _deliver(self, claim: queue.Claim) -> None:
        opts, me = self.options, self.options.worker_id
        remaining = list(claim.ids)
        sizes = dict(zip(claim.ids, claim.sizes, strict=False))
        loaded: dict[int, QueuedMessage | None] = {}
        signing: dict[int, asyncio.Future[bytes]] = {}
        smtp: aiosmtplib.SMTP | None = None
        reused = False
        upstream: Upstream | None = None
        healthy = False
        renewed = time.monotonic()
        try:
            upstream = await self._call(load_upstream, self.store, claim.domain_id)
            base = self.tracking_base(upstream.domain) if self.tracking_base else None

            def start_signing(message_id: int, message: QueuedMessage | None) -> None:
                if message is not None and message_id not in signing:
                    signing[message_id] = self._call(prepare, message, upstream, base)

            while remaining and not self._stopping:
                message_id = remaining[0]
                if message_id not in loaded:
                    window = _window(remaining, sizes)
                    found = await self._call(queue.load_many, self.store, window, me)
                    loaded.update({i: found.get(i) for i in window})
                message = loaded.pop(message_id)
                if message is not None:
                    start_signing(message_id, message)
                    data = await signing.pop(message_id)
                    if len(remaining) > 1:
                        # Signed while this one goes out.
                        start_signing(remaining[1], loaded.get(remaining[1]))
                    if smtp is None:
                        smtp, reused = await self.pool.take(claim.domain_id, upstream)
                    try:
                        smtp, reply = await self._send(
                            claim.domain_id, upstream, smtp, reused, message, data
                        )
                    except PermanentFailure as exc:
                        await self._call(queue.mark_bounced, self.store, message_id, me, str(exc))
                    else:
                        # Committed before the next message is handed over: a kill can repeat
                        # at most this one message.
                        await self._call(queue.mark_sent, self.store, message_id, me, reply)
                    reused = True
                remaining.pop(0)
                if time.monotonic() - renewed > opts.lease / 3:
                    await self._call(queue.extend_lease, self.store, remaining, me, opts.lease)
                    renewed = time.monotonic()
            healthy = True
        except TemporaryFailure as exc:
            await self._retry_head(remaining, str(exc))
        except PermanentFailure as exc:
            for message_id in remaining:
                await self._call(queue.mark_bounced, self.store, message_id, me, str(exc))
            remaining = []
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("delivery failed unexpectedly")
            await self._retry_head(remaining, f"Postdesk could not send the message: {exc}")
        finally:
            for pending in signing.values():
                pending.add_done_callback(_discard)
            if smtp is not None:
                if healthy and upstream is not None:
                    await self.pool.give_back(claim.domain_id, upstream, smtp)
                else:
                    await close(smtp)
            if remaining:
                # Later messages wait for the head's retry, keeping the domain's order.
                await asyncio.shield(self._call(queue.release, self.store, remaining, me))

    async def _send(
        self,
        domain_id: int,
        upstream: Upstream,
        smtp: aiosmtplib.SMTP,
        reused: bool,
        message: QueuedMessage,
        data: bytes,
    ) -> tuple[aiosmtplib.SMTP, str]:
        """Send on the connection; if one that worked before broke, once more on a new one."""
        try:
            return smtp, await send_one(smtp, message, data)
        except ConnectionLost:
            if not reused:
                raise
        await close(smtp)
        smtp, _ = await self.pool.take(domain_id, upstream)
        try:
            return smtp, await send_one(smtp, message, data)
        except BaseException:
            await close(smtp)
            raise

    async def _retry_head(self, remaining: list[int], reason: str) -> None:
        if not remaining:
            return
        opts = self.options
        head = remaining.pop(0)
        status = await self._call(
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


def _discard(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()  # a signature nobody waits for any more: retrieve, don't log
