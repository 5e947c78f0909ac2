"""Reading DMARC aggregate reports: the big reporters' real shapes, the newer format, and hostile
files (compression bombs, XML entity bombs, damaged or foreign files) refused with one line."""

from __future__ import annotations

import gzip
import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from postdesk.core import dmarcreports
from postdesk.core.dmarcreports import parse_report, reports_in_message
from postdesk.core.errors import UserError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dmarc"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def test_a_microsoft_report_is_read_whole() -> None:
    report = parse_report(fixture("outlook.xml"))
    assert (report.org_name, report.report_id) == (
        "Outlook.com",
        "cfeafefe4129445e8c81018bd9177197",
    )
    assert report.policy_domain == "example.com"
    assert report.policy["p"] == "none" and report.policy["adkim"] == "r"
    assert report.begin.isoformat() == "2024-03-30T00:00:00+00:00"
    assert report.format == "rfc7489"
    (row,) = report.rows
    assert (row.source_ip, row.count, row.disposition) == ("100.24.188.149", 1, "none")
    assert (row.dkim, row.spf, row.dmarc_pass) == ("fail", "fail", False)
    assert row.spf_results == (("example.com", "mfrom", "fail"),)


def test_the_newer_format_with_its_namespace_is_read() -> None:
    report = parse_report(fixture("rfc9990.xml"))
    assert report.format == "rfc9990"
    assert report.policy["discovery_method"] == "treewalk"
    assert report.policy["testing"] == "n"
    (row,) = report.rows
    assert row.count == 123 and row.dmarc_pass  # DKIM aligned although SPF failed
    assert row.dkim_results == (("example.com", "abc123", "pass"),)


def test_googles_zip_attachment_is_found_in_the_mail() -> None:
    (report,) = reports_in_message(fixture("google-zip.eml"))
    assert report.org_name == "google.com"
    assert report.policy_domain == "borschow.com"
    assert report.policy["p"] == "reject"
    assert report.rows[0].disposition == "reject"


def test_gzip_and_zip_files_are_read_like_the_xml() -> None:
    xml = fixture("outlook.xml")
    assert parse_report(gzip.compress(xml)) == parse_report(xml)
    assert parse_report(zipped("report.xml", xml)) == parse_report(xml)


def test_a_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"<feedback>" + b" " * (dmarcreports.MAX_XML + 10))
    assert len(bomb) < 100_000
    with pytest.raises(UserError, match="compression bomb"):
        parse_report(bomb)


def test_a_zip_bomb_stops_at_the_cap() -> None:
    bomb = zipped("report.xml", b"<feedback>" + b"\0" * (dmarcreports.MAX_XML + 10))
    with pytest.raises(UserError, match="compression bomb"):
        parse_report(bomb)


def test_xml_entities_are_refused() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><feedback>&b;</feedback>'
    )
    with pytest.raises(UserError, match="not readable XML"):
        parse_report(laughs)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"<feedback><report_metadata>", "not readable XML"),
        (b"<html><body>hello</body></html>", "root is <html>"),
        (b"<feedback><version>1.0</version></feedback>", "lacks its reporter"),
        (b"\x1f\x8b\x08\x00garbage", "gzip file is damaged"),
        (b"PK\x03\x04garbage", "zip file is damaged"),
        (b"\xff\xfe\x00<", "not readable XML"),
    ],
)
def test_what_is_not_a_report_is_refused_with_a_reason(data: bytes, says: str) -> None:
    with pytest.raises(UserError, match=says) as caught:
        parse_report(data)
    assert caught.value.code == "dmarc.report_refused"


def test_a_record_with_a_bad_address_is_refused() -> None:
    xml = fixture("outlook.xml").replace(b"100.24.188.149", b"100.24.188.999")
    with pytest.raises(UserError, match="source IP is not an address"):
        parse_report(xml)


def test_a_zip_with_several_reports_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", fixture("outlook.xml"))
        archive.writestr("b.xml", fixture("rfc9990.xml"))
    with pytest.raises(UserError, match="holds 2 reports"):
        parse_report(buffer.getvalue())


def test_a_mail_without_a_report_is_refused() -> None:
    message = EmailMessage()
    message["From"] = "someone@example.net"
    message.set_content("Hello, no report here.")
    with pytest.raises(UserError, match="carries no DMARC report"):
        reports_in_message(message.as_bytes())


def test_a_gzipped_report_attached_as_octet_stream_is_found() -> None:
    message = EmailMessage()
    message["From"] = "noreply@yahoo.example"
    message["Subject"] = "Report Domain: example.com"
    message.set_content("report attached")
    message.add_attachment(
        gzip.compress(fixture("outlook.xml")),
        maintype="application",
        subtype="octet-stream",
        filename="yahoo.com!example.com!1711756800!1711843200.xml.gz",
    )
    (report,) = reports_in_message(message.as_bytes())
    assert report.report_id == "cfeafefe4129445e8c81018bd9177197"
