"""Live DNS checks: pure functions that take what is expected and return verdicts.

Nothing here touches the database; the workflow that calls these records the results.
"""

from __future__ import annotations

from postdesk.core.dnscheck.domain import (
    DomainReport,
    PropagationNote,
    VerifyJob,
    diagnose_domain,
    diagnose_many,
    verify_many,
    verify_records,
)
from postdesk.core.dnscheck.ip import DEFAULT_BLOCKLISTS, IpReport, check_ip
from postdesk.core.dnscheck.resolver import NAMESERVERS_ENV, DnsClient, make_client
from postdesk.core.dnscheck.spf import count_spf_lookups

__all__ = [
    "DEFAULT_BLOCKLISTS",
    "NAMESERVERS_ENV",
    "DnsClient",
    "DomainReport",
    "IpReport",
    "PropagationNote",
    "VerifyJob",
    "check_ip",
    "count_spf_lookups",
    "diagnose_domain",
    "diagnose_many",
    "make_client",
    "verify_many",
    "verify_records",
]
