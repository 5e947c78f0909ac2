"""SPF, DKIM and DMARC worked out as the receiver of a message, and written as RFC 8601 text.

Every DNS question (the SPF walk, the DKIM keys, the DMARC record) goes through ``DnsClient``
at once; dkimpy then verifies in a worker thread from the keys already fetched, exactly as the
message analyzer does (``analyze/verify.py``), so the event loop never waits on DNS or RSA.

DMARC failures are recorded, not refused: Postdesk keeps what was sent to the user's domain and
shows the verdict, as the owner would want to see a spoofing attempt rather than lose it. The
``dis=none`` in the header says so to anyone reading it later.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import logging
import re
from dataclasses import dataclass

from postdesk.core.analyze.alignment import aligns
from postdesk.core.analyze.parse import Header, ParsedMessage
from postdesk.core.analyze.verify import SignatureCheck, key_names, verify_signatures
from postdesk.core.dnscheck.dmarc import dmarc_tags, is_dmarc, organizational_domain
from postdesk.core.dnscheck.resolver import Answer, DnsClient
from postdesk.core.inbound.spf import SpfVerdict, check_host

log = logging.getLogger(__name__)
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.DOTALL)
_UNSAFE_VALUE = re.compile(r'[\s;()"\\]')
# The only fields the checks read: the From domain, the signatures and the ARC seals.
_READ_FIELDS = frozenset({b"from", b"dkim-signature", b"arc-message-signature", b"arc-seal"})


@dataclass(frozen=True)
class DkimVerdict:
    """One DKIM-Signature as the receiver saw it."""

    result: str  # pass | fail | temperror | permerror
    domain: str
    selector: str
    reason: str = ""
    b: str = ""  # the first characters of the signature, to tell two signatures apart


@dataclass(frozen=True)
class DmarcVerdict:
    """The From domain's DMARC result and the policy it asks for."""

    result: str  # pass | fail | none | temperror | permerror
    from_domain: str
    policy: str = ""  # none | quarantine | reject; "" without a record
    reason: str = ""


@dataclass(frozen=True)
class Verdicts:
    """Everything decided about one incoming message."""

    spf: SpfVerdict
    spf_identity: str  # the address (or HELO name, for a null sender) SPF vouched for
    dkim: tuple[DkimVerdict, ...]
    dmarc: DmarcVerdict
    header: str  # the whole Authentication-Results field, without the line ending

    @property
    def dkim_result(self) -> str:
        """One word for the message: pass when any signature passed, else the strongest other."""
        results = {d.result for d in self.dkim}
        for result in ("pass", "temperror", "fail", "permerror"):
            if result in results:
                return result
        return "none"

    def as_dict(self) -> dict[str, str]:
        """The verdicts as the store and ``file_inbound`` take them."""
        return {"spf": self.spf.result, "dkim": self.dkim_result, "dmarc": self.dmarc.result}


@dataclass(frozen=True)
class Lookups:
    """What DNS said about one incoming message (every question asked at once), before any
    CPU-bound checking: ``decide`` works the verdicts out from it in a worker thread."""

    message: ParsedMessage
    from_domain: str
    spf: SpfVerdict
    keys: dict[str, Answer]
    dmarc_record: tuple[str, str | None, str]


async def look_up(
    client: DnsClient, *, raw: bytes, remote_ip: str, mail_from: str, helo: str
) -> Lookups:
    """SPF for the connection, every DKIM key and the From domain's DMARC record, at once."""
    message = _parse(raw)
    from_domain = _single_from_domain(message)
    names = key_names(message)
    # Every key and the DMARC record are asked for now, alongside SPF's questions; each check
    # then reads its answers in turn. A busy receiver has most answers kept already, and a
    # task apiece to gather them cost more than the rest of the lookups.
    for name in names:
        client.prefetch(name, "TXT")
    if from_domain:
        client.prefetch(f"_dmarc.{from_domain}", "TXT")
    spf = await check_host(client, remote_ip, mail_from, helo)
    keys = {name: await client.query(name, "TXT") for name in names}
    record = await _dmarc_record(client, from_domain) if from_domain else ("", None, "")
    return Lookups(message, from_domain, spf, keys, record)


def decide(looked: Lookups, *, raw: bytes, mail_from: str, helo: str, authserv_id: str) -> Verdicts:
    """Every DKIM signature verified with the keys already fetched, then DMARC and the
    Authentication-Results text (CPU only: run in a worker thread)."""
    message = looked.message
    dkim: tuple[DkimVerdict, ...] = ()
    if looked.keys:
        try:
            checks = verify_signatures(raw, looked.keys)
            dkim = tuple(_dkim_verdict(c, _b_prefix(message, i)) for i, c in enumerate(checks))
        except Exception as exc:  # a message dkimpy cannot even read: keep it, say so
            log.info("DKIM signatures could not be read: %s", exc)
            dkim = (DkimVerdict("permerror", "", "", "the signature could not be read"),)
    spf = looked.spf
    identity = mail_from if "@" in mail_from else (helo or "unknown")
    dmarc = _dmarc(looked.from_domain, looked.dmarc_record, spf, dkim, message)
    header = _header(authserv_id, spf, identity, mail_from, dkim, dmarc)
    return Verdicts(spf, identity, dkim, dmarc, header)


async def evaluate(
    client: DnsClient,
    *,
    raw: bytes,
    remote_ip: str,
    mail_from: str,
    helo: str,
    authserv_id: str,
) -> Verdicts:
    """SPF for the connection, every DKIM signature, then DMARC for the From domain."""
    looked = await look_up(client, raw=raw, remote_ip=remote_ip, mail_from=mail_from, helo=helo)
    return await asyncio.to_thread(
        decide, looked, raw=raw, mail_from=mail_from, helo=helo, authserv_id=authserv_id
    )


