"""Suppress an address by hand: the address (checked as typed), the reason, the domain, a note."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLineEdit, QWidget

from postdesk.core import suppression
from postdesk.core.errors import UserError
from postdesk.core.views import SUPPRESSION_REASONS
from postdesk.gui.dialogs.fields import DIALOG_MIN_WIDTH, grow_to_fit, inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_XS, hbox, label, make_default, vbox

ALL = ""
EVERY_DOMAIN = "All domains"
# Reasons a person can give by hand (bounces and complaints come from the providers).
HAND_REASONS = ("manual", "unsubscribe", "complaint")


def reason_words(reason: str) -> str:
    """A reason as the list shows it: "Hard bounce", "Added by hand"."""
    words = SUPPRESSION_REASONS.get(reason, reason)
    return words[:1].upper() + words[1:]


class AddSuppressionDialog(QDialog):
    """Collects an address (checked as typed), the reason, the domain and a note."""

    def __init__(self, domains: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Suppress an address")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("e.g. customer@example.com")
        self.address_edit.setAccessibleName("Address")
        self.address_message = inline_message()
        self.reason_combo = QComboBox()
        for reason in HAND_REASONS:
            self.reason_combo.addItem(reason_words(reason), reason)
        self.domain_combo = QComboBox()
        self.domain_combo.addItem(EVERY_DOMAIN, ALL)
        for name in domains:
            self.domain_combo.addItem(name, name)
        self.note_edit = QLineEdit()
        self.note_edit.setPlaceholderText("e.g. asked by phone on 3 March")
        self.note_edit.setAccessibleName("Note")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Suppress", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.address_edit.textChanged.connect(self._update)
        self.setLayout(
            vbox(
                label("Postdesk will refuse mail to this address, and say why."),
                vbox(label("Address"), self.address_edit, self.address_message, spacing=SPACE_XS),
                hbox(
                    vbox(label("Reason"), self.reason_combo, spacing=SPACE_XS),
                    vbox(label("For"), self.domain_combo, spacing=SPACE_XS),
                    spacing=SPACE_M,
                ),
                vbox(label("Note (optional)"), self.note_edit, spacing=SPACE_XS),
                self.buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        make_default(self.add_button)
        self._update()

    def values(self) -> tuple[str, str, str, str]:
        """(address, reason, domain or "", note) as typed and chosen."""
        return (
            self.address_edit.text().strip(),
            self.reason_combo.currentData(),
            self.domain_combo.currentData() or "",
            self.note_edit.text().strip(),
        )

    def _problem(self) -> str:
        text = self.address_edit.text().strip()
        if not text:
            return ""
        try:
            suppression.normalize(text)
        except UserError as error:
            return f"{error.message} {error.hint}".strip()
        return ""

    def _update(self) -> None:
        problem = self._problem()
        show_inline(self.address_message, problem, error=bool(problem))
        self.add_button.setEnabled(bool(self.address_edit.text().strip()) and not problem)
        grow_to_fit(self)

    def _accept_if_valid(self) -> None:
        if self.add_button.isEnabled():
            self.accept()
