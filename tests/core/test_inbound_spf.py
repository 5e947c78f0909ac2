"""The receiver's SPF evaluation (RFC 7208) against records served by a real DNS server."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.inbound import spf
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

# Eleven includes in a chain: the eleventh DNS-querying term is one too many.
_CHAIN = (
    "\n".join(f"c{n} IN TXT {txt(f'v=spf1 include:c{n + 1}.sender.test -all')}" for n in range(11))
    + f"\nc11 IN TXT {txt('v=spf1 +all')}"
)

SENDER = f"""
@ IN TXT {txt("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all")}
soft IN TXT {txt("v=spf1 ip4:192.0.2.1 ~all")}
neutral IN TXT {txt("v=spf1 ?all")}
inc IN TXT {txt("v=spf1 include:other.test -all")}
incnone IN TXT {txt("v=spf1 include:nothing.other.test -all")}
redir IN TXT {txt("v=spf1 redirect=other.test")}
redirnone IN TXT {txt("v=spf1 redirect=nothing.other.test")}
arec IN TXT {txt("v=spf1 a -all")}
arec IN A 203.0.113.5
anet IN TXT {txt("v=spf1 a:host.sender.test/24 -all")}
host IN A 203.0.113.200
mxrec IN TXT {txt("v=spf1 mx/30 -all")}
mxrec IN MX 10 mail.sender.test.
mail IN A 203.0.113.8
ex IN TXT {txt("v=spf1 exists:%{i}.ok.sender.test -all")}
127.0.0.1.ok IN A 127.0.0.2
macro IN TXT {txt("v=spf1 exists:%{l}.%{d}.users.sender.test -all")}
shop.macro.sender.test.users IN A 127.0.0.2
void IN TXT {txt("v=spf1 a:n1.sender.test a:n2.sender.test a:n3.sender.test +all")}
twovoid IN TXT {txt("v=spf1 a:n1.sender.test a:n2.sender.test +all")}
two IN TXT {txt("v=spf1 -all")}
two IN TXT {txt("v=spf1 +all")}
bad IN TXT {txt("v=spf1 ip4:not-an-ip -all")}
unknown IN TXT {txt("v=spf1 frobnicate -all")}
nospf IN TXT {txt("google-site-verification=x")}
{_CHAIN}
"""

OTHER = f"""
@ IN TXT {txt("v=spf1 ip4:198.51.100.7 ~all")}
nothing IN TXT {txt("just text")}
"""

CASES = [
    # (domain of MAIL FROM, connecting IP, expected result)
    ("sender.test", "192.0.2.77", "pass"),
    ("sender.test", "198.51.100.1", "fail"),
    ("sender.test", "2001:db8::25", "pass"),
    ("sender.test", "2001:db9::25", "fail"),
    ("sender.test", "::ffff:192.0.2.9", "pass"),
    ("soft.sender.test", "10.0.0.1", "softfail"),
    ("neutral.sender.test", "10.0.0.1", "neutral"),
    ("inc.sender.test", "198.51.100.7", "pass"),
    # The included record's ~all is "no match" for the include: the outer -all decides.
    ("inc.sender.test", "198.51.100.8", "fail"),
    ("incnone.sender.test", "198.51.100.7", "permerror"),
    ("redir.sender.test", "198.51.100.7", "pass"),
    ("redir.sender.test", "10.0.0.1", "softfail"),
    ("redirnone.sender.test", "10.0.0.1", "permerror"),
    ("arec.sender.test", "203.0.113.5", "pass"),
    ("arec.sender.test", "203.0.113.6", "fail"),
    ("anet.sender.test", "203.0.113.99", "pass"),
    ("anet.sender.test", "203.0.114.1", "fail"),
    ("mxrec.sender.test", "203.0.113.10", "pass"),
    ("mxrec.sender.test", "203.0.113.12", "fail"),
    ("ex.sender.test", "127.0.0.1", "pass"),
    ("ex.sender.test", "127.0.0.3", "fail"),
    ("void.sender.test", "10.0.0.1", "permerror"),
    ("twovoid.sender.test", "10.0.0.1", "pass"),
    ("c0.sender.test", "10.0.0.1", "permerror"),
    ("c1.sender.test", "10.0.0.1", "pass"),  # exactly 10 includes is still allowed
    ("two.sender.test", "10.0.0.1", "permerror"),
    ("bad.sender.test", "10.0.0.1", "permerror"),
    ("unknown.sender.test", "10.0.0.1", "permerror"),
    ("nospf.sender.test", "10.0.0.1", "none"),
    ("absent.sender.test", "10.0.0.1", "none"),
    ("broken.test", "10.0.0.1", "temperror"),
]


@pytest.mark.parametrize(("domain", "ip", "expected"), CASES)
async def test_check_host_follows_the_rfc(nsd: Nsd, domain: str, ip: str, expected: str) -> None:
    nsd.serve({"sender.test": SENDER, "other.test": OTHER}, broken=["broken.test"])
    verdict = await spf.check_host(make_client(), ip, f"shop@{domain}")
    assert verdict.result == expected, verdict.reason
    assert verdict.domain == domain


async def test_the_local_part_and_domain_macros(nsd: Nsd) -> None:
    nsd.serve({"sender.test": SENDER, "other.test": OTHER})
    passing = await spf.check_host(make_client(), "10.0.0.1", "shop@macro.sender.test")
    failing = await spf.check_host(make_client(), "10.0.0.1", "office@macro.sender.test")
    assert (passing.result, failing.result) == ("pass", "fail")


async def test_a_null_sender_is_checked_as_postmaster_at_the_helo_name(nsd: Nsd) -> None:
    nsd.serve({"sender.test": SENDER, "other.test": OTHER})
    verdict = await spf.check_host(make_client(), "203.0.113.5", "", helo="arec.sender.test")
    assert (verdict.result, verdict.domain) == ("pass", "arec.sender.test")


def _expand(text: str, ip: str = "192.0.2.3", sender: str = "strong-bad@email.example.com") -> str:
    run = spf._Run(make_client("127.0.0.1:1"), spf.ipaddress.ip_address(ip), sender, "mx.test")
    return spf._expand(run, text, "email.example.com")


def test_macros_expand_as_the_rfc_examples_show() -> None:
    # RFC 7208 section 7.4.
    assert _expand("%{s}") == "strong-bad@email.example.com"
    assert _expand("%{o}") == "email.example.com"
    assert _expand("%{d}") == "email.example.com"
    assert _expand("%{d4}") == "email.example.com"
    assert _expand("%{d3}") == "email.example.com"
    assert _expand("%{d2}") == "example.com"
    assert _expand("%{d1}") == "com"
    assert _expand("%{dr}") == "com.example.email"
    assert _expand("%{d2r}") == "example.email"
    assert _expand("%{l}") == "strong-bad"
    assert _expand("%{l-}") == "strong.bad"
    assert _expand("%{lr}") == "strong-bad"
    assert _expand("%{lr-}") == "bad.strong"
    assert _expand("%{l1r-}") == "strong"
    assert _expand("%{ir}.%{v}._spf.%{d2}") == "3.2.0.192.in-addr._spf.example.com"
    assert _expand("%{lr-}.lp._spf.%{d2}") == "bad.strong.lp._spf.example.com"
    assert _expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}") == (
        "3.2.0.192.in-addr.strong.lp._spf.example.com"
    )
    assert _expand("%{d2}.trusted-domains.example.net") == "example.com.trusted-domains.example.net"
    assert _expand("%{ir}.%{v}._spf.%{d2}", ip="2001:db8::cb01") == (
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    )
    assert _expand("%%%_%-") == "% %20"


def test_a_stray_percent_is_a_permanent_error() -> None:
    with pytest.raises(spf._Stop) as stop:
        _expand("%x.example.com")
    assert stop.value.result == "permerror"
