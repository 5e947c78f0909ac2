"""The built-in relay: authenticated submission, daily limit, DKIM, tracking, durable queue."""

from __future__ import annotations

from postdesk.core.relay.options import RelayOptions
from postdesk.core.relay.service import Relay, RelayStatus

__all__ = ["Relay", "RelayOptions", "RelayStatus"]
