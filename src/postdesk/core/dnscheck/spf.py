"""SPF: parse a record, walk its include chain level by level, and check it.

Lookups are counted the way RFC 7208 §4.6.4 counts them: every include, a, mx, ptr, exists and
redirect term costs one, through every level of includes. Receivers give up after 10.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Sequence
from typing import NamedTuple

from postdesk.core.dnscheck.messages import dns_problem, problem
from postdesk.core.dnscheck.outcome import new_result, the_one_record
from postdesk.core.dnscheck.resolver import Answer, DnsClient, as_client
from postdesk.core.recordgen import is_spf
from postdesk.core.records import ExpectedRecord, Problem, RecordResult

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
_MAX_DEPTH = 12  # deeper than any record that stays within 10 lookups
_QUALIFIERS = "+-~?"
_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_LOOKUP_TERMS = {"include", "a", "mx", "ptr", "exists"}
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?:%\{[^}]+\}|[a-z0-9_%.-])+$", re.IGNORECASE)


# Named tuples and a plain class, not dataclasses: each dataclass costs about a millisecond to
# create at import, paid by every command that checks a domain.
class SpfTerm(NamedTuple):
    """One term of an SPF record; ``name`` is lowercase, ``value`` what follows ``:`` or ``=``."""

    qualifier: str
    name: str
    value: str
    is_modifier: bool = False

    @property
    def target(self) -> str:
        """The domain part of the value, without CIDR lengths (``a:host/24`` gives ``host``)."""
        return self.value.split("/", 1)[0].lower().rstrip(".")


class ParsedSpf(NamedTuple):
    """The terms of one SPF record and what is wrong with its syntax (empty when valid)."""

    terms: list[SpfTerm]
    errors: list[str]

    def modifier(self, name: str) -> str | None:
        """The value of modifier ``name`` (such as ``redirect``), if present."""
        return next((t.value for t in self.terms if t.is_modifier and t.name == name), None)

    @property
    def all_term(self) -> SpfTerm | None:
        """The ``all`` mechanism, if any."""
        return next((t for t in self.terms if t.name == "all" and not t.is_modifier), None)


def parse_spf(text: str) -> ParsedSpf:
    """Split an SPF record into terms and note every syntax error in plain words."""
    words = text.split()
    terms: list[SpfTerm] = []
    errors: list[str] = []
    if not words or words[0].lower() != "v=spf1":
        return ParsedSpf([], ["it does not start with v=spf1"])
    seen_modifiers: set[str] = set()
    for word in words[1:]:
        modifier = _MODIFIER.match(word)
        if modifier:
            name, value = modifier.group(1).lower(), modifier.group(2)
            if name in seen_modifiers and name in ("redirect", "exp"):
                errors.append(f"{name}= appears more than once")
            seen_modifiers.add(name)
            if name in ("redirect", "exp") and not _DOMAIN.match(value):
                errors.append(f"'{word}' has no valid domain name")
            terms.append(SpfTerm("", name, value, is_modifier=True))
            continue
        qualifier = word[0] if word[0] in _QUALIFIERS else "+"
        body = word[1:] if word[0] in _QUALIFIERS else word
        name, sep, value = body.partition(":")
        if "/" in name and not sep:  # "a/24" and "mx/24//64" carry only CIDR lengths
            name, slash, rest = name.partition("/")
            value = slash + rest
        name = name.lower()
        error = _term_error(name, sep, value, word)
        if error:
            errors.append(error)
        else:
            terms.append(SpfTerm(qualifier, name, value))
    return ParsedSpf(terms, errors)


def _term_error(name: str, sep: str, value: str, word: str) -> str | None:
    if name not in _MECHANISMS:
        return f"'{word}' is not an SPF term"
    if name == "all":
        return f"'{word}' must be just all" if sep or value else None
    if name in ("include", "exists"):
        return None if sep and _DOMAIN.match(value) else f"'{word}' needs a domain name after :"
    if name in ("ip4", "ip6"):
        return _ip_error(name, value, word)
    domain, _, cidr = value.partition("/")
    if sep and not _DOMAIN.match(domain):
        return f"'{word}' has no valid domain name"
    if cidr and not re.fullmatch(r"(\d{1,2})?(//\d{1,3})?|/\d{1,3}", cidr):
        return f"'{word}' has an invalid address range"
    return None


def _ip_error(name: str, value: str, word: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"'{word}' is not a valid {'IPv4' if name == 'ip4' else 'IPv6'} address or range"
    if (network.version == 4) != (name == "ip4"):
        return f"'{word}' has an address of the wrong kind"
    return None


class SpfWalk:
    """Everything learned by following one SPF record through its includes."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}  # domain -> its one SPF record
        self.addresses: dict[tuple[str, str], list[str]] = {}  # (a|mx, name) -> addresses
        self.included: set[str] = set()
        self.lookups = 0
        self.void_names: list[str] = []
        self.problems: list[Problem] = []
        self.failed: list[Answer] = []


