"""STARTTLS of each MX host: offered or not, TLS version, certificate valid for the MX name.

Every MX host is tried at once, each with its own timeout. Port 25 is blocked on many desktop
networks, so when no MX host can be reached the result says it was not checked, never "failed".
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from postdesk.core.dnscheck.httpsfetch import verifying_context
from postdesk.core.dnscheck.messages import dns_problem
from postdesk.core.dnscheck.messages_newer import newer_problem
from postdesk.core.dnscheck.options import DEFAULT_MX_TIMEOUT, SMTP_PORT, MxTlsOptions
from postdesk.core.dnscheck.outcome import mx_tls_skipped, new_result, not_checked
from postdesk.core.dnscheck.resolver import DnsClient
from postdesk.core.records import Problem, RecordResult

if TYPE_CHECKING:
    from aiosmtplib import SMTP

__all__ = ["DEFAULT_MX_TIMEOUT", "SMTP_PORT", "MxTlsOptions", "check_mx_tls"]

# The SMTP client and the certificate reader are imported when a host is really tried: a check
# with STARTTLS skipped (or a domain without MX hosts) does not load them.

MAX_MX_HOSTS = 10  # beyond this a domain's MX list is a configuration problem of its own
EXPIRY_WARNING_DAYS = 14
_OLD_PROTOCOLS = {"SSLv3", "TLSv1", "TLSv1.1"}


@dataclass(frozen=True)
class _Probe:
    reached: bool
    reason: str = ""
    problems: tuple[Problem, ...] = ()
    summary: str = ""


async def check_mx_tls(
    client: DnsClient, domain: str, *, options: MxTlsOptions | None = None
) -> list[RecordResult]:
    """One result per MX host of ``domain`` (none without MX hosts; one "not checked" result
    when skipped or when no MX host answers on the port)."""
    options = options or MxTlsOptions()
    if options.skip:
        return [mx_tls_skipped(domain)]
    answer = await client.query(domain, "MX")
    if answer.failed:
        result = new_result("mx_tls", "STARTTLS", domain, None)
        result.required, result.status, result.problems = False, "error", [dns_problem(answer)]
        return [result]
    ordered = sorted(answer.values, key=lambda v: int(v.split()[0]))
    hosts = [v.split()[1] for v in ordered if v.split()[1] != "."][:MAX_MX_HOSTS]
    probes = await asyncio.gather(*(_probe_host(client, h, domain, options) for h in hosts))
    if hosts and not any(p.reached for p in probes):
        reason = probes[0].reason
        return [
            _not_checked(
                domain,
                newer_problem("mxtls.unreachable", port=options.port, domain=domain, reason=reason),
            )
        ]
    return [
        _result(host, probe, domain, options) for host, probe in zip(hosts, probes, strict=True)
    ]


def _not_checked(domain: str, why: Problem) -> RecordResult:
    return not_checked("mx_tls", "STARTTLS", domain, why)


def _result(host: str, probe: _Probe, domain: str, options: MxTlsOptions) -> RecordResult:
    result = new_result("mx_tls", "STARTTLS", host, None)
    result.required = False
    if not probe.reached:
        result.status = "error"
        result.problems.append(
            newer_problem(
                "mxtls.host_unreachable",
                mx=host,
                port=options.port,
                reason=probe.reason,
                domain=domain,
            )
        )
        return result
    result.found = [probe.summary] if probe.summary else []
    result.problems = list(probe.problems)
    if any(p.severity == "error" for p in probe.problems):
        result.status = "mismatch"
    return result


async def _probe_host(client: DnsClient, host: str, domain: str, options: MxTlsOptions) -> _Probe:
    a, aaaa = await asyncio.gather(client.query(host, "A"), client.query(host, "AAAA"))
    addresses = [*a.values, *aaaa.values]
    if not addresses:
        return _Probe(False, f"{host} has no address in DNS")
    try:
        return await asyncio.wait_for(
            _starttls(addresses[0], host, domain, options), options.timeout
        )
    except TimeoutError:
        return _Probe(False, f"no answer within {options.timeout:g} seconds")


async def _starttls(address: str, host: str, domain: str, options: MxTlsOptions) -> _Probe:
    from aiosmtplib import SMTP, SMTPException

    smtp = SMTP(hostname=address, port=options.port, timeout=options.timeout, start_tls=False)
    try:
        await smtp.connect()
    except (SMTPException, OSError) as err:
        return _Probe(False, _connect_reason(err))
    try:
        return await _negotiate(smtp, host, domain, options)
    finally:
        smtp.close()


async def _negotiate(smtp: SMTP, host: str, domain: str, options: MxTlsOptions) -> _Probe:
    from aiosmtplib import SMTPException, SMTPResponseException, SMTPServerDisconnected

    from postdesk.core.smtptest.tlsinfo import describe_verify_error, session_details

    await smtp.ehlo(hostname=_ehlo_name(smtp))
    if not smtp.supports_extension("starttls"):
        return _Probe(True, problems=(newer_problem("mxtls.no_starttls", mx=host, domain=domain),))
    context = verifying_context(options.cafile)
    try:
        await smtp.starttls(tls_context=context, server_hostname=host)
    except SMTPResponseException as err:
        reason = f"the server answered {err.code} {err.message}"
        return _Probe(
            True, problems=(newer_problem("mxtls.handshake_failed", mx=host, reason=reason),)
        )
    except (ssl.SSLError, SMTPServerDisconnected, SMTPException, ConnectionError) as err:
        cause = err if isinstance(err, ssl.SSLError) else err.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = describe_verify_error(cause)
            return _Probe(
                True, problems=(newer_problem("mxtls.cert_invalid", mx=host, reason=reason),)
            )
        reason = str(cause or err) or type(err).__name__
        return _Probe(
            True, problems=(newer_problem("mxtls.handshake_failed", mx=host, reason=reason),)
        )
    details = session_details(smtp.get_transport_info("ssl_object"), host, verified=True)
    return _Probe(True, problems=tuple(_session_problems(host, details)), summary=_summary(details))


def _session_problems(host: str, details: dict[str, object]) -> list[Problem]:
    problems = []
    if details.get("protocol") in _OLD_PROTOCOLS:
        problems.append(newer_problem("mxtls.old_tls", mx=host, protocol=details["protocol"]))
    not_after = details.get("not_after")
    if isinstance(not_after, str):
        left = datetime.fromisoformat(not_after) - datetime.now(UTC)
        if left.days < EXPIRY_WARNING_DAYS:
            problems.append(
                newer_problem("mxtls.cert_expiring", mx=host, days=left.days, date=not_after[:10])
            )
    return problems


def _summary(details: dict[str, object]) -> str:
    names = ", ".join(str(n) for n in details.get("names") or [])  # type: ignore[attr-defined]
    until = str(details.get("not_after") or "")[:10]
    return f"STARTTLS {details.get('protocol')}, certificate for {names} valid until {until}"


def _ehlo_name(smtp: SMTP) -> str:
    """This computer's name when fully qualified, else its address literal (no DNS lookup)."""
    name = socket.gethostname()
    if "." in name and name.isascii():
        return name
    sockname = smtp.get_transport_info("sockname")
    address = sockname[0] if sockname else "127.0.0.1"
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _connect_reason(err: BaseException) -> str:
    cause = err.__cause__ or err
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError) or "timed out" in str(err).lower():
        return "the connection timed out"
    return str(cause) or type(cause).__name__
