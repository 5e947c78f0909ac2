"""SPF evaluated as a receiver (RFC 7208 ``check_host()``), on the project's async resolver.

The maintained Python evaluators (pyspf and spf-engine, which wraps it) ask DNS synchronously
through their own resolver set-up, so they would block the relay's event loop (the GUI's, when
embedded) and ignore ``POSTDESK_NAMESERVERS``. This evaluator asks through ``DnsClient`` and
reuses the record parser of the SPF check (``dnscheck/spf.py``); the rules it follows are the
RFC's: at most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) per evaluation,
at most 2 of them answered with nothing ("void"), at most 10 MX or PTR names looked at each.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import time
import urllib.parse
from dataclasses import dataclass, field

from postdesk.core.dnscheck.resolver import Answer, DnsClient
from postdesk.core.dnscheck.spf import parse_spf

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
NAME_LIMIT = 10  # MX or PTR names looked at for one term
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "temperror", "permerror")
_QUALIFIER_RESULT = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-|%", re.IGNORECASE)
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.IGNORECASE)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SpfVerdict:
    """The result of one evaluation and why, in plain words."""

    result: str  # one of RESULTS
    domain: str  # the domain whose policy was evaluated (MAIL FROM's, or HELO's)
    reason: str = ""
    lookups: int = 0


class _Stop(Exception):
    """Ends the evaluation with temperror or permerror."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result, self.reason = result, reason


@dataclass
class _Run:
    """State shared by one evaluation and every include/redirect it follows."""

    client: DnsClient
    ip: IpAddress
    sender: str
    helo: str
    lookups: int = 0
    voids: int = 0
    seen: list[str] = field(default_factory=list)

    def count(self, term: str) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise _Stop("permerror", f"more than {LOOKUP_LIMIT} DNS lookups (at {term})")

    async def ask(self, name: str, rdtype: str) -> Answer:
        answer = await self.client.query(name, rdtype)
        if answer.failed:
            raise _Stop("temperror", f"DNS did not answer for {name} {rdtype} ({answer.status})")
        if answer.empty:
            self.voids += 1
            if self.voids > VOID_LIMIT:
                raise _Stop("permerror", f"more than {VOID_LIMIT} lookups found nothing")
        return answer


async def check_host(client: DnsClient, ip: str, mail_from: str, helo: str = "") -> SpfVerdict:
    """SPF for a connecting ``ip`` and envelope sender; a null sender is checked as
    ``postmaster@<helo>`` (RFC 7208 section 2.4). Never raises for what DNS says."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    local, _, domain = mail_from.strip().strip("<>").rpartition("@")
    if not domain:
        local, domain = "postmaster", helo.strip().rstrip(".")
    sender = f"{local or 'postmaster'}@{domain}"
    run = _Run(client, address, sender, helo)
    domain = domain.lower().rstrip(".")
    if not _valid_domain(domain):
        return SpfVerdict("none", domain, "the domain is not a valid DNS name")
    try:
        result, reason = await _evaluate(run, domain)
    except _Stop as stop:
        result, reason = stop.result, stop.reason
    return SpfVerdict(result, domain, reason, run.lookups)


# A sender's record is the same for every message it sends: its reading (only read here,
# never changed) is kept, as are the networks of its ip4/ip6 terms.
_parsed = functools.lru_cache(maxsize=1024)(parse_spf)


@functools.lru_cache(maxsize=4096)
def _network(value: str) -> Network:
    return ipaddress.ip_network(value, strict=False)


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) > 1 and len(domain) <= 253 and all(_LABEL.match(x) for x in labels)


async def _evaluate(run: _Run, domain: str) -> tuple[str, str]:
    if not _valid_domain(domain):
        return "none", f"{domain!r} is not a valid DNS name"
    answer = await run.client.query(domain, "TXT")
    if answer.failed:
        raise _Stop("temperror", f"DNS did not answer for {domain} TXT ({answer.status})")
    records = [v for v in answer.values if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]
    if not records:
        return "none", f"{domain} publishes no SPF record"
    if len(records) > 1:
        raise _Stop("permerror", f"{domain} publishes {len(records)} SPF records")
    parsed = _parsed(records[0])
    if parsed.errors:
        raise _Stop("permerror", f"{domain}'s SPF record is invalid: {parsed.errors[0]}")
    for term in parsed.terms:
        if term.is_modifier:
            continue
        if await _matches(run, domain, term.name, term.value):
            return _QUALIFIER_RESULT[
                term.qualifier
            ], f"matched {term.qualifier}{term.name} of {domain}"
    redirect = parsed.modifier("redirect")
    if redirect is not None:
        run.count("redirect")
        target = _expand(run, redirect, domain).lower().rstrip(".")
        result, reason = await _evaluate(run, target)
        if result == "none":
            raise _Stop("permerror", f"redirect to {target}, which has no SPF record")
        return result, reason
    return "neutral", f"nothing in {domain}'s SPF record matched"


async def _matches(run: _Run, domain: str, name: str, value: str) -> bool:
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        network = _network(value)
        return network.version == run.ip.version and run.ip in network
    run.count(name)
    if name == "include":
        target = _expand(run, value, domain).lower().rstrip(".")
        result, _ = await _evaluate(run, target)
        if result in ("none", "permerror"):
            raise _Stop("permerror", f"include:{target} has no valid SPF record")
        if result == "temperror":
            raise _Stop("temperror", f"include:{target} could not be evaluated")
        return result == "pass"
    target_text, v4, v6 = _cidr(value)
    target = _expand(run, target_text, domain).lower().rstrip(".") if target_text else domain
    prefix = v4 if run.ip.version == 4 else v6
    if name == "a":
        return _contains(await _addresses(run, target, prefix), run.ip)
    if name == "mx":
        answer = await run.ask(target, "MX")
        hosts = [v.split()[-1] for v in answer.values if v.split()[-1] != "."]
        if len(hosts) > NAME_LIMIT:
            raise _Stop("permerror", f"{target} has more than {NAME_LIMIT} MX hosts")
        for host in hosts:
            if _contains(await _addresses(run, host, prefix, void=False), run.ip):
                return True
        return False
    if name == "exists":
        answer = await run.ask(target, "A")
        return bool(answer.values)
    if name == "ptr":
        return await _ptr_matches(run, target)
    raise _Stop("permerror", f"unknown mechanism {name}")


def _cidr(value: str) -> tuple[str, int, int]:
    """``domain/24//64`` as (domain, 24, 64); missing lengths are the whole address."""
    target, _, lengths = value.partition("/")
    v4_text, _, v6_text = ("/" + lengths).partition("//")
    v4 = int(v4_text[1:]) if v4_text[1:] else 32
    v6 = int(v6_text) if v6_text else 128
    if v4 > 32 or v6 > 128:
        raise _Stop("permerror", f"invalid prefix length in {value}")
    return target, v4, v6


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


