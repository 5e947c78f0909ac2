"""The tab pages of the main window, in the order they appear."""

from __future__ import annotations

from postdesk.gui.tabs.base import Page
from postdesk.gui.tabs.domain_settings import DomainSettingsPage
from postdesk.gui.tabs.domains import DomainsPage
from postdesk.gui.tabs.smtp_service import SmtpServicePage
from postdesk.gui.tabs.smtp_settings import SmtpSettingsPage

PAGES: tuple[type[Page], ...] = (
    SmtpServicePage,
    DomainsPage,
    DomainSettingsPage,
    SmtpSettingsPage,
)
TAB_TITLES: tuple[str, ...] = tuple(page.title for page in PAGES)


def tab_index(title: str) -> int | None:
    """The position of the tab called ``title`` (any letter case), or None if there is none."""
    wanted = title.strip().casefold()
    for index, name in enumerate(TAB_TITLES):
        if name.casefold() == wanted:
            return index
    return None
