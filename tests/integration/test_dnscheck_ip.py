"""Sending IP checks against a real DNS server: reverse DNS, SPF permission, blocklists."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck import check_ip
from support.nsd import Nsd

pytestmark = pytest.mark.nsd

ZONES = {
    "2.0.192.in-addr.arpa": (
        "10 IN PTR mail.shop.test.\n11 IN PTR wrong.shop.test.\n13 IN PTR mail.shop.test.\n"
    ),
    "shop.test": (
        "mail IN A 192.0.2.10\nmail IN A 192.0.2.13\nwrong IN A 192.0.2.99\n"
        '@ IN TXT "v=spf1 ip4:192.0.2.10 include:spf.mailer.test -all"\n'
        "@ IN MX 10 mail.shop.test.\n"
    ),
    "1.in-addr.arpa": "",  # served, but with no PTR records
    "198.in-addr.arpa": "",
    "mailer.test": 'spf IN TXT "v=spf1 ip4:198.51.100.0/24 ~all"\n',
    "viamx.test": '@ IN TXT "v=spf1 mx:shop.test/30 -all"\n',
    "nospf.test": '@ IN TXT "hello"\n',
    # An RFC 5782 list: the test entry 127.0.0.2 is listed, 127.0.0.1 is not.
    "bl.test": (
        "2.0.0.127 IN A 127.0.0.2\n"
        '2.0.0.127 IN TXT "test entry"\n'
        "10.2.0.192 IN A 127.0.0.3\n"
        '10.2.0.192 IN TXT "Listed for sending spam, see https://bl.test/lookup"\n'
        "4.3.2.1 IN A 127.0.0.2\n"
    ),
    # A list that refuses this resolver: every question answers 127.255.255.254.
    "blocked.test": "* IN A 127.255.255.254\n",
    # A list that is gone or broken: its test entry is not listed.
    "dead.test": "1.0.0.127 IN A 127.0.0.2\n",
}
LISTS = ["bl.test", "blocked.test", "dead.test"]


async def test_a_listed_ip_with_good_reverse_dns(nsd: Nsd) -> None:
    nsd.serve(ZONES)
    report = await check_ip("192.0.2.10", domains_spf=["shop.test", "nospf.test"], blocklists=LISTS)
    assert report.ptr == ["mail.shop.test"] and report.fcrdns
    assert report.spf == {"shop.test": "pass", "nospf.test": "none"}
    by_zone = {b.zone: b for b in report.blocklists}
    assert by_zone["bl.test"].status == "listed"
    assert "sending spam" in by_zone["bl.test"].reason
    assert by_zone["blocked.test"].status == "unusable"  # never "listed"
    assert by_zone["dead.test"].status == "unusable"
    codes = [p.code for p in report.problems]
    assert codes.count("ip.listed") == 1
    assert codes.count("ip.blocklist_unusable") == 2
    assert codes.count("ip.not_in_spf") == 1
    assert "nospf.test has no SPF record" in next(
        p.message for p in report.problems if p.code == "ip.not_in_spf"
    )
    assert report.status == "failing"


async def test_listed_test_address_from_the_brief(nsd: Nsd) -> None:
    nsd.serve(ZONES)
    report = await check_ip("1.2.3.4", blocklists=["bl.test"])
    assert [b.status for b in report.blocklists] == ["listed"]
    assert "ip.no_ptr" in [p.code for p in report.problems]


async def test_reverse_dns_that_does_not_point_back(nsd: Nsd) -> None:
    nsd.serve(ZONES)
    report = await check_ip("192.0.2.11", domains_spf=["shop.test"], blocklists=["bl.test"])
    assert report.ptr == ["wrong.shop.test"] and not report.fcrdns
    codes = [p.code for p in report.problems]
    assert "ip.fcrdns_mismatch" in codes
    assert "ip.not_in_spf" in codes
    assert report.blocklists[0].status == "clear"


async def test_no_reverse_dns(nsd: Nsd) -> None:
    nsd.serve(ZONES)
    report = await check_ip("192.0.2.12", blocklists=[])
    assert [p.code for p in report.problems] == ["ip.no_ptr"]


async def test_spf_permission_through_include_and_mx(nsd: Nsd) -> None:
    nsd.serve(ZONES)
    report = await check_ip(
        "192.0.2.13", domains_spf=["shop.test", "viamx.test"], blocklists=["bl.test"]
    )
    assert report.spf == {"shop.test": "fail", "viamx.test": "pass"}
    listed = await check_ip("198.51.100.7", domains_spf=["shop.test"], blocklists=[])
    assert listed.spf == {"shop.test": "pass"}
    assert [p.code for p in listed.problems] == ["ip.no_ptr"]
    assert report.as_dict()["spf"] == {"shop.test": "fail", "viamx.test": "pass"}
