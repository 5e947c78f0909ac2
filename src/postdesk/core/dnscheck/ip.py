"""A sending IP: reverse DNS that confirms itself, SPF permission, and DNS blocklist listings."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.reversename

from postdesk.core.dnscheck.messages import dns_problem, problem
from postdesk.core.dnscheck.resolver import Answer, DnsClient, as_client
from postdesk.core.dnscheck.spf import SpfWalk, parse_spf, walk_spf
from postdesk.core.domainname import canonical
from postdesk.core.recordgen import is_spf
from postdesk.core.records import Problem

DEFAULT_BLOCKLISTS = ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")
ListStatus = Literal["listed", "clear", "unusable", "error"]
SpfVerdict = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "unknown"]
_QUALIFIER_RESULT: dict[str, SpfVerdict] = {
    "+": "pass",
    "-": "fail",
    "~": "softfail",
    "?": "neutral",
}


@dataclass
class BlocklistResult:
    """One blocklist's answer about the IP."""

    zone: str
    status: ListStatus
    codes: list[str] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "zone": self.zone,
            "status": self.status,
            "codes": self.codes,
            "reason": self.reason,
        }


@dataclass
class IpReport:
    """Everything checked about one sending IP."""

    ip: str
    ptr: list[str]
    fcrdns: bool
    spf: dict[str, SpfVerdict]
    blocklists: list[BlocklistResult]
    problems: list[Problem]

    @property
    def status(self) -> Literal["ok", "failing"]:
        """``failing`` when any problem is an error."""
        return "failing" if any(p.severity == "error" for p in self.problems) else "ok"

    def as_dict(self) -> dict[str, object]:
        return {
            "ip": self.ip,
            "status": self.status,
            "ptr": self.ptr,
            "fcrdns": self.fcrdns,
            "spf": dict(self.spf),
            "blocklists": [b.as_dict() for b in self.blocklists],
            "problems": [p.as_dict() for p in self.problems],
        }


async def check_ip(
    ip: str,
    *,
    domains_spf: Mapping[str, object] | Sequence[str] = (),
    blocklists: Iterable[str] = DEFAULT_BLOCKLISTS,
    resolver: object = None,
) -> IpReport:
    """Check reverse DNS, SPF permission for each domain, and blocklists for ``ip``, all at once."""
    address = ipaddress.ip_address(ip.strip())
    client = as_client(resolver)  # type: ignore[arg-type]
    domains = [canonical(d) for d in domains_spf]
    (ptr, fcrdns, ptr_problems), verdicts, lists = await asyncio.gather(
        _reverse_dns(client, address),
        asyncio.gather(*(spf_verdict(client, d, address) for d in domains)),
        asyncio.gather(*(_blocklist(client, address, zone) for zone in blocklists)),
    )
    problems = list(ptr_problems)
    for domain, verdict in zip(domains, verdicts, strict=True):
        problems += _spf_problems(str(address), domain, verdict)
    problems += _list_problems(str(address), lists)
    return IpReport(
        str(address), ptr, fcrdns, dict(zip(domains, verdicts, strict=True)), lists, problems
    )


