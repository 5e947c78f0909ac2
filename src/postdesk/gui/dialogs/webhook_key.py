"""Store a provider's webhook verification key: pasted once, checked as typed, kept in the keyring.

The dialog only collects and checks the key; the Domain Settings page stores it (off the GUI
thread, through the secrets gateway) and shows the provider's state again.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QWidget

from postdesk.core.errors import UserError
from postdesk.core.webhooks.urls import SECRET_WORDS, check_secret
from postdesk.gui.dialogs.fields import DIALOG_MIN_WIDTH, grow_to_fit, inline_message, show_inline
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_XS, label, make_default, muted, vbox

# Where each provider shows the value (its own words), so the user knows what to copy.
WHERE = {
    "sendgrid": "SendGrid: Settings → Mail Settings → Event Webhook, with Signed Event Webhook on.",
    "mailgun": "Mailgun: Sending → Webhooks → HTTP webhook signing key.",
    "postmark": "Postmark: the user name and password you set for the webhook's basic auth.",
    "ses": "AWS: the SNS topic your SES configuration set publishes bounces and complaints to.",
}


class WebhookKeyDialog(QDialog):
    """Collects one provider's key; Save is offered only once the key reads as that provider's."""

    def __init__(self, provider: str, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.provider = provider
        self.setWindowTitle(f"{name} webhook key")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self.key_edit = QLineEdit()
        self.key_edit.setAccessibleName(f"{name} key")
        if provider != "ses":  # a topic ARN is no secret; the others are
            self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_message = inline_message()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)
        self.key_edit.textChanged.connect(self._update)
        self.setLayout(
            vbox(
                label(f"Paste {SECRET_WORDS[provider]}."),
                muted(label(WHERE[provider])),
                vbox(self.key_edit, self.key_message, spacing=SPACE_XS),
                muted(label("It is kept in the system keyring, never in Postdesk's files.")),
                self.buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        make_default(self.save_button)
        self._update()

    def value(self) -> str:
        """The key as pasted (core stores it in its checked form)."""
        return self.key_edit.text()

    def _problem(self) -> str:
        if not self.key_edit.text().strip():
            return ""
        try:
            check_secret(self.provider, self.key_edit.text())
        except UserError as error:
            return f"{error.message} {error.hint}".strip()
        return ""

    def _update(self) -> None:
        problem = self._problem()
        show_inline(self.key_message, problem, error=bool(problem))
        self.save_button.setEnabled(bool(self.key_edit.text().strip()) and not problem)
        grow_to_fit(self)

    def _accept_if_valid(self) -> None:
        if self.save_button.isEnabled():
            self.accept()
