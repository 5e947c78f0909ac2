"""Mail delivered to the relay's inbound port: who may receive, STARTTLS, limits, filing, and
what happens after the 250 (bounce reports and DMARC reports read)."""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from support.reception import (
    RECEIVING,
    InboundWorld,
    add_receiving_domain,
    mail,
    signed,
    start_inbound_relay,
)

pytestmark = pytest.mark.nsd

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run_swaks(swaks: str, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            swaks,
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--helo",
            "client.sender.test",
            "--from",
            "alice@sender.test",
            "--header",
            "Subject: Order question",
            "--body",
            "Where is my order?",
            "--timeout",
            "30",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_swaks_delivers_into_conversations(inbound_world: InboundWorld, swaks: str) -> None:
    result = await asyncio.to_thread(
        run_swaks, swaks, inbound_world.port, "--to", f"hello@{RECEIVING}"
    )
    assert result.returncode == 0, result.stdout
    assert "250 2.0.0 Received as" in result.stdout
    [row] = inbound_world.stored()
    assert row.subject == "Order question"
    assert row.domain_id == inbound_world.domain_id
    assert row.thread_id is not None
    assert row.rcpt_tos == [f"hello@{RECEIVING}"]
    assert row.remote_ip == "127.0.0.1" and row.helo == "client.sender.test"
    assert row.raw.startswith(b"Authentication-Results: mx.shop.test;")
    assert b"Received: from client.sender.test ([127.0.0.1])" in row.raw
    assert b"Where is my order?" in row.raw


async def test_starttls_is_offered_and_works_and_auth_is_not(
    inbound_world: InboundWorld, swaks: str
) -> None:
    result = await asyncio.to_thread(
        run_swaks, swaks, inbound_world.port, "--to", f"hello@{RECEIVING}", "--tls"
    )
    assert result.returncode == 0, result.stdout
    assert "TLS started" in result.stdout
    assert "AUTH" not in result.stdout.replace("Authentication", "")
    [row] = inbound_world.stored()
    assert b"with ESMTPS" in row.raw


@pytest.mark.parametrize(
    "recipient",
    ["someone@gmail.com", "hello@other.test", f"hello@sub.{RECEIVING}x"],
)
async def test_a_recipient_off_the_receiving_domains_is_refused_and_nothing_stored(
    inbound_world: InboundWorld, recipient: str
) -> None:
    raw = mail("relay attempt", to=recipient).as_bytes()
    code, text = await asyncio.to_thread(
        inbound_world.deliver, raw, mail_from="alice@sender.test", rcpts=[recipient]
    )
    assert (code, text) == (550, b"5.7.1 relaying denied")
    assert inbound_world.stored() == []


async def test_domains_not_receiving_or_not_verified_are_refused(
    inbound_world: InboundWorld,
) -> None:
    from postdesk.core.store.models import DedicatedDomain

    add_receiving_domain(inbound_world.store, "quiet.test", reception=False)
    pending = add_receiving_domain(inbound_world.store, "pending.test")
    with inbound_world.store.session() as s:
        s.get(DedicatedDomain, pending).status = "pending"
    inbound_world.relay._inbound.handler.domains.forget()
    for recipient in ("hello@quiet.test", "hello@pending.test"):
        code, _ = await asyncio.to_thread(
            inbound_world.deliver,
            b"Subject: x\r\n\r\nx\r\n",
            mail_from="a@sender.test",
            rcpts=[recipient],
        )
        assert code == 550
    assert inbound_world.stored() == []


async def test_an_oversized_message_is_refused(store, nsd) -> None:
    from support.reception import sender_zones

    nsd.serve(sender_zones())
    add_receiving_domain(store)
    relay, port = await start_inbound_relay(store, inbound_max_message_bytes=20_000)
    try:
        world = InboundWorld(store, nsd, relay, port, 0)

        def announce() -> tuple[list[str], tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.ehlo("client.sender.test")
                features = [f"{k.upper()} {v}".strip() for k, v in client.esmtp_features.items()]
                return features, client.mail("a@sender.test", ["SIZE=50000"])

        features, announced = await asyncio.to_thread(announce)
        assert "SIZE 20000" in features
        assert announced[0] == 552
        # Sent without announcing its size: refused once the data passes the limit.
        big = mail("big", body=("y" * 70 + "\n") * 400).as_bytes()
        code, text = await asyncio.to_thread(world.deliver, big, mail_from="a@sender.test")
        assert code == 552 and b"MB" in text, text
        assert world.stored() == []
    finally:
        await relay.stop()


async def test_connections_and_messages_per_address_are_limited(store, nsd) -> None:
    from support.reception import sender_zones

    nsd.serve(sender_zones())
    add_receiving_domain(store)
    relay, port = await start_inbound_relay(
        store, inbound_connections_per_ip=2, inbound_messages_per_minute=2
    )
    try:

        def try_all() -> tuple[int, list[int]]:
            first, second = smtplib.SMTP("127.0.0.1", port), smtplib.SMTP("127.0.0.1", port)
            try:
                with pytest.raises(smtplib.SMTPConnectError) as refused:
                    smtplib.SMTP("127.0.0.1", port, timeout=10)
                codes = []
                first.ehlo("client.sender.test")
                for _ in range(3):
                    codes.append(first.mail("a@sender.test")[0])
                    first.rset()
                return refused.value.smtp_code, codes
            finally:
                first.close()
                second.close()

        connect_code, mail_codes = await asyncio.to_thread(try_all)
        assert connect_code == 421
        assert mail_codes == [250, 250, 451]
    finally:
        await relay.stop()


async def wait_for(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("not seen in time")


async def test_a_dmarc_report_sent_to_the_domain_is_read(inbound_world: InboundWorld) -> None:
    from postdesk.core.store.models import DmarcReport

    raw = (FIXTURES / "dmarc" / "google-zip.eml").read_bytes()
    code, text = await asyncio.to_thread(
        inbound_world.deliver, raw, mail_from="", rcpts=[f"dmarc@{RECEIVING}"]
    )
    assert code == 250, text

    def report() -> list[str]:
        with inbound_world.store.session() as s:
            return list(s.scalars(select(DmarcReport.org_name)).all())

    assert await wait_for(report) == ["google.com"]
    await wait_for(lambda: inbound_world.stored()[0].kind == "dmarc_report")


async def test_a_bounce_report_feeds_the_activity_of_the_message_it_is_about(
    inbound_world: InboundWorld,
) -> None:
    from postdesk.core.relay import queue
    from postdesk.core.store.models import MessageEvent

    with inbound_world.store.session() as s:
        sent = queue.enqueue(
            s,
            domain_id=inbound_world.domain_id,
            smtp_user_id=None,
            mail_from=f"bounces@{RECEIVING}",
            rcpt_tos=["nobody@example.org"],
            raw=b"Subject: order\r\n\r\nhi\r\n",
            message_id="<order-1001@shop.test>",
        )
        s.flush()
        sent_id = sent.id
    raw = (FIXTURES / "dsn" / "postfix-unknown-user.eml").read_bytes()
    code, text = await asyncio.to_thread(
        inbound_world.deliver, raw, mail_from="", rcpts=[f"bounces@{RECEIVING}"]
    )
    assert code == 250, text

    def bounced() -> list[str]:
        with inbound_world.store.session() as s:
            return list(
                s.scalars(
                    select(MessageEvent.kind).where(
                        MessageEvent.message_id == sent_id, MessageEvent.kind == "bounced"
                    )
                ).all()
            )

    assert await wait_for(bounced) == ["bounced"]
    await wait_for(lambda: inbound_world.stored()[0].kind == "dsn")


async def test_messages_on_many_connections_at_once_are_all_kept(
    inbound_world: InboundWorld,
) -> None:
    raws = [signed(mail(f"burst {n}"), "sender.test") for n in range(12)]
    loop = asyncio.get_running_loop()
    # The clients get threads of their own: the server's database work uses the loop's pool.
    with ThreadPoolExecutor(len(raws)) as clients:
        replies = await asyncio.gather(
            *(
                loop.run_in_executor(
                    clients, partial(inbound_world.deliver, raw, mail_from="alice@sender.test")
                )
                for raw in raws
            )
        )
    assert [code for code, _ in replies] == [250] * 12
    rows = inbound_world.stored()
    assert sorted(r.subject for r in rows) == sorted(f"burst {n}" for n in range(12))
    assert {r.dkim for r in rows} == {"pass"}


async def test_reception_makes_the_mx_record_required_and_verified_like_the_others(
    store, nsd
) -> None:
    from postdesk.core import domains, settings
    from postdesk.core.dnscheck import verify_records
    from postdesk.core.errors import UserError
    from postdesk.core.inbound.reception import set_reception

    add_receiving_domain(store, reception=False)
    with pytest.raises(UserError) as refused:
        set_reception(store, RECEIVING, True)  # nowhere to point the MX at yet
    assert refused.value.code == "reception.no_mx_target"
    with store.session() as s:
        settings.change(s, "mx_target", "mx.postdesk-relay.test")
    view = set_reception(store, RECEIVING, True)
    assert view.mx is not None and view.mx.required
    assert (view.mx.type, view.mx.host, view.mx.value) == (
        "MX",
        RECEIVING,
        "10 mx.postdesk-relay.test",
    )
    _, expected = domains.expected_records(store, RECEIVING)
    mx = [r for r in expected if r.kind == "mx"]
    assert [r.required for r in mx] == [True]

    nsd.serve({RECEIVING: "www IN A 192.0.2.80"})
    missing = await verify_records(RECEIVING, mx, spf_include=None)
    nsd.serve({RECEIVING: "@ IN MX 10 mx.postdesk-relay.test."})
    published = await verify_records(RECEIVING, mx, spf_include=None)
    assert [r.status for r in missing.records if r.kind == "mx"] == ["missing"]
    assert missing.status != "verified"
    assert [r.status for r in published.records if r.kind == "mx"] == ["ok"]

    view = set_reception(store, RECEIVING, False)
    assert view.mx is not None and not view.mx.required
    _, expected = domains.expected_records(store, RECEIVING)
    assert [r.required for r in expected if r.kind == "mx"] == [False]


async def test_the_workspace_setting_turns_reception_on_for_an_embedded_relay(store, nsd) -> None:
    from postdesk.core import settings
    from postdesk.core.errors import UserError
    from postdesk.core.relay import Relay, RelayOptions
    from support.reception import InboundWorld, sender_zones
    from support.services import free_port

    nsd.serve(sender_zones())
    domain_id = add_receiving_domain(store)
    with store.session() as s, pytest.raises(UserError):
        settings.change(s, "inbound_listen", "not an address")
    port = free_port()
    with store.session() as s:
        settings.change(s, "inbound_listen", f"127.0.0.1:{port}")
    # What the window's embedded relay is given: no inbound options of its own.
    relay = Relay(store, RelayOptions(listen_port=free_port(), tracking_port=None))
    await relay.start()
    try:
        assert relay.status.inbound_address == f"127.0.0.1:{port}"
        world = InboundWorld(store, nsd, relay, port, domain_id)
        code, _ = await asyncio.to_thread(
            world.deliver, mail("via the setting").as_bytes(), mail_from="alice@sender.test"
        )
        assert code == 250
        assert [r.subject for r in world.stored()] == ["via the setting"]
    finally:
        await relay.stop()
