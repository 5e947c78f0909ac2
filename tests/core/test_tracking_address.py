"""Which hosts may appear in tracked links: only ones recipients on the internet can reach."""

from __future__ import annotations

import pytest

from postdesk.core.tracking import is_public_host


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "[::1]",
        "10.0.0.5",
        "172.16.4.1",
        "192.168.1.20",
        "169.254.10.1",
        "fe80::1",
        "fd00::7",
        "0.0.0.0",
        "localhost",
        "LOCALHOST.",
        "relay.localhost",
        "printer.local",
        "mybox",
        "",
    ],
)
def test_addresses_of_this_computer_or_a_private_network_are_not_public(host: str) -> None:
    assert not is_public_host(host)


@pytest.mark.parametrize("host", ["track.example.com", "Track.Shop.Test.", "93.184.216.34"])
def test_public_names_and_addresses_are(host: str) -> None:
    assert is_public_host(host)
