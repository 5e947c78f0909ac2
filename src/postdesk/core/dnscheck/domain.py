"""Checking a whole domain: every record at once, the verdict, and propagation delays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal, NamedTuple, TypeVar

import dns.asyncresolver

from postdesk.core import domainname
from postdesk.core.dnscheck.dkim import check_dkim, is_dkim, key_material
from postdesk.core.dnscheck.dmarc import check_dmarc, dmarc_errors, is_dmarc
from postdesk.core.dnscheck.messages import duration, problem
from postdesk.core.dnscheck.mx import check_mx
from postdesk.core.dnscheck.newer import (
    NewerOptions,
    check_newer_standards,
    check_published_standards,
    newer_failing,
)
from postdesk.core.dnscheck.options import HttpsOptions
from postdesk.core.dnscheck.resolver import Answer, DnsClient, Server, as_client, build_resolver
from postdesk.core.dnscheck.spf import check_spf
from postdesk.core.recordgen import is_spf
from postdesk.core.records import ComparedByValue, ExpectedRecord, RecordResult

Resolver = DnsClient | dns.asyncresolver.Resolver | None
# "error": DNS could not be asked about a record the verdict needs, and nothing needed is
# known to be wrong, so the check says nothing about the domain (a stored status stays).
DomainStatus = Literal["verified", "failing", "ok", "error"]
#: The records that must pass for a domain to be verified (the apex SPF is always judged).
NEEDED_KINDS = frozenset({"ownership", "spf", "dkim"})
DEFAULT_CONCURRENCY = 20
_T = TypeVar("_T")


# The two value types are named tuples: a frozen dataclass costs about a millisecond to create
# at import, paid by every command that checks a domain.
class PropagationNote(NamedTuple):
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


class DomainReport(ComparedByValue):
    """The outcome of checking one domain's records."""

    _FIELDS = ("domain", "status", "records", "propagation", "checked_at")

    def __init__(
        self,
        domain: str,
        status: DomainStatus,
        records: list[RecordResult],
        propagation: list[PropagationNote] | None = None,
        checked_at: datetime | None = None,
    ) -> None:
        self.domain = domain
        self.status = status
        self.records = records
        self.propagation = propagation if propagation is not None else []
        self.checked_at = checked_at if checked_at is not None else datetime.now(UTC)

    def record(self, kind: str) -> RecordResult | None:
        """The first result of ``kind`` (``"spf"``, ``"dkim"``...), if it was checked."""
        return next((r for r in self.records if r.kind == kind), None)

    @property
    def checked(self) -> bool:
        """Whether DNS answered enough to judge the domain (False during an outage)."""
        return self.status != "error"

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "status": self.status,
            "checked_at": self.checked_at.isoformat(),
            "records": [r.as_dict() for r in self.records],
            "propagation": [n.as_dict() for n in self.propagation],
        }


async def _check(
    client: DnsClient,
    domain: str,
    expected: ExpectedRecord,
    spf_include: str | None,
    service: str | None,
    user_includes: Sequence[tuple[str, str, str]] = (),
) -> RecordResult:
    kind = expected.kind
    if kind == "ownership":
        # Loaded here: only Verify asks for ownership and CNAME records, never ``check``.
        from postdesk.core.dnscheck.ownership import check_ownership

        return await check_ownership(client, expected)
    if kind == "spf":
        return await check_spf(
            client,
            domain,
            include=spf_include,
            expected=expected,
            service=service,
            user_includes=user_includes,
        )
    if kind == "dkim":
        return await check_dkim(client, expected.host, domain=domain, expected=expected)
    if kind == "dmarc":
        return await check_dmarc(client, domain, expected=expected)
    if kind == "mx":
        return await check_mx(client, domain, expected=expected)
    from postdesk.core.dnscheck.cname import check_cname

    return await check_cname(client, expected)


