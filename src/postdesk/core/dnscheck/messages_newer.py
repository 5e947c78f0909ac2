"""Problem texts of the newer standards: MTA-STS, TLS-RPT, BIMI, DNSSEC and STARTTLS of the MX.

Kept beside ``messages.py`` (same template rules) so each standard's wording lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from postdesk.core.dnscheck.messages import dns_problem
from postdesk.core.dnscheck.resolver import Answer
from postdesk.core.records import Problem, RecordResult, Severity

_PROBLEMS: dict[str, tuple[Severity, str, str]] = {
    # MTA-STS (RFC 8461)
    "mtasts.none": (
        "info",
        "{domain} publishes no MTA-STS policy, so senders fall back to unencrypted delivery "
        "when an attacker removes STARTTLS.",
        "Optional: publish a policy at https://mta-sts.{domain}/.well-known/mta-sts.txt and a "
        'TXT record at _mta-sts.{domain} such as "v=STSv1; id=20240101".',
    ),
    "mtasts.multiple": (
        "error",
        "{domain} has {count} MTA-STS records at _mta-sts.{domain}; senders then ignore MTA-STS.",
        "Keep one TXT record starting with v=STSv1 and delete the others.",
    ),
    "mtasts.record_invalid": (
        "error",
        "The MTA-STS record at _mta-sts.{domain} is not valid: {detail}.",
        'Publish one TXT record like "v=STSv1; id=20240101" (id: 1 to 32 letters or digits).',
    ),
    "mtasts.record_without_policy": (
        "error",
        "_mta-sts.{domain} announces an MTA-STS policy, but there is none at {url}: {reason}.",
        "Publish the policy file at {url}, or delete the _mta-sts TXT record.",
    ),
    "mtasts.policy_unreachable": (
        "error",
        "The MTA-STS policy at {url} could not be fetched: {reason}.",
        "Serve the policy over HTTPS with a certificate valid for mta-sts.{domain}, answering "
        "200 without redirects.",
    ),
    "mtasts.policy_invalid": (
        "error",
        "The MTA-STS policy at {url} is not valid: {detail}.",
        "Write it as lines of key: value with version: STSv1, mode: enforce, testing or none, "
        "one mx: line per mail server and max_age: in seconds.",
    ),
    "mtasts.content_type": (
        "warning",
        "The MTA-STS policy at {url} is served as {content_type}, not text/plain.",
        "Serve mta-sts.txt with Content-Type: text/plain.",
    ),
    "mtasts.mx_not_covered": (
        "error",
        "The MX host {mx} is not in the MTA-STS policy of {domain} (mx: {patterns}); senders "
        "that enforce the policy will not deliver there.",
        "Add mx: {mx} to the policy at {url} and change the id= in _mta-sts.{domain}.",
    ),
    "mtasts.mx_not_covered_testing": (
        "warning",
        "The MX host {mx} is not in the MTA-STS policy of {domain} (mx: {patterns}). In testing "
        "mode mail still arrives, but TLS reports will list failures.",
        "Add mx: {mx} to the policy at {url} and change the id= in _mta-sts.{domain}.",
    ),
    "mtasts.testing_mode": (
        "info",
        "The MTA-STS policy of {domain} is in testing mode: failures are reported, not enforced.",
        "Once TLS reports show no failures, change mode: testing to mode: enforce.",
    ),
    "mtasts.mode_none": (
        "info",
        "The MTA-STS policy of {domain} has mode: none, so it protects nothing.",
        "Nothing to do if MTA-STS is being withdrawn on purpose; otherwise use mode: testing.",
    ),
    "mtasts.max_age_short": (
        "warning",
        "The MTA-STS policy of {domain} is cached for only {max_age} seconds.",
        "Use max_age: 604800 (a week) or more once the policy is stable.",
    ),
    # TLS-RPT (RFC 8460)
    "tlsrpt.multiple": (
        "error",
        "{domain} has {count} TLS-RPT records at _smtp._tls.{domain}; senders then send no "
        "reports.",
        "Keep one TXT record starting with v=TLSRPTv1 and delete the others.",
    ),
    "tlsrpt.invalid": (
        "error",
        "The TLS-RPT record at _smtp._tls.{domain} is not valid: {detail}.",
        'Publish one TXT record like "v=TLSRPTv1; rua=mailto:tls-reports@{domain}".',
    ),
    "tlsrpt.suggested": (
        "warning",
        "{domain} uses MTA-STS but publishes no TLS-RPT record, so nobody hears about failed "
        "deliveries.",
        'Add a TXT record at _smtp._tls.{domain} like "v=TLSRPTv1; rua=mailto:tls-reports@'
        '{domain}".',
    ),
    # BIMI
    "bimi.multiple": (
        "error",
        "{domain} has {count} BIMI records at default._bimi.{domain}; receivers show no logo.",
        "Keep one TXT record starting with v=BIMI1 and delete the others.",
    ),
    "bimi.record_invalid": (
        "error",
        "The BIMI record at default._bimi.{domain} is not valid: {detail}.",
        'Publish one TXT record like "v=BIMI1; l=https://{domain}/logo.svg".',
    ),
    "bimi.declined": (
        "info",
        "The BIMI record of {domain} has an empty l=: the domain declines to show a logo.",
        "Nothing to do unless a logo should be shown.",
    ),
    "bimi.dmarc_not_enforced": (
        "error",
        "BIMI logos are shown only when DMARC is at reject, or at quarantine for all mail "
        "(pct=100), for subdomains too; {domain} has {policy}.",
        "Move the DMARC record at _dmarc.{domain} to p=quarantine or p=reject (and sp= likewise, "
        "if set) once DMARC reports show your mail passes.",
    ),
    "bimi.logo_unreachable": (
        "error",
        "The BIMI logo at {url} could not be fetched: {reason}.",
        "Serve the SVG over HTTPS with a valid certificate, answering 200.",
    ),
    "bimi.svg_invalid": (
        "error",
        "The BIMI logo at {url} breaks the SVG Tiny Portable/Secure rules: {detail}.",
        "Export the logo as SVG Tiny PS (baseProfile=tiny-ps, version=1.2, a title, no scripts, "
        "no external links or raster images, square, at most 32 KB).",
    ),
    "bimi.no_certificate": (
        "info",
        "The BIMI record of {domain} names no mark certificate (a=), so Gmail and Apple Mail "
        "show no logo; some other providers do.",
        "Optional: get a Verified Mark Certificate and publish its URL in a=.",
    ),
    # DNSSEC
    "dnssec.unsigned": (
        "info",
        "The zone {zone} is not signed with DNSSEC.",
        "Optional: turn DNSSEC on at your DNS host and publish the DS record at your registrar.",
    ),
    "dnssec.signed": (
        "info",
        "The zone {zone} is signed and its signatures check out against its own keys{ds}. The "
        "chain up to the root was not checked here.",
        "Nothing to do.",
    ),
    "dnssec.broken_signature": (
        "error",
        "The zone {zone} is signed, but {what} does not validate: {reason}. Validating "
        "resolvers then treat the domain as unreachable.",
        "Re-sign the zone at your DNS host (or turn DNSSEC off there and remove the DS record at "
        "your registrar).",
    ),
    "dnssec.no_ds": (
        "warning",
        "The zone {zone} is signed, but its parent has no DS record for it, so resolvers treat "
        "it as unsigned.",
        "Publish the DS record your DNS host shows at your registrar.",
    ),
    "dnssec.ds_mismatch": (
        "error",
        "The DS record for {zone} at its parent matches none of the zone's keys, so validating "
        "resolvers cannot reach the domain.",
        "Replace the DS record at your registrar with the one your DNS host shows now.",
    ),
    # STARTTLS of the MX hosts
    "mxtls.skipped": (
        "info",
        "STARTTLS of the MX hosts of {domain} was not checked (skipped on request).",
        "Run the check without --no-mx-tls from a network that allows port 25.",
    ),
    "mxtls.unreachable": (
        "info",
        "Postdesk could not connect to port {port} of any MX host of {domain} ({reason}). Many "
        "networks block port 25, so this says nothing about the servers.",
        "Run the check from a server or a network that allows outgoing port 25.",
    ),
    "mxtls.host_unreachable": (
        "warning",
        "The MX host {mx} could not be reached on port {port} ({reason}), while other MX hosts "
        "of {domain} could.",
        "Check that {mx} is running and accepts connections, or remove it from the MX records.",
    ),
    "mxtls.no_starttls": (
        "error",
        "The MX host {mx} does not offer STARTTLS, so mail to {domain} travels unencrypted.",
        "Turn STARTTLS on in the mail server at {mx}.",
    ),
    "mxtls.handshake_failed": (
        "error",
        "The MX host {mx} offers STARTTLS, but the TLS handshake failed: {reason}.",
        "Check the TLS set-up of the mail server at {mx}.",
    ),
    "mxtls.cert_invalid": (
        "error",
        "The certificate of the MX host {mx} is not valid: {reason}. Senders that require "
        "valid certificates (MTA-STS, DANE) will not deliver there.",
        "Install a certificate for {mx} from a public CA (for example Let's Encrypt).",
    ),
    "mxtls.cert_expiring": (
        "warning",
        "The certificate of the MX host {mx} expires in {days} days ({date}).",
        "Renew the certificate of {mx} before it expires.",
    ),
    "mxtls.old_tls": (
        "warning",
        "The MX host {mx} negotiated {protocol}, which is outdated.",
        "Enable TLS 1.2 and 1.3 in the mail server at {mx}.",
    ),
}

# Variants share the public code of their base problem but differ in severity or wording.
_VARIANTS = {"mtasts.mx_not_covered_testing": "mtasts.mx_not_covered"}


def newer_problem(code: str, **fields: object) -> Problem:
    """The problem ``code`` with its sentence and fix filled in from ``fields``."""
    severity, message, fix = _PROBLEMS[code]
    values = {key: str(value) for key, value in fields.items()}
    return Problem(
        _VARIANTS.get(code, code), severity, message.format(**values), fix.format(**values)
    )


def one_newer_record(
    result: RecordResult,
    answer: Answer,
    keep: Callable[[str], bool],
    *,
    missing: Problem | None,
    multiple: str,
    **fields: object,
) -> str | None:
    """The single published record ``keep`` accepts, like ``outcome.the_one_record``.

    Otherwise the result is decided here: ``error`` when DNS could not be asked (never
    ``missing``), ``missing`` (with ``missing`` when given) or ``conflict``; None is returned.
    """
    if answer.failed:
        result.status, result.problems = "error", [dns_problem(answer, result.host)]
        return None
    records = [value for value in answer.values if keep(value)]
    result.found = records
    if not records:
        result.status = "missing"
        result.problems += [missing] if missing else []
        return None
    if len(records) > 1:
        result.status = "conflict"
        result.problems.append(newer_problem(multiple, count=len(records), **fields))
        return None
    return records[0]


def valid_newer_record(
    result: RecordResult,
    answer: Answer,
    keep: Callable[[str], bool],
    errors_of: Callable[[str], list[str]],
    *,
    missing: Problem | None,
    multiple: str,
    invalid: str,
    **fields: object,
) -> str | None:
    """:func:`one_newer_record`, then checked: a record with errors is ``mismatch`` with the
    ``invalid`` problem naming them, and None is returned."""
    record = one_newer_record(result, answer, keep, missing=missing, multiple=multiple, **fields)
    if record is None:
        return None
    errors = errors_of(record)
    if errors:
        result.status = "mismatch"
        result.problems.append(newer_problem(invalid, detail="; ".join(errors), **fields))
        return None
    return record
