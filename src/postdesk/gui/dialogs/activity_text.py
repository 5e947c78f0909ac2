"""The Activity window's words: statuses, timeline steps, a message in full, and CSV."""

from __future__ import annotations

import csv
import io

from postdesk.core.activity import ActivityDetail, ActivityRow
from postdesk.gui.widgets.stats_panel import local_time

# What the search box looks in; the query field each sets.
SEARCH_FIELDS = (
    ("Recipient", "recipient"),
    ("Sender", "sender"),
    ("Subject", "subject"),
    ("Message-ID", "message_id"),
)
STATUS_WORDS = {
    "pending": "Waiting",
    "sent": "Handed over",
    "deferred": "Deferred",
    "delivered": "Delivered",
    "bounced": "Bounced",
    "suppressed": "Suppressed",
    "complained": "Complained",
    "unsubscribed": "Unsubscribed",
    "opened": "Opened",
    "clicked": "Clicked",
}
# The empty list: nothing sent yet, or nothing the search and filters let through.
EMPTY_UNFILTERED = (
    "No mail sent yet",
    "Every message Postdesk sends (through the relay, test sends, replies) appears here with "
    "what became of it: handed over, delivered, bounced (and why), opened, clicked. Send a "
    "test email from the SMTP Settings tab to see one.",
)
EMPTY_FILTERED = (
    "No messages match",
    "Nothing sent matches the search and the filters. Clear the search, or choose Any status, "
    "All domains and Any dates.",
)
KIND_WORDS = {
    "accepted": "Accepted",
    "signed": "Signed (DKIM)",
    "tracking": "Tracking applied",
    "handed_over": "Handed to the provider",
    "deferred": "Deferred",
    "delivered": "Delivered",
    "bounced": "Bounced",
    "suppressed": "Not sent: suppressed",
    "opened": "Opened",
    "clicked": "Clicked",
    "complained": "Marked as spam",
    "unsubscribed": "Unsubscribed",
}
CSV_COLUMNS = ("accepted_at", "domain", "from", "to", "subject", "status", "message_id", "id")


def status_words(status: str) -> str:
    """A row's status ("sent/bounced") in words ("Handed over / Bounced")."""
    return " / ".join(STATUS_WORDS.get(part, part) for part in status.split("/"))


def describe(detail: ActivityDetail) -> str:
    """A message in full for the detail pane: who sent it, to whom, headers, then the timeline."""
    row = detail.row
    lines = [
        f"Subject: {row.subject or '(no subject)'}",
        f"From: {row.mail_from} (domain {row.domain})",
        f"Sent by: {detail.smtp_user or _source_words(row.source)}",
        f"Accepted: {local_time(row.accepted_at)}",
    ]
    if row.critical:
        lines.append("Marked critical: a failure is announced at once.")
    if detail.provider_message_id:
        lines.append(f"Provider's id: {detail.provider_message_id}")
    lines += ["", "Recipients:"]
    for r in row.recipients:
        text = f"  {r.address}: {STATUS_WORDS.get(r.status, r.status)}"
        if r.bounce_class:
            text += f" ({r.bounce_class})"
        if r.reason:
            text += f" — {r.reason}"
        lines.append(text)
    lines += ["", "Timeline:"]
    if not detail.timeline:
        lines.append("  (nothing recorded yet)")
    for entry in detail.timeline:
        who = f" {entry.recipient}" if entry.recipient else ""
        klass = f" [{entry.bounce_class}]" if entry.bounce_class else ""
        text = f"  {local_time(entry.at)}  {KIND_WORDS.get(entry.kind, entry.kind)}{who}{klass}"
        text += f" (from {entry.source})" if entry.source not in ("relay", "") else ""
        lines.append(text)
        if entry.detail:
            lines.append(f"      {entry.detail}")
    lines += ["", "Headers:"]
    lines += [f"  {name}: {value}" for name, value in detail.headers]
    return "\n".join(lines)


def _source_words(source: str) -> str:
    return {"test": "a test send", "relay": "the relay"}.get(source, source)


def rows_csv(rows: list[ActivityRow]) -> str:
    """The listed messages as CSV, one line per message (recipients joined by spaces)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.accepted_at.isoformat(timespec="seconds"),
                row.domain,
                row.mail_from,
                " ".join(r.address for r in row.recipients),
                row.subject,
                row.status,
                row.message_id_header,
                row.id,
            ]
        )
    return out.getvalue()
