"""The provider's own id for a message, read from the 250 reply it gave when it took the message.

Providers word that reply differently; the id is what their logs, support staff and event
webhooks use, so keeping it lets a later event find its message. Pure, and tolerant: a reply
with no recognisable id gives None rather than a guess.
"""

from __future__ import annotations

import re

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Postfix, SendGrid, Postmark, Brevo: "250 2.0.0 Ok: queued as 4B5C21F8A3"
    re.compile(r"\bqueued\s+as\s+<?([^\s<>]+)>?", re.IGNORECASE),
    # Exim and Mailgun's Exim-style reply: "250 OK id=1tLcH5-0000Ab-2x"
    re.compile(r"\bid=<?([^\s<>,;]+)>?", re.IGNORECASE),
    # Microsoft 365 / Exchange: "250 2.6.0 <id@host> [InternalId=…] … Queued mail for delivery"
    # and "250 2.0.0 OK <id@host> [Hostname=…]"
    re.compile(r"(?:^|\s)<([^\s<>]+@[^\s<>]+)>"),
    # Google: "250 2.0.0 OK  1700000000 d9443c01a7336-1cc5e9f3sm12345pll.42 - gsmtp"
    re.compile(r"\bOK\s+\d{9,11}\s+(\S+)\s+-\s+gsmtp", re.IGNORECASE),
    # Amazon SES: "250 Ok 0100018b9f3c4d5e-6f7a8b9c-…-000000"; SparkPost: "250 2.0.0 OK 12/34-5-6"
    re.compile(r"\bOk\s+([0-9A-Za-z][0-9A-Za-z./_=+-]{11,})\s*$", re.IGNORECASE),
)


def provider_message_id(reply: str | None) -> str | None:
    """The message id in a provider's acceptance reply, or None when it names none."""
    text = " ".join((reply or "").split())
    if not text:
        return None
    for pattern in _PATTERNS:
        found = pattern.search(text)
        if found:
            return found.group(1)[:200]
    return None
