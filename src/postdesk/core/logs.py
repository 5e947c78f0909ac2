"""Log files in the data directory. Nothing logged may contain a secret."""

from __future__ import annotations

import logging
import logging.handlers

from postdesk.core.config import log_dir

LOG_FILE = "postdesk.log"
_configured = False


def setup_logging(level: int = logging.INFO) -> None:
    """Send Postdesk's log records to a rotating file in the data directory (once per process)."""
    global _configured
    if _configured:
        return
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / LOG_FILE, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()  # a read-only data dir must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("postdesk")
    root.addHandler(handler)
    root.setLevel(level)
    _configured = True
