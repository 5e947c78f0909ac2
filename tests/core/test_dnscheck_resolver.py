"""Which DNS servers the live checks ask."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.resolver import make_client, parse_nameservers
from postdesk.core.errors import UserError


def test_nameservers_with_and_without_ports() -> None:
    assert parse_nameservers("127.0.0.1:5353, 192.0.2.53 ,[::1]:5300,::1") == [
        ("127.0.0.1", 5353),
        ("192.0.2.53", 53),
        ("::1", 5300),
        ("::1", 53),
    ]


@pytest.mark.parametrize(
    "text", ["", "localhost", "127.0.0.1:99999", "1.2.3.4:x", "[::1", "[::1]5353", " , "]
)
def test_malformed_nameservers_explain_the_format(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_nameservers(text)
    assert caught.value.code == "dns.bad_nameservers"
    assert "[::1]:5353" in caught.value.hint


def test_environment_decides_the_servers_and_turns_off_discovery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTDESK_NAMESERVERS", "127.0.0.1:5300,127.0.0.2:5301")
    client = make_client(lifetime=1.5)
    servers = [(ns.address, ns.port) for ns in client.resolver.nameservers]  # type: ignore[union-attr]
    assert servers == [("127.0.0.1", 5300), ("127.0.0.2", 5301)]
    assert client.resolver.lifetime == 1.5
    assert not client.discover_authoritative


def test_a_bad_environment_value_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTDESK_NAMESERVERS", "dns.example.com")
    with pytest.raises(UserError, match="POSTDESK_NAMESERVERS"):
        make_client()
