"""Change notifications: "the SMTP users (or usage, domains…) changed", for screens that show them.

The workflow that changes the workspace publishes what changed once its transaction is
committed; whoever shows that data subscribes and reads it again. Listeners are called on the
publisher's thread (the relay counts mail on worker threads), so a listener must only hand the
news on (the GUI posts it to its own thread), never do slow work.

Only this process hears these notifications: a relay in another process sharing the workspace
is still noticed by polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

log = logging.getLogger(__name__)


class Change(Enum):
    """What part of the workspace changed."""

    USERS = "users"  # SMTP users created, reset, deleted (also by the daily-limit rule)
    USAGE = "usage"  # mail counted; an SMTP user's "last used" moved
    DOMAINS = "domains"  # a domain added, removed, checked, or its settings changed
    SERVICES = "services"  # SMTP services added, edited, removed, made default
    SETTINGS = "settings"  # workspace settings


@dataclass(frozen=True)
class ChangeEvent:
    """One notification: what changed, for which domain (None: any), and who changed it.

    ``origin`` lets the screen that made a change skip reloading itself; it is any object the
    publisher passes and is never read by core.
    """

    change: Change
    domain: str | None = None
    origin: object = None


Listener = Callable[[ChangeEvent], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` with every change from now on; returns the function that stops it."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def publish(change: Change, domain: str | None = None, *, origin: object = None) -> None:
    """Tell every listener that ``change`` happened (call it after the commit)."""
    event = ChangeEvent(change, domain, origin)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:
            # A screen's failure to refresh must never fail the workflow (or the relay) that
            # made the change.
            log.exception("a change listener failed")
