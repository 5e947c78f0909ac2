"""Building a ``Report`` from each kind of check: domain, IP, test send, message analysis."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from postdesk.core.analyze import NOW_NOTE, MessageAnalysis
from postdesk.core.analyze.received import describe_delay
from postdesk.core.dnscheck.domain import DomainReport
from postdesk.core.dnscheck.ip import BlocklistResult, IpReport
from postdesk.core.records import KIND_LABELS, Problem, Severity
from postdesk.core.report.model import Evidence, Report, Table
from postdesk.core.smtptest.endpoint import TestResult


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "not said"}[value]


def domain_tables(report: DomainReport) -> tuple[Table, ...]:
    """The records table of a domain check."""
    rows = tuple(
        (r.kind.upper(), r.type, r.host, r.status, " | ".join(r.found) or "—")
        for r in report.records
    )
    return (Table("Records", ("Record", "Type", "Host", "Status", "Found"), rows),)


def domain_evidence(report: DomainReport) -> Evidence:
    lines = []
    for r in report.records:
        lines.append(f"{r.host} {r.type} ({r.kind}, {r.status})")
        lines += [f"    {value}" for value in r.found] or ["    (nothing found)"]
    return Evidence(f"DNS records of {report.domain}", "\n".join(lines))


# The newer standards ``check`` looks at beside SPF, DKIM, DMARC and MX.
NEWER_KINDS = ("mta_sts", "tls_rpt", "bimi", "dnssec", "mx_tls")


def from_domain_report(report: DomainReport, selectors: tuple[str, ...] = ()) -> Report:
    """A report of ``postdesk check`` / Diagnose a domain / Verify Now."""
    checked = ["SPF", "DMARC", "MX (incoming mail)"]
    checked += [f"DKIM selector {s}" for s in selectors] or [
        f"DKIM at {r.host}" for r in report.records if r.kind == "dkim"
    ]
    checked += [KIND_LABELS[r.kind] for r in report.records if r.kind in NEWER_KINDS]
    return Report(
        "Domain check",
        report.domain,
        report.status,
        tuple(checked),
        tuple(p for r in report.records for p in r.problems),
        domain_tables(report),
        (domain_evidence(report),),
    )


def from_ip_report(report: IpReport) -> Report:
    """A report of ``postdesk ip check`` / the IP check view."""
    rows = tuple((b.zone, b.status, ", ".join(b.codes), b.reason) for b in report.blocklists)
    spf_rows = tuple((domain, str(verdict)) for domain, verdict in report.spf.items())
    tables = [
        Table(
            "Reverse DNS",
            ("Names", "Matches forward"),
            ((", ".join(report.ptr) or "none", _yes(report.fcrdns)),),
        ),
        Table("Blocklists", ("Blocklist", "Result", "Codes", "Reason"), rows),
    ]
    if spf_rows:
        tables.append(Table("SPF", ("Domain", "Verdict for this address"), spf_rows))
    evidence = "\n".join(
        [f"PTR {report.ip}: {', '.join(report.ptr) or '(none)'}"]
        + [
            f"{b.zone}: {b.status} {' '.join(b.codes)} {b.reason}".rstrip()
            for b in report.blocklists
        ]
    )
    return Report(
        "IP check",
        report.ip,
        report.status,
        (
            "Reverse DNS (PTR) and its forward match",
            "SPF of the domains it sends for",
            "Blocklists",
        ),
        tuple(report.problems),
        tuple(tables),
        (Evidence("DNS answers", evidence),),
    )


def from_ip_dict(data: Mapping[str, Any]) -> Report:
    """A report of a stored IP check (``IpReport.as_dict()``, as the IP list keeps it)."""
    report = IpReport(
        str(data.get("ip", "")),
        list(data.get("ptr") or []),
        bool(data.get("fcrdns")),
        dict(data.get("spf") or {}),
        [
            BlocklistResult(
                str(b.get("zone", "")),
                b.get("status", "error"),
                list(b.get("codes") or []),
                str(b.get("reason") or ""),
            )
            for b in data.get("blocklists") or []
        ],
        [
            Problem(str(p["code"]), p.get("severity", "error"), str(p["message"]), str(p["fix"]))
            for p in data.get("problems") or []
        ],
    )
    return from_ip_report(report)


def from_test_result(result: TestResult, subject: str) -> Report:
    """A report of a test send or connection test (the transcript never holds a password)."""
    severity: Severity = "info" if result.ok else "error"
    verdict = Problem(
        f"test_send.{result.category}", severity, result.advice, "" if result.ok else result.advice
    )
    tls: dict[str, Any] = result.tls or {}
    rows = [
        ("Result", "OK" if result.ok else f"failed ({result.category})"),
        ("Stopped at", result.stage),
        ("Server reply", f"{result.reply_code or ''} {result.reply_text or ''}".strip() or "—"),
    ]
    if tls:
        rows += [
            ("TLS", f"{tls.get('protocol')} {tls.get('cipher')}"),
            ("Certificate for", ", ".join(tls.get("names") or []) or str(tls.get("subject"))),
            ("Certificate expires", str(tls.get("not_after"))),
            ("Certificate verified", _yes(bool(tls.get("verified")))),
        ]
    timing = tuple((k, f"{v} ms") for k, v in result.timings.items())
    tables = [Table("Verdict", ("", ""), tuple(rows))]
    if timing:
        tables.append(Table("Timings", ("Step", "Time"), timing))
    return Report(
        "Test send",
        subject,
        "ok" if result.ok else "failing",
        ("Connection", "TLS", "Login", "Sending the message"),
        (verdict,),
        tuple(tables),
        (Evidence("SMTP conversation", result.transcript_text()),),
    )


def from_analysis(analysis: MessageAnalysis) -> Report:
    """A report of a message analysis."""
    subject = analysis.summary.get("subject") or analysis.summary.get("message-id") or "(none)"
    tables = [_verdict_table(analysis), _hop_table(analysis), _alignment_table(analysis)]
    checked = ["Receivers' verdicts (Authentication-Results, ARC)", "Received hops", "Alignment"]
    checked.append("List-Unsubscribe (RFC 8058)")
    if analysis.whole_message and (analysis.signatures or analysis.arc):
        tables.append(_now_table(analysis))
        checked.append("DKIM and ARC verified now")
    evidence = [Evidence("Message headers", analysis.headers_text)]
    if analysis.domain_report is not None:
        tables += list(domain_tables(analysis.domain_report))
        checked.append(f"DNS of {analysis.domain_report.domain} now")
        evidence.append(domain_evidence(analysis.domain_report))
    if analysis.keys:
        keys = "\n".join(
            f"{name} TXT ({a.status}): {' '.join(a.values)}" for name, a in analysis.keys.items()
        )
        evidence.append(Evidence("DKIM keys fetched now", keys))
    summary = tuple((k.title(), v) for k, v in analysis.summary.items() if v)
    return Report(
        "Message analysis",
        subject,
        analysis.status,
        tuple(checked),
        tuple(analysis.findings),
        (Table("Message", ("", ""), summary), *tables),
        tuple(evidence),
    )


def _verdict_table(analysis: MessageAnalysis) -> Table:
    rows = []
    for server, verdicts in analysis.by_server().items():
        for verdict in verdicts:
            where = verdict.header + (f" i={verdict.instance}" if verdict.instance else "")
            for r in verdict.results:
                detail = " ".join(f"{k}={v}" for k, v in r.properties.items())
                rows.append((server, where, r.method, r.result, r.reason, detail))
    return Table(
        "What the receiving servers said",
        ("Server", "Header", "Method", "Result", "Reason", "Details"),
        tuple(rows),
        "" if rows else "No Authentication-Results headers.",
    )


def _hop_table(analysis: MessageAnalysis) -> Table:
    rows = []
    for hop in analysis.hops:
        local = hop.local_time(analysis.zone)
        delay = describe_delay(hop.delay) if hop.delay is not None else "—"
        if hop.delay_kind == "skew":
            delay += " (clock skew)"
        tls = _yes(hop.tls) + (f" {hop.tls_detail}" if hop.tls_detail else "")
        rows.append(
            (
                str(hop.number),
                hop.from_host,
                ", ".join(hop.from_ips),
                hop.by_host,
                hop.protocol,
                tls,
                local.strftime("%Y-%m-%d %H:%M:%S %Z") if local else f"unreadable: {hop.date_text}",
                delay,
            )
        )
    return Table(
        "Received hops, first to last",
        ("#", "From", "IP", "By", "With", "TLS", "Time (your zone)", "Delay"),
        tuple(rows),
    )


def _alignment_table(analysis: MessageAnalysis) -> Table:
    rows = tuple(
        (
            i.kind.upper(),
            i.domain + (f" (s={i.selector})" if i.selector else ""),
            i.result or "not said",
            _yes(i.relaxed),
            _yes(i.strict),
        )
        for i in analysis.alignment.identifiers
    )
    return Table(
        f"Alignment with the From domain {analysis.alignment.from_domain or '(none)'}",
        ("Kind", "Domain", "Receiver's result", "Relaxed", "Strict"),
        rows,
    )


def _now_table(analysis: MessageAnalysis) -> Table:
    rows = [
        (f"DKIM d={s.domain} s={s.selector}", "pass" if s.ok else "fail", s.reason)
        for s in analysis.signatures
    ]
    if analysis.arc is not None:
        rows.append(
            (f"ARC chain ({analysis.arc.instances} sets)", analysis.arc.result, analysis.arc.reason)
        )
    return Table("Verified now", ("What", "Result", "Why"), tuple(rows), NOW_NOTE)
