"""The built-in relay: authenticated submission, daily limit, DKIM, tracking, durable queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from postdesk.core.relay.options import RelayOptions
    from postdesk.core.relay.service import Relay, RelayStatus

__all__ = ["Relay", "RelayOptions", "RelayStatus"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: a process that only needs one relay module (a signing process, a
    # command reading the queue) does not import the SMTP server and the HTTP stack.
    if name == "RelayOptions":
        from postdesk.core.relay.options import RelayOptions

        return RelayOptions
    if name in ("Relay", "RelayStatus"):
        from postdesk.core.relay import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
