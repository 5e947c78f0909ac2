"""SMTP Settings: the SMTP logins of one verified domain and the details apps need to connect."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.emptystate import EmptyState


class SmtpSettingsPage(Page):
    title = "SMTP Settings"
    description = (
        "Create SMTP logins for your shop, CRM or other apps, and see the server details they "
        "need to connect."
    )

    def build_content(self) -> QWidget:
        return EmptyState(
            "icons/empty-logins.png",
            "No SMTP logins yet",
            "Verify a domain on the Dedicated Domain And IP tab first; then you can create up "
            "to 5 logins for it here.",
        )
