"""Reaching the server: name lookup and TCP connection, each outcome in the transcript."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

from postdesk.core.smtptest.endpoint import SmtpEndpoint
from postdesk.core.smtptest.transcript import Transcript
from postdesk.core.smtptest.verdicts import Stop


def never_resolves(host: str) -> bool:
    """Whether the name is reserved never to exist (RFC 6761 ``.invalid``)."""
    host = host.rstrip(".").lower()
    return host == "invalid" or host.endswith(".invalid")


def is_ip(host: str) -> bool:
    """Whether the host is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def default_ehlo_name(sock: socket.socket) -> str:
    """This computer's name if it is fully qualified, else its address literal (no DNS lookup)."""
    name = socket.gethostname()
    if "." in name and name.isascii() and not any(c.isspace() for c in name):
        return name
    address = sock.getsockname()[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def open_socket(
    endpoint: SmtpEndpoint, transcript: Transcript, timings: dict[str, int]
) -> socket.socket:
    """Look the host up and connect to it; raise Stop (dns, refused, connect_timeout) if not.

    Doing this before aiosmtplib takes over keeps "cannot reach" apart from a TLS handshake or
    a greeting that never comes.
    """
    t, host, port, timeout = transcript, endpoint.host, endpoint.port, endpoint.timeout
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    if never_resolves(host):
        # Answered here, as RFC 6761 asks, so such a name never goes out to a DNS server.
        t.info(f"“{host}” is a reserved name that never exists.")
        raise Stop("dns", detail="the name does not exist")
    if not is_ip(host):
        t.info(f"Looking up {host}")
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM), timeout
        )
    except (socket.gaierror, UnicodeError) as error:
        t.info(f"{host} could not be found ({getattr(error, 'strerror', None) or error}).")
        raise Stop("dns", detail="the name does not exist") from error
    except TimeoutError as error:
        t.info(f"Looking up {host} took longer than {timeout:g} seconds.")
        raise Stop("dns", detail="the name lookup timed out") from error
    addresses = list(dict.fromkeys((family, addr) for family, _, _, _, addr in infos))
    timings["dns_ms"] = _ms(started)
    if not is_ip(host):
        t.info(f"{host} is at {', '.join(str(addr[0]) for _, addr in addresses)}")

    failure = "refused"
    for family, addr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        shown = f"[{addr[0]}]" if family == socket.AF_INET6 else addr[0]
        t.info(f"Connecting to {shown} port {port}")
        tcp_started = time.monotonic()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, addr), timeout)
        except TimeoutError:
            sock.close()
            t.info(f"No answer within {timeout:g} seconds.")
            failure = "connect_timeout"
        except ConnectionRefusedError:
            sock.close()
            t.info("Connection refused: nothing is listening on this port.")
        except OSError as error:
            sock.close()
            t.info(f"Could not connect: {error.strerror or error}.")
            failure = "connect_timeout"  # unreachable network or host: like a timeout to the user
        except BaseException:
            sock.close()
            raise
        else:
            timings["connect_ms"] = _ms(tcp_started)
            t.info(f"Connected in {timings['connect_ms']} ms")
            return sock
    # With several addresses, a timeout on one says more than a refusal on another.
    raise Stop(failure)
