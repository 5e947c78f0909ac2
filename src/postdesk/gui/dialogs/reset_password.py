"""Reset Password: choose the new password, then confirm that the old one stops working."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QStackedWidget, QWidget

from postdesk.gui.dialogs.fields import DIALOG_MIN_WIDTH, grow_to_fit
from postdesk.gui.dialogs.new_smtp_user import PasswordChoice
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    PAGE_MARGIN,
    SPACE_M,
    label,
    make_default,
    scaled_font,
    vbox,
)


class ResetPasswordDialog(QDialog):
    """Two steps: the password choice, then a confirmation; the page resets the password."""

    def __init__(self, login: str, username: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.username = username
        self.setWindowTitle(f"Reset Password — {username}")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        self.password_choice = PasswordChoice(login)

        self.choose_buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.next_button = self.choose_buttons.addButton(
            "Next", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.next_button.clicked.connect(self.show_confirmation)
        self.choose_buttons.rejected.connect(self.reject)
        choose = QWidget()
        choose.setLayout(
            vbox(
                label(f"Choose a new password for {username}."),
                self.password_choice,
                self.choose_buttons,
                spacing=SPACE_M,
            )
        )

        self.confirm_buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.back_button = self.confirm_buttons.addButton(
            "Back", QDialogButtonBox.ButtonRole.ResetRole
        )
        self.reset_button = self.confirm_buttons.addButton(
            "Reset Password", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.back_button.clicked.connect(self.show_choice)
        self.confirm_buttons.accepted.connect(self.accept)
        self.confirm_buttons.rejected.connect(self.reject)
        question = label(f"Reset the password of {username}?")
        question.setFont(scaled_font(question, HEADING_FONT_SCALE))
        self.confirm_text = label(
            "The current password stops working immediately. Every app that signs in with "
            "it — your shop, CRM or warm-up tool — can't send until you enter the new "
            "password there."
        )
        confirm = QWidget()
        confirm.setLayout(vbox(question, self.confirm_text, self.confirm_buttons, spacing=SPACE_M))

        self.steps = QStackedWidget()
        self.steps.addWidget(choose)
        self.steps.addWidget(confirm)
        self.password_choice.changed.connect(self._update)
        self.setLayout(vbox(self.steps, margin=PAGE_MARGIN))
        make_default(self.next_button)
        self._update()

    def password(self) -> str | None:
        """The typed password, or None to generate one."""
        return self.password_choice.password()

    def show_confirmation(self) -> None:
        if self.password_choice.is_valid():
            self.steps.setCurrentIndex(1)
            make_default(self.reset_button)
            # The field that had focus is hidden now; left to Qt, focus (and Enter) lands on Cancel.
            self.reset_button.setFocus()

    def show_choice(self) -> None:
        self.steps.setCurrentIndex(0)
        make_default(self.next_button)
        self.password_choice.setFocus()

    def _update(self) -> None:
        self.next_button.setEnabled(self.password_choice.is_valid())
        grow_to_fit(self)
