"""Every finding a message analysis can report: code, severity, plain sentence and what to do.

The same shape as the DNS checks' problems (``core/dnscheck/messages.py``), so reports, the CLI
and the GUI show both the same way. Templates use ``str.format`` fields.
"""

from __future__ import annotations

from postdesk.core.records import Problem, Severity

_FINDINGS: dict[str, tuple[Severity, str, str]] = {
    "hdr.no_headers": (
        "error",
        "No mail headers were found in what was given.",
        "Paste the whole header block (in Gmail: Show original; in Outlook: View message "
        "source), or open the saved .eml file.",
    ),
    "hdr.no_auth_results": (
        "info",
        "No receiving server added Authentication-Results, so its SPF, DKIM and DMARC verdicts "
        "are unknown.",
        "Take the headers from the recipient's copy of the message, as their mailbox shows it.",
    ),
    "hdr.spf_softfail": (
        "warning",
        "{server} says SPF softfail for {domain}: the sending server {ip}is not listed in its SPF "
        "record, and the record says to treat that as suspicious.",
        "Add the sending service to the SPF record of {domain} (its include: or ip4:/ip6:).",
    ),
    "hdr.spf_fail": (
        "error",
        "{server} says SPF fail for {domain}: the sending server {ip}is not allowed by its SPF "
        "record.",
        "Add the sending service to the SPF record of {domain} (its include: or ip4:/ip6:).",
    ),
    "hdr.spf_none": (
        "warning",
        "{server} found no SPF record for {domain}.",
        "Publish an SPF record for {domain}: postdesk check {domain} shows what to add.",
    ),
    "hdr.spf_error": (
        "error",
        "{server} could not evaluate SPF for {domain} ({result}): the record is broken or its "
        "DNS did not answer.",
        "Run postdesk check {domain} and correct what it reports about SPF.",
    ),
    "hdr.dkim_fail_body_hash": (
        "error",
        "{server} says the DKIM signature of {domain} failed because the body changed after "
        "signing (body hash did not verify).",
        "Something between the signer and the recipient altered the body — a footer added by a "
        "mailing list, a disclaimer or a link rewriter. Sign after that step, or have it stop "
        "changing signed mail.",
    ),
    "hdr.dkim_fail": (
        "error",
        "{server} says the DKIM signature of {domain} failed{reason}.",
        "Check the key published at the selector (postdesk check {domain} --dkim-selector S) "
        "and that nothing rewrites signed headers on the way.",
    ),
    "hdr.dkim_none": (
        "warning",
        "The message carries no DKIM signature, so only SPF can make DMARC pass.",
        "Turn on DKIM signing at the sending service for the From domain.",
    ),
    "hdr.dmarc_fail": (
        "error",
        "{server} says DMARC fail for {domain}{policy}.",
        "Make SPF or DKIM pass for a domain aligned with {domain} (see the alignment section).",
    ),
    "hdr.dmarc_unaligned": (
        "error",
        "Neither SPF ({spf}) nor DKIM ({dkim}) uses a domain aligned with the From domain "
        "{domain}, so DMARC cannot pass.",
        "Sign with d={domain} (or a subdomain of it), or use a Return-Path on {domain}.",
    ),
    "hdr.arc_broken": (
        "error",
        "{where} the ARC chain does not validate: {reason}.",
        "If a forwarder or mailing list broke it, ask them to check their ARC signing; the "
        "receiver will ignore the forwarder's earlier results.",
    ),
    "hdr.hop_delay": (
        "warning",
        "The message waited {delay} between {source} and {target}.",
        "Look at the queue or the spam filtering of {target}; a long wait is usually "
        "greylisting, a busy queue or a retry after a failure.",
    ),
    "hdr.clock_skew": (
        "info",
        "The clocks of {source} and {target} disagree: the time stamps say {delay}, which "
        "cannot be a real delay.",
        "Nothing to do for delivery; the server whose clock or time zone is wrong should be "
        "set to synchronise its time (NTP).",
    ),
    "hdr.date_unparseable": (
        "warning",
        "The date in {where} cannot be read: “{value}”.",
        "The server or program that wrote it uses a non-standard date format; delays around "
        "it are left out.",
    ),
    "hdr.dkim_verify_now_fail": (
        "error",
        "The DKIM signature of {domain} (selector {selector}) does not verify now: {reason}.",
        "{advice}",
    ),
    "hdr.dkim_verify_now_differs": (
        "info",
        "The DKIM signature of {domain} verifies {now} now, while {server} said {then}.",
        "The key at {selector}._domainkey.{domain} may have been rotated since, or the "
        "message was changed after it arrived (saved by another program, re-encoded).",
    ),
    "hdr.dkim_dns": (
        "warning",
        "Postdesk could not fetch the DKIM key at {host}: {reason}.",
        "Check the internet connection or POSTDESK_NAMESERVERS and analyze again.",
    ),
    "hdr.unsubscribe_missing": (
        "warning",
        "The message has no List-Unsubscribe header. Large mailbox providers require one for "
        "bulk mail.",
        "Add List-Unsubscribe with an https: link (and List-Unsubscribe-Post for one-click).",
    ),
    "hdr.unsubscribe_missing_post": (
        "warning",
        "List-Unsubscribe has an https link but no “List-Unsubscribe-Post: "
        "List-Unsubscribe=One-Click”, so one-click unsubscribe (RFC 8058) is not offered.",
        "Add the header List-Unsubscribe-Post: List-Unsubscribe=One-Click and accept a POST at "
        "the link.",
    ),
    "hdr.unsubscribe_no_https": (
        "warning",
        "List-Unsubscribe has no https link ({value}); one-click unsubscribe needs one.",
        "Add an https URI to List-Unsubscribe (a mailto: may stay beside it).",
    ),
    "hdr.unsubscribe_post_bad": (
        "warning",
        "List-Unsubscribe-Post is “{value}”, but RFC 8058 requires exactly "
        "“List-Unsubscribe=One-Click”.",
        "Set the header to List-Unsubscribe-Post: List-Unsubscribe=One-Click.",
    ),
    "hdr.unsubscribe_not_signed": (
        "warning",
        "The DKIM signature of {domain} does not cover List-Unsubscribe{post}; RFC 8058 "
        "requires both headers to be signed.",
        "Add list-unsubscribe and list-unsubscribe-post to the signed headers (h=).",
    ),
}


def finding(code: str, **fields: object) -> Problem:
    """The finding ``code`` with its sentence and fix filled in from ``fields``."""
    severity, message, fix = _FINDINGS[code]
    values = {key: str(value) for key, value in fields.items()}
    return Problem(code, severity, message.format(**values), fix.format(**values))


def codes() -> list[str]:
    """Every finding code the analyzer knows."""
    return sorted(_FINDINGS)