async def verify_records(
    domain: str,
    expected: list[ExpectedRecord],
    *,
    spf_include: str | None,
    service: str | None = None,
    resolver: Resolver = None,
    https: HttpsOptions | None = None,
    user_includes: Sequence[tuple[str, str, str]] = (),
) -> DomainReport:
    """Check every expected record of ``domain`` at once (verified: ownership, SPF, DKIM).

    The SPF published at the apex is judged even when no SPF record is expected (the service
    names no include): two records, a broken syntax, too many lookups or ``+all`` still fail.
    ``service`` is the name of the service the domain sends through, for advice on its include;
    ``user_includes`` are (include, service, logins) of the services its SMTP users send through
    instead, which the SPF record must include as well.
    """
    domain = domainname.to_a_label(domain)
    client = as_client(resolver)
    checks = [_check(client, domain, e, spf_include, service, user_includes) for e in expected]
    if not any(e.kind == "spf" for e in expected):
        checks.append(
            check_spf(client, domain, required=False, service=service, user_includes=user_includes)
        )
    results, notes, published = await asyncio.gather(
        asyncio.gather(*checks),
        _propagation(client, domain, expected, spf_include),
        check_published_standards(client, domain, https),
    )
    _apply_notes(list(results), notes)
    return DomainReport(domain, verdict(list(results)), [*results, *published], notes)


def verdict(results: Sequence[RecordResult]) -> DomainStatus:
    """Verified when each needed kind has a record that passed; "error" when DNS could not be
    asked about some kind and no other kind failed (nothing can be concluded); else failing."""
    passed = {r.kind for r in results if r.status == "ok"}
    unknown = {r.kind for r in results if r.status == "error"} - passed
    if passed >= NEEDED_KINDS:
        return "verified"
    if passed | unknown >= NEEDED_KINDS:
        return "error"
    return "failing"


async def diagnose_domain(
    domain: str,
    dkim_selectors: Sequence[str] = (),
    resolver: Resolver = None,
    newer: NewerOptions | None = None,
) -> DomainReport:
    """Check any domain's SPF, DMARC, MX and DKIM (for ``dkim_selectors``); nothing is stored.

    A domain or selector that is not a valid name is refused with a UserError before any query.
    """
    domain = domainname.to_a_label(domain)
    selectors = [domainname.check_selector(s, domain=domain) for s in dkim_selectors]
    client = as_client(resolver)
    checks: list[Awaitable[RecordResult]] = [
        check_spf(client, domain),
        *(check_dkim(client, domainname.dkim_host(s, domain), domain=domain) for s in selectors),
        check_dmarc(client, domain),
        check_mx(client, domain),
    ]
    # With ``newer``: MTA-STS, TLS-RPT, BIMI, DNSSEC and STARTTLS of the MX, all at once; one
    # that is published but broken makes the domain failing.
    classic, extra = await asyncio.gather(
        asyncio.gather(*checks), check_newer_standards(client, domain, newer) if newer else _none()
    )
    results = [*classic, *extra]
    judged = [r.status for r in results if r.kind in ("spf", "dkim", "dmarc")]
    status: DomainStatus = "ok"
    if any(s not in ("ok", "error") for s in judged) or newer_failing(results):
        status = "failing"
    elif "error" in judged:
        status = "error"  # DNS did not answer: nothing is known to be wrong (or right)
    return DomainReport(domain, status, results)


async def _none() -> list[RecordResult]:
    return []


class VerifyJob(NamedTuple):
    """One domain to verify in a batch."""

    domain: str
    expected: list[ExpectedRecord]
    spf_include: str | None = None
    service: str | None = None


async def verify_many(
    jobs: Iterable[VerifyJob], *, resolver: Resolver = None, concurrency: int = DEFAULT_CONCURRENCY
) -> list[DomainReport]:
    """Verify many domains, at most ``concurrency`` at a time; reports come back in job order."""
    client = as_client(resolver)

    def run(job: VerifyJob) -> Callable[[], Awaitable[DomainReport]]:
        return lambda: verify_records(
            job.domain,
            job.expected,
            spf_include=job.spf_include,
            service=job.service,
            resolver=client,
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
