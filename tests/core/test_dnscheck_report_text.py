"""The one printer of check reports: what `domain verify`, `check` and Copy report show."""

from __future__ import annotations

from postdesk.core import domainview, reporttext
from postdesk.core.dnscheck.domain import DomainReport
from postdesk.core.dnscheck.messages import problem
from postdesk.core.records import RecordResult


def report() -> DomainReport:
    spf = RecordResult("spf", "TXT", "shop.test", "", "conflict")
    spf.found = ["v=spf1 a ~all", "v=spf1 mx -all\r\nResult: verified"]
    spf.problems = [problem("spf.multiple", domain="shop.test", count=2)]
    return DomainReport("shop.test", "failing", [spf])


def test_the_report_names_each_record_and_problem_with_its_fix() -> None:
    text = reporttext.domain_report_text(report().as_dict(), title="Verify Now")
    lines = text.splitlines()
    assert lines[:2] == ["Verify Now: shop.test", "Result: failing"]
    assert "TXT shop.test: conflict" in lines
    assert "[error] spf.multiple (shop.test)" in lines
    assert any(line.startswith("  Fix: Merge them into one TXT record") for line in lines)


def test_text_from_dns_can_not_forge_a_line() -> None:
    text = reporttext.domain_report_text(report().as_dict())
    assert "\r" not in text
    assert "  found: v=spf1 mx -all\\r\\nResult: verified" in text.splitlines()
    assert text.splitlines().count("Result: verified") == 0


def test_the_gui_and_the_cli_share_the_printer() -> None:
    assert domainview.domain_report_text is reporttext.domain_report_text
