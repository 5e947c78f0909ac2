"""Conversations: mail received for the dedicated domains, threaded, searchable, read safely."""

from __future__ import annotations

from postdesk.core.conversations import schema as _schema  # noqa: F401  (search DDL hooks)
from postdesk.core.conversations.filing import file_inbound
from postdesk.core.conversations.parse import AttachmentInfo
from postdesk.core.conversations.read import (
    MessageView,
    SearchHit,
    ThreadSummary,
    ThreadView,
    get_thread,
    list_threads,
    mark_read,
    sanitized_html,
    save_attachment,
    search,
)
from postdesk.core.conversations.sanitize import SanitizedHtml

__all__ = [
    "AttachmentInfo",
    "MessageView",
    "SanitizedHtml",
    "SearchHit",
    "ThreadSummary",
    "ThreadView",
    "file_inbound",
    "get_thread",
    "list_threads",
    "mark_read",
    "sanitized_html",
    "save_attachment",
    "search",
]
