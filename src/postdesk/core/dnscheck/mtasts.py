"""MTA-STS (RFC 8461): the ``_mta-sts`` record, the policy fetched over HTTPS, MX hosts in it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from postdesk.core.dnscheck.messages_newer import newer_problem, valid_newer_record
from postdesk.core.dnscheck.options import HttpsOptions
from postdesk.core.dnscheck.outcome import new_result
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.dnscheck.tags import tag_list
from postdesk.core.records import RecordResult

_ID = r"^[A-Za-z0-9]{1,32}$"  # compiled (and cached by re) when a record is read
__all__ = [
    "MAX_AGE_LIMIT",
    "POLICY_MAX_BYTES",
    "SHORT_MAX_AGE",
    "StsPolicy",
    "check_mta_sts",
    "is_mta_sts",
    "mx_matches",
    "parse_policy",
    "policy_url",
    "record_errors",
]
_POLICY_NAMES = (
    "MAX_AGE_LIMIT",
    "POLICY_MAX_BYTES",
    "SHORT_MAX_AGE",
    "StsPolicy",
    "mx_matches",
    "parse_policy",
    "policy_url",
)

if TYPE_CHECKING:
    from postdesk.core.dnscheck.mtastspolicy import (
        MAX_AGE_LIMIT,
        POLICY_MAX_BYTES,
        SHORT_MAX_AGE,
        StsPolicy,
        mx_matches,
        parse_policy,
        policy_url,
    )


def is_mta_sts(value: str) -> bool:
    """Whether a TXT value at ``_mta-sts`` is meant as an MTA-STS record (even a broken one)."""
    return value.strip().lower().startswith("v=stsv1")


def record_errors(value: str) -> list[str]:
    """What makes an MTA-STS TXT record invalid, in plain words (empty when valid)."""
    tags = tag_list(value)
    errors = []
    if not tags or tags[0] != ("v", "STSv1"):
        errors.append("it must start with v=STSv1")
    ids = [v for n, v in tags if n == "id"]
    if not ids:
        errors.append("the id= tag is missing")
    elif len(ids) > 1:
        errors.append("the id= tag appears more than once")
    elif not re.match(_ID, ids[0]):
        errors.append(f"id={ids[0]} must be 1 to 32 letters or digits")
    return errors


async def check_mta_sts(
    client: DnsClient, domain: str, *, https: HttpsOptions | None = None
) -> RecordResult:
    """Check ``domain``'s MTA-STS: the record, the policy over HTTPS and its MX coverage.

    ``missing`` when no record is published (MTA-STS is optional); ``error`` when DNS could not
    be asked; ``mismatch`` for anything published that senders would reject.
    """
    host = f"_mta-sts.{domain}"
    for rdtype in ("A", "AAAA"):  # the policy host, asked beside the record: one round trip less
        client.prefetch(f"mta-sts.{domain}", rdtype)
    result = new_result("mta_sts", "TXT", host, None)
    result.required = False
    record = valid_newer_record(
        result,
        await client.query(host, "TXT"),
        is_mta_sts,
        record_errors,
        missing=newer_problem("mtasts.none", domain=domain),
        multiple="mtasts.multiple",
        invalid="mtasts.record_invalid",
        domain=domain,
    )
    if record is None:
        return result
    # The policy's fetch and judgement only for a domain that publishes a record (most do
    # not): with them the HTTPS client, loaded on its first use.
    from postdesk.core.dnscheck.mtastspolicy import check_policy

    await check_policy(client, domain, https or HttpsOptions(), result)
    return result


def __getattr__(name: str) -> object:
    """The policy's names, still found here (they live in ``mtastspolicy``)."""
    if name in _POLICY_NAMES:
        from postdesk.core.dnscheck import mtastspolicy

        return getattr(mtastspolicy, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
