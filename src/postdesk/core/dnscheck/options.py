"""How the newer checks reach HTTPS and SMTP servers, apart from the code that reaches them.

A check run names its options before it knows whether it will fetch a policy or try an MX host;
most runs do neither (no MTA-STS or BIMI record, STARTTLS skipped), so the fetching and probing
modules load only when a check really uses them. They re-export these names.
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_HTTPS_TIMEOUT = 10.0
HTTPS_PORT = 443
SMTP_PORT = 25
DEFAULT_MX_TIMEOUT = 10.0


# Named tuples rather than frozen dataclasses: as immutable, and ~1 ms less each to create at
# import.
class HttpsOptions(NamedTuple):
    """How checks fetch over HTTPS: an extra trusted CA and another port exist for tests."""

    cafile: str | None = None
    port: int = HTTPS_PORT
    timeout: float = DEFAULT_HTTPS_TIMEOUT


class MxTlsOptions(NamedTuple):
    """How the MX hosts are tried: the port and an extra trusted CA exist for tests."""

    port: int = SMTP_PORT
    timeout: float = DEFAULT_MX_TIMEOUT
    cafile: str | None = None
    skip: bool = False
