"""Message activity as core hands it out: frozen read models, never database rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

STATUSES = (
    "pending",
    "sent",
    "deferred",
    "delivered",
    "bounced",
    "suppressed",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
)
TRACKED_KINDS = {"opened": "open", "clicked": "click"}
MAX_LIMIT = 1000


@dataclass(frozen=True)
class ActivityQuery:
    """What to look for; every field left empty matches everything."""

    domain: str | None = None
    recipient: str | None = None  # a whole address: exact; a part ("@gmail.com"): substring
    sender: str | None = None  # same rule as recipient
    subject: str | None = None  # substring, any case
    message_id: str | None = None  # Message-ID header (with or without <>) or provider id
    status: str | None = None  # one of STATUSES
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class RecipientView:
    """One recipient of a message and what became of it."""

    address: str
    status: str
    bounce_class: str | None
    reason: str


@dataclass(frozen=True)
class ActivityRow:
    """A message in the activity list."""

    id: int
    accepted_at: dt.datetime
    status: str  # the recipients' statuses, e.g. "delivered" or "sent/bounced"
    domain: str  # shown (Unicode) form
    mail_from: str
    recipients: tuple[RecipientView, ...]
    subject: str
    message_id_header: str
    bounce_class: str | None
    source: str
    critical: bool

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "id": self.id,
            "accepted_at": self.accepted_at.isoformat(),
            "status": self.status,
            "domain": self.domain,
            "from": self.mail_from,
            "to": [r.address for r in self.recipients],
            "recipients": [r.__dict__ for r in self.recipients],
            "subject": self.subject,
            "message_id": self.message_id_header,
            "bounce_class": self.bounce_class,
            "source": self.source,
            "critical": self.critical,
        }


@dataclass(frozen=True)
class TimelineEntry:
    """One step of a message's life."""

    at: dt.datetime
    kind: str
    recipient: str | None
    source: str
    detail: str
    bounce_class: str | None

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "at": self.at.isoformat()}


@dataclass(frozen=True)
class ActivityDetail:
    """A message's headers and its whole timeline."""

    row: ActivityRow
    smtp_user: str | None  # login@domain, when an SMTP user sent it
    provider_message_id: str | None
    queue_status: str  # pending | sending | sent | bounced
    attempts: int
    last_reply: str | None
    headers: tuple[tuple[str, str], ...]
    timeline: tuple[TimelineEntry, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            **self.row.as_dict(),
            "smtp_user": self.smtp_user,
            "provider_message_id": self.provider_message_id,
            "queue_status": self.queue_status,
            "attempts": self.attempts,
            "last_reply": self.last_reply,
            "headers": [list(h) for h in self.headers],
            "timeline": [e.as_dict() for e in self.timeline],
        }
