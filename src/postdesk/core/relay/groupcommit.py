"""Group commit: what several threads hand in at the same moment is written in one transaction.

Each thread adds its item to the store's pending list, then waits for the leader's turn; the
first to get it takes everything pending and commits it (one disk flush for the whole group)
while the others wait. A thread whose item an earlier leader already committed just returns,
so every caller comes back only after the commit that holds its item — the promise behind
answering 250 only once a message is durable. Used by the submission side (``accept.py``) and
by reception (``inbound/filing.py``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from postdesk.core.relay import queue
from postdesk.core.store import Store

T = TypeVar("T")


class _Group(Generic[T]):
    def __init__(self) -> None:
        self.pending: list[T] = []
        self.pending_lock = threading.Lock()
        self.leader = threading.Lock()
        self.committing = 0  # items in the commit under way


class GroupCommit(Generic[T]):
    """Commits items in groups with ``commit(store, batch)``, which must mark every item of
    the batch so that ``done(item)`` is true afterwards (failed ones included)."""

    def __init__(self, commit: Callable[[Store, list[T]], None], done: Callable[[T], bool]) -> None:
        self._commit = commit
        self._done = done
        self._groups: weakref.WeakKeyDictionary[Store, _Group[T]] = weakref.WeakKeyDictionary()
        self._groups_lock = threading.Lock()

    def state(self, store: Store) -> tuple[int, int]:
        """How many items are in the commit under way on ``store``, and how many wait for the
        next one (what tests that form a group on purpose wait for)."""
        with self._groups_lock:
            group = self._groups.get(store)
        if group is None:
            return 0, 0
        with group.pending_lock:
            return group.committing, len(group.pending)

    def submit(self, store: Store, item: T) -> None:
        """Commit ``item`` with whatever else is pending on ``store`` (blocking: worker
        threads only); returns once the commit that holds it is over."""
        with self._groups_lock:
            group = self._groups.setdefault(store, _Group())
        with group.pending_lock:
            group.pending.append(item)
        with group.leader:
            if not self._done(item):  # no earlier leader took it: lead this group
                with group.pending_lock:
                    batch, group.pending = group.pending, []
                    group.committing = len(batch)
                try:
                    with queue.writing(store):
                        self._commit(store, batch)
                finally:
                    group.committing = 0
