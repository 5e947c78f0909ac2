"""The submission server's quick reading of MAIL and RCPT arguments gives what aiosmtpd's full
parser gives, and leaves every other form to it."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP

from postdesk.core.relay.accept import addresses_of
from postdesk.core.relay.addresses import plain_angle_address

PLAIN = [
    "<a@b.c>",
    " <a@b.c>",
    "<shop@example.com> SIZE=1200",
    "<shop@example.com>  BODY=8BITMIME SIZE=12",
    "<shop@example.com>\tSIZE=12",
    "<First.Last+tag@Mail-1.Example.COM>",
    "<o'brien@example.ie>",
    "<a@localhost>",
]
OTHER = [
    "",
    "<>",
    "<a@b.c>(a comment) SIZE=1",
    "<a@b.c>SIZE=1",
    "a@b.c",
    '<"quoted local"@example.com>',
    "<a..b@example.com>",
    "<.a@example.com>",
    "<a@[192.0.2.1]>",
    "<a@exämple.com>",
    "<@relay.example:a@b.c>",
    "<a@b.c",
]


def full(arg: str) -> tuple[str | None, str | None]:
    return SMTP._getaddr(SMTP.__new__(SMTP), arg)  # local_part_limit is 0: no limit


@pytest.mark.parametrize("arg", PLAIN)
def test_a_plain_address_reads_as_the_full_parser_reads_it(arg: str) -> None:
    assert plain_angle_address(arg) == full(arg)


@pytest.mark.parametrize("arg", OTHER)
def test_every_other_form_is_left_to_the_full_parser(arg: str) -> None:
    assert plain_angle_address(arg) is None


def test_a_remembered_from_header_gives_every_message_its_own_answer() -> None:
    """From headers are parsed once per value; a caller changing its list changes no other's."""
    first = addresses_of('"Shop, Inc." <shop@example.com>, orders@example.com')
    assert first == ["shop@example.com", "orders@example.com"]
    first.append("intruder@example.org")
    again = addresses_of('"Shop, Inc." <shop@example.com>, orders@example.com')
    assert again == ["shop@example.com", "orders@example.com"]
    assert addresses_of("shop@example.com orders@example.com") is None  # no comma: misread
