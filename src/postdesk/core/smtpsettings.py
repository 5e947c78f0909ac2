"""What the SMTP Settings page shows besides the users: the relay's address and recent activity."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from postdesk.core import audit, settings
from postdesk.core.credentials import ConnectionDetails
from postdesk.core.domains import get_domain
from postdesk.core.store import Store

# How each logged credential event reads after the username ("shop@example.com created").
_WHAT = {
    "smtp_user.created": "created",
    "smtp_user.password_reset": "password reset",
    "smtp_user.deleted": "deleted",
}
_LIMIT_EVENT = "usage.limit_exceeded"
_LIMIT_WHAT = "deleted automatically: the daily sending limit was exceeded"
# The audit log is searched this far back; a domain's page only lists the newest few.
_SCAN = 200


@dataclass(frozen=True)
class Activity:
    """One thing that happened to an SMTP user of the domain, in plain words."""

    at: dt.datetime
    username: str
    what: str


def domain_connection(store: Store, domain_name: str) -> ConnectionDetails:
    """Host, port and security of the relay, before a login is chosen (``username`` is empty)."""
    with store.session() as s:
        get_domain(s, domain_name)  # a removed domain is a UserError, not empty details
        return ConnectionDetails(
            host=str(settings.get(s, "relay_host")),
            port=int(settings.get(s, "relay_port")),
            security=str(settings.get(s, "relay_security")),
            username="",
        )


def recent_activity(store: Store, domain_name: str, limit: int = 8) -> list[Activity]:
    """The newest SMTP user events of a domain (created, password reset, deleted), newest first."""
    with store.session() as s:
        name = get_domain(s, domain_name).name
        suffix = f"@{name}"
        found = [
            Activity(event.at, event.subject, _WHAT[event.action])
            for event in audit.recent(s, _SCAN, subject_prefix=suffix)
            if event.action in _WHAT and event.subject.endswith(suffix)
        ]
        # The limit rule deletes every login at once and logs it once, for the whole account.
        for event in audit.recent(s, _SCAN, subject_prefix="account"):
            if event.action != _LIMIT_EVENT:
                continue
            deleted = event.detail.get("deleted") or []
            found += [
                Activity(event.at, str(user), _LIMIT_WHAT)
                for user in deleted  # type: ignore[attr-defined]
                if str(user).endswith(suffix)
            ]
    found.sort(key=lambda activity: activity.at, reverse=True)
    return found[:limit]
