"""The message analyzer: what receivers said about a message, its path, and checks made now.

Pure like the DNS checkers: it reads what it is given and returns a ``MessageAnalysis``; nothing
is stored.
"""

from __future__ import annotations

from postdesk.core.analyze.analysis import NOW_NOTE, MessageAnalysis, analyze_message
from postdesk.core.analyze.findings import codes, finding

__all__ = ["NOW_NOTE", "MessageAnalysis", "analyze_message", "codes", "finding"]
