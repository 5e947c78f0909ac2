"""The delivery loop: claim ready messages, apply tracking, DKIM-sign, hand them upstream.

Delivery is at least once. A message is marked sent only after the upstream service answered
250 for it; a connection sends its next message while that mark is being committed, but waits
for the commit before the message after. If this process dies between an answer and its commit
(milliseconds), those messages — at most two per open upstream connection — are delivered again
when their lease runs out: a rare duplicate, never a loss.

Throughput comes from overlap, never from skipping a commit:
- each service gets ``concurrency`` connections sending at once (``upstream.Pool``), and one
  more at a time, up to ``max_connections``, while more messages wait than its connections take
  (Postfix's slow start); a connection refused while others work brings it back to those,
  with no growth for ``GROWTH_PAUSE``;
- outcomes that arrive while a commit runs, or within ``outcome_gather`` while other deliveries
  are under way, are written together in the next one (group commit); while lanes are busy,
  claims come at most every ``claim_gap`` and take what was accepted meanwhile;
- claimed messages are tracked and signed ahead of their turn, in a thread, or in helper
  processes when the relay is busy (see ``signer``).
No message waits for another: a temporary failure retries that message alone, later.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiosmtplib

from postdesk.core import routing, unsubscribe
from postdesk.core.relay import queue
from postdesk.core.relay.options import RelayOptions
from postdesk.core.relay.queue import Outcome, RetryPolicy
from postdesk.core.relay.signer import Job, Signers
from postdesk.core.relay.upstream import (
    ConnectionLost,
    Endpoint,
    Handed,
    Held,
    PermanentFailure,
    Pool,
    TemporaryFailure,
    Upstream,
    close,
    load_upstream,
    send_one,
)
from postdesk.core.store import Store
from postdesk.core.tracking import is_public_host

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["PermanentFailure", "TemporaryFailure", "Worker", "prepare"]

MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024  # claimed messages (and their signed copies) in memory
COUNTS_EVERY = 0.5  # seconds between refreshes of the queue counts the status bar shows
STOP_GRACE = 10.0  # seconds the messages being sent get to finish when delivery stops
COMMIT_TRIES = 3  # a commit that fails (database busy) is tried again before giving up
GROWTH_PAUSE = 300.0  # seconds without more connections to a service after it refused one


def prepare(message: queue.Claimed, upstream: Upstream, tracking_base: str | None) -> Job:
    """What making the message ready takes: one-click unsubscribe headers and tracking (when
    the domain has a public tracking address), then the DKIM signature over the final bytes.

    ``tracking_base`` is used only when it names a public host: tracked links that point at
    this computer or a private network would be dead for every recipient.
    """
    if upstream.key is None:  # load_upstream never returns so; never send unsigned anyway
        raise Held(f"Postdesk is holding {upstream.domain}'s mail: its DKIM key is not loaded.")
    public = tracking_base is not None and is_public_host(urlsplit(tracking_base).hostname or "")
    tracked = public and (message.track_open or message.track_click)
    raw = message.raw
    if public and upstream.one_click_unsubscribe and tracking_base is not None:
        raw = unsubscribe.add_headers(raw, tracking_base, message)  # before the signature
    return Job(
        raw=raw,
        domain=upstream.key.domain,
        selector=upstream.key.selector,
        private_pem=upstream.key.private_pem,
        tracking_base=tracking_base if tracked else None,
        token=message.tracking_token,
        tracking_key=message.tracking_key,
        track_open=message.track_open,
        track_click=message.track_click,
    )


@dataclass
class _Item:
    """A claimed message on its way: its upstream and its signed bytes (being made)."""

    message: queue.Claimed
    upstream: Upstream
    data: asyncio.Future[bytes]
    tracking: str = ""  # what tracking the signed bytes carry ("open, click"), for the activity

    def outcome(self, result: Any, reply: str, exc: Exception | None = None, **kw: Any) -> Outcome:
        """An attempt's outcome once the message was signed (what the activity shows)."""
        key = self.upstream.key
        values: dict[str, Any] = {
            "code": getattr(exc, "code", None),
            "refused": getattr(exc, "refused", ()),
            "signed": key.selector if key is not None else None,
            "tracking": self.tracking,
        }
        return Outcome(self.message.id, result, reply, **{**values, **kw})


