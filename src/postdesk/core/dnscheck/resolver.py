"""The one place live checks get their DNS answers from.

``make_client()`` decides which servers to ask: the ones in ``POSTDESK_NAMESERVERS`` when it is set,
otherwise the system resolver plus (for verification) the domain's own authoritative servers, so
a record that was just published can be told apart from one that is wrong. ``DnsClient.query()``
turns every outcome, including failures, into an ``Answer`` the checks can reason about.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from postdesk.core.errors import UserError

NAMESERVERS_ENV = "POSTDESK_NAMESERVERS"
DEFAULT_LIFETIME = 5.0  # seconds for one question, all servers and retries included
DEFAULT_PORT = 53
EDNS_PAYLOAD = 1232  # the size that avoids IP fragmentation (DNS Flag Day 2020)
_MAX_CNAME_HOPS = 8

AnswerStatus = Literal["ok", "nxdomain", "nodata", "timeout", "servfail", "refused"]
Server = tuple[str, int]


# Answers are named tuples, not dataclasses: a frozen dataclass costs about a millisecond to
# create at import, which every command that checks DNS pays before asking anything.
class Answer(NamedTuple):
    """What one DNS question got back, in plain values (``values`` are text, names without dots)."""

    name: str
    rdtype: str
    status: AnswerStatus
    values: tuple[str, ...] = ()
    ttl: int | None = None
    cname_chain: tuple[str, ...] = ()  # the names a CNAME led to, in order
    detail: str = ""

    @property
    def failed(self) -> bool:
        """The server could not be asked: a timeout, SERVFAIL or REFUSED (so nothing is known)."""
        return self.status in ("timeout", "servfail", "refused")

    @property
    def empty(self) -> bool:
        """The name does not exist, or has no records of this type."""
        return self.status in ("nxdomain", "nodata")


def parse_nameservers(text: str) -> list[Server]:
    """Read ``ip[:port]`` entries separated by commas (IPv6 with a port as ``[::1]:5353``)."""
    servers = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        servers.append(_parse_server(entry, text))
    if not servers:
        raise _bad_nameservers(text)
    return servers


def _parse_server(entry: str, whole: str) -> Server:
    host, port = entry, str(DEFAULT_PORT)
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise _bad_nameservers(whole)
        port = rest[1:] or port
    elif entry.count(":") == 1:
        host, port = entry.split(":")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError as err:
        raise _bad_nameservers(whole) from err
    if not 0 < number < 65536:
        raise _bad_nameservers(whole)
    return str(address), number


def _bad_nameservers(text: str) -> UserError:
    return UserError(
        "dns.bad_nameservers",
        f"{NAMESERVERS_ENV} is set to {text!r}, which is not a list of DNS server addresses.",
        "Use IP addresses separated by commas, each optionally followed by :port, for example "
        "'127.0.0.1:5353, 192.0.2.53' or '[::1]:5353'. Or unset it to use this computer's DNS.",
    )


def build_resolver(
    servers: Sequence[Server] | None, *, lifetime: float = DEFAULT_LIFETIME
) -> dns.asyncresolver.Resolver:
    """A dnspython async resolver asking exactly ``servers``, or the system's when ``None``."""
    if servers is None:
        try:
            resolver = dns.asyncresolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration as err:
            raise UserError(
                "dns.no_resolver",
                "This computer has no DNS server configured, so records can't be checked.",
                f"Connect to a network, or set {NAMESERVERS_ENV} to a DNS server address.",
            ) from err
    else:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in servers]
    # Large TXT records (2048-bit DKIM keys, long SPF) need more than 512 bytes; without EDNS
    # they come back truncated and cost a second round trip over TCP.
    resolver.use_edns(0, 0, EDNS_PAYLOAD)
    resolver.lifetime = lifetime
    # One slow server should not use the whole budget when there are others to try.
    resolver.timeout = min(2.0, lifetime)
    resolver.cache = None  # checks must see what DNS says now, not what it said a minute ago
    return resolver


@dataclass
class DnsClient:
    """Asks DNS for checks; remembers answers only for the lifetime of one ``fresh()`` copy.

    ``authoritative`` are the servers used to spot propagation delays: ``None`` means find them
    through the domain's NS records when ``discover_authoritative`` is set, otherwise none.
    """

    resolver: dns.asyncresolver.Resolver
    authoritative: list[Server] | None = None
    discover_authoritative: bool = False
    authoritative_port: int = DEFAULT_PORT
    lifetime: float = DEFAULT_LIFETIME
    _memo: dict[tuple[str, str], asyncio.Future[Answer]] = field(default_factory=dict, repr=False)

    def fresh(self) -> DnsClient:
        """A copy with an empty memory, so one check run never sees another run's answers."""
        return DnsClient(
            self.resolver,
            self.authoritative,
            self.discover_authoritative,
            self.authoritative_port,
            self.lifetime,
        )

    async def query(self, name: str, rdtype: str) -> Answer:
        """Ask once per run; the same question asked twice shares one answer."""
        return await asyncio.shield(self._start(name, rdtype))

    def prefetch(self, name: str, rdtype: str) -> None:
        """Start asking now; a later ``query()`` for the same question gets this answer."""
        self._start(name, rdtype)

    def _start(self, name: str, rdtype: str) -> asyncio.Future[Answer]:
        key = (name.lower().rstrip("."), rdtype)
        pending = self._memo.get(key)
        if pending is None:  # the memo keeps the task alive until the run is over
            pending = asyncio.ensure_future(self._follow(key[0], rdtype))
            self._memo[key] = pending
        return pending

    async def _follow(self, name: str, rdtype: str) -> Answer:
        # Authoritative servers answer a CNAME into another zone with the CNAME only, so the
        # chain is followed here rather than left to a recursive resolver.
        chain: list[str] = []
        current = name
        for _ in range(_MAX_CNAME_HOPS):
            answer, target = await ask(self.resolver, current, rdtype)
            if target is None or answer.status != "nodata" or rdtype == "CNAME":
                return _with_chain(answer, name, chain)
            chain.append(target)
            current = target
        return Answer(name, rdtype, "servfail", detail="CNAME chain too long")


