"""DMARC reports stored and summarised — on SQLite and PostgreSQL — and the `postdesk dmarc`
commands run as a user runs them, with reverse DNS names from a real DNS server."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from postdesk.core import dmarcreports
from postdesk.core.store import open_store
from support.cli import postdesk
from support.workspace import add_verified_domain

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dmarc"
NOW = dt.datetime(2024, 4, 2, tzinfo=dt.UTC)


def report_xml(report_id: str, begin: int, rows: list[tuple[str, int, str, str, str]]) -> bytes:
    """A Yahoo-shaped report for example.com with (ip, count, disposition, dkim, spf) rows."""
    records = "".join(
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>"
        f"<disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>"
        "</policy_evaluated></row><identifiers><header_from>example.com</header_from>"
        "</identifiers><auth_results><spf><domain>example.com</domain><result>pass</result>"
        "</spf></auth_results></record>"
        for ip, count, disposition, dkim, spf in rows
    )
    return (
        '<?xml version="1.0"?><feedback><report_metadata><org_name>Yahoo</org_name>'
        f"<email>dmarchelp@yahooinc.com</email><report_id>{report_id}</report_id><date_range>"
        f"<begin>{begin}</begin><end>{begin + 86399}</end></date_range></report_metadata>"
        "<policy_published><domain>example.com</domain><adkim>r</adkim><aspf>r</aspf>"
        f"<p>quarantine</p><pct>100</pct></policy_published>{records}</feedback>"
    ).encode()


def fill(url: str | None, tmp_path: Path) -> None:
    store = open_store(url)
    try:
        add_verified_domain(store, "example.com")
        files = []
        for name, data in {
            "outlook.xml": (FIXTURES / "outlook.xml").read_bytes(),
            "day1.xml.gz": gzip.compress(
                report_xml(
                    "y1",
                    1711756800,
                    [
                        ("192.0.2.10", 40, "none", "pass", "pass"),
                        ("203.0.113.5", 3, "quarantine", "fail", "fail"),
                    ],
                )
            ),
            "day2.xml": report_xml("y2", 1711843200, [("192.0.2.10", 60, "none", "pass", "fail")]),
        }.items():
            path = tmp_path / name
            path.write_bytes(data)
            files.append(path)
        results = dmarcreports.import_files(store, files)
        assert [r.status for r in results] == ["imported"] * 3
        again = dmarcreports.import_files(store, files[:1])
        assert again[0].status == "duplicate"
    finally:
        store.close()


def check_view(url: str | None) -> None:
    store = open_store(url)
    try:
        view = dmarcreports.who_sends(store, "example.com", 30, now=NOW)
    finally:
        store.close()
    assert view.reports == 3 and view.messages == 104
    ours, forger, outlook = view.sources
    assert (ours.source_ip, ours.messages, ours.dmarc_pass, ours.spf_aligned) == (
        "192.0.2.10",
        100,
        100,
        40,
    )
    assert ours.first_day < ours.last_day and ours.reporters == ("Yahoo",)
    assert (forger.source_ip, forger.quarantined, forger.pass_rate) == ("203.0.113.5", 3, 0.0)
    assert outlook.reporters == ("Outlook.com",)
    assert {(row.day.isoformat(), row.source_ip) for row in view.daily} >= {
        ("2024-03-30", "192.0.2.10"),
        ("2024-03-31", "192.0.2.10"),
    }
    # Reports older than the period are left out.
    store = open_store(url)
    try:
        assert dmarcreports.who_sends(store, "example.com", 1, now=NOW).reports == 0
    finally:
        store.close()


def test_reports_are_summarised_by_source_on_sqlite(postdesk_home: Path, tmp_path: Path) -> None:
    fill(None, tmp_path)
    check_view(None)


@pytest.mark.postgres
def test_reports_are_summarised_by_source_on_postgresql(
    postgres_url: str, postdesk_home: Path, tmp_path: Path
) -> None:
    fill(postgres_url, tmp_path)
    check_view(postgres_url)


def test_a_report_received_by_mail_is_stored_once(store) -> None:
    raw = (FIXTURES / "google-zip.eml").read_bytes()
    with store.session() as session:
        first = dmarcreports.import_report_message(session, raw)
        second = dmarcreports.import_report_message(session, raw)
        ordinary = dmarcreports.import_report_message(
            session, b"From: a@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
        )
    assert first is not None and second is None and ordinary is None
    view = dmarcreports.who_sends(
        store, "borschow.com", 30, now=dt.datetime(2019, 2, 14, tzinfo=dt.UTC)
    )
    assert view.sources[0].rejected == 1


@pytest.mark.nsd
def test_the_cli_imports_and_names_the_senders(postdesk_home: Path, tmp_path: Path, nsd) -> None:
    nsd.serve(
        {"2.0.192.in-addr.arpa": "10 IN PTR mail.example.com.\n", "113.0.203.in-addr.arpa": ""}
    )
    good = tmp_path / "good.xml"
    good.write_bytes(
        report_xml(
            "c1",
            int(dt.datetime.now(dt.UTC).timestamp()) - 86400,
            [
                ("192.0.2.10", 7, "none", "pass", "pass"),
                ("203.0.113.5", 2, "reject", "fail", "fail"),
            ],
        )
    )
    bad = tmp_path / "bomb.xml.gz"
    bad.write_bytes(gzip.compress(b"<feedback>" + b" " * (dmarcreports.MAX_XML + 1)))
    missing = tmp_path / "nothing-here.xml"

    done = postdesk("dmarc", "import", str(good), str(bad), str(missing))
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    lines = done.stdout.splitlines()
    assert "imported — Yahoo, report c1 for example.com, 9 messages" in lines[0]
    assert "refused" in lines[1] and "compression bomb" in lines[1]
    assert "refused — cannot read it" in lines[2]

    done = postdesk("dmarc", "sources", "example.com", "--json")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout)
    names = {s["source_ip"]: s["ptr"] for s in view["sources"]}
    assert names == {"192.0.2.10": "mail.example.com", "203.0.113.5": None}

    text = postdesk("dmarc", "sources", "example.com", "--daily").stdout
    assert "mail.example.com" in text and "192.0.2.10" in text and "Yahoo" in text

    empty = postdesk("dmarc", "sources", "nobody.example", "--no-rdns")
    assert empty.returncode == 0 and "No DMARC reports for nobody.example" in empty.stdout

    wrong = postdesk("dmarc", "sources", "example.com", "--days", "0")
    # a mistake in the arguments: status 2 and one line saying what to type
    assert wrong.returncode == 2 and "write a number of days from 1 to 3660" in wrong.stderr
    assert wrong.stderr.count("\n") == 1
