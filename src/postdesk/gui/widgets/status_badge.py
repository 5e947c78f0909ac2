"""A small coloured pill that says how something went (OK, Failed, Not tested); clickable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QSizePolicy, QWidget

from postdesk.gui.qtutils import SPACE_S, SPACE_XS

State = Literal["ok", "failed", "untested", "testing"]


@dataclass(frozen=True)
class _Colours:
    background: str
    border: str
    text: str


# Fixed colours with dark text, so a badge reads the same in light and dark themes.
_COLOURS: dict[State, _Colours] = {
    "ok": _Colours("#e3f4e6", "#8fcf9c", "#1d4d27"),
    "failed": _Colours("#fdecea", "#eea59b", "#5f1a12"),
    "untested": _Colours("#eef0f2", "#c3c8cf", "#3b4148"),
    "testing": _Colours("#e8f1fb", "#9cc3ea", "#16324f"),
}
BADGE_RADIUS = 9


class StatusBadge(QPushButton):
    """A flat, rounded badge; clicking it (when ``clickable``) emits ``clicked`` like a button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: State = "untested"
        self.setFlat(True)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.set_state("untested", "Not tested")

    def set_state(self, state: State, text: str, *, tooltip: str = "") -> None:
        """Show ``text`` in the colours of ``state``; a tooltip says what a click does."""
        self.state = state
        self.setText(text)
        self.setToolTip(tooltip)
        self.setAccessibleName(text)
        clickable = bool(tooltip)
        self.setCursor(
            Qt.CursorShape.PointingHandCursor if clickable else Qt.CursorShape.ArrowCursor
        )
        self.setEnabled(clickable)
        colours = _COLOURS[state]
        self.setStyleSheet(
            f"QPushButton {{ background: {colours.background}; color: {colours.text};"
            f" border: 1px solid {colours.border}; border-radius: {BADGE_RADIUS}px;"
            f" padding: {SPACE_XS // 2}px {SPACE_S}px; }}"
            f" QPushButton:disabled {{ color: {colours.text}; }}"
        )
