"""Text that wraps anywhere and is always shown whole: DNS values, hosts, keys."""

from __future__ import annotations

import math

from PySide6.QtCore import QSize
from PySide6.QtGui import (
    QFontDatabase,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

# The widest a wrapped text asks to be before it prefers another line.
PREFERRED_MAX_WIDTH = 640


class WrappedText(QWidget):
    """Plain text that wraps anywhere (a DKIM key or a long host has no spaces) and is always
    shown whole: it asks its layout (or its table row) for the height its width needs."""

    def __init__(self, text: str, *, monospace: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self._text = text
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        if monospace:
            self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._doc.setDefaultFont(self.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self._doc.setDefaultTextOption(option)
        self._doc.setPlainText(text)
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def text(self) -> str:
        """The whole text (what is shown, without the line breaks wrapping adds)."""
        return self._text

    def set_text(self, text: str) -> None:
        self._text = text
        self._doc.setPlainText(text)
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self.updateGeometry()
        self.update()

    def natural_width(self) -> int:
        """The width the text takes on one line."""
        return math.ceil(self._doc.idealWidth()) if self._fit(10**6) else 0

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._fit(width)

    def sizeHint(self) -> QSize:
        width = min(self.natural_width(), PREFERRED_MAX_WIDTH)
        return QSize(width, self._fit(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 8, self.fontMetrics().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Not every container asks for the height at a width (a scroll area's page, a grid
        # inside one); a minimum height keeps the last line from being cut off there too.
        needed = self._fit(self.width())
        if self.minimumHeight() != needed:
            self.setMinimumHeight(needed)

    def paintEvent(self, _event: QPaintEvent) -> None:
        self._fit(self.width())
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        self._doc.drawContents(painter)

    def _fit(self, width: int) -> int:
        self._doc.setTextWidth(max(width, 1))
        return math.ceil(self._doc.size().height())
