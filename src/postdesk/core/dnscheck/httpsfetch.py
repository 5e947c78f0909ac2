"""Fetching a small file over HTTPS for a check (MTA-STS policy, BIMI logo).

The host name is looked up through the checks' own ``DnsClient`` (so ``POSTDESK_NAMESERVERS``
applies here too) and the certificate is verified for that name. Redirects are not followed
(RFC 8461 §3.3), the body is capped, and every failure becomes a reason in plain words.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from postdesk.core.dnscheck.options import DEFAULT_HTTPS_TIMEOUT, HTTPS_PORT, HttpsOptions
from postdesk.core.dnscheck.resolver import DnsClient

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_HTTPS_TIMEOUT", "HTTPS_PORT", "Fetched", "HttpsOptions", "fetch_https"]


@dataclass(frozen=True)
class Fetched:
    """A fetched body, or why there is none (``absent``: the name or the file does not exist)."""

    url: str
    body: bytes | None = None
    content_type: str = ""
    reason: str = ""
    absent: bool = False

    @property
    def ok(self) -> bool:
        return self.body is not None


async def fetch_https(
    client: DnsClient, url: str, *, options: HttpsOptions, max_bytes: int
) -> Fetched:
    """GET ``url`` (https only) with the checks' DNS, a verified certificate and a size cap."""
    import aiohttp  # ~0.3 s to import: only when a domain publishes something to fetch

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https" or not host:
        return Fetched(url, reason="it is not an https:// address")
    address, why, absent = await _address(client, host)
    if address is None:
        return Fetched(url, reason=why, absent=absent)
    port = parts.port or options.port
    target = f"https://{_literal(address)}:{port}{parts.path or '/'}"
    if parts.query:
        target += f"?{parts.query}"
    context = verifying_context(options.cafile)
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(
                target,
                ssl=context,
                server_hostname=host,
                headers={"Host": host if port == HTTPS_PORT else f"{host}:{port}"},
                allow_redirects=False,
            ) as response,
        ):
            if response.status != 200:
                return Fetched(
                    url,
                    reason=f"the server answered HTTP {response.status} instead of 200",
                    absent=response.status in (404, 410),
                )
            body = await _capped(response, max_bytes)
            if body is None:
                return Fetched(url, reason=f"the file is larger than {max_bytes // 1024} KB")
            return Fetched(url, bytes(body), response.content_type)
    except aiohttp.ClientConnectorCertificateError as err:
        from postdesk.core.smtptest.tlsinfo import describe_verify_error

        cause = err.certificate_error
        detail = (
            describe_verify_error(cause)
            if isinstance(cause, ssl.SSLCertVerificationError)
            else str(cause)
        )
        return Fetched(url, reason=f"its certificate is not valid for {host} ({detail})")
    except TimeoutError:
        return Fetched(url, reason=f"no answer within {options.timeout:g} seconds")
    except aiohttp.ClientConnectorError as err:
        return Fetched(url, reason=f"could not connect to {host} ({err.strerror or err})")
    except (aiohttp.ClientError, ssl.SSLError, OSError) as err:
        return Fetched(url, reason=f"the connection failed ({type(err).__name__}: {err})")


@lru_cache(maxsize=8)
def verifying_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying client TLS context, built once per CA file: loading the system's trust
    store takes tens of milliseconds, longer than the whole fetch on a near server."""
    from postdesk.core.smtptest.tlsinfo import make_context

    return make_context(True, cafile)


async def _address(client: DnsClient, host: str) -> tuple[str | None, str, bool]:
    """An address of ``host``, or why there is none and whether the name is simply absent."""
    a, aaaa = await asyncio.gather(client.query(host, "A"), client.query(host, "AAAA"))
    for answer in (a, aaaa):
        if answer.status == "ok" and answer.values:
            return answer.values[0], "", False
    if a.failed and aaaa.failed:
        return None, f"DNS did not answer for {host} ({a.status})", False
    return None, f"{host} has no address in DNS", True


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


async def _capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytearray | None:
    body = bytearray()
    async for chunk in response.content.iter_chunked(16384):
        body += chunk
        if len(body) > max_bytes:
            return None
    return body
