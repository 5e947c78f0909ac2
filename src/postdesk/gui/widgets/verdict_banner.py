"""The verdict of a test: green when it worked, red with what went wrong and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QSizePolicy, QWidget

from postdesk.core.smtptest import CATEGORIES, TestResult
from postdesk.gui.qtutils import SPACE_M, SPACE_XS, label, vbox

Tone = Literal["ok", "failed", "running", "neutral"]


@dataclass(frozen=True)
class _Colours:
    background: str
    border: str
    text: str


# Fixed colours with dark text, like the page banner, so they read the same in every theme.
_COLOURS: dict[Tone, _Colours] = {
    "ok": _Colours("#e3f4e6", "#8fcf9c", "#1d4d27"),
    "failed": _Colours("#fdecea", "#eea59b", "#5f1a12"),
    "running": _Colours("#e8f1fb", "#9cc3ea", "#16324f"),
    "neutral": _Colours("#eef0f2", "#c3c8cf", "#3b4148"),
}
BORDER_RADIUS = 6


def verdict_heading(ok: bool, category: str, *, message_sent: bool) -> str:
    """The verdict in a few plain words: "Sent — …", "Connected — …" or what went wrong."""
    if ok:
        if message_sent:
            return "Sent — the server accepted the test email"
        return "Connected — the server accepted the security setting and the login"
    return f"Failed — {CATEGORIES.get(category, 'the test did not work').lower()}"


class VerdictBanner(QFrame):
    """A coloured strip with a heading and the advice; hidden until there is something to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("verdict")
        self.tone: Tone = "neutral"
        self.heading_label = label(selectable=True)
        bold = QFont(self.heading_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.heading_label.setFont(bold)
        self.advice_label = label(selectable=True)
        self.setLayout(
            vbox(self.heading_label, self.advice_label, margin=SPACE_M, spacing=SPACE_XS)
        )
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def show_result(self, result: TestResult, *, message_sent: bool) -> None:
        """Show the verdict of a finished test."""
        heading = verdict_heading(result.ok, result.category, message_sent=message_sent)
        self.show_text("ok" if result.ok else "failed", heading, result.advice)

    def show_text(self, tone: Tone, heading: str, advice: str = "") -> None:
        """Show any heading and advice in the colours of ``tone``."""
        self.tone = tone
        self.heading_label.setText(heading)
        self.advice_label.setText(advice)
        self.advice_label.setVisible(bool(advice))
        colours = _COLOURS[tone]
        self.setStyleSheet(
            f"QFrame#verdict {{ background: {colours.background};"
            f" border: 1px solid {colours.border}; border-radius: {BORDER_RADIUS}px; }}"
            f" QFrame#verdict QLabel {{ color: {colours.text}; }}"
        )
        self.setAccessibleName(heading)
        self.show()
