"""Domain Settings: tracking, sending service and DKIM key of one domain."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.emptystate import EmptyState


class DomainSettingsPage(Page):
    title = "Domain Settings"
    description = (
        "Turn open and click tracking on or off for a domain, and choose which service sends "
        "its mail."
    )

    def build_content(self) -> QWidget:
        return EmptyState(
            "icons/empty-settings.png",
            "No domain to set up yet",
            "Add a domain on the Dedicated Domain And IP tab first; its settings will appear here.",
        )
