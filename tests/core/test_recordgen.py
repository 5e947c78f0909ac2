"""The records Add & Verify asks a user to publish, and the ways they are shown."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import pytest

from postdesk.core.dkimkeys import DkimKey, generate_dkim_key
from postdesk.core.recordgen import (
    build_expected_records,
    is_valid_dmarc,
    merge_spf,
    new_ownership_token,
    records_table,
    zone_snippet,
)
from postdesk.core.records import ExpectedRecord
from support.services import need


@pytest.fixture(scope="module")
def key() -> DkimKey:
    return generate_dkim_key(selector="pd202405ab12")


def build(key: DkimKey, domain: str = "example.com", **overrides: Any) -> list[ExpectedRecord]:
    options: dict[str, Any] = {
        "ownership_token": "tok123",
        "spf_include": "sendgrid.net",
        "dkim_selector": key.selector,
        "dkim_public_b64": key.public_b64,
        "existing_spf": None,
        "existing_dmarc": None,
        "dmarc_rua": None,
        "return_path_target": None,
        "tracking_target": None,
        "mx_target": None,
    }
    return build_expected_records(domain, **{**options, **overrides})


def by_kind(records: list[ExpectedRecord]) -> dict[str, ExpectedRecord]:
    kinds = [r.kind for r in records]
    assert len(kinds) == len(set(kinds)), "one record of each kind"
    return {r.kind: r for r in records}


# --- the records ------------------------------------------------------------------------------


def test_a_new_domain_gets_the_four_required_records(key: DkimKey) -> None:
    records = build(key)
    assert [(r.kind, r.type, r.host, r.required) for r in records] == [
        ("ownership", "TXT", "_postdesk.example.com", True),
        ("spf", "TXT", "example.com", True),
        ("dkim", "TXT", "pd202405ab12._domainkey.example.com", True),
        ("dmarc", "TXT", "_dmarc.example.com", True),
    ]
    values = {r.kind: r.value for r in records}
    assert values["ownership"] == "postdesk-verification=tok123"
    assert values["spf"] == "v=spf1 include:sendgrid.net ~all"
    assert values["dkim"] == f"v=DKIM1; k=rsa; p={key.public_b64}"
    assert values["dmarc"] == "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"


def test_optional_records_appear_only_when_a_target_is_known(key: DkimKey) -> None:
    records = by_kind(
        build(
            key,
            return_path_target="Bounces.SendGrid.net.",
            tracking_target="track.sendgrid.net",
            mx_target="mx.sendgrid.net",
        )
    )
    assert records["return_path"] == ExpectedRecord(
        "return_path", "CNAME", "bounce.example.com", "bounces.sendgrid.net", required=False
    )
    assert records["tracking"] == ExpectedRecord(
        "tracking", "CNAME", "track.example.com", "track.sendgrid.net", required=False
    )
    assert records["mx"] == ExpectedRecord(
        "mx", "MX", "example.com", "10 mx.sendgrid.net", required=False
    )


def test_hosts_are_lowercase_and_without_the_final_dot(key: DkimKey) -> None:
    for record in build(key, domain="Shop.Example.com."):
        assert record.host == record.host.lower() and not record.host.endswith(".")
        assert record.host.endswith("shop.example.com")


def test_extra_spf_terms_follow_the_include(key: DkimKey) -> None:
    spf = by_kind(build(key, spf_extra=["ip4:192.0.2.10", "ip6:2001:db8::/32", "mailgun.org"]))
    assert spf["spf"].value == (
        "v=spf1 include:sendgrid.net ip4:192.0.2.10 ip6:2001:db8::/32 include:mailgun.org ~all"
    )


def test_without_a_sending_service_no_spf_record_is_proposed(key: DkimKey) -> None:
    assert "spf" not in by_kind(build(key, spf_include=None))


def test_an_existing_spf_record_is_merged_into_one(key: DkimKey) -> None:
    records = build(key, existing_spf="v=spf1 ip4:192.0.2.1 -all")
    assert [r.value for r in records if r.kind == "spf"] == [
        "v=spf1 ip4:192.0.2.1 include:sendgrid.net -all"
    ]


def test_a_txt_record_that_is_not_spf_is_not_merged(key: DkimKey) -> None:
    spf = by_kind(build(key, existing_spf="google-site-verification=abc"))["spf"]
    assert spf.value == "v=spf1 include:sendgrid.net ~all"


def test_ownership_tokens_are_random() -> None:
    tokens = {new_ownership_token() for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) >= 32 and t.isalnum() for t in tokens)


# --- merging SPF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "includes", "merged"),
    [
        (
            "v=spf1 ip4:192.0.2.1 -all",
            ["sendgrid.net"],
            "v=spf1 ip4:192.0.2.1 include:sendgrid.net -all",
        ),
        ("v=spf1 mx ~all", ["sendgrid.net"], "v=spf1 mx include:sendgrid.net ~all"),
        ("v=spf1 include:sendgrid.net +all", ["sendgrid.net"], "v=spf1 include:sendgrid.net ~all"),
        ("v=spf1 a all", ["sendgrid.net"], "v=spf1 a include:sendgrid.net ~all"),
        ("v=spf1 a ?all", ["sendgrid.net"], "v=spf1 a include:sendgrid.net ~all"),
        ("v=spf1 include:sendgrid.net -all", ["sendgrid.net"], "v=spf1 include:sendgrid.net -all"),
        (
            "v=spf1 +Include:SendGrid.net. -all",
            ["sendgrid.net"],
            "v=spf1 +Include:SendGrid.net. -all",
        ),
        (
            "v=spf1 redirect=_spf.example.com",
            ["sendgrid.net"],
            "v=spf1 include:sendgrid.net redirect=_spf.example.com",
        ),
        (
            "v=spf1 mx redirect=_spf.example.com",
            ["sendgrid.net"],
            "v=spf1 mx include:sendgrid.net redirect=_spf.example.com",
        ),
        ("v=spf1 a mx", ["sendgrid.net"], "v=spf1 a mx include:sendgrid.net ~all"),
        (
            "v=spf1 a -all exp=explain.example.com",
            ["sendgrid.net"],
            "v=spf1 a include:sendgrid.net -all exp=explain.example.com",
        ),
        (
            "V=SPF1   a   a   -all",
            ["ip4:192.0.2.1", "ip4:192.0.2.1"],
            "v=spf1 a ip4:192.0.2.1 -all",
        ),
        (
            "v=spf1 -all",
            ["sendgrid.net", "mailgun.org"],
            "v=spf1 include:sendgrid.net include:mailgun.org -all",
        ),
    ],
)
def test_merge_spf(existing: str, includes: list[str], merged: str) -> None:
    assert merge_spf(existing, includes) == merged


# --- DMARC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "existing",
    [
        "v=DMARC1; p=reject; rua=mailto:security@example.com; pct=100",
        "v=DMARC1;p=quarantine",
        "v = DMARC1 ; p = None",
    ],
)
def test_a_valid_dmarc_record_is_kept_as_it_is(key: DkimKey, existing: str) -> None:
    assert by_kind(build(key, existing_dmarc=f" {existing} "))["dmarc"].value == existing


@pytest.mark.parametrize(
    "existing",
    [
        "",
        "v=DMARC1",
        "v=DMARC1; p=monitor",
        "p=reject; v=DMARC1",
        "v=spf1 -all",
        "v=DMARC2; p=none",
    ],
)
def test_an_invalid_dmarc_record_is_replaced(key: DkimKey, existing: str) -> None:
    assert not is_valid_dmarc(existing)
    dmarc = by_kind(build(key, existing_dmarc=existing))["dmarc"]
    assert dmarc.value == "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"


@pytest.mark.parametrize(
    "rua", ["reports@postmaster.example.net", "mailto:reports@postmaster.example.net"]
)
def test_the_dmarc_report_address_can_be_chosen(key: DkimKey, rua: str) -> None:
    dmarc = by_kind(build(key, dmarc_rua=rua))["dmarc"]
    assert dmarc.value == "v=DMARC1; p=none; rua=mailto:reports@postmaster.example.net"


# --- the zone snippet -------------------------------------------------------------------------


def all_records(key: DkimKey, domain: str = "example.com") -> list[ExpectedRecord]:
    return build(
        key,
        domain=domain,
        return_path_target="bounces.sendgrid.net",
        tracking_target="track.sendgrid.net",
        mx_target="mx.sendgrid.net",
    )


def parse_zone(snippet: str, origin: str) -> dns.zone.Zone:
    header = (
        f"$TTL 3600\n{origin}. IN SOA ns1.{origin}. hostmaster.{origin}. 1 3600 900 604800 300\n"
        f"{origin}. IN NS ns1.{origin}.\nns1.{origin}. IN A 127.0.0.1\n"
    )
    return dns.zone.from_text(header + snippet, origin=origin, relativize=False)


def test_the_zone_snippet_holds_exactly_the_records(key: DkimKey) -> None:
    records = all_records(key)
    zone = parse_zone(zone_snippet(records, ttl=600), "example.com")
    for record in records:
        rdataset = zone.find_rdataset(record.host + ".", record.type)
        assert rdataset.ttl == 600
        values = {_rdata_value(rdata) for rdata in rdataset}
        assert record.value in values


def _rdata_value(rdata: Any) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode()
    if rdata.rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    return str(rdata.target.to_text(omit_final_dot=True))


def test_a_long_dkim_value_is_split_into_strings_of_at_most_255_bytes(key: DkimKey) -> None:
    records = all_records(key)
    dkim = by_kind(records)["dkim"]
    assert len(dkim.value) > 255
    zone = parse_zone(zone_snippet(records), "example.com")
    (rdata,) = zone.find_rdataset(dkim.host + ".", "TXT")
    assert len(rdata.strings) == 2 and all(len(s) <= 255 for s in rdata.strings)
    assert b"".join(rdata.strings).decode() == dkim.value
    line = next(x for x in zone_snippet(records).splitlines() if "_domainkey" in x)
    assert line.count("TXT") == 1, "one record, several strings"


def test_quotes_backslashes_and_non_ascii_survive_the_zone_file(key: DkimKey) -> None:
    value = 'v=DMARC1; p=none; x="quoted" \\ back; ü' + "x" * 300
    record = ExpectedRecord("dmarc", "TXT", "_dmarc.example.com", value)
    snippet = zone_snippet([record])
    assert snippet.isascii()
    (rdata,) = parse_zone(snippet, "example.com").find_rdataset("_dmarc.example.com.", "TXT")
    assert b"".join(rdata.strings).decode() == value
    assert all(len(s) <= 255 for s in rdata.strings)


def test_the_snippet_names_the_domain_and_marks_optional_records(key: DkimKey) -> None:
    snippet = zone_snippet(all_records(key, domain="xn--bcher-kva.de"))
    first, *rest = snippet.splitlines()
    assert first.startswith(";") and "xn--bcher-kva.de" in first and "bücher.de" in first
    assert "bounce.xn--bcher-kva.de.\t3600\tIN\tCNAME\tbounces.sendgrid.net.\t; optional" in rest
    assert "xn--bcher-kva.de.\t3600\tIN\tMX\t10 mx.sendgrid.net.\t; optional" in rest


@pytest.mark.parametrize("domain", ["example.com", "xn--bcher-kva.de"])
def test_nsd_loads_a_zone_built_around_the_snippet(
    key: DkimKey, domain: str, tmp_path: Path
) -> None:
    checkzone = shutil.which("nsd-checkzone")
    if checkzone is None:
        need("NSD", "nsd-checkzone checks that the zone snippet loads in a real DNS server")
    assert checkzone is not None
    zone_file = tmp_path / f"{domain}.zone"
    zone_file.write_text(
        f"$TTL 3600\n{domain}. IN SOA ns1.{domain}. hostmaster.{domain}. 1 3600 900 604800 300\n"
        f"{domain}. IN NS ns1.{domain}.\nns1.{domain}. IN A 127.0.0.1\n"
        + zone_snippet(all_records(key, domain=domain)),
        encoding="utf-8",
    )
    result = subprocess.run(
        [checkzone, domain, str(zone_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is ok" in result.stdout


# --- the table --------------------------------------------------------------------------------


def test_the_table_lists_every_record_with_its_full_value(key: DkimKey) -> None:
    records = all_records(key)
    lines = records_table(records).splitlines()
    assert lines[0].split() == ["TYPE", "HOST", "REQUIRED", "VALUE"]
    assert len(lines) == len(records) + 1
    for line, record in zip(lines[1:], records, strict=True):
        kind, host, required = line.split()[:3]
        assert (kind, host) == (record.type, record.host)
        assert required == ("yes" if record.required else "optional")
        assert line.endswith(record.value), "the value is whole, at the end, easy to copy"
    value_column = lines[0].index("VALUE")
    assert all(
        line[value_column:].startswith(r.value) for line, r in zip(lines[1:], records, strict=True)
    )


@pytest.mark.parametrize(
    ("published", "wanted"),
    [
        (
            "v=DMARC1; p=reject; rua=mailto:reports@vendor.example",
            "v=DMARC1; p=reject; rua=mailto:reports@vendor.example,mailto:dmarc-reports@shop.test",
        ),
        (
            "v=DMARC1; p=quarantine; pct=50;",
            "v=DMARC1; p=quarantine; pct=50; rua=mailto:dmarc-reports@shop.test",
        ),
        (
            "v=DMARC1;p=none;rua=mailto:DMARC-Reports@shop.test!10m",
            "v=DMARC1;p=none;rua=mailto:DMARC-Reports@shop.test!10m",
        ),
    ],
)
def test_reports_are_pointed_at_the_domain_keeping_the_owners_policy(
    published: str, wanted: str
) -> None:
    from postdesk.core.recordgen import dmarc_report_mailbox, dmarc_reporting_to

    assert dmarc_reporting_to(published, dmarc_report_mailbox("shop.test")) == wanted
