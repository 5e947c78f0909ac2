"""Routing per SMTP user: a login with its own service sends through that upstream, the others
through the domain's; the domain's SPF must then cover both, and Verify says which include is
missing."""

from __future__ import annotations

import asyncio

import pytest

from postdesk.core import credentials, domains, routing, services, suppression
from postdesk.core.store.models import DedicatedDomain, utcnow
from support.nsd import txt
from support.relay import DOMAIN, UPSTREAM_PASSWORD, UPSTREAM_USER, Sink, message
from support.services import free_port

pytestmark = [pytest.mark.keyring, pytest.mark.nsd]

DANISH_INCLUDE = "spf.danish.test"


def _add_service(store, name: str, port: int, include: str | None) -> None:  # type: ignore[no-untyped-def]
    services.add_service(
        store,
        services.ServiceForm(
            name=name,
            host="127.0.0.1",
            port=port,
            security="none",
            username=UPSTREAM_USER,
            password=UPSTREAM_PASSWORD,
            spf_include=include,
        ),
    )


async def test_a_login_with_its_own_service_sends_through_that_upstream(relay_world):
    world = relay_world
    danish = Sink(free_port()).start()
    try:
        await asyncio.to_thread(_add_service, world.store, "Danish", danish.port, DANISH_INCLUDE)
        made = await asyncio.to_thread(
            credentials.create_smtp_user, world.store, DOMAIN, "dk", service="Danish"
        )
        (dk,) = [u for u in credentials.list_smtp_users(world.store, DOMAIN) if u.login == "dk"]
        assert dk.service == "Danish"
        relay = await world.start_relay()

        for user, password, subject in (
            (made.username, made.password, "nyhedsbrev"),
            (world.username, world.password, "order confirmation"),
        ):
            code, _ = await asyncio.to_thread(
                world.send, relay.port, message(subject), user=user, password=password
            )
            assert code == 250
        (via_danish,) = await danish.await_for(1)
        (via_domain,) = await world.sink.await_for(1)
        assert b"Subject: nyhedsbrev" in via_danish.content
        assert b"Subject: order confirmation" in via_domain.content
        assert world.dkim_valid(via_danish.content)  # signed with the domain's key all the same

        # Back to the domain's service: the next message from dk goes through the domain's sink.
        change = routing.set_user_service(world.store, DOMAIN, "dk", None)
        assert change.service is None
        code, _ = await asyncio.to_thread(
            world.send, relay.port, message("later"), user=made.username, password=made.password
        )
        assert code == 250
        await world.sink.await_for(2)
        assert len(danish.messages) == 1

        # The suppression list is one for all: dk's service does not get around it.
        with world.store.session() as s:
            suppression.suppress(s, "customer@client.test", "complaint")
        routing.set_user_service(world.store, DOMAIN, "dk", "Danish")
        code, text = await asyncio.to_thread(
            world.send, relay.port, message("again"), user=made.username, password=made.password
        )
        assert code == 550 and b"suppression list" in text
    finally:
        danish.stop()


def _spf_result(outcome):  # type: ignore[no-untyped-def]
    (spf,) = [r for r in outcome.report.records if r.kind == "spf"]
    return spf


async def test_verify_names_the_include_a_users_service_needs(
    secret_service, store, nsd, postdesk_home
):
    await asyncio.to_thread(_add_service, store, "Main", 2525, "spf.main.test")
    await asyncio.to_thread(_add_service, store, "Danish", 2526, DANISH_INCLUDE)
    with store.session() as s:
        main = services.service_named(s, "Main")
        s.add(
            DedicatedDomain(
                name=DOMAIN,
                service_id=main.id,
                ownership_token="t",
                status="verified",
                verified_at=utcnow(),
            )
        )
    await asyncio.to_thread(credentials.create_smtp_user, store, DOMAIN, "shop")
    await asyncio.to_thread(credentials.create_smtp_user, store, DOMAIN, "dk")
    zones = {
        "main.test": f"spf IN TXT {txt('v=spf1 ip4:192.0.2.0/24 -all')}\n",
        "danish.test": f"spf IN TXT {txt('v=spf1 ip4:198.51.100.0/24 -all')}\n",
    }
    nsd.serve({**zones, DOMAIN: f"@ IN TXT {txt('v=spf1 include:spf.main.test -all')}\n"})
    before = _spf_result(await domains.verify_domain(store, DOMAIN))
    assert not [p for p in before.problems if p.code == "spf.user_include_missing"]

    change = routing.set_user_service(store, DOMAIN, "dk", "Danish")
    assert (change.service, change.spf_include) == ("Danish", DANISH_INCLUDE)
    # The records to publish now name the Danish service's include too.
    _, expected = domains.expected_records(store, DOMAIN)
    (spf_record,) = [r for r in expected if r.kind == "spf"]
    assert f"include:{DANISH_INCLUDE}" in spf_record.value

    missing = _spf_result(await domains.verify_domain(store, DOMAIN))
    (problem,) = [p for p in missing.problems if p.code == "spf.user_include_missing"]
    assert problem.severity == "error" and missing.status == "mismatch"
    assert DANISH_INCLUDE in problem.message and "Danish" in problem.message
    assert "dk" in problem.message
    assert f"include:{DANISH_INCLUDE}" in problem.fix

    published = f"v=spf1 include:spf.main.test include:{DANISH_INCLUDE} -all"
    nsd.serve({**zones, DOMAIN: f"@ IN TXT {txt(published)}\n"}, serial=2)
    fixed = _spf_result(await domains.verify_domain(store, DOMAIN))
    assert not [p for p in fixed.problems if p.code == "spf.user_include_missing"]
