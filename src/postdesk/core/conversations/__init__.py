"""Conversations: mail received for the dedicated domains, threaded, searchable, read safely."""

from __future__ import annotations

from postdesk.core.conversations import schema as _schema  # noqa: F401  (search DDL hooks)
from postdesk.core.conversations.filing import file_inbound

__all__ = ["file_inbound"]