def _with_chain(answer: Answer, name: str, chain: list[str]) -> Answer:
    hops = (*chain, *answer.cname_chain)
    return Answer(
        name, answer.rdtype, answer.status, answer.values, answer.ttl, hops, answer.detail
    )


async def ask(
    resolver: dns.asyncresolver.Resolver, name: str, rdtype: str
) -> tuple[Answer, str | None]:
    """One question; returns the answer and, when only a CNAME came back, where it points."""
    try:
        result = await resolver.resolve(
            dns.name.from_text(name), rdtype, raise_on_no_answer=False, search=False
        )
    except dns.resolver.NXDOMAIN:
        return Answer(name, rdtype, "nxdomain"), None
    except dns.resolver.NoNameservers as err:
        return Answer(name, rdtype, _failure_status(err), detail=str(err)), None
    except dns.exception.Timeout:
        return Answer(name, rdtype, "timeout", detail="no answer in time"), None
    except (
        dns.resolver.YXDOMAIN,
        dns.name.NameTooLong,
        dns.name.LabelTooLong,
        dns.name.EmptyLabel,
    ) as err:
        # A name that cannot be written in DNS cannot exist there either.
        return Answer(name, rdtype, "nxdomain", detail=str(err)), None
    if result.rrset is None:
        target = result.canonical_name.to_text().rstrip(".").lower()
        return Answer(name, rdtype, "nodata"), (target if target != name else None)
    values = tuple(rdata_text(rdata) for rdata in result.rrset)
    chain = result.canonical_name.to_text().rstrip(".").lower()
    return Answer(
        name, rdtype, "ok", values, result.rrset.ttl, (chain,) if chain != name else ()
    ), None


def _failure_status(err: dns.resolver.NoNameservers) -> AnswerStatus:
    statuses = []
    for entry in err.kwargs.get("errors") or []:
        problem = entry[3]
        if isinstance(problem, dns.exception.Timeout):
            statuses.append("timeout")
        elif str(problem) == "REFUSED":
            statuses.append("refused")
        else:
            statuses.append("servfail")
    # REFUSED from every server means "not allowed to ask there", the most useful thing to say.
    if statuses and all(s == "refused" for s in statuses):
        return "refused"
    if statuses and all(s == "timeout" for s in statuses):
        return "timeout"
    return "servfail"


def rdata_text(rdata: object) -> str:
    """Record data as a user would write it: TXT strings joined, names without the final dot."""
    rdtype = getattr(rdata, "rdtype", None)
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        exchange = rdata.exchange.to_text().rstrip(".").lower()  # type: ignore[attr-defined]
        return f"{rdata.preference} {exchange or '.'}"  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.CNAME, dns.rdatatype.PTR, dns.rdatatype.NS):
        return rdata.target.to_text().rstrip(".").lower()  # type: ignore[attr-defined]
    return str(rdata.to_text())  # type: ignore[attr-defined]


def make_client(
    servers: Sequence[Server] | str | None = None,
    *,
    authoritative: Sequence[Server] | str | None = None,
    discover_authoritative: bool | None = None,
    authoritative_port: int = DEFAULT_PORT,
    lifetime: float = DEFAULT_LIFETIME,
) -> DnsClient:
    """The resolver factory every live check uses.

    With ``servers`` (or ``POSTDESK_NAMESERVERS``) only those are asked and nothing else is looked
    up. Otherwise the system resolver answers, and the domain's authoritative servers (found
    through NS) are asked too so that records still travelling through caches can be reported.
    """
    if isinstance(servers, str):
        servers = parse_nameservers(servers)
    if isinstance(authoritative, str):
        authoritative = parse_nameservers(authoritative)
    env = os.environ.get(NAMESERVERS_ENV, "").strip()
    if servers is None and env:
        servers = parse_nameservers(env)
    if discover_authoritative is None:
        discover_authoritative = servers is None and authoritative is None
    return DnsClient(
        build_resolver(servers, lifetime=lifetime),
        list(authoritative) if authoritative is not None else None,
        discover_authoritative,
        authoritative_port,
        lifetime,
    )


def as_client(resolver: DnsClient | dns.asyncresolver.Resolver | None) -> DnsClient:
    """Accept what callers pass (nothing, a dnspython resolver or a client) as a fresh client."""
    if resolver is None:
        return make_client()
    if isinstance(resolver, DnsClient):
        return resolver.fresh()
    return DnsClient(resolver, lifetime=float(resolver.lifetime))
