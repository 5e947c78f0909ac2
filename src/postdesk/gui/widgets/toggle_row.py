"""An on/off setting: a check box, a sentence on what it does, and a line for a pending change."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import QCheckBox, QLabel, QStyle, QWidget

from postdesk.gui.qtutils import SPACE_XS, muted, vbox


class WholeLabel(QLabel):
    """A word-wrapped label that keeps the height its width needs, also inside a scroll area.

    A scroll area's page does not ask its labels for their height at a width; squeezed, the
    label cut its first and last lines (the page should scroll instead).
    """

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        needed = self.heightForWidth(self.width()) if self.wordWrap() else -1
        if needed > 0 and self.minimumHeight() != needed:
            self.setMinimumHeight(needed)


def _whole(text: str = "") -> WholeLabel:
    widget = WholeLabel(text)
    widget.setTextFormat(Qt.TextFormat.PlainText)
    widget.setWordWrap(True)
    return widget


class ToggleRow(QWidget):
    """A setting the user switches on or off; ``switched`` fires only for the user's own clicks."""

    switched = Signal(bool)

    def __init__(self, title: str, explanation: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.switch = QCheckBox(title)
        bold = QFont(self.switch.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.switch.setFont(bold)
        self.explanation_label = muted(_whole(explanation))
        self.pending_label = _whole()
        self.pending_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pending_label.setFont(bold)
        self.pending_label.hide()
        # clicked, not toggled: showing a stored value must not look like the user changed it.
        self.switch.clicked.connect(self.switched)

        layout = vbox(self.switch, self.explanation_label, self.pending_label, spacing=SPACE_XS)
        # Only the box and its title take clicks, not the empty width beside them.
        layout.setAlignment(self.switch, Qt.AlignmentFlag.AlignLeft)
        for widget in (self.explanation_label, self.pending_label):
            # Line the text up with the check box's label, not with its box.
            widget.setContentsMargins(self._text_indent(), 0, 0, 0)
        self.setLayout(layout)

    def _text_indent(self) -> int:
        style = self.switch.style()
        return style.pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + style.pixelMetric(
            QStyle.PixelMetric.PM_CheckBoxLabelSpacing
        )

    @property
    def checked(self) -> bool:
        return self.switch.isChecked()

    @property
    def pending_text(self) -> str:
        """The pending-change line, or "" when nothing is waiting to take effect."""
        return self.pending_label.text() if not self.pending_label.isHidden() else ""

    def set_state(self, checked: bool, pending: str = "") -> None:
        """Show the value (the requested one while a change waits) and the pending line."""
        self.switch.setChecked(checked)
        self.pending_label.setText(pending)
        self.pending_label.setVisible(bool(pending))
        self.switch.setAccessibleDescription(pending or self.explanation_label.text())
