"""SMTP Service: the providers that deliver the user's mail."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.emptystate import EmptyState


class SmtpServicePage(Page):
    title = "SMTP Service"
    description = (
        "Choose the email providers that deliver your mail, such as SendGrid, Mailgun or "
        "Amazon SES, and check that they work."
    )

    def build_content(self) -> QWidget:
        return EmptyState(
            "icons/empty-service.png",
            "No sending services yet",
            "Add the provider that delivers your mail. Its login is kept in your computer's "
            "secure password storage.",
        )
