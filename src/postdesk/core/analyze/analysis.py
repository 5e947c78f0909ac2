"""Analyzing a received message: the receivers' verdicts, the path, alignment, and checks now."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from postdesk.core.analyze.alignment import Alignment, final_verdict, work_out_alignment
from postdesk.core.analyze.authres import (
    ArcSet,
    AuthResults,
    arc_sets,
    group_by_server,
    receiver_verdicts,
)
from postdesk.core.analyze.findings import finding
from postdesk.core.analyze.parse import ParsedMessage, parse_message, readable
from postdesk.core.analyze.received import (
    SENDER,
    Hop,
    describe_delay,
    parse_date,
    received_hops,
)
from postdesk.core.analyze.unsubscribe import check_unsubscribe
from postdesk.core.analyze.verify import ArcCheck, SignatureCheck, verify_now
from postdesk.core.dnscheck.domain import DomainReport, Resolver, diagnose_domain
from postdesk.core.dnscheck.resolver import Answer, as_client
from postdesk.core.records import Problem

NOW_NOTE = (
    "Verified now: a DKIM key rotated since delivery, or a message changed after it arrived "
    "(re-encoded, saved by another program), makes today's result differ from the receiver's."
)


@dataclass
class MessageAnalysis:
    """Everything found about one message; ``findings`` are ordered errors first."""

    summary: dict[str, str]  # subject, from, to, date, message-id as a person reads them
    whole_message: bool
    verdicts: list[AuthResults]
    arc_seals: list[ArcSet]
    hops: list[Hop]
    alignment: Alignment
    findings: list[Problem]
    headers_text: str
    signatures: list[SignatureCheck] = field(default_factory=list)
    arc: ArcCheck | None = None
    keys: dict[str, Answer] = field(default_factory=dict)
    domain_report: DomainReport | None = None
    zone: tzinfo | None = None
    analyzed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def status(self) -> str:
        """``failing`` when any finding is an error, else ``ok``."""
        return "failing" if any(p.severity == "error" for p in self.findings) else "ok"

    def by_server(self) -> dict[str, list[AuthResults]]:
        """The receivers' verdicts grouped by the server (authserv-id) that wrote them."""
        return group_by_server(self.verdicts)

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "analyzed_at": self.analyzed_at.isoformat(),
            "summary": dict(self.summary),
            "whole_message": self.whole_message,
            "receivers": {
                server: [v.as_dict() for v in found] for server, found in self.by_server().items()
            },
            "arc_seals": [s.as_dict() for s in self.arc_seals],
            "hops": [h.as_dict(self.zone) for h in self.hops],
            "alignment": self.alignment.as_dict(),
            "verified_now": {
                "note": NOW_NOTE,
                "dkim": [s.as_dict() for s in self.signatures],
                "arc": self.arc.as_dict() if self.arc else None,
            }
            if self.whole_message
            else None,
            "domain_check": self.domain_report.as_dict() if self.domain_report else None,
            "findings": [p.as_dict() for p in self.findings],
        }


async def analyze_message(
    raw: bytes,
    *,
    check_dns: bool = True,
    resolver: Resolver = None,
    zone: tzinfo | None = None,
) -> MessageAnalysis:
    """Analyze a header block or a whole message.

    With ``check_dns`` a whole message's DKIM and ARC are verified now and the From domain's DNS
    is checked like ``postdesk check``; without it nothing leaves the computer.
    """
    message = parse_message(raw)
    verdicts = receiver_verdicts(message)
    hops = received_hops(message)
    alignment = work_out_alignment(message, verdicts)
    analysis = MessageAnalysis(
        summary=_summary(message),
        whole_message=message.has_body,
        verdicts=verdicts,
        arc_seals=arc_sets(message),
        hops=hops,
        alignment=alignment,
        findings=[],
        headers_text="\n".join(f"{h.name}: {h.value}" for h in message.headers),
        zone=zone,
    )
    findings = _verdict_findings(verdicts) + _seal_findings(analysis.arc_seals)
    findings += _alignment_findings(message, alignment)
    findings += _hop_findings(message, hops)
    findings += check_unsubscribe(message)
    if check_dns:
        findings += await _live(analysis, message, resolver)
    analysis.findings = _ordered(findings)
    return analysis


