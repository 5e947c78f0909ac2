"""DNS answers shared by the checks of every received message, each kept for its TTL.

A busy receiver sees the same senders again and again: the SPF record, the DKIM key and the
DMARC record of a sender were the same for its previous message, for as long as the zone's TTL
says. The checks of the domain pages want what DNS says *now* (``resolver.py`` keeps nothing
between runs); reception, like any mail server behind a caching resolver, may reuse an answer
until its TTL runs out. Only answers with records are kept: a missing record or a failure is
asked again for the next message, so a record published a moment ago counts at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from postdesk.core.dnscheck.resolver import Answer, DnsClient

MAX_TTL = 3600.0  # seconds; a record asking for longer is asked again after an hour anyway
MAX_ENTRIES = 20_000  # about 100 bytes to a few KB each (DKIM keys are the largest)

Key = tuple[str, str]


class AnswerCache:
    """Positive answers by (name, type) until their TTL runs out, and questions in flight, so
    ten messages arriving together from one sender ask DNS once."""

    def __init__(
        self,
        *,
        max_ttl: float = MAX_TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_ttl = max_ttl
        self.max_entries = max_entries
        self.clock = clock
        self._answers: dict[Key, tuple[float, Answer]] = {}
        self._asking: dict[Key, asyncio.Future[Answer]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Key) -> Answer | None:
        """The kept answer for ``key`` while its TTL lasts, else None."""
        entry = self._answers.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if self.clock() >= expires:
            del self._answers[key]
            return None
        return answer

    def put(self, key: Key, answer: Answer) -> None:
        """Keep ``answer`` for its TTL when it has records; anything else is not kept."""
        if answer.status != "ok" or not answer.ttl or answer.ttl <= 0:
            return
        if len(self._answers) >= self.max_entries:
            # Dicts keep insertion order: drop the oldest tenth rather than one per insert.
            for old in list(self._answers)[: max(1, self.max_entries // 10)]:
                del self._answers[old]
        self._answers[key] = (self.clock() + min(float(answer.ttl), self.max_ttl), answer)

    async def answer(self, key: Key, ask: Callable[[], asyncio.Future[Answer]]) -> Answer:
        """The kept answer, the one already being asked for, or a new question's."""
        kept = self.get(key)
        if kept is not None:
            self.hits += 1
            return kept
        pending = self._asking.get(key)
        if pending is None:
            self.misses += 1
            pending = ask()
            self._asking[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(pending)

    def _settle(self, key: Key, done: asyncio.Future[Answer]) -> None:
        if self._asking.get(key) is done:
            del self._asking[key]
        if not done.cancelled() and done.exception() is None:
            self.put(key, done.result())


@dataclass
class CachingDnsClient(DnsClient):
    """A ``DnsClient`` whose ``fresh()`` copies (one per received message) share an
    ``AnswerCache``; within one copy the same question is still asked only once."""

    cache: AnswerCache = field(default_factory=AnswerCache, repr=False)

    def fresh(self) -> CachingDnsClient:
        """A copy for one message's checks, sharing this client's cache."""
        return CachingDnsClient(
            self.resolver,
            self.authoritative,
            self.discover_authoritative,
            self.authoritative_port,
            self.lifetime,
            cache=self.cache,
        )

    async def query(self, name: str, rdtype: str) -> Answer:
        """As ``DnsClient.query``; an answer already in hand is returned without a task."""
        pending = self._start(name, rdtype)
        if pending.done():
            return pending.result()
        return await asyncio.shield(pending)

    def _start(self, name: str, rdtype: str) -> asyncio.Future[Answer]:
        # A kept answer becomes this copy's answer at once (a finished future in its memo):
        # most questions of a busy receiver are answered from the cache, and a task and a
        # shield for each cost more than the rest of the lookup.
        key = (name.lower().rstrip("."), rdtype)
        if key not in self._memo:
            kept = self.cache.get(key)
            if kept is not None:
                self.cache.hits += 1
                done: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
                done.set_result(kept)
                self._memo[key] = done
                return done
        return super()._start(name, rdtype)

    async def _follow(self, name: str, rdtype: str) -> Answer:
        def ask() -> asyncio.Future[Answer]:
            return asyncio.ensure_future(DnsClient._follow(self, name, rdtype))

        return await self.cache.answer((name, rdtype), ask)


def caching(client: DnsClient, cache: AnswerCache | None = None) -> CachingDnsClient:
    """``client``'s resolver and servers, with answers kept in ``cache`` (a new one if None)."""
    return CachingDnsClient(
        client.resolver,
        client.authoritative,
        client.discover_authoritative,
        client.authoritative_port,
        client.lifetime,
        cache=cache or AnswerCache(),
    )
