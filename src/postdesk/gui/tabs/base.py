"""The frame every tab page shares: a header, a banner slot for UserErrors, and a content area."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from postdesk.core.errors import UserError
from postdesk.core.events import Change, publish
from postdesk.gui.errors import show_user_error
from postdesk.gui.qtutils import (
    PAGE_MARGIN,
    SPACE_M,
    SPACE_XS,
    TITLE_FONT_SCALE,
    label,
    muted,
    scaled_font,
    vbox,
)
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
    from postdesk.core.store import Store
    from postdesk.gui.context import AppContext
    from postdesk.gui.tabs import Tab


class Page(QWidget):
    """One tab: subclasses set ``key``, ``description`` and ``watches``, and fill
    :meth:`build_content`."""

    key: ClassVar[Tab]
    title: ClassVar[str]  # the tab's title, from ``key``
    description: ClassVar[str]
    #: The changes that make this page reload (when shown; at once if it is on screen).
    watches: ClassVar[frozenset[Change]] = frozenset()

    #: Ask the window to show another tab for one domain: (Tab, domain name or "").
    navigate = Signal(object, str)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "key" in cls.__dict__:
            cls.title = cls.key.title

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        #: The application's services (set by the window; None in a page on its own).
        self.context: AppContext | None = None
        self._open_dialogs: set[QDialog] = set()
        self.setObjectName(type(self).__name__)
        self.title_label = label(self.title)
        self.title_label.setFont(scaled_font(self.title_label, TITLE_FONT_SCALE))
        self.description_label = muted(label(self.description))
        self.banner = Banner()
        self.content_layout = QVBoxLayout()
        self.content_layout.setContentsMargins(0, 0, 0, 0)
        self.content_layout.addWidget(self.build_content(), 1)
        header = vbox(self.title_label, self.description_label, spacing=SPACE_XS)
        layout = vbox(header, self.banner, margin=PAGE_MARGIN, spacing=SPACE_M)
        layout.addLayout(self.content_layout, 1)
        self.setLayout(layout)

    async def attach(self, store: Store) -> None:
        """Receive the opened workspace (after the first paint) and show its data."""
        self.store = store
        await self.refresh()

    async def refresh(self) -> None:
        """Reload what the page shows from the store; called when the tab is shown again."""

    def show_domain(self, name: str) -> None:
        """Switch the page to one domain (pages that have a domain picker override this)."""

    def build_content(self) -> QWidget:
        """The widget below the header; a page replaces it as the page grows."""
        raise NotImplementedError

    def set_content(self, widget: QWidget) -> None:
        """Swap the content area for ``widget`` (e.g. an empty state for a table)."""
        while (item := self.content_layout.takeAt(0)) is not None:
            if old := item.widget():
                old.deleteLater()
        self.content_layout.addWidget(widget, 1)

    def keep_open(self, dialog: QDialog) -> QDialog:
        """Open ``dialog`` (never exec) and hold it until it closes, then let Qt delete it."""
        self._open_dialogs.add(dialog)
        dialog.finished.connect(lambda _result: self._open_dialogs.discard(dialog))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def publish(self, change: Change, domain: str | None = None) -> None:
        """Tell the other pages that this page changed ``change`` (it has shown it already)."""
        publish(change, domain, origin=self)

    def show_user_error(self, error: UserError) -> None:
        """Show an expected failure in this page's banner."""
        show_user_error(self.banner, error)
