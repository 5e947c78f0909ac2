"""Messages signed for real (DKIM and ARC with dkimpy), keys published in NSD, verified now."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest

from postdesk.core.analyze import MessageAnalysis, analyze_message
from postdesk.core.dkimkeys import DkimKey, generate_dkim_key
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

MESSAGES = Path(__file__).parents[1] / "fixtures" / "messages"
AUTHOR = generate_dkim_key(2048, selector="pd1")
LIST = generate_dkim_key(2048, selector="arc1")
ROTATED = generate_dkim_key(2048, selector="pd1")
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id"]
FOOTER = b"\r\n--\r\nGarden Club mailing list: https://lists.test/club\r\n"


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def zones(author_key: DkimKey = AUTHOR) -> dict[str, str]:
    mail = '@ IN MX 10 mx\nmx IN A 192.0.2.25\n@ IN TXT "v=spf1 ip4:192.0.2.0/24 -all"\n'
    return {
        "author.test": mail
        + f"pd1._domainkey IN TXT {txt(author_key.txt_value)}\n"
        + '_dmarc IN TXT "v=DMARC1; p=reject"\n',
        "shop.test": mail
        + f"pd1._domainkey IN TXT {txt(AUTHOR.txt_value)}\n"
        + '_dmarc IN TXT "v=DMARC1; p=quarantine"\n',
        "lists.test": mail + f"arc1._domainkey IN TXT {txt(LIST.txt_value)}\n",
    }


def sign(message: bytes, domain: bytes, key: DkimKey = AUTHOR) -> bytes:
    signature = dkim.sign(message, b"pd1", domain, key.private_pem.encode(), include_headers=SIGNED)
    return signature + message


def through_the_list() -> bytes:
    """The author's signed message, as a mailing list re-sends it: footer added, ARC-sealed."""
    original = sign(crlf((MESSAGES / "list-original.eml").read_bytes()), b"author.test")
    head, _, body = original.partition(b"\r\n\r\n")
    verdict = (
        b"Authentication-Results: lists.test; dkim=pass header.d=author.test header.s=pd1;"
        b" spf=pass smtp.mailfrom=author.test; dmarc=pass header.from=author.test\r\n"
    )
    listed = (
        verdict
        + head
        + b"\r\nList-Id: Garden Club <club.lists.test>"
        + b"\r\nList-Unsubscribe: <https://lists.test/u/club/ana>"
        + b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n"
        + body
        + FOOTER
    )
    seal = dkim.arc_sign(
        listed,
        b"arc1",
        b"lists.test",
        LIST.private_pem.encode(),
        b"lists.test",
        include_headers=[*SIGNED, b"list-id", b"list-unsubscribe", b"list-unsubscribe-post"],
    )
    receiver = (
        b"Authentication-Results: mx.receiver.test; dkim=fail (body hash did not verify)"
        b" header.d=author.test header.s=pd1; arc=pass (i=1); spf=pass"
        b" smtp.mailfrom=club-bounces@lists.test; dmarc=fail header.from=author.test\r\n"
        b"Received: from mx.lists.test (mx.lists.test [192.0.2.25]) by mx.receiver.test"
        b" with ESMTPS; Tue, 12 Mar 2024 18:20:09 +0000\r\n"
    )
    return receiver + b"".join(seal) + listed


def codes(analysis: MessageAnalysis) -> list[str]:
    return [p.code for p in analysis.findings]


async def test_footer_after_signing_fails_the_body_hash_now(nsd: Nsd) -> None:
    nsd.serve(zones())
    signed = sign(crlf((MESSAGES / "footer-original.eml").read_bytes()), b"shop.test")
    intact = await analyze_message(signed)
    assert [(s.domain, s.ok) for s in intact.signatures] == [("shop.test", True)]
    assert not any(c.startswith("hdr.dkim") for c in codes(intact))
    assert intact.domain_report is not None and intact.domain_report.domain == "shop.test"

    broken = await analyze_message(signed + b"\r\n-- \r\nSent from a shop that adds footers\r\n")
    (check,) = broken.signatures
    assert (check.ok, check.body_changed) == (False, True)
    assert "hdr.dkim_fail_body_hash" in codes(broken)
    assert broken.status == "failing"


async def test_mailing_list_forward_with_a_valid_arc_chain(nsd: Nsd) -> None:
    nsd.serve(zones())
    result = await analyze_message(through_the_list())
    assert result.arc is not None and (result.arc.result, result.arc.instances) == ("pass", 1)
    assert "hdr.arc_broken" not in codes(result)
    # The receiver saw the author's body hash fail, and so does Postdesk now: said once.
    assert codes(result).count("hdr.dkim_fail_body_hash") == 1
    assert "mx.receiver.test" in next(
        p.message for p in result.findings if p.code == "hdr.dkim_fail_body_hash"
    )
    assert "hdr.dmarc_fail" in codes(result)
    assert [(s.domain, s.ok, s.body_changed) for s in result.signatures] == [
        ("author.test", False, True)
    ]
    assert set(result.by_server()) == {"mx.receiver.test", "lists.test"}
    lists = result.by_server()["lists.test"]
    assert {v.header for v in lists} == {"Authentication-Results", "ARC-Authentication-Results"}
    # The list sealed List-Unsubscribe with ARC only; RFC 8058 wants a DKIM signature over it.
    assert "hdr.unsubscribe_not_signed" in codes(result)


async def test_a_header_changed_after_the_seal_breaks_the_arc_chain(nsd: Nsd) -> None:
    nsd.serve(zones())
    tampered = through_the_list().replace(b"Subject: Seed swap", b"Subject: [Club] Seed swap")
    result = await analyze_message(tampered)
    assert result.arc is not None and result.arc.result == "fail"
    broken = [p for p in result.findings if p.code == "hdr.arc_broken"]
    assert broken and "Verified now" in broken[0].message


async def test_a_rotated_key_makes_now_differ_from_the_receivers_pass(nsd: Nsd) -> None:
    nsd.serve(zones(author_key=ROTATED))
    signed = sign(crlf((MESSAGES / "list-original.eml").read_bytes()), b"author.test")
    received = (
        b"Authentication-Results: mx.receiver.test; dkim=pass header.d=author.test"
        b" header.s=pd1; spf=pass smtp.mailfrom=author.test; dmarc=pass"
        b" header.from=author.test\r\n" + signed
    )
    result = await analyze_message(received)
    assert [s.ok for s in result.signatures] == [False]
    differs = [p for p in result.findings if p.code == "hdr.dkim_verify_now_differs"]
    assert differs and "rotated" in differs[0].fix


async def test_a_key_that_cannot_be_fetched_is_not_a_failure_of_the_signature(
    monkeypatch: pytest.MonkeyPatch, silent_dns: str
) -> None:
    signed = sign(crlf((MESSAGES / "footer-original.eml").read_bytes()), b"shop.test")
    monkeypatch.setenv("POSTDESK_NAMESERVERS", silent_dns)
    from postdesk.core.dnscheck.resolver import make_client

    result = await analyze_message(signed, resolver=make_client(lifetime=0.5))
    assert [s.key_unavailable for s in result.signatures] == [True]
    assert "hdr.dkim_dns" in codes(result)
    assert "hdr.dkim_verify_now_fail" not in codes(result)
