"""List-Unsubscribe and one-click unsubscribe (RFC 2369, RFC 8058), read from the headers."""

from __future__ import annotations

import re

from postdesk.core.analyze.authres import tag_list
from postdesk.core.analyze.findings import finding
from postdesk.core.analyze.parse import ParsedMessage
from postdesk.core.records import Problem

ONE_CLICK = "List-Unsubscribe=One-Click"
_URI = re.compile(r"<\s*([^>]*?)\s*>")


def looks_bulk(message: ParsedMessage) -> bool:
    """Mail sent to a list or in bulk, for which receivers expect an unsubscribe header."""
    precedence = (message.first("Precedence") or "").strip().lower()
    return (
        precedence in ("bulk", "list", "junk")
        or message.first("List-Id") is not None
        or message.first("Feedback-ID") is not None
    )


def unsubscribe_uris(value: str) -> list[str]:
    """The URIs in a List-Unsubscribe value, in order."""
    return [uri for uri in _URI.findall(value) if uri]


def check_unsubscribe(message: ParsedMessage) -> list[Problem]:
    """What is missing or wrong for unsubscribing, per RFC 8058."""
    value = message.first("List-Unsubscribe")
    if value is None:
        return [finding("hdr.unsubscribe_missing")] if looks_bulk(message) else []
    post = message.first("List-Unsubscribe-Post")
    https = [u for u in unsubscribe_uris(value) if u.lower().startswith("https://")]
    if not https:
        return [finding("hdr.unsubscribe_no_https", value=value.strip()[:200])]
    if post is None:
        return [finding("hdr.unsubscribe_missing_post")]
    problems = []
    if post.strip() != ONE_CLICK:
        problems.append(finding("hdr.unsubscribe_post_bad", value=post.strip()[:200]))
    problems += _signed(message)
    return problems


def _signed(message: ParsedMessage) -> list[Problem]:
    signatures = [tag_list(v) for v in message.all("DKIM-Signature")]
    if not signatures:
        return []  # no signature at all is reported once, as a DKIM finding
    for tags in signatures:
        signed = {h.strip().lower() for h in tags.get("h", "").split(":")}
        if {"list-unsubscribe", "list-unsubscribe-post"} <= signed:
            return []
    tags = signatures[0]
    signed = {h.strip().lower() for h in tags.get("h", "").split(":")}
    missing_post = "list-unsubscribe" in signed
    return [
        finding(
            "hdr.unsubscribe_not_signed",
            domain=tags.get("d", "?"),
            post="-Post" if missing_post else " and List-Unsubscribe-Post",
        )
    ]