async def _live(
    analysis: MessageAnalysis, message: ParsedMessage, resolver: Resolver
) -> list[Problem]:
    client = as_client(resolver)
    domain = analysis.alignment.from_domain
    selectors = [
        i.selector for i in analysis.alignment.identifiers if i.kind == "dkim" and i.strict
    ]
    checks: list[Awaitable[Any]] = []
    if message.has_body:
        checks.append(verify_now(message, client))
    if domain:
        checks.append(diagnose_domain(domain, selectors, resolver=client))
    results = await asyncio.gather(*checks)
    problems: list[Problem] = []
    if message.has_body:
        analysis.signatures, analysis.arc, analysis.keys = results[0]
        problems += _now_findings(analysis)
    if domain:
        analysis.domain_report = results[-1]
        problems += [p for r in analysis.domain_report.records for p in r.problems]
    return problems


def _summary(message: ParsedMessage) -> dict[str, str]:
    names = ("Subject", "From", "To", "Date", "Message-ID")
    return {name.lower(): readable(message.first(name) or "") for name in names}


def _verdict_findings(verdicts: list[AuthResults]) -> list[Problem]:
    # Only the receivers' own headers: ARC-Authentication-Results repeat earlier hops' views.
    problems = []
    for verdict in (v for v in verdicts if v.instance is None):
        server = verdict.authserv_id
        for spf in verdict.of("spf"):
            domain = spf.get("smtp.mailfrom", "smtp.helo") or "the sender"
            domain = domain.rpartition("@")[2]
            ip = spf.get("smtp.remote-ip", "client-ip") or _ip_in(spf.reason)
            code = {
                "softfail": "hdr.spf_softfail",
                "fail": "hdr.spf_fail",
                "none": "hdr.spf_none",
                "temperror": "hdr.spf_error",
                "permerror": "hdr.spf_error",
            }.get(spf.result)
            if code:
                problems.append(
                    finding(
                        code,
                        server=server,
                        domain=domain,
                        ip=f"{ip} " if ip else "",
                        result=spf.result,
                    )
                )
        for dkim in verdict.of("dkim"):
            if dkim.result not in ("fail", "permerror", "neutral"):
                continue
            domain = dkim.get("header.d") or dkim.get("header.i").rpartition("@")[2] or "?"
            if "body hash" in dkim.reason.lower():
                problems.append(finding("hdr.dkim_fail_body_hash", server=server, domain=domain))
            else:
                reason = f" ({dkim.reason})" if dkim.reason else ""
                problems.append(
                    finding("hdr.dkim_fail", server=server, domain=domain, reason=reason)
                )
        for dmarc in verdict.of("dmarc"):
            if dmarc.result == "fail":
                domain = dmarc.get("header.from") or "the From domain"
                policy = dmarc.get("policy.applied-disposition", "action", "p")
                policy = f" (policy applied: {policy})" if policy else ""
                problems.append(
                    finding("hdr.dmarc_fail", server=server, domain=domain, policy=policy)
                )
        for arc in verdict.of("arc"):
            if arc.result == "fail":
                reason = arc.reason or "a seal or signature did not verify"
                problems.append(finding("hdr.arc_broken", where=f"{server} says", reason=reason))
    return problems


def _ip_in(text: str) -> str:
    # Gmail and Microsoft name the sending address only in the comment.
    for word in re.findall(r"[0-9a-fA-F:.]{7,}", text):
        try:
            return str(ipaddress.ip_address(word.strip(".")))
        except ValueError:
            continue
    return ""


def _seal_findings(seals: list[ArcSet]) -> list[Problem]:
    return [
        finding(
            "hdr.arc_broken",
            where=f"ARC-Seal i={s.instance} ({s.domain}) says",
            reason="a sealer found the chain already failing (cv=fail)",
        )
        for s in seals
        if s.cv.lower() == "fail"
    ]


