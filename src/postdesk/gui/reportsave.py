"""“Save report…”: ask where (a non-blocking file dialog), then write the report off the GUI thread.

Every place that can hand over a report (Diagnose a domain, the IP check, Test Send, Analyze a
message) calls :func:`ask_and_save` with a function that builds the report when the user picks a
file, so the report's time stamp is the moment it was saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from postdesk.core.errors import UserError

FILTERS = "Web page, opens anywhere (*.html);;Plain text (*.txt);;JSON (*.json)"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def suggested_name(subject: str, now: datetime | None = None) -> str:
    """A file name like ``postdesk-report-example.com-20261129-1004.html``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M")
    cleaned = _UNSAFE.sub("-", subject).strip("-.")[:60] or "report"
    return f"postdesk-report-{cleaned}-{stamp}.html"


def ask_and_save(
    parent: QWidget, build: Callable[[], object], subject: str, status: QLabel
) -> QFileDialog:
    """Open a Save dialog (``open()``, never ``exec()``); the chosen file gets the report."""
    from postdesk.gui.asyncutil import start_task

    folder = Path.home() / "Documents"
    start = (folder if folder.is_dir() else Path.home()) / suggested_name(subject)
    dialog = QFileDialog(parent, "Save report", str(start), FILTERS)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setDefaultSuffix("html")
    dialog.fileSelected.connect(lambda path: start_task(save(build, Path(path), status)))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog


async def save(build: Callable[[], object], path: Path, status: QLabel) -> None:
    """Build and write the report in a worker thread; say where it went, or why it could not."""
    from postdesk.core.report import save_report

    _say(status, f"Saving the report to {path.name}…")
    try:
        await asyncio.to_thread(lambda: save_report(build(), path))  # type: ignore[arg-type]
    except UserError as error:
        _say(status, f"{error.message} {error.hint}".strip())
        return
    _say(status, f"Report saved to {path}.")


def _say(status: QLabel, text: str) -> None:
    # The dialog may have been closed (and its label deleted) while the file was written.
    with contextlib.suppress(RuntimeError):
        status.setText(text)