async def walk_spf(client: DnsClient, domain: str, record: str) -> SpfWalk:
    """Follow ``record`` (published at ``domain``) level by level; all of one level at once."""
    walk = SpfWalk()
    walk.records[domain] = record
    level: list[tuple[str, tuple[str, ...]]] = []
    # Addresses behind a/mx terms are looked up on the side, so they never hold up the next
    # level of includes; the walk waits for them only at the end.
    side: list[asyncio.Future[None]] = []
    _visit(walk, client, domain, record, (domain,), level, side)
    depth = 0
    while level and depth < _MAX_DEPTH:
        depth += 1
        current, level = level, []
        answers = await asyncio.gather(*(client.query(name, "TXT") for name, _ in current))
        for (name, path), answer in zip(current, answers, strict=True):
            text = _included_record(walk, name, answer)
            if text is not None:
                walk.records[name] = text
                _visit(walk, client, name, text, path, level, side)
    await asyncio.gather(*side)
    return walk


def _included_record(walk: SpfWalk, name: str, answer: Answer) -> str | None:
    if answer.failed:
        walk.failed.append(answer)
        return None
    if answer.empty:
        walk.void_names.append(name)
    records = [v for v in answer.values if is_spf(v)]
    if len(records) != 1:
        state = "has no SPF record" if not records else "has more than one SPF record"
        walk.problems.append(problem("spf.include_broken", include=name, state=state))
        return None
    return records[0]


def _visit(
    walk: SpfWalk,
    client: DnsClient,
    domain: str,
    record: str,
    path: tuple[str, ...],
    level: list[tuple[str, tuple[str, ...]]],
    side: list[asyncio.Future[None]],
) -> None:
    """Count the lookups of one record and queue the questions its terms lead to."""
    parsed = parse_spf(record)
    if parsed.errors and len(path) > 1:
        walk.problems.append(problem("spf.syntax", host=domain, detail="; ".join(parsed.errors)))
    followed = [t.target for t in parsed.terms if t.name == "include" and not t.is_modifier]
    redirect = parsed.modifier("redirect")
    if redirect and parsed.all_term is None:  # RFC 7208 §6.1: ignored when there is an all
        followed.append(redirect.lower().rstrip("."))
    for term in parsed.terms:
        if term.is_modifier or term.name not in _LOOKUP_TERMS:
            continue
        walk.lookups += 1
        if term.name == "ptr":
            walk.problems.append(problem("spf.ptr", host=domain))
        elif term.name in ("a", "mx") and "%" not in term.value:
            host = term.target or domain
            side.append(asyncio.ensure_future(_resolve_hosts(walk, client, term.name, host)))
    walk.lookups += 1 if redirect and parsed.all_term is None else 0
    for target in followed:
        walk.included.add(target)
        if "%" in target:
            continue  # a macro depends on the sender, so it can't be followed here
        if target in path:
            loop = " → ".join((*path, target))
            walk.problems.append(problem("spf.include_loop", path=loop))
            continue
        level.append((target, (*path, target)))


async def _resolve_hosts(walk: SpfWalk, client: DnsClient, kind: str, name: str) -> None:
    """Addresses behind an a or mx term (needed to say whether an IP is allowed)."""
    if kind == "mx":
        answer = await client.query(name, "MX")
        hosts = [v.split()[1] for v in answer.values if v.split()[1] != "."]
        checked = [answer]
    else:
        hosts, checked = [name], []
    found = await asyncio.gather(*(client.query(h, t) for h in hosts for t in ("A", "AAAA")))
    checked += found if kind == "a" else []
    if any(a.failed for a in checked):
        walk.failed.extend(a for a in checked if a.failed)
    elif all(a.empty for a in checked):
        walk.void_names.append(name)
    walk.addresses[(kind, name)] = [v for a in found for v in a.values]


