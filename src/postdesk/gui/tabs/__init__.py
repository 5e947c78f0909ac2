"""The tab pages of the main window, in the order they appear.

The tabs are known without importing the pages: the window paints its frame first and builds
the pages (which load the core, SQLAlchemy and the rest) right after. Code names a tab by its
:class:`Tab` member; only :func:`tab_for_title` reads a title a person typed (``--tab``).
"""

from __future__ import annotations

from enum import Enum
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from postdesk.gui.tabs.base import Page


class Tab(Enum):
    """Each tab: its title on screen, and the module and class of its page."""

    SMTP_SERVICE = ("SMTP Service", "postdesk.gui.tabs.smtp_service", "SmtpServicePage")
    DOMAINS = ("Dedicated Domain And IP", "postdesk.gui.tabs.domains", "DomainsPage")
    DOMAIN_SETTINGS = ("Domain Settings", "postdesk.gui.tabs.domain_settings", "DomainSettingsPage")
    SMTP_SETTINGS = ("SMTP Settings", "postdesk.gui.tabs.smtp_settings", "SmtpSettingsPage")
    CONVERSATIONS = ("Conversations", "postdesk.gui.tabs.conversations", "ConversationsPage")

    @property
    def title(self) -> str:
        return self.value[0]

    @property
    def index(self) -> int:
        """The tab's position in the window."""
        return list(Tab).index(self)

    @classmethod
    def at(cls, index: int) -> Tab:
        """The tab at position ``index`` in the window."""
        return list(cls)[index]

    def page_class(self) -> type[Page]:
        """The page class of this tab (imports its module)."""
        _title, module, name = self.value
        return getattr(import_module(module), name)  # type: ignore[no-any-return]


TAB_TITLES: tuple[str, ...] = tuple(tab.title for tab in Tab)


def page_classes() -> list[type[Page]]:
    """The page classes, in tab order (imports them)."""
    return [tab.page_class() for tab in Tab]


def tab_for_title(title: str) -> Tab | None:
    """The tab called ``title`` (any letter case), or None if there is none."""
    wanted = title.strip().casefold()
    return next((tab for tab in Tab if tab.title.casefold() == wanted), None)