def _alignment_findings(message: ParsedMessage, alignment: Alignment) -> list[Problem]:
    problems = []
    if alignment.from_domain and not message.all("DKIM-Signature"):
        problems.append(finding("hdr.dkim_none"))
    if alignment.from_domain and alignment.identifiers and not alignment.aligned:
        spf = ", ".join(i.domain for i in alignment.identifiers if i.kind == "spf") or "none"
        dkim = ", ".join(f"d={i.domain}" for i in alignment.identifiers if i.kind == "dkim")
        problems.append(
            finding(
                "hdr.dmarc_unaligned",
                domain=alignment.from_domain,
                spf=spf,
                dkim=dkim or "no signature",
            )
        )
    return problems


def _hop_findings(message: ParsedMessage, hops: list[Hop]) -> list[Problem]:
    problems = []
    date = message.first("Date")
    if date is not None and (not hops or hops[0].delay is None) and parse_date(date) is None:
        problems.append(finding("hdr.date_unparseable", where="the Date header", value=date))
    for index, hop in enumerate(hops):
        source = hops[index - 1].name if index else SENDER
        if hop.date_text and hop.when is None:
            problems.append(
                finding(
                    "hdr.date_unparseable",
                    where=f"Received hop {hop.number} ({hop.name})",
                    value=hop.date_text,
                )
            )
        elif hop.delay is not None and hop.delay_kind == "delay":
            problems.append(
                finding(
                    "hdr.hop_delay", delay=describe_delay(hop.delay), source=source, target=hop.name
                )
            )
        elif hop.delay is not None and hop.delay_kind == "skew":
            problems.append(
                finding(
                    "hdr.clock_skew",
                    delay=describe_delay(hop.delay),
                    source=source,
                    target=hop.name,
                )
            )
    return problems


def _now_findings(analysis: MessageAnalysis) -> list[Problem]:
    problems = []
    said = {
        (i.domain, i.selector): i.result for i in analysis.alignment.identifiers if i.kind == "dkim"
    }
    final = final_verdict(analysis.verdicts)
    server = final.authserv_id if final else "the receiver"
    for check in analysis.signatures:
        then = said.get((check.domain, check.selector), "")
        now = "pass" if check.ok else "fail"
        if check.key_unavailable:
            host = f"{check.selector}._domainkey.{check.domain}"
            problems.append(finding("hdr.dkim_dns", host=host, reason=check.reason))
        elif then and then != now:
            problems.append(
                finding(
                    "hdr.dkim_verify_now_differs",
                    domain=check.domain,
                    now=now,
                    server=server,
                    then=then,
                    selector=check.selector,
                )
            )
        elif then == now:
            continue  # the receiver's own verdict already says it; saying it twice adds nothing
        elif check.body_changed:
            problems.append(
                finding(
                    "hdr.dkim_fail_body_hash",
                    server="Postdesk, verifying now,",
                    domain=check.domain,
                )
            )
        elif not check.ok:
            advice = (
                f"Check the key at {check.selector}._domainkey.{check.domain} "
                f"(postdesk check {check.domain} --dkim-selector {check.selector})."
            )
            problems.append(
                finding(
                    "hdr.dkim_verify_now_fail",
                    domain=check.domain,
                    selector=check.selector,
                    reason=check.reason,
                    advice=advice,
                )
            )
    if analysis.arc is not None and analysis.arc.result == "fail":
        problems.append(
            finding("hdr.arc_broken", where="Verified now,", reason=analysis.arc.reason)
        )
    return problems


_RANK = {"error": 0, "warning": 1, "info": 2}


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique: dict[tuple[str, str], Problem] = {}
    for problem in problems:
        unique.setdefault((problem.code, problem.message), problem)
    return sorted(unique.values(), key=lambda p: _RANK.get(p.severity, 3))