async def _reverse_dns(
    client: DnsClient, address: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> tuple[list[str], bool, list[Problem]]:
    reverse = dns.reversename.from_address(str(address)).to_text().rstrip(".")
    answer = await client.query(reverse, "PTR")
    if answer.failed:
        return [], False, [dns_problem(answer, f"the reverse DNS of {address}")]
    if not answer.values:
        return [], False, [problem("ip.no_ptr", ip=address)]
    rdtype = "A" if address.version == 4 else "AAAA"
    forward = await asyncio.gather(*(client.query(name, rdtype) for name in answer.values))
    if any(a.failed for a in forward) and not any(a.values for a in forward):
        return list(answer.values), False, [dns_problem(forward[0])]
    if any(ipaddress.ip_address(v) == address for a in forward for v in a.values):
        return list(answer.values), True, []
    mismatch = problem(
        "ip.fcrdns_mismatch",
        ip=address,
        names=", ".join(answer.values),
        rdtype=rdtype,
        name=answer.values[0],
    )
    return list(answer.values), False, [mismatch]


# --- SPF permission -------------------------------------------------------------------------


async def spf_verdict(
    client: DnsClient, domain: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> SpfVerdict:
    """What ``domain``'s SPF says about mail from ``address`` (macros are not expanded)."""
    answer = await client.query(domain, "TXT")
    if answer.failed:
        return "unknown"
    records = [v for v in answer.values if is_spf(v)]
    if not records:
        return "none"
    if len(records) > 1:
        return "permerror"
    walk = await walk_spf(client, domain, records[0])
    if walk.failed:
        return "unknown"
    return _evaluate(walk, domain, address, depth=0)


def _evaluate(walk: SpfWalk, domain: str, address: object, depth: int) -> SpfVerdict:
    record = walk.records.get(domain)
    if record is None or depth > 10:
        return "permerror"
    parsed = parse_spf(record)
    if parsed.errors:
        return "permerror"
    for term in parsed.terms:
        if term.is_modifier:
            continue
        matched = _matches(walk, domain, term.name, term.value, address, depth)
        if matched == "permerror":
            return "permerror"
        if matched:
            return _QUALIFIER_RESULT[term.qualifier]
    redirect = parsed.modifier("redirect")
    if redirect and parsed.all_term is None:
        return _evaluate(walk, redirect.lower().rstrip("."), address, depth + 1)
    return "neutral"


def _matches(
    walk: SpfWalk, domain: str, name: str, value: str, address: object, depth: int
) -> bool | Literal["permerror"]:
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        return address in ipaddress.ip_network(value, strict=False)  # type: ignore[operator]
    if name == "include":
        inner = _evaluate(walk, value.lower().rstrip("."), address, depth + 1)
        return "permerror" if inner in ("permerror", "none") else inner == "pass"
    if name in ("a", "mx"):
        target, _, cidr = value.partition("/")
        host = target.lower().rstrip(".") or domain
        return any(address in _network(ip, cidr) for ip in walk.addresses.get((name, host), []))
    return False  # ptr and exists depend on the sender; they never grant permission here


def _network(ip: str, cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    v4, _, v6 = cidr.partition("//")
    prefix = v6 if ":" in ip else v4
    return ipaddress.ip_network(f"{ip}/{prefix}" if prefix else ip, strict=False)


def _spf_problems(ip: str, domain: str, verdict: SpfVerdict) -> list[Problem]:
    if verdict == "pass":
        return []
    if verdict == "unknown":
        return [problem("ip.spf_unknown", ip=ip, domain=domain)]
    detail = {
        "none": f"{domain} has no SPF record",
        "permerror": f"the SPF record of {domain} is broken",
    }.get(verdict, f"the SPF record of {domain} does not list it")
    term = f"ip{'6' if ':' in ip else '4'}:{ip}"
    return [problem("ip.not_in_spf", ip=ip, domain=domain, detail=detail, term=term)]


# --- blocklists -----------------------------------------------------------------------------


def _reversed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return dns.reversename.from_address(str(address)).to_text().rsplit(".", 3)[0]


async def _blocklist(
    client: DnsClient, address: ipaddress.IPv4Address | ipaddress.IPv6Address, zone: str
) -> BlocklistResult:
    """Ask one list, trusting it only when its RFC 5782 test entries answer as they must."""
    listed_probe, clean_probe, lookup = await asyncio.gather(
        client.query(f"2.0.0.127.{zone}", "A"),
        client.query(f"1.0.0.127.{zone}", "A"),
        client.query(f"{_reversed(address)}.{zone}", "A"),
    )
    if lookup.failed:
        return BlocklistResult(zone, "error", reason=f"the list did not answer ({lookup.status})")
    if any(v.startswith("127.255.255.") for v in lookup.values + listed_probe.values):
        return BlocklistResult(
            zone,
            "unusable",
            list(lookup.values),
            "the list refuses questions from this DNS resolver (public resolvers are blocked)",
        )
    if not _is_listing(listed_probe) or clean_probe.values:
        return BlocklistResult(zone, "unusable", reason="the list failed its self-test")
    if lookup.empty:
        return BlocklistResult(zone, "clear")
    if not all(_is_listing_code(v) for v in lookup.values):
        return BlocklistResult(zone, "unusable", list(lookup.values), "unexpected answer")
    txt = await client.query(f"{_reversed(address)}.{zone}", "TXT")
    return BlocklistResult(zone, "listed", sorted(lookup.values), " ".join(txt.values))


def _is_listing_code(value: str) -> bool:
    parts = value.split(".")
    return value.startswith("127.0.0.") and len(parts) == 4 and int(parts[3]) >= 2


def _is_listing(answer: Answer) -> bool:
    return answer.status == "ok" and all(_is_listing_code(v) for v in answer.values)


def _list_problems(ip: str, lists: list[BlocklistResult]) -> list[Problem]:
    problems = []
    for item in lists:
        if item.status == "listed":
            why = f" The list says: {item.reason}" if item.reason else ""
            problems.append(problem("ip.listed", ip=ip, zone=item.zone, why=why))
        elif item.status in ("unusable", "error"):
            problems.append(problem("ip.blocklist_unusable", zone=item.zone, reason=item.reason))
    return problems
