"""The ownership record: a TXT at ``_postdesk.<domain>`` holding the token Postdesk gave out."""

from __future__ import annotations

from postdesk.core.dnscheck.messages import dns_problem, problem
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.records import ExpectedRecord, RecordResult


async def check_ownership(client: DnsClient, expected: ExpectedRecord) -> RecordResult:
    """Check that the ownership TXT record carries exactly the expected token."""
    host, want = expected.host, expected.value.strip()
    result = RecordResult("ownership", "TXT", host, want, "ok", required=expected.required)
    answer = await client.query(host, "TXT")
    if answer.failed:
        result.status, result.problems = "error", [dns_problem(answer, host)]
        return result
    result.found = list(answer.values)
    if any(v.strip() == want for v in answer.values):
        return result
    if answer.values:
        result.status = "mismatch"
        state = "holds a different value (perhaps from an earlier attempt)"
    else:
        result.status = "missing"
        state = "has not been added yet"
    result.problems.append(problem("ownership.missing", host=host, state=state, expected=want))
    return result
