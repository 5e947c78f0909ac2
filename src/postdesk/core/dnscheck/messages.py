"""Every problem a live check can report: its code, severity, plain sentence and fix, in one place.

Templates use ``str.format`` fields filled in by the check that found the problem.
"""

from __future__ import annotations

from postdesk.core.dnscheck.resolver import Answer
from postdesk.core.records import Problem, Severity

_PROBLEMS: dict[str, tuple[Severity, str, str]] = {
    # DNS itself: nothing is known, so never "missing".
    "dns.timeout": (
        "error",
        "Postdesk could not check {host}: the DNS server did not answer in time.",
        "Check your internet connection and press Verify Now again in a few minutes.",
    ),
    "dns.servfail": (
        "error",
        "Postdesk could not check {host}: the DNS server reported an internal failure (SERVFAIL).",
        "This is usually a problem at your DNS host (often a DNSSEC error). Try again later; if "
        "it persists, contact your DNS host.",
    ),
    "dns.refused": (
        "error",
        "Postdesk could not check {host}: the DNS server refused to answer.",
        "Check which DNS servers Postdesk uses (POSTDESK_NAMESERVERS), then try again.",
    ),
    "dns.propagating": (
        "info",
        "Your DNS host already has the new {type} record at {host}, but DNS caches still hold the "
        "old answer for about {ttl}.",
        "Nothing to do: wait for the old answer to expire, then press Verify Now again.",
    ),
    # Ownership
    "ownership.missing": (
        "error",
        "The ownership record at {host} {state}.",
        "Add a TXT record at {host} with the value {expected}.",
    ),
    # SPF
    "spf.missing": (
        "error",
        "{domain} has no SPF record, so receivers can't tell which servers may send its email.",
        "Add a TXT record at {domain} with the value {expected}.",
    ),
    "spf.multiple": (
        "error",
        "{domain} has {count} SPF records. Receivers treat that as an error and may reject mail.",
        "Merge them into one TXT record starting with v=spf1 and delete the others.",
    ),
    "spf.none": (
        "info",
        "{domain} has no SPF record. None is needed yet: the service it sends through names "
        "no SPF include.",
        "Nothing to do now; once the service's SPF include is set, publish the SPF record "
        "Postdesk then shows.",
    ),
    "spf.include_unknown": (
        "warning",
        "Postdesk does not know the SPF include of {service}, so it can't tell whether the SPF "
        "record of {domain} lets {service} send for it.",
        "Set the service's SPF include: postdesk service edit {command_name} --spf-include "
        "<the domain your provider names after include:> (or Edit in the SMTP Service tab).",
    ),
    "spf.include_missing": (
        "error",
        "The SPF record of {domain} does not include {include}, so mail sent through it can fail.",
        "Add include:{include} to the SPF record, before the all at the end.",
    ),
    "spf.user_include_missing": (
        "error",
        "The SPF record of {domain} does not include {include}, which the SMTP service "
        "{service} needs: the SMTP users {logins} of {domain} send through it.",
        "Add include:{include} to the SPF record, before the all at the end (or let those users "
        "send through the domain's service: postdesk smtp-user edit {domain} LOGIN "
        "--service-default).",
    ),
    "spf.include_broken": (
        "error",
        "The SPF record includes {include}, which {state}. Receivers treat that as an error.",
        "Remove include:{include} from the SPF record, or correct the name.",
    ),
    "spf.too_many_lookups": (
        "error",
        "The SPF record of {domain} needs {count} DNS lookups; receivers stop at 10 and then "
        "treat the record as broken.",
        "Remove includes you no longer use, or replace a:, mx: and include: terms with ip4:/ip6: "
        "addresses where you can.",
    ),
    "spf.void_lookups": (
        "error",
        "The SPF record of {domain} points at {count} names that do not exist or have no "
        "records ({names}); receivers allow at most 2.",
        "Remove the terms that point at those names.",
    ),
    "spf.syntax": (
        "error",
        "The SPF record at {host} is not valid: {detail}.",
        "Correct the record; it must look like 'v=spf1 include:example.com ~all'.",
    ),
    "spf.permissive_all": (
        "error",
        "The SPF record of {domain} {detail}, so anyone can send email as {domain}.",
        "End the record with ~all (or -all once you are sure every sender is listed).",
    ),
    "spf.permissive_all_weak": (
        "warning",
        "The SPF record of {domain} {detail}, so receivers learn nothing about unlisted senders.",
        "End the record with ~all (or -all once you are sure every sender is listed).",
    ),
    "spf.ptr": (
        "warning",
        "The SPF record at {host} uses ptr, which is slow, unreliable and ignored by some "
        "receivers.",
        "Replace ptr with ip4:/ip6: addresses or an include: from your email provider.",
    ),
    "spf.include_loop": (
        "error",
        "The SPF record includes itself in a loop ({path}); receivers treat it as broken.",
        "Remove the include that leads back to an earlier record.",
    ),
    # DKIM
    "dkim.missing": (
        "error",
        "There is no DKIM record at {host}, so receivers can't trust your email's signature.",
        "Add a TXT record at {host} with the DKIM value Postdesk shows.",
    ),
    "dkim.key_unreadable": (
        "error",
        "Postdesk can't read the private DKIM key of {domain} (selector {selector}) from the "
        "keyring: {reason}. Mail from {domain} can't be signed.",
        "Rotate the key: Domain Settings → DKIM keys → Generate new key, publish its record and "
        "press Verify Now.",
    ),
    "dkim.zone_appended": (
        "error",
        "The DKIM record was found at {found_at} instead of {host}: your DNS host added the "
        "domain name to the end of the name you typed.",
        "Edit the record and enter only {short} as its name.",
    ),
    "dkim.multiple": (
        "error",
        "There are {count} DKIM records at {host}; receivers may pick the wrong one.",
        "Keep only the record Postdesk shows and delete the others.",
    ),
    "dkim.mismatch": (
        "error",
        "The DKIM key published at {host} is not the one Postdesk signs with: {detail}.",
        "Replace the record's value with the one Postdesk shows, copied in one piece.",
    ),
    "dkim.malformed": (
        "error",
        "The DKIM record at {host} is damaged: {detail}.",
        "Copy the DKIM value again with the copy button and paste it without quotes or line "
        "breaks.",
    ),
    "dkim.malformed_spaces": (
        "warning",
        "The DKIM key at {host} contains spaces; some receivers can't read it.",
        "Paste the value again with the copy button, in one piece.",
    ),
    "dkim.revoked": (
        "error",
        "The DKIM record at {host} has an empty key (p=), which means the key was withdrawn.",
        "Replace the record's value with the one Postdesk shows.",
    ),
    "dkim.weak_key": (
        "warning",
        "The DKIM key at {host} is only {bits} bits; receivers increasingly distrust keys under "
        "2048 bits.",
        "Create a new 2048-bit key (rotate the DKIM key) and publish it.",
    ),
    "dkim.testing": (
        "warning",
        "The DKIM record at {host} is marked as a test (t=y), so receivers may ignore failures.",
        "Remove t=y from the record once signing works.",
    ),
    # DMARC
    "dmarc.missing": (
        "error",
        "{domain} has no DMARC record; large mailbox providers now expect one from senders.",
        "Add a TXT record at _dmarc.{domain} with the value {expected}.",
    ),
    "dmarc.multiple": (
        "error",
        "{domain} has {count} DMARC records; receivers then ignore DMARC completely.",
        "Keep one TXT record at _dmarc.{domain} and delete the others.",
    ),
    "dmarc.invalid": (
        "error",
        "The DMARC record at _dmarc.{domain} is not valid: {detail}.",
        "Correct the record; it must start like 'v=DMARC1; p=none;'.",
    ),
    "dmarc.policy_none": (
        "warning",
        "The DMARC policy of {domain} is p=none: receivers report problems but still deliver "
        "forged email.",
        "Once your reports show that all your own email passes, change p=none to p=quarantine.",
    ),
    "dmarc.rua_unauthorized": (
        "warning",
        "DMARC reports for {domain} go to {address}, but {other} has not agreed to receive them, "
        "so they will not arrive.",
        "Ask the owner of {other} to add a TXT record at {domain}._report._dmarc.{other} with "
        "the value v=DMARC1, or send reports to an address at {domain}.",
    ),
    # CNAME / MX
    "cname.missing": (
        "error",
        "There is no CNAME record at {host}.",
        "Add a CNAME record at {host} pointing to {expected}.",
    ),
    "cname.wrong_target": (
        "error",
        "The CNAME at {host} points to {found} instead of {expected}.",
        "Edit the CNAME at {host} so that it points to {expected}.",
    ),
    "cname.conflict": (
        "error",
        "{host} already has {other} records, and a CNAME can't share a name with other records.",
        "Delete the {other} records at {host}, then add the CNAME pointing to {expected}.",
    ),
    "mx.missing": (
        "error",
        "{domain} has no MX record pointing to {expected}, so bounces can't reach Postdesk.",
        "Add an MX record at {domain} with priority {preference} pointing to {expected}.",
    ),
    "mx.missing_any": (
        "warning",
        "{domain} has no MX record, so replies and bounces sent to it can't be delivered.",
        "Add an MX record for the service that receives your email.",
    ),
    "mx.wrong": (
        "error",
        "The MX records of {domain} point to {found}, not to {expected}.",
        "Add an MX record at {domain} with priority {preference} pointing to {expected}.",
    ),
    "mx.null": (
        "info",
        "{domain} says it receives no email at all (a null MX record).",
        "Nothing to do if that is intended; otherwise replace it with your mail server's MX.",
    ),
    # Sending IPs
    "ip.no_ptr": (
        "error",
        "{ip} has no reverse DNS name; many receivers reject mail from such addresses.",
        "Ask whoever provides the IP (usually your hosting company) to set its reverse DNS "
        "(PTR) to your mail server's name.",
    ),
    "ip.fcrdns_mismatch": (
        "error",
        "The reverse DNS of {ip} is {names}, but that name does not point back to {ip}; "
        "receivers treat that as a sign of a badly set up server.",
        "Add an {rdtype} record at {name} with the value {ip}.",
    ),
    "ip.not_in_spf": (
        "error",
        "{ip} is not allowed to send email for {domain}: {detail}.",
        "Add {term} to the SPF record of {domain}.",
    ),
    "ip.spf_unknown": (
        "error",
        "Postdesk could not read the SPF record of {domain}, so it can't tell whether {ip} may "
        "send for it.",
        "Check your internet connection and try again in a few minutes.",
    ),
    "ip.listed": (
        "error",
        "{ip} is on the blocklist {zone}, so many receivers will reject its mail.{why}",
        "Find and stop the cause (for example a hacked account or website), then ask {zone} "
        "to remove the address through its website.",
    ),
    "ip.blocklist_unusable": (
        "warning",
        "Postdesk could not use the blocklist {zone}: {reason}. This says nothing about "
        "whether the address is listed.",
        "Check the address on the list's website, or set POSTDESK_NAMESERVERS to a DNS "
        "resolver of your own and check again.",
    ),
}

# Variants share the public code of their base problem but differ in severity or wording.
_VARIANTS = {
    "spf.permissive_all_weak": "spf.permissive_all",
    "dkim.malformed_spaces": "dkim.malformed",
    "mx.missing_any": "mx.missing",
}


def problem(code: str, **fields: object) -> Problem:
    """The problem ``code`` with its sentence and fix filled in from ``fields``."""
    severity, message, fix = _PROBLEMS[code]
    values = {key: str(value) for key, value in fields.items()}
    return Problem(
        _VARIANTS.get(code, code), severity, message.format(**values), fix.format(**values)
    )


def dns_problem(answer: Answer, host: str | None = None) -> Problem:
    """The "could not check" problem for a failed answer (timeout, SERVFAIL, REFUSED)."""
    return problem(f"dns.{answer.status}", host=host or answer.name)


def duration(seconds: int) -> str:
    """A TTL in words: '45 seconds', '12 minutes', '3 hours'."""
    if seconds < 90:
        return f"{seconds} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"
