"""Tracking: on by default, changes take effect after the delay, toggling back cancels."""

from __future__ import annotations

import datetime as dt

from postdesk.core import tracking
from support.workspace import add_verified_domain

T0 = dt.datetime(2026, 5, 1, 14, 17, tzinfo=dt.UTC)


def test_on_by_default(store) -> None:
    add_verified_domain(store)
    state = tracking.tracking_state(store, "example.com", T0)
    assert state["open"].enabled and state["click"].enabled
    assert state["open"].pending is None


def test_change_takes_effect_after_fifteen_minutes(store) -> None:
    add_verified_domain(store)
    changed = tracking.set_tracking(store, "example.com", "open", False, T0)
    assert changed.enabled is True
    assert changed.pending is not None
    assert changed.pending.effective_at == T0 + dt.timedelta(minutes=15)
    assert "will turn off" in changed.describe(T0 + dt.timedelta(minutes=3))
    assert "(in 12 min)" in changed.describe(T0 + dt.timedelta(minutes=3))
    with store.session() as s:
        assert tracking.in_effect(s, 1, "open", T0 + dt.timedelta(minutes=14, seconds=59))
        assert not tracking.in_effect(s, 1, "open", T0 + dt.timedelta(minutes=15))
        assert tracking.in_effect(s, 1, "click", T0 + dt.timedelta(hours=1))
    later = tracking.tracking_state(store, "example.com", T0 + dt.timedelta(minutes=16))
    assert later["open"].enabled is False and later["open"].pending is None


def test_messages_of_one_group_commit_each_get_what_applies_at_their_own_time(store) -> None:
    add_verified_domain(store)
    tracking.set_tracking(store, "example.com", "open", False, T0)
    switch = T0 + dt.timedelta(minutes=15)
    with store.session() as s:
        tracked = tracking.InEffect(s)  # one for the whole group: changes read once
        assert tracked(1, "open", switch - dt.timedelta(milliseconds=1))
        assert not tracked(1, "open", switch)
        assert tracked(1, "click", switch)  # the other feature is read on its own
        assert tracked(1, "open", switch - dt.timedelta(seconds=1))  # out of order, too


def test_toggling_back_before_it_takes_effect_cancels(store) -> None:
    add_verified_domain(store)
    tracking.set_tracking(store, "example.com", "click", False, T0)
    back = tracking.set_tracking(store, "example.com", "click", True, T0 + dt.timedelta(minutes=5))
    assert back.enabled is True and back.pending is None
    with store.session() as s:
        assert tracking.in_effect(s, 1, "click", T0 + dt.timedelta(hours=2))


def test_json_shape(store) -> None:
    add_verified_domain(store)
    state = tracking.set_tracking(store, "example.com", "open", False, T0)
    assert state.as_dict() == {
        "enabled": True,
        "pending": {"enabled": False, "effective_at": "2026-05-01T14:32:00+00:00"},
    }


def test_a_state_moved_on_in_time_applies_the_change_that_fell_due() -> None:
    from postdesk.core.tracking import FeatureState, Pending

    due = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
    waiting = FeatureState("open", True, Pending(False, due))
    assert waiting.at(due - dt.timedelta(seconds=1)) == waiting
    assert waiting.at(due) == FeatureState("open", False, None)
    settled = FeatureState("click", False, None)
    assert settled.at(due) == settled