def _parse(raw: bytes) -> ParsedMessage:
    """The header fields the checks read (From and the signatures and seals), unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    fields: list[list[bytes]] = []
    wanted = False  # whether the last field read is one of those kept (its folded lines too)
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if wanted and fields:
                fields[-1][1] += b" " + line.strip()
        elif (match := _FIELD.match(line)) is not None:
            wanted = match.group(1).lower() in _READ_FIELDS
            if wanted:
                fields.append([match.group(1), line[match.end() :].strip()])
    headers = tuple(
        Header(n.decode("ascii", "replace"), v.decode("utf-8", "replace")) for n, v in fields
    )
    return ParsedMessage(headers, raw, has_body=True)


def _single_from_domain(message: ParsedMessage) -> str:
    """The From domain, or "" when there is no From or more than one (DMARC cannot apply)."""
    froms = message.all("From")
    if len(froms) != 1:
        return ""
    return _domain_of(froms[0])


@functools.lru_cache(maxsize=4096)
def _domain_of(value: str) -> str:
    # A regular sender's From line is the same in every message: read once.
    addresses = email.utils.getaddresses([value])
    domains = {a.rpartition("@")[2].lower().rstrip(".") for _, a in addresses if "@" in a}
    return domains.pop() if len(domains) == 1 else ""


async def _dmarc_record(client: DnsClient, domain: str) -> tuple[str, str | None, str]:
    """(status, record, where it was found): the From domain's, else its organizational one's."""
    organizational = organizational_domain(domain)
    for name in dict.fromkeys((domain, organizational)):
        answer = await client.query(f"_dmarc.{name}", "TXT")
        if answer.failed:
            return "temperror", None, name
        records = [v for v in answer.values if is_dmarc(v) and v.lstrip().startswith("v=DMARC1")]
        if len(records) == 1:
            return "ok", records[0], name
        if len(records) > 1:
            return "ok", None, name  # more than one record means none (RFC 7489 section 6.6.3)
    return "ok", None, ""


def _dmarc(
    from_domain: str,
    found: tuple[str, str | None, str],
    spf: SpfVerdict,
    dkim: tuple[DkimVerdict, ...],
    message: ParsedMessage,
) -> DmarcVerdict:
    if not from_domain:
        count = len(message.all("From"))
        return DmarcVerdict("permerror", "", reason=f"the message has {count} From domains")
    status, record, where = found
    if status == "temperror":
        return DmarcVerdict("temperror", from_domain, reason="DNS did not answer for _dmarc")
    if record is None:
        return DmarcVerdict("none", from_domain, reason="no DMARC record")
    tags = dict(dmarc_tags(record))
    policy = tags.get("p", "none").lower()
    if where != from_domain and "sp" in tags:
        policy = tags["sp"].lower()
    if policy not in ("none", "quarantine", "reject"):
        policy = "none"
    strict_spf = tags.get("aspf", "r").lower() == "s"
    strict_dkim = tags.get("adkim", "r").lower() == "s"
    if spf.result == "pass" and aligns(spf.domain, from_domain)[1 if strict_spf else 0]:
        return DmarcVerdict("pass", from_domain, policy, f"SPF ({spf.domain}) passed and aligns")
    for check in dkim:
        if check.result == "pass" and aligns(check.domain, from_domain)[1 if strict_dkim else 0]:
            return DmarcVerdict(
                "pass", from_domain, policy, f"DKIM ({check.domain}) passed and aligns"
            )
    return DmarcVerdict("fail", from_domain, policy, "no passing SPF or DKIM domain aligns")


def _dkim_verdict(check: SignatureCheck, b: str) -> DkimVerdict:
    if check.ok:
        result = "pass"
    elif check.key_unavailable:
        result = "temperror"
    elif "no key is published" in check.reason:
        result = "permerror"
    else:
        result = "fail"
    return DkimVerdict(result, check.domain, check.selector, "" if check.ok else check.reason, b)


def _b_prefix(message: ParsedMessage, index: int) -> str:
    signatures = message.all("DKIM-Signature")
    if index >= len(signatures):
        return ""
    tags = dict(dmarc_tags(signatures[index]))
    return re.sub(r"\s+", "", tags.get("b", ""))[:8]


def _value(text: str) -> str:
    """A property value as RFC 8601 writes it: quoted when it is not a plain token."""
    if text and not _UNSAFE_VALUE.search(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    return "(" + re.sub(r"[()\\\r\n]", " ", text)[:200] + ")"


def _header(
    authserv_id: str,
    spf: SpfVerdict,
    identity: str,
    mail_from: str,
    dkim: tuple[DkimVerdict, ...],
    dmarc: DmarcVerdict,
) -> str:
    parts = [authserv_id]
    prop = "smtp.mailfrom" if "@" in mail_from else "smtp.helo"
    parts.append(f"spf={spf.result} {_comment(spf.reason or spf.result)} {prop}={_value(identity)}")
    for check in dkim:
        text = f"dkim={check.result}"
        if check.reason:
            text += f" {_comment(check.reason)}"
        text += f" header.d={_value(check.domain)} header.s={_value(check.selector)}"
        if check.b:
            text += f" header.b={_value(check.b)}"
        parts.append(text)
    if not dkim:
        parts.append("dkim=none (no signature)")
    text = f"dmarc={dmarc.result}"
    if dmarc.policy:
        text += f" (p={dmarc.policy} dis=none)"
    elif dmarc.reason:
        text += f" {_comment(dmarc.reason)}"
    if dmarc.from_domain:
        text += f" header.from={_value(dmarc.from_domain)}"
    parts.append(text)
    return "Authentication-Results: " + ";\r\n\t".join(parts)
