"""SRS addresses: made for forwarded mail, reversed for its bounces only when genuine and fresh."""

from __future__ import annotations

import datetime as dt

import pytest

from postdesk.core import srs

KEY = b"a workspace key"
TODAY = dt.date(2026, 11, 29)


def test_srs0_carries_the_original_sender_and_reverses_to_it():
    address = srs.forward_address("Alice@Sender.test", "example.com", KEY, today=TODAY)
    local, _, host = address.rpartition("@")
    assert host == "example.com"
    assert local.startswith("SRS0=") and local.endswith("=Sender.test=Alice")
    assert srs.reverse(address, KEY, today=TODAY).address == "Alice@Sender.test"
    # Mail systems that lowercase the local part still get the bounce back.
    assert srs.reverse(address.lower(), KEY, today=TODAY).address == "alice@sender.test"


def test_bounces_to_old_or_forged_addresses_go_nowhere():
    address = srs.forward_address("alice@sender.test", "example.com", KEY, today=TODAY)
    late = TODAY + dt.timedelta(days=srs.MAX_AGE_DAYS + 1)
    assert srs.reverse(address, KEY, today=late).address is None
    assert "days old" in srs.reverse(address, KEY, today=late).problem
    assert srs.reverse(address, KEY, today=TODAY + dt.timedelta(days=srs.MAX_AGE_DAYS)).address
    assert srs.reverse(address, b"another workspace", today=TODAY).address is None
    forged = address.replace("=sender.test=alice", "=victim.test=bob")
    assert "hash" in srs.reverse(forged, KEY, today=TODAY).problem
    assert srs.reverse("alice@example.com", KEY).address is None
    assert srs.reverse("SRS0=abc@example.com", KEY).address is None


def test_the_timestamp_wraps_around_without_breaking_fresh_addresses():
    # Timestamps are days modulo 1024: an address made just before the wrap still reverses after.
    before_wrap = dt.date(1970, 1, 1) + dt.timedelta(days=1024 * 20 - 1)
    address = srs.forward_address("a@b.test", "example.com", KEY, today=before_wrap)
    after = before_wrap + dt.timedelta(days=2)
    assert srs.reverse(address, KEY, today=after).address == "a@b.test"


def test_forwarding_again_makes_srs1_that_points_at_the_first_forwarder():
    first = srs.forward_address("alice@sender.test", "first.test", b"first key", today=TODAY)
    second = srs.forward_address(first, "example.com", KEY, today=TODAY)
    assert second.startswith("SRS1=") and "=first.test==" in second
    assert second.endswith("@example.com")
    # A third hop keeps pointing at the first forwarder instead of growing.
    third = srs.forward_address(
        second.replace("@example.com", "@second.test"), "example.com", KEY, today=TODAY
    )
    assert third.count("==") == 1 and "=first.test==" in third
    # Our SRS1 reverses to the first forwarder's SRS0, which that forwarder reverses itself.
    back = srs.reverse(second, KEY, today=TODAY).address
    assert back == first
    assert srs.reverse(back or "", b"first key", today=TODAY).address == "alice@sender.test"
    assert srs.reverse(second, b"wrong", today=TODAY).address is None


@pytest.mark.parametrize("sender", ["", "someone@example.com", "bounce@mail.example.com"])
def test_null_senders_and_the_domains_own_addresses_are_not_rewritten(sender):
    assert srs.forward_address(sender, "example.com", KEY) == sender
