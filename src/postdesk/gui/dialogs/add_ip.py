"""Add IP: a dedicated sending address, checked as it is typed, and an optional label."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QWidget

from postdesk.core.errors import UserError
from postdesk.core.ips import normalize_ip
from postdesk.core.validation import check_field
from postdesk.gui.dialogs.fields import DIALOG_MIN_WIDTH, grow_to_fit, inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_XS, label, make_default, muted, vbox

INTRO = (
    "Add an IP address your mail is sent from (your provider gives you one with a dedicated IP). "
    "Postdesk checks its reverse DNS, whether your domains' SPF allows it, and the blocklists."
)


class AddIpDialog(QDialog):
    """Collects a valid public IP address and a label; the page adds it."""

    def __init__(self, existing: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._existing = set(existing)
        self.setWindowTitle("Add IP")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self.address_edit = QLineEdit()
        self.address_edit.setPlaceholderText("e.g. 203.0.113.25")
        self.address_edit.setAccessibleName("IP address")
        self.address_message = inline_message()
        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("e.g. SendGrid dedicated IP")
        self.label_edit.setAccessibleName("Label")
        self.label_message = inline_message()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add IP", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.address_edit.textChanged.connect(self._update)
        self.label_edit.textChanged.connect(self._update)
        self.setLayout(
            vbox(
                label(INTRO),
                vbox(
                    label("IP address"), self.address_edit, self.address_message, spacing=SPACE_XS
                ),
                vbox(
                    label("Label (optional)"),
                    self.label_edit,
                    self.label_message,
                    muted(label("A name you recognise it by, such as the provider.")),
                    spacing=SPACE_XS,
                ),
                self.buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        make_default(self.add_button)
        self._address: str | None = None
        self._update()

    def address(self) -> str:
        """The checked address in its canonical form."""
        assert self._address is not None, "only read after the dialog was accepted"
        return self._address

    def ip_label(self) -> str:
        return self.label_edit.text().strip()

    def _update(self) -> None:
        self._address = None
        problem = ""
        if self.address_edit.text().strip():
            try:
                address = normalize_ip(self.address_edit.text())
            except UserError as error:
                problem = f"{error.message} {error.hint}".strip()
            else:
                if address in self._existing:
                    problem = f"{address} is already in the list."
                else:
                    self._address = address
        show_inline(self.address_message, problem, error=True)
        label_problem = ""
        try:
            check_field("The label", self.label_edit.text())
        except UserError as error:
            label_problem = f"{error.message} {error.hint}".strip()
        show_inline(self.label_message, label_problem, error=True)
        self.add_button.setEnabled(self._address is not None and not label_problem)
        grow_to_fit(self)

    def _accept_if_valid(self) -> None:
        if self.add_button.isEnabled():
            self.accept()
