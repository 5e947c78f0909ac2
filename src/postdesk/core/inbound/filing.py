"""Committing received messages before their 250: blocking database work, run in a thread.

Messages that arrive at the same moment on several connections are filed in one transaction
(one disk flush for the group) by whichever thread gets there first, with the submission
side's group commit (``relay/groupcommit.py``); each sender still hears 250 only after that
commit.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from postdesk.core import forwarding
from postdesk.core.conversations.filing import Incoming, file_group
from postdesk.core.conversations.parse import parse_message
from postdesk.core.relay.groupcommit import GroupCommit
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain

log = logging.getLogger(__name__)
DOMAINS_FRESH_FOR = 5.0  # seconds a read of the receiving domains is trusted


@dataclass
class Received(Incoming):
    """One message waiting for its group's commit (``parsed`` is read before the group forms,
    outside the write turn); ``inbound_id`` is set once committed."""

    settled: bool = False  # committed, and nothing is left to do with it after the 250
    inbound_id: int | None = None
    failed: bool = False
    done: bool = False

    @property
    def owes_forwarding(self) -> bool:
        """Marked so in its commit: copies may be owed."""
        return self.pending == forwarding.OWED


def file_received(store: Store, message: Received) -> Received:
    """Commit one received message (grouped with others arriving now); sets ``inbound_id``,
    or ``failed`` when the database could not take it (the sender must be told to retry)."""
    if message.parsed is None:
        # Parsing is the longest step of filing: done here, every sender's thread parses its
        # own message while another group holds the write turn.
        try:
            message.parsed = parse_message(message.raw)
        except Exception:  # a parser bug, not the sender's fault: 451, the sender retries
            log.exception("could not read a received message")
            message.failed = message.done = True
            return message
    _grouped.submit(store, message)
    return message


def _commit(store: Store, batch: list[Received]) -> None:
    try:
        # A connection's transaction, not an ORM session: nothing here needs objects.
        with store.engine.begin() as s:
            forwarding_domains = forwarding.forwarding_domains(s, {m.domain_id for m in batch})
            for m in batch:
                owed = forwarding.may_owe(m.rcpt_tos, m.domain_id in forwarding_domains)
                m.pending = forwarding.OWED if owed else ""
            ids = file_group(s, batch)
    except (SQLAlchemyError, ValueError):
        # ValueError: the domain was removed while the message was on its way.
        log.exception("could not store received messages")
        for message in batch:
            message.failed, message.done = True, True
        return
    for message, inbound_id in zip(batch, ids, strict=True):
        message.inbound_id, message.done = inbound_id, True


_grouped = GroupCommit(_commit, lambda message: message.done)


class ReceivingDomains:
    """Which dedicated domains take mail now (verified, reception on), read at most every few
    seconds so a busy server does not ask the database at every RCPT."""

    def __init__(self, store: Store, fresh_for: float = DOMAINS_FRESH_FOR) -> None:
        self.store = store
        self.fresh_for = fresh_for
        self._names: dict[str, int] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def lookup(self, domain: str) -> int | None:
        """The id of the receiving domain ``domain`` (an A-label, lowercase), or None."""
        with self._lock:
            if time.monotonic() - self._read_at > self.fresh_for:
                self._names = self._read()
                self._read_at = time.monotonic()
            return self._names.get(domain)

    def recent(self, domain: str) -> tuple[bool, int | None]:
        """(True, the id or None) when the last read is fresh enough to answer without the
        database; (False, None) when ``lookup`` must read it (in a worker thread). Never waits:
        the event loop calls this at every RCPT."""
        if not self._lock.acquire(blocking=False):
            return False, None  # a read is under way
        try:
            if time.monotonic() - self._read_at > self.fresh_for:
                return False, None
            return True, self._names.get(domain)
        finally:
            self._lock.release()

    def forget(self) -> None:
        """Read afresh at the next lookup (after reception was turned on or off)."""
        with self._lock:
            self._read_at = float("-inf")

    def _read(self) -> dict[str, int]:
        with self.store.session() as s:
            rows = s.execute(
                select(DedicatedDomain.name, DedicatedDomain.id).where(
                    DedicatedDomain.status == "verified", DedicatedDomain.reception.is_(True)
                )
            ).all()
        return {name: domain_id for name, domain_id in rows}
