"""CNAME records (bounce and tracking hosts): present, pointing where they should, alone."""

from __future__ import annotations

import asyncio

from postdesk.core.dnscheck.messages import dns_problem, problem
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.domainname import canonical
from postdesk.core.records import ExpectedRecord, RecordResult

_OTHER_TYPES = ("A", "AAAA", "TXT", "MX")


async def check_cname(client: DnsClient, expected: ExpectedRecord) -> RecordResult:
    """Check that ``expected.host`` is a CNAME to ``expected.value`` and nothing else is there."""
    host, target = expected.host, canonical(expected.value)
    result = RecordResult(expected.kind, "CNAME", host, target, "ok", required=expected.required)
    # Other types are asked at the same time: data of their own at the name blocks a CNAME.
    cname, *others = await asyncio.gather(
        client.query(host, "CNAME"), *(client.query(host, t) for t in _OTHER_TYPES)
    )
    if cname.failed:
        result.status, result.problems = "error", [dns_problem(cname, host)]
        return result
    result.found = list(cname.values)
    # An answer that came through no CNAME is data owned by the name itself.
    blocking = [a.rdtype for a in others if a.values and not a.cname_chain]
    if blocking:
        result.status = "conflict"
        result.found += [f"{a.rdtype} {v}" for a in others if not a.cname_chain for v in a.values]
        other = " and ".join(blocking)
        result.problems.append(problem("cname.conflict", host=host, other=other, expected=target))
        return result
    if not cname.values:
        result.status = "missing"
        result.problems.append(problem("cname.missing", host=host, expected=target))
    elif canonical(cname.values[0]) != target:
        result.status = "mismatch"
        result.problems.append(
            problem("cname.wrong_target", host=host, found=cname.values[0], expected=target)
        )
    return result
