"""An MTA-STS policy (RFC 8461 §3.2): fetched over HTTPS, read, and held against the MX hosts.

Loaded by ``mtasts`` only for a domain that publishes an MTA-STS record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from postdesk.core.dnscheck.httpsfetch import fetch_https
from postdesk.core.dnscheck.messages_newer import newer_problem
from postdesk.core.dnscheck.options import HttpsOptions
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.records import RecordResult

MAX_AGE_LIMIT = 31_557_600  # one year, the RFC's upper bound
SHORT_MAX_AGE = 86_400
POLICY_MAX_BYTES = 64 * 1024  # RFC 8461 §3.3 lets senders stop at 64 KB
_MODES = ("enforce", "testing", "none")


@dataclass
class StsPolicy:
    """A parsed policy file; ``errors`` says what makes it invalid (empty when valid)."""

    version: str = ""
    mode: str = ""
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def policy_url(domain: str) -> str:
    """Where senders fetch the policy of ``domain``."""
    return f"https://mta-sts.{domain}/.well-known/mta-sts.txt"


def parse_policy(text: str) -> StsPolicy:
    """Read a policy file (``key: value`` lines, LF or CRLF) and note everything invalid."""
    policy = StsPolicy()
    seen: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            policy.errors.append(f"the line {line.strip()[:40]!r} is not key: value")
            continue
        if key != "mx" and key in seen:
            policy.errors.append(f"{key}: appears more than once")
        seen.add(key)
        if key == "version":
            policy.version = value
        elif key == "mode":
            policy.mode = value
        elif key == "max_age":
            policy.max_age = int(value) if value.isdigit() and len(value) <= 10 else None
            if policy.max_age is None or policy.max_age > MAX_AGE_LIMIT:
                policy.errors.append(f"max_age: {value} must be 0 to {MAX_AGE_LIMIT} seconds")
        elif key == "mx":
            policy.mx.append(value.lower().rstrip("."))
    if policy.version != "STSv1":
        policy.errors.append("version: STSv1 is missing")
    if policy.mode not in _MODES:
        policy.errors.append(f"mode: must be enforce, testing or none, not {policy.mode!r}")
    if "max_age" not in seen:
        policy.errors.append("max_age: is missing")
    if policy.mode in ("enforce", "testing") and not policy.mx:
        policy.errors.append("no mx: line names a mail server")
    return policy


def mx_matches(host: str, patterns: list[str]) -> bool:
    """Whether MX ``host`` fits a policy pattern; ``*.`` stands for exactly one leftmost label."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            label, _, rest = host.partition(".")
            if label and rest == pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


async def check_policy(
    client: DnsClient, domain: str, https: HttpsOptions, result: RecordResult
) -> None:
    """Fetch ``domain``'s policy, read it and judge it against its MX hosts, into ``result``."""
    url = policy_url(domain)
    fetched = await fetch_https(client, url, options=https, max_bytes=POLICY_MAX_BYTES)
    if not fetched.ok:
        code = "mtasts.record_without_policy" if fetched.absent else "mtasts.policy_unreachable"
        result.status = "mismatch"
        result.problems.append(newer_problem(code, domain=domain, url=url, reason=fetched.reason))
        return
    assert fetched.body is not None
    if fetched.content_type and fetched.content_type != "text/plain":
        result.problems.append(
            newer_problem(
                "mtasts.content_type", url=url, content_type=fetched.content_type or "nothing"
            )
        )
    policy = parse_policy(fetched.body.decode("utf-8", "replace"))
    result.found.append(_policy_summary(policy))
    if policy.errors:
        result.status = "mismatch"
        result.problems.append(
            newer_problem("mtasts.policy_invalid", url=url, detail="; ".join(policy.errors))
        )
        return
    await _judge_policy(client, domain, url, policy, result)


async def _judge_policy(
    client: DnsClient, domain: str, url: str, policy: StsPolicy, result: RecordResult
) -> None:
    if policy.mode == "none":
        result.problems.append(newer_problem("mtasts.mode_none", domain=domain))
        return
    if policy.mode == "testing":
        result.problems.append(newer_problem("mtasts.testing_mode", domain=domain))
    if policy.max_age is not None and policy.max_age < SHORT_MAX_AGE:
        result.problems.append(
            newer_problem("mtasts.max_age_short", domain=domain, max_age=policy.max_age)
        )
    answer = await client.query(domain, "MX")  # shared with the MX check in the same run
    exchanges = [v.split()[1] for v in answer.values if len(v.split()) == 2]
    code = "mtasts.mx_not_covered" if policy.mode == "enforce" else "mtasts.mx_not_covered_testing"
    for mx in exchanges:
        if mx != "." and not mx_matches(mx, policy.mx):
            result.problems.append(
                newer_problem(code, mx=mx, domain=domain, patterns=", ".join(policy.mx), url=url)
            )
            if policy.mode == "enforce":
                result.status = "mismatch"


def _policy_summary(policy: StsPolicy) -> str:
    mx = " ".join(f"mx: {m}" for m in policy.mx)
    return (
        f"policy: version: {policy.version}; mode: {policy.mode}; max_age: {policy.max_age}; {mx}"
    )
