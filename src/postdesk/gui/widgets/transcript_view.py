"""The SMTP conversation, line by line as it happens: time, who spoke, what was said."""

from __future__ import annotations

from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QPalette,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from postdesk.core.smtptest import TranscriptLine

TRANSCRIPT_MIN_HEIGHT = 200
TRANSCRIPT_MIN_WIDTH = 460
# The colour roles each speaker is drawn in: palette roles, so light and dark themes both work.
_ROLES = {
    "client": QPalette.ColorRole.Link,  # what Postdesk sent
    "server": QPalette.ColorRole.Text,  # what the server answered
    "info": QPalette.ColorRole.PlaceholderText,  # Postdesk's own notes
}


class TranscriptView(QPlainTextEdit):
    """A read-only, monospace transcript; :meth:`append_line` adds one line live."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setMinimumSize(TRANSCRIPT_MIN_WIDTH, TRANSCRIPT_MIN_HEIGHT)
        self.setAccessibleName("SMTP conversation")
        self.lines: list[TranscriptLine] = []

    def append_line(self, line: TranscriptLine) -> None:
        """Add one line in its speaker's colour and keep the newest line in view."""
        self.lines.append(line)
        text_format = QTextCharFormat()
        text_format.setForeground(QColor(self.palette().color(_ROLES[line.direction])))
        text_format.setFontItalic(line.direction == "info")
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if len(self.lines) > 1:
            cursor.insertBlock()
        # The same "   123 ms C: …" shape as the copied transcript and the command line.
        cursor.insertText(str(line), text_format)
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def resizeEvent(self, event: QResizeEvent) -> None:
        # Following the newest line survives the dialog making room for the verdict.
        bar = self.verticalScrollBar()
        following = bar.value() >= bar.maximum()
        super().resizeEvent(event)
        if following:
            bar.setValue(bar.maximum())

    def show_lines(self, lines: list[TranscriptLine]) -> None:
        """Replace the view with these lines."""
        self.clear_lines()
        for line in lines:
            self.append_line(line)

    def show_note(self, text: str) -> None:
        """Replace the view with a note (when there is no conversation to show)."""
        self.clear_lines()
        self.setPlaceholderText(text)

    def clear_lines(self) -> None:
        self.lines = []
        self.clear()
        self.setPlaceholderText("")

    def text(self) -> str:
        """The transcript as plain text, for the clipboard and the saved report."""
        return "\n".join(str(line) for line in self.lines)
