"""Add Domain: the domain name, checked as it is typed, and the service it sends through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLineEdit, QWidget

from postdesk.core.domains import check_new_domain
from postdesk.core.errors import UserError
from postdesk.core.validation import display_domain
from postdesk.gui.dialogs.fields import DIALOG_MIN_WIDTH, grow_to_fit, inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_XS, label, make_default, muted, vbox

if TYPE_CHECKING:
    from postdesk.core.store import Store
    from postdesk.core.views import ServiceView

INTRO = (
    "Type the domain you send email from, in lowercase. Postdesk then makes the DNS records to "
    "publish for it: an ownership record, SPF, a DKIM key and DMARC."
)
NO_SERVICE_NOTE = (
    "No SMTP service added yet. You can add the domain now and choose the service that "
    "delivers its mail later, on Domain Settings; its SPF record is then updated."
)


class AddDomainDialog(QDialog):
    """Collects a valid, new domain name and a service; the page adds the domain."""

    def __init__(
        self, store: Store, services: list[ServiceView], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.setWindowTitle("Add Domain")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self.domain_edit = QLineEdit()
        self.domain_edit.setPlaceholderText("e.g. shop.com")
        self.domain_edit.setAccessibleName("Domain name")
        self.message = inline_message()
        self.hint = label()
        self.hint.hide()
        self.preview = muted(label())
        self.service_combo = QComboBox()
        self.service_combo.setAccessibleName("Sends through")
        for service in services:
            text = f"{service.name} (default)" if service.is_default else service.name
            self.service_combo.addItem(text, service.name)
        default = next((s.name for s in services if s.is_default), None)
        if default is not None:
            self.service_combo.setCurrentIndex(self.service_combo.findData(default))
        if not services:
            self.service_combo.addItem("No SMTP service yet", None)
            self.service_combo.setEnabled(False)
        self.service_note = muted(label(NO_SERVICE_NOTE))
        self.service_note.setVisible(not services)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        # "&&" shows one "&": a single one would mark the next letter as a keyboard shortcut.
        self.add_button = self.buttons.addButton(
            "Add && Verify", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.domain_edit.textChanged.connect(self._update)

        domain_block = vbox(
            label("Domain"),
            self.domain_edit,
            self.message,
            self.hint,
            self.preview,
            spacing=SPACE_XS,
        )
        service_block = vbox(
            label("Sends through"), self.service_combo, self.service_note, spacing=SPACE_XS
        )
        self.setLayout(
            vbox(
                label(INTRO),
                domain_block,
                service_block,
                self.buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        make_default(self.add_button)
        self._name: str | None = None
        self._update()

    def domain(self) -> str:
        """The checked domain in its stored (A-label) form."""
        assert self._name is not None, "only read after the dialog was accepted"
        return self._name

    def service_name(self) -> str | None:
        """The chosen service, or None when there is none to choose."""
        data = self.service_combo.currentData()
        return str(data) if data else None

    def _update(self) -> None:
        text = self.domain_edit.text()
        self._name = None
        problem: UserError | None = None
        if text.strip():
            try:
                self._name = check_new_domain(self.store, text)
            except UserError as error:
                problem = error
        show_inline(self.message, problem.message if problem else "", error=True)
        self.hint.setText(problem.hint if problem else "")
        self.hint.setVisible(bool(problem and problem.hint))
        self.preview.setText(self._preview())
        self.preview.setVisible(self._name is not None)
        self.add_button.setEnabled(self._name is not None)
        grow_to_fit(self)

    def _preview(self) -> str:
        if self._name is None:
            return ""
        shown = display_domain(self._name)
        if shown != self._name:
            return f"Postdesk will add {shown} (written {self._name} in DNS)."
        return f"Postdesk will add {shown}."

    def _accept_if_valid(self) -> None:
        if self.add_button.isEnabled():
            self.accept()