def _read_claim(
    store: Store, claim: queue.Claim, worker: str
) -> tuple[dict[int, int | None], dict[int | None, Upstream | Exception], dict[int, queue.Claimed]]:
    """Everything a claim needs before sending (blocking: in a thread): the service each
    message goes through, each service's upstream (or why it cannot be used now) and the
    messages this worker still holds."""
    services = routing.message_services(store, claim.ids)
    upstreams: dict[int | None, Upstream | Exception] = {}
    for service_id in dict.fromkeys(services.get(i) for i in claim.ids):
        try:
            upstreams[service_id] = load_upstream(store, claim.domain_id, service_id)
        except Exception as exc:  # told apart by the caller, per service
            upstreams[service_id] = exc
    return services, upstreams, queue.load_many(store, claim.ids, worker)


class Worker:
    """Claims and delivers until stopped: a few connections per service, no ordering."""

    def __init__(
        self,
        store: Store,
        options: RelayOptions,
        tracking_base: Callable[[str], str | None] | None = None,
    ) -> None:
        self.store = store
        self.options = options
        # The base URL of tracked links for a domain's verified public tracking host, or None.
        self.tracking_base = tracking_base
        self.policy = RetryPolicy(options.retry_base, options.retry_cap, options.max_age)
        self.wake = asyncio.Event()
        self.counts: dict[str, int] = {}
        # Connections per service: this many to begin with, growing up to the most allowed.
        self._first_connections = max(1, options.concurrency)
        self._most_connections = max(self._first_connections, options.max_connections)
        self.pool = Pool(options.upstream_timeout, per_service=self._most_connections)
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._counted = 0.0
        self._claimed_at = 0.0
        self._renewed = time.monotonic()
        self._in_flight: dict[int, int] = {}  # claimed, not yet settled: id -> size
        self._jobs: set[asyncio.Task[None]] = set()
        self._outbox: dict[Endpoint, collections.deque[_Item]] = {}
        self._lanes: dict[Endpoint, set[asyncio.Task[None]]] = {}
        self._lane_limits: dict[Endpoint, int] = {}  # connections each service may have now
        self._refused_at: dict[Endpoint, float] = {}  # when each last refused a connection
        self._commits: list[tuple[Outcome, asyncio.Future[str | None]]] = []
        self._committer: asyncio.Task[None] | None = None
        # Delivery's own threads: it must never queue behind sessions waiting for the database.
        self._executor = ThreadPoolExecutor(
            max_workers=max(2, self._most_connections) + 2, thread_name_prefix="postdesk-delivery"
        )
        # Signing has threads of its own, so a commit never waits behind a batch's signatures.
        self._sign_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="postdesk-dkim")
        self._signers = Signers(self._sign)

    # --- plumbing -----------------------------------------------------------------------------

    def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Run blocking work (database, keyring, signing) on a delivery thread."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        try:
            return loop.run_in_executor(self._executor, call)
        except RuntimeError:  # stopped already: a late clean-up step still gets its thread
            return loop.run_in_executor(None, call)

    def _sign(self, fn: Callable[..., T], /, *args: Any) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        try:
            return loop.run_in_executor(self._sign_threads, fn, *args)
        except RuntimeError:  # stopped already
            return loop.run_in_executor(None, fn, *args)

    def _spawn(self, coro: Any, into: set[asyncio.Task[None]]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        into.add(task)
        task.add_done_callback(into.discard)
        return task

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Finish the messages being sent, give the rest back, then return."""
        self._stopping = True
        self.wake.set()
        lanes = [t for tasks in self._lanes.values() for t in tasks]
        tasks = [t for t in (self._loop_task, *self._jobs, *lanes) if t is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        if self._committer is not None:
            # Outcomes first: a message sent but not yet recorded must not be given back.
            await asyncio.wait([self._committer], timeout=grace)
        for box in self._outbox.values():
            for item in box:
                item.data.add_done_callback(_discard)
            box.clear()
        if self._in_flight:
            await asyncio.shield(
                self._call(queue.release, self.store, list(self._in_flight), self.options.worker_id)
            )
            self._in_flight.clear()
        await self.pool.close_all()
        self._signers.close()
        self._sign_threads.shutdown(wait=False, cancel_futures=True)
        self._executor.shutdown(wait=False)

    # --- claiming -----------------------------------------------------------------------------

    async def _run(self) -> None:
        opts = self.options
        capacity = max(1, opts.batch_size)
        while not self._stopping:
            self.wake.clear()
            free = capacity - len(self._in_flight)
            timeout = opts.poll_interval
            # Claim in groups (one transaction for many messages), but never let lanes starve.
            if free > 0 and (not self._in_flight or free >= capacity // 2):
                # While lanes are busy, at most one claim every claim_gap seconds: each takes
                # what was accepted meanwhile instead of a message or two per wake-up.
                wait = self._claimed_at + opts.claim_gap - time.monotonic()
                if not self._in_flight or wait <= 0:
                    self._claimed_at = time.monotonic()
                    await self._claim(free)
                else:
                    timeout = min(timeout, wait)
            await self._keep_leases()
            await self.pool.close_idle()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def _claim(self, free: int) -> None:
        opts = self.options
        room = MAX_BYTES_IN_FLIGHT - sum(self._in_flight.values())
        try:
            claims = await self._call(
                queue.claim,
                self.store,
                opts.worker_id,
                lease=opts.lease,
                batch_size=free,
                max_bytes=max(room, 1),
            )
            if time.monotonic() - self._counted >= COUNTS_EVERY:
                # Every accepted message wakes this loop; the counts need not follow each one.
                self.counts = await self._call(queue.counts, self.store)
                self._counted = time.monotonic()
        except Exception:
            log.exception("could not read the relay queue")
            return
        for claim in claims:
            self._in_flight.update(zip(claim.ids, claim.sizes, strict=False))
            self._spawn(self._dispatch(claim), self._jobs)

    async def _keep_leases(self) -> None:
        """Renew the claims still being worked on (a slow upstream must not lose them)."""
        opts = self.options
        if not self._in_flight or time.monotonic() - self._renewed < opts.lease / 3:
            return
        self._renewed = time.monotonic()
        try:
            await self._call(
                queue.extend_lease, self.store, list(self._in_flight), opts.worker_id, opts.lease
            )
        except Exception:
            log.exception("could not renew the relay's claims")

    async def _dispatch(self, claim: queue.Claim) -> None:
        """Split a domain's claimed messages by the service each goes through (the domain's,
        or the one its SMTP user sends through instead) and put them in line for its lanes.

        What they need is read in one call off the event loop: the routes, each service's
        upstream and the messages themselves."""
        try:
            services, upstreams, found = await self._call(
                _read_claim, self.store, claim, self.options.worker_id
            )
        except Exception as exc:  # the workspace could not be read: Postdesk's own trouble
            log.exception("could not prepare messages for delivery")
            reply = f"Postdesk could not send it: {exc}"
            await self._settle_all(claim.ids, "retry", reply, local=True)
            return
        routes: dict[int | None, list[int]] = {}
        for message_id in claim.ids:
            routes.setdefault(services.get(message_id), []).append(message_id)
        for service_id, ids in routes.items():
            await self._dispatch_via(ids, upstreams[service_id], found)

    async def _dispatch_via(
        self, ids: list[int], upstream: Upstream | Exception, found: dict[int, queue.Claimed]
    ) -> None:
        """Put claimed messages in line for their service's lanes."""
        if isinstance(upstream, PermanentFailure):
            await self._settle_all(ids, "bounced", str(upstream))
            return
        if isinstance(upstream, TemporaryFailure):  # Held: a missing secret; the messages wait
            await self._settle_all(ids, "retry", str(upstream), local=True)
            return
        if isinstance(upstream, Exception):
            log.error("could not prepare messages for delivery", exc_info=upstream)
            reply = f"Postdesk could not send it: {upstream}"
            await self._settle_all(ids, "retry", reply, local=True)
            return
        base = None
        if self.tracking_base is not None and upstream.tracking_host:
            base = self.tracking_base(upstream.tracking_host)
        box = self._outbox.setdefault(upstream.endpoint, collections.deque())
        for message_id in ids:
            message = found.get(message_id)
            if message is None:  # another worker took it over (our lease ran out)
                self._in_flight.pop(message_id, None)
                continue
            try:
                job = prepare(message, upstream, base)
            except Held as exc:
                await self._settle_all([message_id], "retry", exc.args[0], local=True)
                continue
            assert upstream.key is not None  # prepare checked
            data = self._signers.sign(job, upstream.key, backlog=len(box))
            tracked = [k for k, on in (("open", job.track_open), ("click", job.track_click)) if on]
            box.append(
                _Item(message, upstream, data, ", ".join(tracked) if job.tracking_base else "")
            )
        self._start_lanes(upstream.endpoint)

    # --- sending ------------------------------------------------------------------------------

    def _start_lanes(self, endpoint: Endpoint) -> None:
        box = self._outbox.get(endpoint)
        lanes = self._lanes.setdefault(endpoint, set())
        limit = self._lane_limit(endpoint, len(lanes), len(box) if box else 0)
        while box and not self._stopping and len(lanes) < min(limit, len(box)):
            task = self._spawn(self._lane(endpoint), lanes)
            task.add_done_callback(lambda _t: self._lane_done(endpoint))

    def _lane_limit(self, endpoint: Endpoint, lanes: int, waiting: int) -> int:
        """How many connections may send to this service now: one more than before when all
        are busy and more messages wait than they take, unless it refused one lately."""
        limit = self._lane_limits.get(endpoint, self._first_connections)
        refused = self._refused_at.get(endpoint)
        if (
            lanes >= limit
            and waiting > limit
            and limit < self._most_connections
            and (refused is None or time.monotonic() - refused >= GROWTH_PAUSE)
        ):
            limit += 1
            self._lane_limits[endpoint] = limit
        return limit

    def _lane_done(self, endpoint: Endpoint) -> None:
        if not self._stopping:
            self._start_lanes(endpoint)  # messages may have arrived as the lane finished
            self.wake.set()

    async def _lane(self, endpoint: Endpoint) -> None:
        """One connection's worth of delivery: take the next message, send, record, repeat."""
        box = self._outbox[endpoint]
        smtp: aiosmtplib.SMTP | None = None
        reused = False
        upstream: Upstream | None = None
        recording: asyncio.Future[None] | None = None  # the previous outcome's commit
        try:
            while box and not self._stopping:
                item = box.popleft()
                upstream, message_id = item.upstream, item.message.id
                try:
                    data = await item.data
                except Exception as exc:  # tracking or signing failed: this message waits
                    reason = (
                        exc.args[0]
                        if isinstance(exc, Held)
                        else f"Postdesk could not prepare it: {exc}"
                    )
                    await self._settle(Outcome(message_id, "retry", reason, local=True))
                    continue
                try:
                    if smtp is None:
                        try:
                            smtp, reused = await self.pool.take(item.upstream)
                        except TemporaryFailure as exc:
                            await self._cannot_connect(endpoint, item, exc)
                            return
                    smtp, handed = await self._send(item.upstream, smtp, reused, item, data)
                    reused = True
                    outcome = item.outcome("sent", handed.reply, refused=handed.refused)
                except PermanentFailure as exc:
                    reused = True  # the server answered: the connection is fine
                    outcome = item.outcome("bounced", str(exc), exc)
                except ConnectionLost as exc:
                    await close(smtp)
                    smtp = None
                    outcome = item.outcome("retry", str(exc), exc)
                except TemporaryFailure as exc:  # a 4xx for this message: only it waits
                    outcome = item.outcome("retry", str(exc), exc, local=isinstance(exc, Held))
                except Exception as exc:
                    log.exception("delivery failed unexpectedly")
                    await close(smtp)
                    smtp = None
                    reply = f"Postdesk could not send it: {exc}"
                    outcome = item.outcome("retry", reply, local=True)
                if smtp is not None and not smtp.is_connected:
                    await close(smtp)  # replaced or dropped while sending
                    smtp = None
                # The next message goes out while this outcome is committed, but not the one
                # after it: at most two messages per connection are ever sent and unrecorded.
                if recording is not None:
                    await recording
                recording = asyncio.ensure_future(self._settle(outcome))
        finally:
            if recording is not None:
                await recording
            if smtp is not None:
                if upstream is not None and not self._stopping:
                    await self.pool.give_back(upstream, smtp)
                else:
                    await close(smtp)

    async def _cannot_connect(self, endpoint: Endpoint, item: _Item, exc: Exception) -> None:
        """No connection to the service: when no other lane is sending there, none of its
        waiting messages can go now, so they all wait for their retry."""
        lanes = self._lanes.get(endpoint, set())
        if len(lanes) > 1 and not isinstance(exc, Held):
            # Refused while other connections work: the service's limit. No more than those,
            # for a while. (Refused with none working, it is away, not limiting.)
            limit = self._lane_limits.get(endpoint, self._first_connections)
            self._lane_limits[endpoint] = min(limit, len(lanes) - 1)
            self._refused_at[endpoint] = time.monotonic()
        items = [item]
        if len(lanes) <= 1 or isinstance(exc, Held):
            box = self._outbox[endpoint]
            items += list(box)
            box.clear()
        for waiting in items:
            waiting.data.add_done_callback(_discard)
        await self._settle_all(
            [i.message.id for i in items], "retry", str(exc), local=isinstance(exc, Held)
        )

    async def _send(
        self,
        upstream: Upstream,
        smtp: aiosmtplib.SMTP,
        reused: bool,
        item: _Item,
        data: bytes,
    ) -> tuple[aiosmtplib.SMTP, Handed]:
        """Send on the connection; if one that worked before broke, once more on a new one."""
        try:
            return smtp, await send_one(smtp, item.message, data)
        except ConnectionLost:
            if not reused:
                raise
        await close(smtp)
        smtp, _ = await self.pool.take(upstream)
        try:
            return smtp, await send_one(smtp, item.message, data)
        except ConnectionLost:
            await close(smtp)
            raise
        except BaseException:
            await self.pool.give_back(upstream, smtp)  # it answered: another message may use it
            raise

    # --- recording outcomes (group commit) ----------------------------------------------------

    async def _settle(self, outcome: Outcome) -> None:
        """Record one outcome; returns once it is committed (with whatever else was ready)."""
        await self._settle_many([outcome])

    async def _settle_all(
        self, ids: list[int], result: Any, reply: str, *, local: bool = False
    ) -> None:
        await self._settle_many([Outcome(i, result, reply, local=local) for i in ids])

    async def _settle_many(self, outcomes: list[Outcome]) -> None:
        loop = asyncio.get_running_loop()
        futures = []
        for outcome in outcomes:
            future: asyncio.Future[str | None] = loop.create_future()
            self._commits.append((outcome, future))
            futures.append(future)
        if self._committer is None or self._committer.done():
            self._committer = loop.create_task(self._commit())
        results = await asyncio.gather(*futures, return_exceptions=True)
        for outcome, status in zip(outcomes, results, strict=True):
            self._in_flight.pop(outcome.message_id, None)
            if isinstance(status, BaseException):
                # Not recorded: the message's lease runs out and it is tried again.
                log.error("could not record message %d: %s", outcome.message_id, status)
                continue
            if outcome.result == "retry":
                log.info(
                    "message %d: temporary failure (%s), now %s",
                    outcome.message_id,
                    outcome.reply,
                    status,
                )
        self.wake.set()  # room for more claims

    async def _commit(self) -> None:
        """Write every waiting outcome in one transaction, again and again until none wait."""
        while self._commits:
            if len(self._in_flight) > len(self._commits) and self.options.outcome_gather > 0:
                # Other deliveries are under way: the outcomes due any moment join this
                # transaction instead of each paying for one of their own.
                await asyncio.sleep(self.options.outcome_gather)
            batch, self._commits = self._commits, []
            outcomes = [outcome for outcome, _ in batch]
            error: Exception | None = None
            for attempt in range(COMMIT_TRIES):
                try:
                    statuses = await self._call(
                        queue.record_outcomes,
                        self.store,
                        self.options.worker_id,
                        outcomes,
                        policy=self.policy,
                    )
                except Exception as exc:
                    error = exc
                    await asyncio.sleep(0.1 * (attempt + 1))
                else:
                    error = None
                    break
            for outcome, future in batch:
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(statuses.get(outcome.message_id))


def _discard(future: asyncio.Future[bytes]) -> None:
    if not future.cancelled():
        future.exception()  # a signature nobody waits for any more: retrieve, don't log
