"""TLS-RPT (RFC 8460): where senders report failed TLS deliveries, at ``_smtp._tls.<domain>``."""

from __future__ import annotations

import re

from postdesk.core.dnscheck.messages_newer import valid_newer_record
from postdesk.core.dnscheck.outcome import new_result
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.dnscheck.tags import tag_list
from postdesk.core.records import RecordResult

# Compiled (and cached by re) when a record is read: most domains publish none.
_MAILTO = r"^mailto:[^@\s,;!]+@[a-z0-9.-]+\.[a-z0-9-]+(![0-9]+[kmgt]?)?$"
_HTTPS = r"^https://[a-z0-9.-]+(:[0-9]+)?(/[^\s,;]*)?$"


def is_tls_rpt(value: str) -> bool:
    """Whether a TXT value at ``_smtp._tls`` is meant as a TLS-RPT record (even a broken one)."""
    return value.strip().lower().startswith("v=tlsrptv1")


def record_errors(value: str) -> list[str]:
    """What makes a TLS-RPT record invalid, in plain words (empty when valid)."""
    tags = tag_list(value)
    errors = []
    if not tags or tags[0] != ("v", "TLSRPTv1"):
        errors.append("it must start with v=TLSRPTv1")
    ruas = [v for n, v in tags if n == "rua"]
    if not ruas:
        errors.append("the rua= tag (where reports go) is missing")
    elif len(ruas) > 1:
        errors.append("the rua= tag appears more than once")
    else:
        for uri in (u.strip() for u in ruas[0].split(",")):
            if not (re.match(_MAILTO, uri, re.I) or re.match(_HTTPS, uri, re.I)):
                errors.append(f"{uri or 'an empty address'} is not a mailto: or https: address")
    return errors


async def check_tls_rpt(client: DnsClient, domain: str) -> RecordResult:
    """Check ``domain``'s TLS-RPT record; ``missing`` (no problem) when none is published."""
    host = f"_smtp._tls.{domain}"
    result = new_result("tls_rpt", "TXT", host, None)
    result.required = False
    valid_newer_record(  # the result says it all: nothing else to check
        result,
        await client.query(host, "TXT"),
        is_tls_rpt,
        record_errors,
        missing=None,
        multiple="tlsrpt.multiple",
        invalid="tlsrpt.invalid",
        domain=domain,
    )
    return result
