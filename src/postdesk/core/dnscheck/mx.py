"""MX records: where a domain's incoming email (and bounces) go."""

from __future__ import annotations

from postdesk.core.dnscheck.messages import dns_problem, problem
from postdesk.core.dnscheck.outcome import new_result
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.domainname import canonical
from postdesk.core.records import ExpectedRecord, RecordResult


async def check_mx(
    client: DnsClient, domain: str, *, expected: ExpectedRecord | None = None
) -> RecordResult:
    """Check the MX records of ``domain``; with ``expected`` (``"10 mx.host"``) that host is one."""
    result = new_result("mx", "MX", domain, expected)
    answer = await client.query(domain, "MX")
    if answer.failed:
        result.status, result.problems = "error", [dns_problem(answer, domain)]
        return result
    result.found = sorted(answer.values, key=lambda v: int(v.split()[0]))
    exchanges = [v.split()[1] for v in result.found]
    if expected is None:
        if not exchanges:
            result.status = "missing"
            result.problems.append(problem("mx.missing_any", domain=domain))
        elif exchanges == ["."]:
            result.problems.append(problem("mx.null", domain=domain))
        return result
    preference, _, want = expected.value.partition(" ")
    want = canonical(want)
    if not exchanges:
        result.status = "missing"
        result.problems.append(
            problem("mx.missing", domain=domain, expected=want, preference=preference)
        )
    elif want not in exchanges:
        result.status = "mismatch"
        result.problems.append(
            problem(
                "mx.wrong",
                domain=domain,
                found=", ".join(exchanges),
                expected=want,
                preference=preference,
            )
        )
    return result
