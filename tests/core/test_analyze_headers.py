"""The message analyzer on header blocks shaped like Gmail, Exchange Online, Yahoo and Fastmail."""

from __future__ import annotations

from datetime import timedelta, timezone
from pathlib import Path

import pytest

from postdesk.core.analyze import MessageAnalysis, analyze_message
from postdesk.core.analyze.authres import parse_auth_results
from postdesk.core.errors import UserError

MESSAGES = Path(__file__).parents[1] / "fixtures" / "messages"


async def analyze(name: str, **kwargs: object) -> MessageAnalysis:
    return await analyze_message((MESSAGES / name).read_bytes(), check_dns=False, **kwargs)


def codes(analysis: MessageAnalysis) -> list[str]:
    return [p.code for p in analysis.findings]


async def test_gmail_softfail_is_reported_but_dmarc_passes_through_dkim() -> None:
    result = await analyze("gmail.eml")
    assert codes(result) == ["hdr.spf_softfail"]
    assert "198.51.100.7" in result.findings[0].message
    assert "em1234.example.com" in result.findings[0].message
    groups = result.by_server()
    assert list(groups) == ["mx.google.com"]
    assert [v.header for v in groups["mx.google.com"]] == [
        "ARC-Authentication-Results",
        "Authentication-Results",
    ]
    alignment = {(i.kind, i.domain): (i.relaxed, i.strict) for i in result.alignment.identifiers}
    assert alignment == {
        ("spf", "em1234.example.com"): (True, False),
        ("dkim", "example.com"): (True, True),
        ("dkim", "sendgrid.info"): (False, False),
    }
    assert result.alignment.passing
    assert not result.whole_message


async def test_gmail_hops_are_in_travel_order_with_tls_and_addresses() -> None:
    result = await analyze("gmail.eml")
    assert [h.by_host for h in result.hops] == [
        "geopod-ismtpd-12",
        "filterdrecv-6f9b5c9d8-x2k7q",
        "mx.google.com",
        "2002:a05:6504:2c8f:b0:25a:1b2c:3d4e",
    ]
    google = result.hops[2]
    assert (google.from_ips, google.tls, google.tls_detail) == (
        ("198.51.100.7",),
        True,
        "TLS1_3 TLS_AES_128_GCM_SHA256",
    )
    assert google.delay == timedelta(seconds=2)  # dates without ';' and with fractions still read


async def test_hop_times_are_shown_in_the_users_zone() -> None:
    zone = timezone(timedelta(hours=9))
    result = await analyze("gmail.eml", zone=zone)
    assert result.as_dict()["hops"][2]["time"] == "2024-03-05T19:14:09+09:00"


async def test_outlook_body_hash_failure_and_dmarc_fail() -> None:
    result = await analyze("outlook.eml")
    assert codes(result) == ["hdr.dkim_fail_body_hash", "hdr.dmarc_fail"]
    assert "example.net" in result.findings[0].message
    assert "quarantine" in result.findings[1].message
    # Exchange Online writes no authserv-id; its verdicts are still grouped and read.
    (server,) = result.by_server()
    spf = result.verdicts[0].of("spf")[0]
    assert (spf.result, spf.get("smtp.mailfrom")) == ("pass", "bounce.mailer.example.org")
    assert "not named" in server
    assert len(result.hops) == 5 and all(h.tls for h in result.hops[:4])


async def test_yahoo_slow_queue_is_a_hop_delay_and_mailto_only_unsubscribe() -> None:
    result = await analyze("yahoo.eml")
    assert codes(result) == ["hdr.hop_delay", "hdr.unsubscribe_no_https"]
    assert "42 minutes" in result.findings[0].message
    assert "mta80.news.example.org" in result.findings[0].message
    assert [h.delay_kind for h in result.hops] == ["ok", "delay", "ok", "ok"]


async def test_fastmail_esp_domains_are_unaligned() -> None:
    result = await analyze("fastmail.eml")
    assert codes(result) == [
        "hdr.dmarc_fail",
        "hdr.dmarc_unaligned",
        "hdr.unsubscribe_missing_post",
    ]
    assert not result.alignment.aligned
    assert result.arc_seals[0].cv == "none"


async def test_skewed_clocks_are_skew_not_a_23_hour_delay() -> None:
    result = await analyze("skewed-clocks.eml")
    assert codes(result) == ["hdr.clock_skew", "hdr.clock_skew"]
    assert [h.delay_kind for h in result.hops] == ["ok", "skew", "skew"]
    assert "relay2.example.com" in result.findings[0].message


async def test_unparseable_dates_are_named_and_not_fatal() -> None:
    result = await analyze("unparseable-dates.eml")
    assert codes(result).count("hdr.date_unparseable") == 3
    messages = " ".join(p.message for p in result.findings)
    assert "13/03/2024 9.30 Uhr" in messages and "Mittwoch" in messages
    assert [h.when is None for h in result.hops] == [True, True, False]
    assert "hdr.spf_none" in codes(result) and "hdr.dkim_none" in codes(result)


async def test_text_without_headers_is_a_clear_error() -> None:
    with pytest.raises(UserError) as caught:
        await analyze_message(b"hello, this is not a message\n", check_dns=False)
    assert caught.value.code == "analyze.no_headers"


def test_authentication_results_with_comments_glued_to_results() -> None:
    parsed = parse_auth_results(
        'mx.example; dmarc=pass(p=REJECT) header.from=a.example; dkim=fail reason="bad sig" '
        "header.d=a.example"
    )
    assert parsed.authserv_id == "mx.example"
    assert [(r.method, r.result, r.reason) for r in parsed.results] == [
        ("dmarc", "pass", "p=REJECT"),
        ("dkim", "fail", "bad sig"),
    ]
