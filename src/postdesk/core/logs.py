"""Log files in the data directory. Nothing logged may contain a secret."""

from __future__ import annotations

import logging
from pathlib import Path

from postdesk.core.config import log_dir

LOG_FILE = "postdesk.log"
MAX_BYTES = 2_000_000
BACKUP_COUNT = 3
_configured = False


class _LogFile(logging.Handler):
    """The rotating log file, opened with the first record written to it.

    Most runs log nothing, and ``logging.handlers`` (with ``socket`` and ``pickle``) would cost
    every command and every window start about 10 ms before any work.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        # ``handle`` holds this handler's lock: one thread opens the file.
        if self._file is None:
            from logging.handlers import RotatingFileHandler

            try:
                self._file = RotatingFileHandler(
                    self.path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
                )
            except OSError:
                self._file = logging.NullHandler()  # a read-only data dir must not stop the app
            self._file.setFormatter(self.formatter)
        self._file.emit(record)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def setup_logging(level: int = logging.INFO) -> None:
    """Send Postdesk's log records to a rotating file in the data directory (once per process)."""
    global _configured
    if _configured:
        return
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = _LogFile(folder / LOG_FILE)
    except OSError:
        handler = logging.NullHandler()  # a read-only data dir must not stop the app
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("postdesk")
    root.addHandler(handler)
    root.setLevel(level)
    _configured = True
