"""Checking a whole domain: every record at once, the verdict, and propagation delays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, TypeVar

import dns.asyncresolver

from postdesk.core.dnscheck.cname import check_cname
from postdesk.core.dnscheck.dkim import check_dkim, is_dkim, key_material
from postdesk.core.dnscheck.dmarc import check_dmarc, dmarc_errors, is_dmarc
from postdesk.core.dnscheck.httpsfetch import HttpsOptions
from postdesk.core.dnscheck.messages import duration, problem
from postdesk.core.dnscheck.mx import check_mx
from postdesk.core.dnscheck.newer import (
    NewerOptions,
    check_newer_standards,
    check_published_standards,
    newer_failing,
)
from postdesk.core.dnscheck.ownership import check_ownership
from postdesk.core.dnscheck.resolver import Answer, DnsClient, Server, as_client, build_resolver
from postdesk.core.dnscheck.spf import check_spf
from postdesk.core.recordgen import is_spf
from postdesk.core.records import ExpectedRecord, RecordResult

Resolver = DnsClient | dns.asyncresolver.Resolver | None
DomainStatus = Literal["verified", "failing", "ok"]
DEFAULT_CONCURRENCY = 20
_T = TypeVar("_T")


@dataclass(frozen=True)
class PropagationNote:
    """A record the domain's own DNS servers already answer differently than the caches do."""

    host: str
    type: str
    authoritative: list[str]
    cached: list[str]
    ttl_left: int | None  # seconds until the cached answer expires, when known

    def as_dict(self) -> dict[str, object]:
        return {
            "host": self.host,
            "type": self.type,
            "authoritative": list(self.authoritative),
            "cached": list(self.cached),
            "ttl_left": self.ttl_left,
        }


@dataclass
class DomainReport:
    """The outcome of checking one domain's records."""

    domain: str
    status: DomainStatus
    records: list[RecordResult]
    propagation: list[PropagationNote] = field(default_factory=list)
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(self, kind: str) -> RecordResult | None:
        """The first result of ``kind`` (``"spf"``, ``"dkim"``...), if it was checked."""
        return next((r for r in self.records if r.kind == kind), None)

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "records": [r.as_dict() for r in self.records],
            "propagation": [n.as_dict() for n in self.propagation],
        }


