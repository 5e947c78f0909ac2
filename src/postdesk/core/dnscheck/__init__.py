"""Live DNS checks: pure functions that take what is expected and return verdicts.

Nothing here touches the database; the workflow that calls these records the results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dns._features

# Postdesk asks DNS over UDP and TCP only. Without this, dnspython imports its whole DNS-over-HTTPS
# client stack (an HTTP/2 client, ~0.3 s) whenever that stack happens to be installed. It must run
# before any dns.query / dns.asyncresolver import, which is why it sits at the top of the package.
dns._features.force("doh", False)
# Nor over QUIC: its client stack (aioquic) would load with dns.asyncquery when installed.
dns._features.force("doq", False)


def _idna_2008() -> bool | None:
    """Whether dnspython will find the ``idna`` package it wants (IDNA 2008), answered from the
    package itself: dnspython asks the installed packages' metadata (a scan of every one, and
    importing importlib.metadata). None: leave the question to dnspython."""
    import importlib.util

    wanted = [r for r in dns._features._requirements.get("idna", []) if r.startswith("idna>=")]
    if len(wanted) != 1:
        return None
    if importlib.util.find_spec("idna") is None:
        return False
    from idna.package_data import __version__

    minimum = dns._features._tuple_from_text(wanted[0].removeprefix("idna>="))
    return bool(dns._features._tuple_from_text(__version__) >= minimum)


if (_idna := _idna_2008()) is not None:
    dns._features.force("idna", _idna)

from postdesk.core.dnscheck.domain import (  # noqa: E402
    DomainReport,
    PropagationNote,
    VerifyJob,
    diagnose_domain,
    diagnose_many,
    verify_many,
    verify_records,
)
from postdesk.core.dnscheck.resolver import NAMESERVERS_ENV, DnsClient, make_client  # noqa: E402
from postdesk.core.dnscheck.spf import count_spf_lookups  # noqa: E402

if TYPE_CHECKING:
    from postdesk.core.dnscheck.ip import DEFAULT_BLOCKLISTS, IpReport, check_ip

# Looking up IP addresses (reverse DNS, blocklists) is a command of its own: a domain check
# does not load it.
_IP_NAMES = ("DEFAULT_BLOCKLISTS", "IpReport", "check_ip")


def __getattr__(name: str) -> object:
    if name in _IP_NAMES:
        from postdesk.core.dnscheck import ip

        return getattr(ip, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
