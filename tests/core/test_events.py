"""Change notifications: listeners hear what changed, a failing listener harms no one."""

from __future__ import annotations

import threading

from postdesk.core import events
from postdesk.core.events import Change, ChangeEvent


def test_listeners_hear_each_change_until_they_stop() -> None:
    heard: list[ChangeEvent] = []
    stop = events.subscribe(heard.append)
    origin = object()
    events.publish(Change.USERS, "shop.example", origin=origin)
    stop()
    events.publish(Change.USAGE)
    assert heard == [ChangeEvent(Change.USERS, "shop.example", origin)]


def test_a_failing_listener_does_not_stop_the_publisher_or_the_others(caplog) -> None:  # type: ignore[no-untyped-def]
    heard: list[Change] = []

    def broken(_event: ChangeEvent) -> None:
        raise RuntimeError("the window is gone")

    stops = [events.subscribe(broken), events.subscribe(lambda e: heard.append(e.change))]
    try:
        events.publish(Change.DOMAINS)  # the relay's worker must not fail here
    finally:
        for stop in stops:
            stop()
    assert heard == [Change.DOMAINS]
    assert "a change listener failed" in caplog.text


def test_changes_published_on_another_thread_reach_the_listener() -> None:
    heard: list[Change] = []
    stop = events.subscribe(lambda e: heard.append(e.change))
    try:
        worker = threading.Thread(target=events.publish, args=(Change.USAGE,))
        worker.start()
        worker.join()
    finally:
        stop()
    assert heard == [Change.USAGE]
