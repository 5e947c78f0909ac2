"""Live DNS checks: pure functions that take what is expected and return verdicts.

Nothing here touches the database; the workflow that calls these records the results.
"""

from __future__ import annotations

import dns._features

# Postdesk asks DNS over UDP and TCP only. Without this, dnspython imports its whole DNS-over-HTTPS
# client stack (an HTTP/2 client, ~0.3 s) whenever that stack happens to be installed. It must run
# before any dns.query / dns.asyncresolver import, which is why it sits at the top of the package.
dns._features.force("doh", False)

from postdesk.core.dnscheck.domain import (  # noqa: E402
    DomainReport,
    PropagationNote,
    VerifyJob,
    diagnose_domain,
    diagnose_many,
    verify_many,
    verify_records,
)
from postdesk.core.dnscheck.ip import DEFAULT_BLOCKLISTS, IpReport, check_ip  # noqa: E402
from postdesk.core.dnscheck.resolver import NAMESERVERS_ENV, DnsClient, make_client  # noqa: E402
from postdesk.core.dnscheck.spf import count_spf_lookups  # noqa: E402

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
