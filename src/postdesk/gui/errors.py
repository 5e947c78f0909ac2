"""Where failures end up: a bug in the global exception dialog, a UserError in a page banner.

A ``UserError`` is an expected problem with a message and a hint: pages show it in their banner
with :func:`show_user_error`. Anything else is a bug: the hooks installed by
:func:`install_exception_hooks` show the "Something went wrong" dialog with a report the user can
copy, and the application keeps running.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QPushButton, QWidget

from postdesk import __version__
from postdesk.core.errors import UserError
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    PAGE_MARGIN,
    SPACE_M,
    label,
    scaled_font,
    vbox,
)
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
    # Only for annotations: asyncio loads after the window is usable (see app.py).
    import asyncio

    from PySide6.QtWidgets import QMessageBox

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

DIALOG_TITLE = "Something went wrong"
EXPLANATION = (
    "Postdesk ran into a problem it did not expect and stopped what it was doing. You can keep "
    "working. If it happens again, copy the report below and send it to whoever supports your "
    "Postdesk installation."
)
REPORT_MIN_WIDTH = 560
REPORT_MIN_HEIGHT = 240

# Open dialogs, so Python does not collect one while it is on screen.
_open_dialogs: set[QDialog] = set()


def show_user_error(banner: Banner, error: UserError) -> None:
    """Show an expected failure in a page's banner: what went wrong and what to do."""
    banner.show_message("error", error.message, error.hint)


def format_report(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> str:
    """The text a user copies for support: versions, platform and the traceback."""
    import platform  # only needed when something went wrong

    header = [
        f"Postdesk {__version__}",
        f"Python {platform.python_version()}, Qt {qVersion()}, PySide6 {pyside_version}",
        f"Platform: {platform.platform()}",
        f"Qt platform: {QGuiApplication.platformName() or 'none'}",
    ]
    trace = "".join(traceback.format_exception(exc_type, exc, tb))
    return "\n".join(header) + "\n\n" + trace


class ExceptionDialog(QDialog):
    """The "Something went wrong" dialog: a read-only report, Copy report and Close."""

    def __init__(self, report: str, parent: QWidget | None = None) -> None:
        # Imported here: PySide6 builds a class's enums when it is first used, not at start.
        from PySide6.QtGui import QFontDatabase
        from PySide6.QtWidgets import QDialogButtonBox, QPlainTextEdit

        super().__init__(parent)
        self.setWindowTitle(DIALOG_TITLE)
        heading = label(DIALOG_TITLE)
        heading.setFont(scaled_font(heading, HEADING_FONT_SCALE))
        self.report_box = QPlainTextEdit(report)
        self.report_box.setReadOnly(True)
        self.report_box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report_box.setMinimumSize(REPORT_MIN_WIDTH, REPORT_MIN_HEIGHT)
        buttons = QDialogButtonBox()
        self.copy_button = QPushButton("Copy report")
        self.copy_button.clicked.connect(self.copy_report)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.setDefault(True)
        buttons.rejected.connect(self.reject)
        self.setLayout(
            vbox(
                heading,
                label(EXPLANATION),
                self.report_box,
                buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )

    @property
    def report(self) -> str:
        return self.report_box.toPlainText()

    def add_report(self, report: str) -> None:
        """Append a further failure that happened while this dialog was open."""
        self.report_box.appendPlainText("\n" + "-" * 40 + "\n\n" + report)

    def copy_report(self) -> None:
        QGuiApplication.clipboard().setText(self.report)
        self.copy_button.setText("Copied")


def user_error_dialog(error: UserError, parent: QWidget | None = None) -> QMessageBox:
    """A plain message box for a UserError that no page caught: the message and the hint."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Postdesk")
    box.setText(error.message)
    box.setInformativeText(error.hint)
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    return box


def show_exception(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    parent: QWidget | None = None,
) -> QDialog:
    """Show a failure without blocking: a UserError as a message, anything else as a report."""
    if isinstance(exc, UserError):
        dialog: QDialog = user_error_dialog(exc, parent)
    else:
        report = format_report(exc_type, exc, tb)
        existing = _open_exception_dialog()
        if existing is not None:
            # One failure often triggers more; collect them in one dialog instead of a stack.
            existing.add_report(report)
            return existing
        dialog = ExceptionDialog(report, parent)
    _open_dialogs.add(dialog)
    dialog.finished.connect(lambda _result: _open_dialogs.discard(dialog))
    dialog.open()
    return dialog


def _open_exception_dialog() -> ExceptionDialog | None:
    for dialog in _open_dialogs:
        if isinstance(dialog, ExceptionDialog) and dialog.isVisible():
            return dialog
    return None


class ExceptionHooks:
    """The installed hooks; :meth:`uninstall` puts the previous ``sys.excepthook`` back."""

    def __init__(self, parent: Callable[[], QWidget | None]) -> None:
        self._parent = parent
        self._previous = sys.excepthook
        self._handling = False
        sys.excepthook = self.excepthook

    def uninstall(self) -> None:
        sys.excepthook = self._previous

    def excepthook(
        self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt | SystemExit):
            self._previous(exc_type, exc, tb)
            return
        # Always leave a trace on stderr, for logs and for when no dialog can be shown.
        if isinstance(exc, UserError):
            print(f"{exc.message} {exc.hint}".strip(), file=sys.stderr)
        else:
            traceback.print_exception(exc_type, exc, tb)
        if self._handling:
            return  # the dialog itself failed; showing another would loop
        self._handling = True
        try:
            show_exception(exc_type, exc, tb, self._parent())
        except Exception:
            traceback.print_exc()
        finally:
            self._handling = False

    def loop_exception_handler(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]
    ) -> None:
        import asyncio  # already loaded: this runs on the asyncio loop

        exc = context.get("exception")
        if exc is None or isinstance(exc, asyncio.CancelledError):
            loop.default_exception_handler(context)
            return
        self.excepthook(type(exc), exc, exc.__traceback__)


def install_exception_hooks(
    parent: Callable[[], QWidget | None], loop: asyncio.AbstractEventLoop | None = None
) -> ExceptionHooks:
    """Route uncaught exceptions (and the asyncio loop's) to the dialog instead of a crash."""
    hooks = ExceptionHooks(parent)
    if loop is not None:
        loop.set_exception_handler(hooks.loop_exception_handler)
    return hooks