async def _addresses(run: _Run, name: str, prefix: int, *, void: bool = True) -> list[Network]:
    """The networks of ``name``'s addresses of the connecting IP's family.

    ``void=False`` for the hosts of an MX term: the RFC counts only the term's own query.
    """
    rdtype = "A" if run.ip.version == 4 else "AAAA"
    if void:
        answer = await run.ask(name, rdtype)
    else:
        answer = await run.client.query(name, rdtype)
        if answer.failed:
            raise _Stop("temperror", f"DNS did not answer for {name} {rdtype} ({answer.status})")
    return [ipaddress.ip_network(f"{v}/{prefix}", strict=False) for v in answer.values]


def _contains(networks: list[Network], ip: IpAddress) -> bool:
    return any(ip in n for n in networks)


async def _ptr_matches(run: _Run, target: str) -> bool:
    # Deprecated by the RFC but still published; a name counts only when it resolves back.
    answer = await run.client.query(run.ip.reverse_pointer, "PTR")
    if answer.failed:
        return False  # a PTR failure means no match, not temperror (RFC 7208 section 5.5)
    for host in answer.values[:NAME_LIMIT]:
        host = host.lower().rstrip(".")
        if host != target and not host.endswith("." + target):
            continue
        forward = await run.client.query(host, "A" if run.ip.version == 4 else "AAAA")
        if any(ipaddress.ip_address(v) == run.ip for v in forward.values):
            return True
    return False


def _expand(run: _Run, text: str, domain: str) -> str:
    """Macros of a domain-spec expanded (RFC 7208 section 7); invalid ones are a permerror."""

    def one(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "%%":
            return "%"
        if whole == "%_":
            return " "
        if whole == "%-":
            return "%20"
        if whole == "%":
            raise _Stop("permerror", f"'{text}' has a '%' that is not a macro")
        letter, digits, reverse, delimiters = match.groups()
        value = _macro_value(run, letter.lower(), domain)
        parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            if int(digits) == 0:
                raise _Stop("permerror", f"'{text}' keeps zero labels of a macro")
            parts = parts[-int(digits) :]
        expanded = ".".join(parts)
        return urllib.parse.quote(expanded, safe="") if letter.isupper() else expanded

    expanded = _MACRO.sub(one, text)
    # A name longer than DNS allows keeps its rightmost labels (RFC 7208 section 7.3).
    while len(expanded) > 253 and "." in expanded:
        expanded = expanded.split(".", 1)[1]
    return expanded


def _macro_value(run: _Run, letter: str, domain: str) -> str:
    local, _, sender_domain = run.sender.rpartition("@")
    if letter == "s":
        return run.sender
    if letter == "l":
        return local
    if letter == "o":
        return sender_domain
    if letter == "d":
        return domain
    if letter in ("i", "c"):
        if run.ip.version == 4:
            return str(run.ip)
        if letter == "c":
            return run.ip.compressed
        return ".".join(run.ip.exploded.replace(":", ""))
    if letter == "v":
        return "in-addr" if run.ip.version == 4 else "ip6"
    if letter == "h":
        return run.helo or "unknown"
    if letter == "p":
        return "unknown"  # validating PTR names costs lookups for little: the RFC allows this
    if letter == "r":
        return "unknown"
    if letter == "t":
        return str(int(time.time()))
    raise _Stop("permerror", f"unknown macro letter {letter}")
