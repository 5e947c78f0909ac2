"""What a relay can be told at start: where to listen, limits, retry timing, login throttling."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
DEFAULT_TRACKING_PORT = 2580


def default_worker_id() -> str:
    """A name for this process's claims that differs across machines, processes and restarts."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RelayOptions:
    """Everything tunable about one relay process (the defaults suit production)."""

    listen_host: str = "127.0.0.1"
    # Whether AUTH is offered before STARTTLS; None: only when listening on loopback, where the
    # password never leaves the machine.
    auth_without_tls: bool | None = None
    listen_port: int | None = None  # None: the ``relay_port`` setting
    tracking_host: str | None = None  # None: the same host as the SMTP listener
    tracking_port: int | None = DEFAULT_TRACKING_PORT  # None: no tracking endpoint
    tracking_base_url: str | None = None  # None: derived from settings or the listen address
    certfile: Path | None = None  # with keyfile: the user's own certificate for STARTTLS
    keyfile: Path | None = None
    server_name: str | None = None  # the name in the greeting; None: the ``relay_host`` setting
    max_message_bytes: int | None = None  # None: the ``relay_max_message_mb`` setting or 25 MB
    # Temporary upstream failures: first retry after retry_base, doubling up to retry_cap, and
    # the message bounces when it is still undelivered max_age after it was accepted.
    retry_base: float = 60.0
    retry_cap: float = 3600.0
    max_age: float = 48 * 3600.0
    lease: float = 120.0  # how long a claim holds before another process may take the message
    poll_interval: float = 1.0
    batch_size: int = 50
    # While messages are being delivered: claims come at most every claim_gap seconds, and an
    # outcome waits up to outcome_gather seconds for others due at the same moment, so a busy
    # relay claims and records many messages per transaction rather than one or two.
    claim_gap: float = 0.03
    outcome_gather: float = 0.02
    # Upstream connections delivering in parallel, per service: ``concurrency`` to begin with,
    # one more at a time while messages wait for a connection, up to ``max_connections``; a
    # service that refuses a connection gets no more than were working (see ``worker``).
    concurrency: int = 4
    max_connections: int = 8
    upstream_timeout: float = 60.0
    max_recipients: int = 1000
    # Failed logins from one address: each waits fail_delay * 2**(n-1) (capped) before the
    # answer; after ban_after failures within ban_window the address is refused for ban_seconds.
    fail_delay: float = 1.0
    fail_delay_max: float = 8.0
    ban_after: int = 10
    ban_window: float = 900.0
    ban_seconds: float = 900.0
    # Reception (mail to the dedicated domains): None for inbound_port means the
    # ``inbound_listen`` setting decides, and no listener when that is unset too.
    inbound_host: str = "0.0.0.0"
    inbound_port: int | None = None
    inbound_max_message_bytes: int | None = None  # None: ``inbound_max_message_mb`` or 25 MB
    # Per remote address: connections open at once, and messages per minute (None: the
    # ``inbound_connections_per_ip`` and ``inbound_messages_per_minute`` settings).
    inbound_connections_per_ip: int | None = None
    inbound_messages_per_minute: int | None = None
    worker_id: str = field(default_factory=default_worker_id)
    # Deliver in a process of its own (``delivery``), as ``postdesk relay`` does; embedded in
    # another program's loop (the GUI's), delivery runs in that process.
    delivery_process: bool = False


def tracking_base(options: RelayOptions, tracking_port: int | None, host: str) -> str | None:
    """The base URL of tracked links that use a domain's verified public tracking host
    (``track.<domain>``, see ``tracking.tracking_address``); None when tracking is not served.
    """
    if options.tracking_base_url:
        return options.tracking_base_url.rstrip("/")
    if tracking_port is None:
        return None
    port = "" if tracking_port == 80 else f":{tracking_port}"
    return f"http://{host}{port}"


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_hostport(text: str, default_port: int | None = None) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as a pair; raises ValueError with a readable reason."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"'{text}' has no port; write it as HOST:PORT, e.g. 127.0.0.1:2525")
        return host or "127.0.0.1", default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"'{port_text}' is not a port number (0 to 65535)")
    return host or "127.0.0.1", int(port_text)