async def check_spf(
    client: DnsClient,
    domain: str,
    *,
    include: str | None = None,
    expected: ExpectedRecord | None = None,
    required: bool = True,
    service: str | None = None,
    user_includes: Sequence[tuple[str, str, str]] = (),
) -> RecordResult:
    """Check what ``domain`` publishes as SPF: one record, syntax, limits, ``all``, the include.

    Verify Now and ``check`` both judge a domain's SPF here. ``required=False`` is for a domain
    that needs no SPF record yet (its service names no include): having none is then fine, but
    whatever is published is judged all the same. ``service`` names the service the domain
    sends through; when ``include`` is unknown, a warning says how to set it.
    ``user_includes`` are (include, service, logins) of the other services the domain's SMTP
    users send through: each must be included too.
    """
    result = await _check_spf(
        client, domain, include=include, expected=expected, user_includes=user_includes
    )
    if not required and result.status == "missing":
        result.status, result.required = "ok", False
        result.problems = [problem("spf.none", domain=domain)]
    if service and not include:
        import shlex  # for this advice only

        result.problems.append(
            problem(
                "spf.include_unknown",
                domain=domain,
                service=service,
                command_name=shlex.quote(service),
            )
        )
    return result


async def _check_spf(
    client: DnsClient,
    domain: str,
    *,
    include: str | None,
    expected: ExpectedRecord | None,
    user_includes: Sequence[tuple[str, str, str]] = (),
) -> RecordResult:
    want = expected.value if expected else "v=spf1 ~all"
    result = new_result("spf", "TXT", domain, expected)
    # The service's own record is asked for at once, beside the domain's: when the domain
    # includes it (the usual case) the walk finds the answer waiting and saves a round trip.
    # It is not waited for here: a slow service must not hold up a domain that lacks it.
    if include:
        client.prefetch(include.lower().rstrip("."), "TXT")
    answer = await client.query(domain, "TXT")
    record = the_one_record(
        result,
        answer,
        is_spf,
        missing=problem("spf.missing", domain=domain, expected=want),
        multiple="spf.multiple",
        domain=domain,
    )
    if record is None:
        return result
    walk = await walk_spf(client, domain, record)
    result.problems = _record_problems(domain, record, walk, include)
    for other, service, logins in user_includes:
        if other.lower().rstrip(".") not in walk.included:
            result.problems.append(
                problem(
                    "spf.user_include_missing",
                    domain=domain,
                    include=other,
                    service=service,
                    logins=logins,
                )
            )
    if any(p.severity == "error" for p in result.problems):
        result.status = "mismatch"
    elif walk.failed:
        result.status = "error"
        result.problems.insert(0, dns_problem(walk.failed[0]))
    return result


def _record_problems(domain: str, record: str, walk: SpfWalk, include: str | None) -> list[Problem]:
    parsed = parse_spf(record)
    problems: list[Problem] = []
    if parsed.errors:
        problems.append(problem("spf.syntax", host=domain, detail="; ".join(parsed.errors)))
    if include and include.lower().rstrip(".") not in walk.included:
        problems.append(problem("spf.include_missing", domain=domain, include=include))
    if walk.lookups > LOOKUP_LIMIT:
        problems.append(problem("spf.too_many_lookups", domain=domain, count=walk.lookups))
    if len(walk.void_names) > VOID_LIMIT:
        names = ", ".join(walk.void_names)
        problems.append(
            problem("spf.void_lookups", domain=domain, count=len(walk.void_names), names=names)
        )
    problems += walk.problems
    problems += _all_problems(domain, parsed)
    return problems


def _all_problems(domain: str, parsed: ParsedSpf) -> list[Problem]:
    term = parsed.all_term
    if term is None:
        if parsed.modifier("redirect"):
            return []
        return [problem("spf.permissive_all_weak", domain=domain, detail="does not end with all")]
    if term.qualifier == "+":
        return [problem("spf.permissive_all", domain=domain, detail="ends with +all")]
    if term.qualifier == "?":
        return [problem("spf.permissive_all_weak", domain=domain, detail="ends with ?all")]
    return []


async def count_spf_lookups(domain: str, resolver: object = None) -> int:
    """How many DNS lookups the SPF record of ``domain`` needs (RFC 7208 §4.6.4); 0 if none."""
    client = as_client(resolver)  # type: ignore[arg-type]
    answer = await client.query(domain, "TXT")
    records = [v for v in answer.values if is_spf(v)]
    if len(records) != 1:
        return 0
    return (await walk_spf(client, domain, records[0])).lookups
