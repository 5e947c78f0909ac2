"""The tab pages of the main window, in the order they appear.

The titles are known without importing the pages: the window paints its frame first and builds
the pages (which load the core, SQLAlchemy and the rest) right after.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postdesk.gui.tabs.base import Page

# (title, module, class) — the title must equal the class's own ``title``.
TABS: tuple[tuple[str, str, str], ...] = (
    ("SMTP Service", "postdesk.gui.tabs.smtp_service", "SmtpServicePage"),
    ("Dedicated Domain And IP", "postdesk.gui.tabs.domains", "DomainsPage"),
    ("Domain Settings", "postdesk.gui.tabs.domain_settings", "DomainSettingsPage"),
    ("SMTP Settings", "postdesk.gui.tabs.smtp_settings", "SmtpSettingsPage"),
)
TAB_TITLES: tuple[str, ...] = tuple(title for title, _, _ in TABS)


def page_classes() -> list[type[Page]]:
    """The page classes, in tab order (imports them)."""
    return [getattr(import_module(module), name) for _, module, name in TABS]


def tab_index(title: str) -> int | None:
    """The position of the tab called ``title`` (any letter case), or None if there is none."""
    wanted = title.strip().casefold()
    for index, name in enumerate(TAB_TITLES):
        if name.casefold() == wanted:
            return index
    return None