def _domain_name(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


async def _check(
    client: DnsClient, domain: str, expected: ExpectedRecord, spf_include: str | None
) -> RecordResult:
    kind = expected.kind
    if kind == "ownership":
        return await check_ownership(client, expected)
    if kind == "spf":
        return await check_spf(client, domain, include=spf_include, expected=expected)
    if kind == "dkim":
        return await check_dkim(client, expected.host, domain=domain, expected=expected)
    if kind == "dmarc":
        return await check_dmarc(client, domain, expected=expected)
    if kind == "mx":
        return await check_mx(client, domain, expected=expected)
    return await check_cname(client, expected)


async def verify_records(
    domain: str,
    expected: list[ExpectedRecord],
    *,
    spf_include: str | None,
    resolver: Resolver = None,
    https: HttpsOptions | None = None,
) -> DomainReport:
    """Check every expected record of ``domain`` at once (verified: ownership, SPF, DKIM)."""
    domain = _domain_name(domain)
    client = as_client(resolver)
    results, notes, published = await asyncio.gather(
        asyncio.gather(*(_check(client, domain, e, spf_include) for e in expected)),
        _propagation(client, domain, expected, spf_include),
        check_published_standards(client, domain, https),
    )
    _apply_notes(list(results), notes)
    needed = {"ownership", "dkim"} | ({"spf"} if any(e.kind == "spf" for e in expected) else set())
    passed = {r.kind for r in results if r.status == "ok"}
    status: DomainStatus = "verified" if needed <= passed else "failing"
    return DomainReport(domain, status, [*results, *published], notes)


async def diagnose_domain(
    domain: str,
    dkim_selectors: Sequence[str] = (),
    resolver: Resolver = None,
    newer: NewerOptions | None = None,
) -> DomainReport:
    """Check any domain's SPF, DMARC, MX and DKIM (for ``dkim_selectors``); nothing is stored."""
    domain = _domain_name(domain)
    client = as_client(resolver)
    checks: list[Awaitable[RecordResult]] = [
        check_spf(client, domain),
        *(
            check_dkim(client, f"{s.strip().lower()}._domainkey.{domain}", domain=domain)
            for s in dkim_selectors
        ),
        check_dmarc(client, domain),
        check_mx(client, domain),
    ]
    # With ``newer``: MTA-STS, TLS-RPT, BIMI, DNSSEC and STARTTLS of the MX, all at once; one
    # that is published but broken makes the domain failing.
    classic, extra = await asyncio.gather(
        asyncio.gather(*checks), check_newer_standards(client, domain, newer) if newer else _none()
    )
    results = [*classic, *extra]
    failing = newer_failing(results) or any(
        r.status != "ok" for r in results if r.kind in ("spf", "dkim", "dmarc")
    )
    return DomainReport(domain, "failing" if failing else "ok", results)


async def _none() -> list[RecordResult]:
    return []


@dataclass(frozen=True)
class VerifyJob:
    """One domain to verify in a batch."""

    domain: str
    expected: list[ExpectedRecord]
    spf_include: str | None = None


async def verify_many(
    jobs: Iterable[VerifyJob], *, resolver: Resolver = None, concurrency: int = DEFAULT_CONCURRENCY
) -> list[DomainReport]:
    """Verify many domains, at most ``concurrency`` at a time; reports come back in job order."""
    client = as_client(resolver)

    def run(job: VerifyJob) -> Callable[[], Awaitable[DomainReport]]:
        return lambda: verify_records(
            job.domain, job.expected, spf_include=job.spf_include, resolver=client
        )

    return await bounded([run(job) for job in jobs], concurrency)


async def diagnose_many(
    domains: Iterable[str],
    dkim_selectors: Sequence[str] = (),
    *,
    resolver: Resolver = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[DomainReport]:
    """Diagnose many domains, at most ``concurrency`` at a time, in the order given."""
    client = as_client(resolver)

    def run(domain: str) -> Callable[[], Awaitable[DomainReport]]:
        return lambda: diagnose_domain(domain, dkim_selectors, resolver=client)

    return await bounded([run(d) for d in domains], concurrency)


async def bounded(factories: Sequence[Callable[[], Awaitable[_T]]], concurrency: int) -> list[_T]:
    """Run coroutine factories with at most ``concurrency`` in flight; results in input order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def run(factory: Callable[[], Awaitable[_T]]) -> _T:
        async with gate:
            return await factory()

    return list(await asyncio.gather(*(run(f) for f in factories)))


# --- propagation ----------------------------------------------------------------------------


async def discover_authoritative(client: DnsClient, domain: str) -> list[Server]:
    """The addresses of the servers that hold ``domain``'s zone (found through NS records)."""
    name = domain
    while "." in name:
        answer = await client.query(name, "NS")
        if answer.failed:
            return []
        if answer.values:
            break
        name = name.split(".", 1)[1]
    else:
        return []
    found = await asyncio.gather(
        *(client.query(host, rdtype) for host in answer.values for rdtype in ("A", "AAAA"))
    )
    return [(ip, client.authoritative_port) for a in found for ip in a.values]


async def _propagation(
    client: DnsClient, domain: str, expected: list[ExpectedRecord], spf_include: str | None
) -> list[PropagationNote]:
    servers = client.authoritative
    if servers is None and client.discover_authoritative:
        servers = await discover_authoritative(client, domain)
    if not servers:
        return []
    source = DnsClient(build_resolver(servers, lifetime=client.lifetime))
    wanted = {(e.host, e.type): e for e in expected}
    cached_answers, fresh_answers, soa = await asyncio.gather(
        asyncio.gather(*(client.query(host, rdtype) for host, rdtype in wanted)),
        asyncio.gather(*(source.query(host, rdtype) for host, rdtype in wanted)),
        source.query(domain, "SOA"),
    )
    notes = []
    for cached, fresh, item in zip(cached_answers, fresh_answers, wanted.values(), strict=True):
        if fresh.status == "ok" and sorted(fresh.values) != sorted(cached.values):
            if cached.failed or not _matches(item, fresh.values, spf_include):
                continue
            ttl = cached.ttl if cached.status == "ok" else _negative_ttl(soa)
            notes.append(
                PropagationNote(item.host, item.type, list(fresh.values), list(cached.values), ttl)
            )
    return notes


def _negative_ttl(soa: Answer) -> int | None:
    """How long a resolver may remember that a record did not exist (RFC 2308 §5)."""
    if soa.status != "ok" or soa.ttl is None:
        return None
    return min(soa.ttl, int(soa.values[0].split()[-1]))


def _matches(expected: ExpectedRecord, values: Sequence[str], spf_include: str | None) -> bool:
    """Whether the authoritative answer already holds what the user was asked to publish."""
    if expected.kind == "dkim":
        want = key_material(expected.value)
        return any(is_dkim(v) and key_material(v) == want for v in values)
    if expected.kind == "spf":
        include = f"include:{spf_include}".lower() if spf_include else "v=spf1"
        return any(is_spf(v) and include in v.lower().split() for v in values)
    if expected.kind == "dmarc":
        return any(is_dmarc(v) and not dmarc_errors(v) for v in values)
    if expected.type in ("CNAME", "MX"):
        want = expected.value.split()[-1].lower().rstrip(".")
        return any(v.split()[-1] == want for v in values)
    return expected.value.strip() in (v.strip() for v in values)


def _apply_notes(results: list[RecordResult], notes: list[PropagationNote]) -> None:
    """Records already right at the DNS host but not yet in caches are pending, not failing."""
    for note in notes:
        for result in results:
            if result.host == note.host and result.type == note.type:
                wait = duration(note.ttl_left) if note.ttl_left is not None else "a while"
                result.problems.append(
                    problem("dns.propagating", host=note.host, type=note.type, ttl=wait)
                )
                if result.status in ("missing", "mismatch", "conflict"):
                    result.status = "pending"
