"""Dedicated Domain And IP: sending domains, their DNS records, and dedicated IP addresses."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from postdesk.gui.tabs.base import Page
from postdesk.gui.widgets.emptystate import EmptyState


class DomainsPage(Page):
    title = "Dedicated Domain And IP"
    description = (
        "Add the domains you send from, publish the DNS records Postdesk gives you, and check "
        "your dedicated IP addresses."
    )

    def build_content(self) -> QWidget:
        return EmptyState(
            "icons/empty-domain.png",
            "No sending domains yet",
            "Add your domain to get the DNS records to publish.",
        )
