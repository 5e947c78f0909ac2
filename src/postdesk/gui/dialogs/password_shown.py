"""The one time a password is shown: username and password with Copy buttons, and a warning."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QFrame, QWidget

from postdesk.core.credentials import NewCredentials
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    PAGE_MARGIN,
    SPACE_M,
    SPACE_S,
    label,
    scaled_font,
    vbox,
)
from postdesk.gui.widgets.copyfield import CopyField

ONLY_ONCE = "This is the only time Postdesk shows this password."
# The same amber as a warning banner, so the sentence is not skimmed over.
WARNING_STYLE = (
    "QFrame#onlyOnce { background: #fff4dc; border: 1px solid #efc25f; border-radius: 6px; }"
    " QFrame#onlyOnce QLabel { color: #4a3300; }"
)
DIALOG_MIN_WIDTH = 480


class PasswordShownDialog(QDialog):
    """Shows new credentials once; closing it is the last chance to copy the password."""

    def __init__(
        self, credentials: NewCredentials, heading: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(heading)
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        title = label(heading)
        title.setFont(scaled_font(title, HEADING_FONT_SCALE))
        warning = QFrame()
        warning.setObjectName("onlyOnce")
        warning.setStyleSheet(WARNING_STYLE)
        self.warning_label = label(ONLY_ONCE)
        self.warning_label.setFont(scaled_font(self.warning_label, 1.0))
        warning.setLayout(
            vbox(
                self.warning_label,
                label(
                    "Copy it into your app now. Postdesk keeps it only in your system's "
                    "keyring and can't display it again; if it gets lost, use Reset Password."
                ),
                margin=SPACE_M,
                spacing=SPACE_S,
            )
        )
        self.username_field = CopyField(credentials.username, name="Username")
        self.password_field = CopyField(credentials.password, name="Password", monospace=True)
        form = QFormLayout()
        form.setSpacing(SPACE_S)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Username", self.username_field)
        form.addRow("Password", self.password_field)
        buttons = QDialogButtonBox()
        self.done_button = buttons.addButton(
            "I have copied the password", QDialogButtonBox.ButtonRole.AcceptRole
        )
        buttons.accepted.connect(self.accept)
        self.setLayout(vbox(title, warning, form, buttons, margin=PAGE_MARGIN, spacing=SPACE_M))
        self.password_field.copy_button.setFocus()
