"""Sends through: confirm sending a domain through another service, with its new SPF value."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QWidget

from postdesk.core.domains import shown_name
from postdesk.core.servicechange import ServiceChange
from postdesk.gui.dialogs.fields import DIALOG_MIN_WIDTH
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    PAGE_MARGIN,
    SPACE_M,
    label,
    make_default,
    muted,
    scaled_font,
    vbox,
)
from postdesk.gui.widgets.copyfield import WrappedCopyField


def spf_advice(change: ServiceChange) -> str:
    """What the user has to do at their DNS host after the change."""
    if change.spf_after is None:
        return "The domain has no SPF record to update."
    if not change.spf_changes:
        return "Its SPF record stays as it is: nothing to change at your DNS host."
    return (
        "Its SPF record changes. Publish this value at your DNS host in place of the old one; "
        f"until then receivers may reject mail sent through {change.service}."
    )


class ChangeServiceDialog(QDialog):
    """Shows what changes (the SPF value to publish, with Copy); Enter confirms."""

    def __init__(self, change: ServiceChange, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.change = change
        self.setWindowTitle("Change the sending service")
        self.setMinimumWidth(DIALOG_MIN_WIDTH)
        question = label(f"Send mail from {shown_name(change.domain)} through {change.service}?")
        question.setFont(scaled_font(question, HEADING_FONT_SCALE))
        self.advice = label(spf_advice(change))
        self.spf_field = WrappedCopyField(name="SPF value")
        self.spf_field.set_value(change.spf_after or "")
        self.spf_field.setVisible(change.spf_changes and change.spf_after is not None)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.confirm_button = self.buttons.addButton(
            f"Send through {change.service}", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        after = muted(label("Then press Verify Now on Dedicated Domain And IP to check it again."))
        after.setVisible(change.spf_changes)
        self.setLayout(
            vbox(
                question,
                self.advice,
                self.spf_field,
                after,
                self.buttons,
                margin=PAGE_MARGIN,
                spacing=SPACE_M,
            )
        )
        make_default(self.confirm_button)
