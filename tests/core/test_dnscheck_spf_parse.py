"""SPF parsing and lookup counting, without DNS (answers come from a dictionary)."""

from __future__ import annotations

import pytest

from postdesk.core.dnscheck.resolver import Answer
from postdesk.core.dnscheck.spf import parse_spf, walk_spf


class FakeDns:
    """Answers TXT/A/AAAA/MX questions from a dict; every other name does not exist."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.asked: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str) -> Answer:
        self.asked.append((name, rdtype))
        values = self.records.get((name, rdtype))
        if values is None:
            return Answer(name, rdtype, "nxdomain")
        return Answer(name, rdtype, "ok", tuple(values), 300)


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=spf1 include: ~all", "needs a domain name"),
        ("v=spf1 ip4:192.0.2.300 ~all", "not a valid IPv4"),
        ("v=spf1 ip6:192.0.2.1 ~all", "wrong kind"),
        ("v=spf1 inclde:_spf.example.com ~all", "is not an SPF term"),
        ("v=spf1 all:example.com", "must be just all"),
        ("v=spf1 redirect=a.test redirect=b.test", "more than once"),
        ("spf1 ~all", "does not start with v=spf1"),
    ],
)
def test_parse_reports_what_is_wrong(record: str, error: str) -> None:
    assert any(error in e for e in parse_spf(record).errors)


def test_parse_accepts_cidr_forms_and_macros() -> None:
    parsed = parse_spf("v=spf1 a/24 mx:mail.example.com/28//64 exists:%{i}.ex.test -all")
    assert parsed.errors == []
    assert [t.name for t in parsed.terms] == ["a", "mx", "exists", "all"]
    assert parsed.all_term is not None and parsed.all_term.qualifier == "-"


async def test_lookups_are_counted_through_every_include_level() -> None:
    dns = FakeDns(
        {
            ("one.test", "TXT"): ["v=spf1 include:two.test include:three.test a mx ~all"],
            ("two.test", "TXT"): ["v=spf1 include:four.test ip4:192.0.2.1 -all"],
            ("three.test", "TXT"): ["v=spf1 ip4:192.0.2.2 ptr -all"],
            ("four.test", "TXT"): ["v=spf1 exists:x.four.test -all"],
            ("one.test", "A"): ["192.0.2.9"],
            ("one.test", "MX"): ["10 mail.one.test"],
            ("mail.one.test", "A"): ["192.0.2.10"],
        }
    )
    walk = await walk_spf(dns, "one.test", dns.records[("one.test", "TXT")][0])  # type: ignore[arg-type]
    # include two, include three, a, mx, include four, ptr, exists
    assert walk.lookups == 7
    assert walk.void_names == []
    assert {"two.test", "three.test", "four.test"} <= walk.included
    assert any(p.code == "spf.ptr" for p in walk.problems)


async def test_includes_of_one_level_are_asked_before_the_next_level() -> None:
    dns = FakeDns(
        {
            ("top.test", "TXT"): ["v=spf1 include:a.test include:b.test -all"],
            ("a.test", "TXT"): ["v=spf1 include:c.test -all"],
            ("b.test", "TXT"): ["v=spf1 -all"],
            ("c.test", "TXT"): ["v=spf1 -all"],
        }
    )
    await walk_spf(dns, "top.test", dns.records[("top.test", "TXT")][0])  # type: ignore[arg-type]
    txt_order = [name for name, rdtype in dns.asked if rdtype == "TXT"]
    assert txt_order.index("c.test") > max(txt_order.index("a.test"), txt_order.index("b.test"))


async def test_redirect_counts_and_is_ignored_next_to_all() -> None:
    dns = FakeDns(
        {
            ("r.test", "TXT"): ["v=spf1 redirect=target.test"],
            ("target.test", "TXT"): ["v=spf1 include:x.test -all"],
            ("x.test", "TXT"): ["v=spf1 -all"],
        }
    )
    walk = await walk_spf(dns, "r.test", "v=spf1 redirect=target.test")  # type: ignore[arg-type]
    assert walk.lookups == 2
    ignored = await walk_spf(dns, "r.test", "v=spf1 -all redirect=target.test")  # type: ignore[arg-type]
    assert ignored.lookups == 0


async def test_loops_and_missing_includes_are_reported() -> None:
    dns = FakeDns(
        {
            ("a.test", "TXT"): ["v=spf1 include:b.test -all"],
            ("b.test", "TXT"): ["v=spf1 include:a.test include:gone.test -all"],
        }
    )
    walk = await walk_spf(dns, "a.test", dns.records[("a.test", "TXT")][0])  # type: ignore[arg-type]
    codes = {p.code for p in walk.problems}
    assert "spf.include_loop" in codes
    assert "spf.include_broken" in codes
    assert walk.void_names == ["gone.test"]
