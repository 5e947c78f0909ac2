"""The frame every tab page shares: a header, a banner slot for UserErrors, and a content area."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

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
    import asyncio
    from collections.abc import Callable

    from postdesk.core.store import Store
    from postdesk.core.store.lite import LiteReader
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
    #: Modules the page's actions import when used; loaded off the GUI thread once it is idle.
    later_modules: ClassVar[tuple[str, ...]] = ()

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
        self._store_waiters: list[asyncio.Future[Store]] = []
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
        waiters, self._store_waiters = self._store_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(store)
        await self.refresh()

    async def wait_for_store(self) -> Store:
        """The workspace; an action started while it still opens waits for it.

        The page on screen at start may show a first read of the workspace (:meth:`read_first`)
        before the full store has loaded; what the user does meanwhile runs once it has.
        """
        if self.store is not None:
            return self.store
        import asyncio

        waiter: asyncio.Future[Store] = asyncio.get_running_loop().create_future()
        self._store_waiters.append(waiter)
        return await waiter

    def with_store(self, action: Callable[[Store], object]) -> None:
        """``action(store)`` now, or as soon as the workspace has opened (see above)."""
        if self.store is not None:
            action(self.store)
            return
        from postdesk.gui.asyncutil import start_task

        async def when_open() -> None:
            action(await self.wait_for_store())

        start_task(when_open(), banner=self.banner)

    @staticmethod
    def read_first(reader: LiteReader) -> Any:
        """What the page shows, read with the light sqlite3 path (at start, milliseconds).

        A page that can show its data before the full store (SQLAlchemy) has loaded overrides
        this and :meth:`show_first`; None means it has no such first read.
        """
        return None

    def show_first(self, data: Any) -> None:
        """Show what :meth:`read_first` returned (on the GUI thread)."""

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
