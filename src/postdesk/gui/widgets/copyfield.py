"""A read-only value with a Copy button: DNS records, usernames, passwords, server names."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QLineEdit, QPushButton, QWidget

from postdesk.gui.qtutils import SPACE_XS, hbox

COPY_TEXT = "Copy"
COPIED_TEXT = "Copied"
# Long enough to read "Copied", short enough that the next copy shows it again.
COPIED_FEEDBACK_MS = 1500


class CopyField(QWidget):
    """A selectable, read-only value and a button that puts it on the clipboard."""

    def __init__(
        self,
        value: str = "",
        *,
        name: str = "",
        monospace: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.field = QLineEdit(value)
        self.field.setReadOnly(True)
        self.field.setCursorPosition(0)
        if monospace:
            self.field.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_button = QPushButton(COPY_TEXT)
        # The widest text, so the button does not change size when it says "Copied".
        self.copy_button.setMinimumWidth(
            self.copy_button.fontMetrics().horizontalAdvance(COPIED_TEXT)
            + self.copy_button.sizeHint().width()
            - self.copy_button.fontMetrics().horizontalAdvance(COPY_TEXT)
        )
        self.copy_button.clicked.connect(self.copy)
        self._reset_timer = QTimer(self)
        self._reset_timer.setSingleShot(True)
        self._reset_timer.setInterval(COPIED_FEEDBACK_MS)
        self._reset_timer.timeout.connect(lambda: self.copy_button.setText(COPY_TEXT))
        self.set_name(name)
        self.setLayout(hbox(self.field, self.copy_button, spacing=SPACE_XS))

    def value(self) -> str:
        return self.field.text()

    def set_value(self, value: str) -> None:
        """Show another value (the button goes back to "Copy")."""
        self.field.setText(value)
        self.field.setCursorPosition(0)
        self._reset_timer.stop()
        self.copy_button.setText(COPY_TEXT)

    def set_name(self, name: str) -> None:
        """What the value is ("Username"), for screen readers and the button's tooltip."""
        self.field.setAccessibleName(name)
        self.copy_button.setAccessibleName(f"Copy {name.lower()}" if name else COPY_TEXT)
        self.copy_button.setToolTip(f"Copy the {name.lower()}" if name else "Copy")

    def copy(self) -> None:
        """Put the value on the clipboard and say so on the button for a moment."""
        QGuiApplication.clipboard().setText(self.value())
        self.copy_button.setText(COPIED_TEXT)
        self._reset_timer.start()


class WrappedCopyField(QWidget):
    """A value shown whole (wrapped, never cut) with a Copy button beside its first line."""

    def __init__(self, *, name: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from postdesk.gui.widgets.records_table import CopyButton
        from postdesk.gui.widgets.wrappedtext import WrappedText

        self.text = WrappedText("", monospace=True)
        self.text.setAccessibleName(name)
        self.copy_button = CopyButton("", name.lower() or "value")
        layout = hbox(self.text, self.copy_button, spacing=SPACE_XS)
        layout.setAlignment(self.copy_button, Qt.AlignmentFlag.AlignTop)
        self.setLayout(layout)

    def value(self) -> str:
        return self.text.text()

    def set_value(self, value: str) -> None:
        self.text.set_text(value)
        self.copy_button.value = value
