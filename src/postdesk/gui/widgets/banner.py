"""An inline banner at the top of a page: info, warning or error, with an optional action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QPushButton, QSizePolicy, QToolButton

from postdesk.gui.qtutils import SPACE_M, SPACE_XS, hbox, label, vbox

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class _Colours:
    background: str
    border: str
    text: str


# Fixed colours with dark text, so the banner reads the same in light and dark themes.
_COLOURS: dict[Level, _Colours] = {
    "info": _Colours("#e8f1fb", "#9cc3ea", "#16324f"),
    "warning": _Colours("#fff4dc", "#efc25f", "#4a3300"),
    "error": _Colours("#fdecea", "#eea59b", "#5f1a12"),
}
BORDER_RADIUS = 6


class Banner(QFrame):
    """A hidden-until-needed strip that tells the user something about the page they are on."""

    def __init__(self, parent: QFrame | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.level: Level = "info"
        self.message_label = label(selectable=True)
        bold = QFont(self.message_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.message_label.setFont(bold)
        self.hint_label = label(selectable=True)
        self.action_button = QPushButton()
        self.action_button.clicked.connect(self._run_action)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setText("✕")
        self.dismiss_button.setAutoRaise(True)
        self.dismiss_button.setToolTip("Dismiss this message")
        self.dismiss_button.setAccessibleName("Dismiss")
        self.dismiss_button.clicked.connect(self.clear)
        self._action: Callable[[], object] | None = None

        text = vbox(self.message_label, self.hint_label, spacing=SPACE_XS)
        row = hbox(text, self.action_button, margin=SPACE_M, spacing=SPACE_M)
        row.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignTop)
        row.setStretch(0, 1)
        self.setLayout(row)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def show_message(
        self,
        level: Level,
        message: str,
        hint: str = "",
        *,
        action: tuple[str, Callable[[], object]] | None = None,
        dismissable: bool = True,
    ) -> None:
        """Show ``message`` (and what to do about it, ``hint``), replacing any earlier message."""
        self.level = level
        self.message_label.setText(message)
        self.hint_label.setText(hint)
        self.hint_label.setVisible(bool(hint))
        self._action = action[1] if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setVisible(action is not None)
        self.dismiss_button.setVisible(dismissable)
        self._apply_colours(_COLOURS[level])
        self.setAccessibleName(f"{level.capitalize()}: {message}")
        self.show()

    def clear(self) -> None:
        """Hide the banner and forget its message."""
        self.message_label.clear()
        self.hint_label.clear()
        self._action = None
        self.hide()

    def _run_action(self) -> None:
        if self._action is not None:
            self._action()

    def _apply_colours(self, colours: _Colours) -> None:
        self.setStyleSheet(
            f"QFrame#banner {{ background: {colours.background};"
            f" border: 1px solid {colours.border}; border-radius: {BORDER_RADIUS}px; }}"
            f" QFrame#banner QLabel, QFrame#banner QToolButton {{ color: {colours.text}; }}"
        )
