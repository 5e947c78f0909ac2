"""Receiver-side SPF, DKIM and DMARC of mail delivered to the inbound port, against NSD.

Each stored verdict is compared with what an independent reader makes of the header Postdesk
wrote (the ``authres`` parser) and, for DKIM, with dkimpy's own verification of what was sent.
"""

from __future__ import annotations

import asyncio
import email

import authres
import pytest

from support.reception import SERVER_NAME, InboundWorld, mail, signed

pytestmark = pytest.mark.nsd


def header_verdicts(raw: bytes) -> dict[str, str]:
    """The method results of the topmost Authentication-Results, read by ``authres``."""
    message = email.message_from_bytes(raw)
    value = message.get_all("Authentication-Results")[0]
    parsed = authres.AuthenticationResultsHeader.parse(
        "Authentication-Results: " + " ".join(value.split())
    )
    assert parsed.authserv_id == SERVER_NAME
    return {r.method: r.result for r in parsed.results}


def header_property(raw: bytes, method: str, name: str) -> str:
    message = email.message_from_bytes(raw)
    value = " ".join(message.get_all("Authentication-Results")[0].split())
    parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
    result = next(r for r in parsed.results if r.method == method)
    return next(p.value for p in result.properties if f"{p.type}.{p.name}" == name)


async def deliver(world: InboundWorld, raw: bytes, mail_from: str) -> dict[str, str]:
    code, text = await asyncio.to_thread(world.deliver, raw, mail_from=mail_from)
    assert code == 250, text
    [row] = world.stored()
    stored = {"spf": row.spf, "dkim": row.dkim, "dmarc": row.dmarc}
    assert header_verdicts(row.raw) == stored
    assert row.auth_results.startswith(SERVER_NAME + ";")
    return stored


async def test_a_signed_message_from_an_allowed_ip_passes(inbound_world: InboundWorld) -> None:
    raw = signed(mail("all good"), "sender.test")
    verdicts = await deliver(inbound_world, raw, "alice@sender.test")
    assert verdicts == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert inbound_world.dkim_verifies(raw)
    [row] = inbound_world.stored()
    assert header_property(row.raw, "spf", "smtp.mailfrom") == "alice@sender.test"
    assert header_property(row.raw, "dkim", "header.d") == "sender.test"
    assert header_property(row.raw, "dmarc", "header.from") == "sender.test"


async def test_a_sender_ip_the_spf_record_does_not_list_fails(inbound_world: InboundWorld) -> None:
    raw = mail("wrong ip", sender="bob@elsewhere.test").as_bytes()
    verdicts = await deliver(inbound_world, raw, "bob@elsewhere.test")
    assert verdicts == {"spf": "fail", "dkim": "none", "dmarc": "fail"}
    [row] = inbound_world.stored()
    assert "(p=quarantine dis=none)" in row.auth_results


async def test_a_body_changed_after_signing_fails_dkim_and_is_kept_marked(
    inbound_world: InboundWorld,
) -> None:
    raw = signed(mail("changed later"), "sender.test")
    tampered = raw.replace(b"Hello, this is", b"Hello, THIS is")
    assert not inbound_world.dkim_verifies(tampered)
    # The envelope sender's SPF fails too, so nothing can make DMARC pass: p=reject, yet the
    # message is kept (and marked) rather than refused.
    verdicts = await deliver(inbound_world, tampered, "bounce@elsewhere.test")
    assert verdicts == {"spf": "fail", "dkim": "fail", "dmarc": "fail"}
    [row] = inbound_world.stored()
    assert "body was changed" in row.auth_results
    assert "(p=reject dis=none)" in row.auth_results


async def test_a_passing_signature_of_another_domain_does_not_align(
    inbound_world: InboundWorld,
) -> None:
    raw = signed(mail("not aligned", sender="ceo@sender.test"), "elsewhere.test")
    assert inbound_world.dkim_verifies(raw)
    verdicts = await deliver(inbound_world, raw, "ceo@elsewhere.test")
    assert verdicts == {"spf": "fail", "dkim": "pass", "dmarc": "fail"}
    [row] = inbound_world.stored()
    assert header_property(row.raw, "dkim", "header.d") == "elsewhere.test"
    assert header_property(row.raw, "dmarc", "header.from") == "sender.test"


async def test_spf_alone_aligns_for_dmarc(inbound_world: InboundWorld) -> None:
    raw = mail("spf only").as_bytes()
    verdicts = await deliver(inbound_world, raw, "alice@sender.test")
    assert verdicts == {"spf": "pass", "dkim": "none", "dmarc": "pass"}


async def test_a_sender_that_publishes_nothing_gets_none_everywhere(
    inbound_world: InboundWorld,
) -> None:
    raw = mail("bare", sender="someone@bare.test").as_bytes()
    verdicts = await deliver(inbound_world, raw, "someone@bare.test")
    assert verdicts == {"spf": "none", "dkim": "none", "dmarc": "none"}


async def test_a_forged_result_claiming_to_be_this_server_is_removed(
    inbound_world: InboundWorld,
) -> None:
    forged = (
        f"Authentication-Results: {SERVER_NAME}; spf=pass smtp.mailfrom=bob@elsewhere.test; "
        "dmarc=pass header.from=elsewhere.test\r\n"
    ).encode()
    raw = forged + mail("forged", sender="bob@elsewhere.test").as_bytes(policy=email.policy.SMTP)
    await deliver(inbound_world, raw, "bob@elsewhere.test")
    [row] = inbound_world.stored()
    headers = email.message_from_bytes(row.raw).get_all("Authentication-Results")
    assert len(headers) == 1
    assert "spf=fail" in headers[0]
