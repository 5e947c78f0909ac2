"""DNS problems: a severity icon, the plain sentence, what to do, and the code for tickets."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QLabel, QStyle, QWidget

from postdesk.core.records import Problem
from postdesk.gui.qtutils import SPACE_M, SPACE_S, SPACE_XS, hbox, label, muted, vbox

ICON_SIZE = 20
# The code is for support tickets, not for reading: smaller than the sentence above it.
CODE_FONT_SCALE = 0.85
_ICONS = {
    "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
}
SEVERITY_WORDS = {"error": "Problem", "warning": "Warning", "info": "Note"}


class ProblemItem(QFrame):
    """One problem: icon, sentence, fix, and ``code · host`` small and selectable."""

    def __init__(self, problem: Problem, host: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.problem = problem
        self.icon_label = QLabel()
        icon = self.style().standardIcon(_ICONS.get(problem.severity, _ICONS["info"]))
        self.icon_label.setPixmap(icon.pixmap(ICON_SIZE, ICON_SIZE))
        self.icon_label.setAccessibleName(SEVERITY_WORDS.get(problem.severity, "Note"))
        self.message_label = label(problem.message, selectable=True)
        bold = QFont(self.message_label.font())
        bold.setWeight(QFont.Weight.DemiBold)
        self.message_label.setFont(bold)
        self.fix_label = label(f"What to do: {problem.fix}" if problem.fix else "", selectable=True)
        self.fix_label.setVisible(bool(problem.fix))
        where = f" · {host}" if host else ""
        self.code_label = muted(label(f"{problem.code}{where}", selectable=True))
        small = QFont(self.code_label.font())
        small.setPointSizeF(small.pointSizeF() * CODE_FONT_SCALE)
        self.code_label.setFont(small)
        text = vbox(self.message_label, self.fix_label, self.code_label, spacing=SPACE_XS)
        row = hbox(spacing=SPACE_S)
        row.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)
        self.setLayout(row)


class ProblemList(QWidget):
    """Problems, most serious first; a short sentence when there are none."""

    def __init__(self, empty_text: str = "No problems found.", parent: QWidget | None = None):
        super().__init__(parent)
        self.empty_label = muted(label(empty_text))
        self.items: list[ProblemItem] = []
        self._layout = vbox(self.empty_label, spacing=SPACE_M)
        self.setLayout(self._layout)

    def set_problems(self, problems: Sequence[tuple[str, Problem] | Problem]) -> None:
        """Show ``problems`` (each a Problem, or a (host, Problem) pair) in the order given."""
        for item in self.items:
            self._layout.removeWidget(item)
            item.deleteLater()
        self.items = []
        for entry in problems:
            host, problem = entry if isinstance(entry, tuple) else ("", entry)
            item = ProblemItem(problem, host)
            self._layout.addWidget(item)
            self.items.append(item)
        self.empty_label.setVisible(not self.items)

    def set_empty_text(self, text: str) -> None:
        self.empty_label.setText(text)

    def codes(self) -> list[str]:
        """The codes shown, in order (what a support person would quote)."""
        return [item.problem.code for item in self.items]
