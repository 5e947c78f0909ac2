"""The newer standards a domain check adds: MTA-STS, TLS-RPT, BIMI, DNSSEC, STARTTLS of the MX.

They run concurrently with the classic checks and share their ``DnsClient``, so the MX and DMARC
answers they also need cost no second question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

from postdesk.core.dnscheck.bimi import check_bimi
from postdesk.core.dnscheck.dnssec import check_dnssec
from postdesk.core.dnscheck.messages_newer import newer_problem
from postdesk.core.dnscheck.mtasts import check_mta_sts
from postdesk.core.dnscheck.options import HttpsOptions, MxTlsOptions
from postdesk.core.dnscheck.outcome import mx_tls_skipped
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.dnscheck.tlsrpt import check_tls_rpt
from postdesk.core.records import RecordResult

NEWER_KINDS = frozenset({"mta_sts", "tls_rpt", "bimi", "dnssec", "mx_tls"})
#: What Verify adds for a managed domain, and only when the domain publishes it.
VERIFY_KINDS = frozenset({"mta_sts", "tls_rpt", "bimi"})


class NewerOptions(NamedTuple):  # not a frozen dataclass: as immutable, ~1 ms less at import
    """Which newer checks run and how they reach HTTPS and SMTP servers."""

    https: HttpsOptions = HttpsOptions()
    mx_tls: MxTlsOptions = MxTlsOptions()
    dnssec: bool = True


async def check_newer_standards(
    client: DnsClient, domain: str, options: NewerOptions | None = None
) -> list[RecordResult]:
    """Every newer check of ``domain`` at once, in a fixed order (MTA-STS first)."""
    options = options or NewerOptions()
    sts, rpt, bimi, dnssec, mx_tls = await asyncio.gather(
        check_mta_sts(client, domain, https=options.https),
        check_tls_rpt(client, domain),
        check_bimi(client, domain, https=options.https),
        check_dnssec(client, domain) if options.dnssec else _nothing(),
        _mx_tls(client, domain, options.mx_tls),
    )
    if sts.status not in ("missing", "error") and rpt.status == "missing":
        rpt.problems.append(newer_problem("tlsrpt.suggested", domain=domain))
    return [sts, rpt, bimi, *([dnssec] if dnssec else []), *mx_tls]


async def _mx_tls(client: DnsClient, domain: str, options: MxTlsOptions) -> list[RecordResult]:
    if options.skip:  # answered here, so that a skipped check never loads the SMTP prober
        return [mx_tls_skipped(domain)]
    from postdesk.core.dnscheck.mxtls import check_mx_tls

    return await check_mx_tls(client, domain, options=options)


async def check_published_standards(
    client: DnsClient, domain: str, https: HttpsOptions | None = None
) -> list[RecordResult]:
    """For Verify: MTA-STS, TLS-RPT and BIMI, each only when the domain is known to publish it."""
    https = https or HttpsOptions()
    found = await asyncio.gather(
        check_mta_sts(client, domain, https=https),
        check_tls_rpt(client, domain),
        check_bimi(client, domain, https=https),
    )
    # DNS that did not answer says nothing about whether they are published: leave them out.
    return [r for r in found if r.status not in ("missing", "error")]


def newer_failing(results: Sequence[RecordResult]) -> bool:
    """Whether a newer standard the domain publishes is broken (not merely absent or unknown)."""
    return any(r.kind in NEWER_KINDS and r.status in ("mismatch", "conflict") for r in results)


async def _nothing() -> None:
    return None
