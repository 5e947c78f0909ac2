"""DMARC: one valid record at ``_dmarc.<domain>``, and report addresses that will accept reports."""

from __future__ import annotations

import asyncio
import re

from postdesk.core.dnscheck.messages import problem
from postdesk.core.dnscheck.outcome import new_result, the_one_record
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.dnscheck.tags import tag_list
from postdesk.core.records import ExpectedRecord, Problem, RecordResult
from postdesk.core.validation import suffixes_for

_POLICIES = ("none", "quarantine", "reject")
_URI = re.compile(r"^mailto:[^@\s]+@[a-z0-9.-]+\.[a-z0-9-]+(![0-9]+[kmgt]?)?$", re.IGNORECASE)
_CHECKS = {
    "p": lambda v: v.lower() in _POLICIES,
    "sp": lambda v: v.lower() in _POLICIES,
    "np": lambda v: v.lower() in _POLICIES,
    "adkim": lambda v: v.lower() in ("r", "s"),
    "aspf": lambda v: v.lower() in ("r", "s"),
    "pct": lambda v: v.isdigit() and 0 <= int(v) <= 100,
    "ri": lambda v: v.isdigit(),
    "fo": lambda v: all(part.strip().lower() in ("0", "1", "d", "s") for part in v.split(":")),
    "rf": lambda v: all(part.strip().lower() in ("afrf", "iodef") for part in v.split(":")),
    "rua": lambda v: all(_URI.match(part.strip()) for part in v.split(",")),
    "ruf": lambda v: all(_URI.match(part.strip()) for part in v.split(",")),
}


def dmarc_tags(value: str) -> list[tuple[str, str]]:
    """The tags of a DMARC record in order, names lowercased (duplicates kept)."""
    return tag_list(value, lower=True)


def is_dmarc(value: str) -> bool:
    """Whether a TXT value at ``_dmarc`` is meant as a DMARC record (even a broken one)."""
    return re.search(r"v\s*=\s*dmarc1", value, re.IGNORECASE) is not None


def dmarc_errors(value: str) -> list[str]:
    """Everything that makes a DMARC record invalid, in plain words (empty when valid)."""
    tags = dmarc_tags(value)
    errors = []
    if not tags or tags[0][0] != "v" or tags[0][1] != "DMARC1":
        errors.append("it must start with v=DMARC1")
    names = [name for name, _ in tags]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"the tag {name}= appears more than once")
    if "p" not in names:
        errors.append("the policy tag p= is missing")
    for name, tag_value in tags:
        check = _CHECKS.get(name)
        if check is not None and not check(tag_value):
            errors.append(f"{name}={tag_value} is not an allowed value")
    return errors


def organizational_domain(name: str) -> str:
    """The registered domain a name belongs to (``mail.shop.example.com`` → ``example.com``)."""
    # An unknown ending (a test or internal zone) counts as public: mail.shop.test → shop.test.
    found = suffixes_for(name).privatesuffix(name.lower(), accept_unknown=True)
    return found or name.lower()


def report_addresses(value: str) -> list[str]:
    """The mailbox addresses in ``rua=`` and ``ruf=`` (size limits removed)."""
    addresses = []
    for name, tag_value in dmarc_tags(value):
        if name in ("rua", "ruf"):
            for uri in tag_value.split(","):
                uri = uri.strip()
                if uri.lower().startswith("mailto:"):
                    addresses.append(uri[7:].split("!", 1)[0])
    return addresses


async def check_dmarc(
    client: DnsClient, domain: str, *, expected: ExpectedRecord | None = None
) -> RecordResult:
    """Check the DMARC record of ``domain``: any valid record is fine; ``p=none`` is a warning."""
    host = f"_dmarc.{domain}"
    want = expected.value if expected else "v=DMARC1; p=none"
    result = new_result("dmarc", "TXT", host, expected)
    answer = await client.query(host, "TXT")
    record = the_one_record(
        result,
        answer,
        is_dmarc,
        missing=problem("dmarc.missing", domain=domain, expected=want),
        multiple="dmarc.multiple",
        domain=domain,
    )
    if record is None:
        return result
    errors = dmarc_errors(record)
    if errors:
        result.status = "mismatch"
        result.problems.append(problem("dmarc.invalid", domain=domain, detail="; ".join(errors)))
        return result
    policy = dict(dmarc_tags(record)).get("p", "").lower()
    if policy == "none":
        result.problems.append(problem("dmarc.policy_none", domain=domain))
    result.problems += await _unauthorized_reports(client, domain, record)
    return result


async def _unauthorized_reports(client: DnsClient, domain: str, value: str) -> list[Problem]:
    """Reports to another organisation's mailbox need its consent (RFC 7489 §7.1)."""
    ours = organizational_domain(domain)
    outside = []
    for address in report_addresses(value):
        other = address.rsplit("@", 1)[1].lower().rstrip(".")
        if organizational_domain(other) != ours and (address, other) not in outside:
            outside.append((address, other))
    answers = await asyncio.gather(
        *(client.query(f"{domain}._report._dmarc.{other}", "TXT") for _, other in outside)
    )
    problems = []
    for (address, other), answer in zip(outside, answers, strict=True):
        if answer.failed:
            continue  # unknown, and a report address is not worth a "could not check"
        if not any(v.strip().lower().startswith("v=dmarc1") for v in answer.values):
            problems.append(
                problem("dmarc.rua_unauthorized", domain=domain, address=address, other=other)
            )
    return problems
