"""Reception's DNS answers, kept for their TTL across messages, against records served by NSD."""

from __future__ import annotations

import asyncio

import pytest

from postdesk.core.dnscheck.resolver import make_client
from postdesk.core.inbound.dnscache import AnswerCache, caching
from support.nsd import Nsd, txt

pytestmark = pytest.mark.nsd

ZONE_TTL = 300  # what tests/support/nsd.py writes as $TTL


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _zone(spf: str) -> dict[str, str]:
    return {"sender.test": f"@ IN TXT {txt(spf)}"}


async def test_an_answer_is_reused_until_its_ttl_runs_out(nsd: Nsd) -> None:
    nsd.serve(_zone("v=spf1 ip4:192.0.2.1 -all"))
    clock = Clock()
    client = caching(make_client(nsd.servers), AnswerCache(clock=clock))
    first = await client.fresh().query("sender.test", "TXT")
    assert first.values == ("v=spf1 ip4:192.0.2.1 -all",)

    nsd.serve(_zone("v=spf1 ip4:198.51.100.1 -all"), serial=2)
    clock.now += ZONE_TTL - 1
    # Another message a moment later: what the zone said for the next TTL seconds.
    assert (await client.fresh().query("sender.test", "TXT")).values == first.values
    clock.now += 2
    again = await client.fresh().query("sender.test", "TXT")
    assert again.values == ("v=spf1 ip4:198.51.100.1 -all",)


async def test_a_kept_answer_serves_while_dns_does_not_answer(nsd: Nsd) -> None:
    nsd.serve(_zone("v=spf1 -all"))
    client = caching(make_client(nsd.servers, lifetime=1.0))
    await client.fresh().query("sender.test", "TXT")
    nsd.stop()
    answer = await client.fresh().query("sender.test", "TXT")
    assert answer.status == "ok" and answer.values == ("v=spf1 -all",)


async def test_a_record_published_after_a_miss_counts_for_the_next_message(nsd: Nsd) -> None:
    nsd.serve({"sender.test": "www IN A 192.0.2.80"})
    client = caching(make_client(nsd.servers))
    missing = await client.fresh().query("_dmarc.sender.test", "TXT")
    assert missing.empty
    nsd.serve(
        {"sender.test": f"www IN A 192.0.2.80\n_dmarc IN TXT {txt('v=DMARC1; p=reject')}"},
        serial=2,
    )
    found = await client.fresh().query("_dmarc.sender.test", "TXT")
    assert found.values == ("v=DMARC1; p=reject",)


async def test_a_failure_is_not_kept(nsd: Nsd) -> None:
    nsd.serve(_zone("v=spf1 -all"))
    client = caching(make_client(nsd.servers, lifetime=1.0))
    nsd.stop()
    failed = await client.fresh().query("sender.test", "TXT")
    assert failed.failed
    nsd.serve(_zone("v=spf1 -all"), serial=2)
    assert (await client.fresh().query("sender.test", "TXT")).values == ("v=spf1 -all",)


async def test_messages_arriving_together_share_one_question(nsd: Nsd) -> None:
    nsd.serve(_zone("v=spf1 -all"))
    cache = AnswerCache()
    client = caching(make_client(nsd.servers), cache)
    answers = await asyncio.gather(*(client.fresh().query("sender.test", "TXT") for _ in range(10)))
    assert {a.values for a in answers} == {("v=spf1 -all",)}
    assert (cache.misses, cache.hits) == (1, 0)  # ten messages, one question on the wire
    await client.fresh().query("sender.test", "TXT")
    assert (cache.misses, cache.hits) == (1, 1)


async def test_a_long_ttl_is_kept_no_longer_than_the_cap(nsd: Nsd) -> None:
    nsd.serve(_zone("v=spf1 -all"))
    clock = Clock()
    client = caching(make_client(nsd.servers), AnswerCache(clock=clock, max_ttl=60))
    await client.fresh().query("sender.test", "TXT")
    nsd.serve(_zone("v=spf1 ip4:192.0.2.9 -all"), serial=2)
    clock.now += 61
    assert (await client.fresh().query("sender.test", "TXT")).values == (
        "v=spf1 ip4:192.0.2.9 -all",
    )
