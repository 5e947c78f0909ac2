"""The main window: a window-wide banner, the five tabs, and a status bar.

The window receives the application context (the relay, the watches, change notifications)
and shows what they report; pages are told about changes to the data they show.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QTabWidget, QToolButton, QWidget

from postdesk import APP_NAME, __version__
from postdesk.core.errors import UserError
from postdesk.gui.context import AppContext
from postdesk.gui.qtutils import SPACE_S, app_icon, label, muted, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
    # Qt classes the start does not need: PySide6 builds a class's enums when it is first used.
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QCloseEvent
    from PySide6.QtWidgets import QMessageBox

    from postdesk.core.deliverability import DeliverabilityAlert
    from postdesk.core.events import ChangeEvent
    from postdesk.core.store import Store
    from postdesk.core.usagewatch import UsageAlert
    from postdesk.gui.dialogs.workspace_settings import WorkspaceSettingsDialog
    from postdesk.gui.relaycontrol import RelayControl, RelayStatusWidget
    from postdesk.gui.tabs.base import Page

DEFAULT_SIZE = (1100, 720)
GEOMETRY_KEY = "window/geometry"
NO_KEYRING_TITLE = "No secure password storage"
# A burst of changes (the relay counting a batch of mail) reloads a page once.
REFRESH_DELAY_MS = 250


class MainWindow(QMainWindow):
    """Postdesk's window. With ``settings`` it remembers its size and place between runs.

    Without a ``context`` it makes its own (tests, and screenshots of a single window).
    """

    closed = Signal()

    def __init__(
        self,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        *,
        context: AppContext | None = None,
        build_pages: bool = True,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.context = context if context is not None else AppContext(parent=self)
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.banner = Banner()
        self._pages: dict[Tab, Page] = {}
        # Pages are built when first shown once this is set (after the window's first paint).
        self._build_on_show = False
        self.tabs = QTabWidget()
        for tab in Tab:  # empty frames until their pages are built: the window paints first
            self.tabs.addTab(QWidget(), tab.title)
        central = QWidget()
        central.setLayout(vbox(self.banner, self.tabs, margin=SPACE_S, spacing=SPACE_S))
        self.setCentralWidget(central)
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings…")
        self.settings_button.setToolTip(
            "Change the relay, DNS record, tracking and blocklist settings"
        )
        self.settings_button.clicked.connect(self.open_settings)
        self.settings_button.setEnabled(False)  # until the workspace is open
        self.settings_dialog: WorkspaceSettingsDialog | None = None
        self.statusBar().addPermanentWidget(self.settings_button)
        self._build_mail_menu()
        self.statusBar().addPermanentWidget(muted(label(f"{APP_NAME} {__version__}", wrap=False)))
        self.store: Store | None = None
        # The relay's part of the status bar, once the workspace is open.
        self.relay_status: RelayStatusWidget | None = None
        self._relay_warning: str | None = None
        self._stale: set[int] = set()
        self._due: set[int] = set()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_DELAY_MS)
        self._refresh_timer.timeout.connect(self._refresh_due)
        self.tabs.currentChanged.connect(self._tab_shown)
        self.context.changes.changed.connect(self._changed)
        self._restore_geometry()
        if build_pages:
            self.build_pages()

    @property
    def pages(self) -> list[Page]:
        """The pages built so far, in tab order."""
        return [self._pages[tab] for tab in Tab if tab in self._pages]

    def build_pages(self) -> None:
        """Build every page that is still an empty frame (this loads the core)."""
        self._build_on_show = True
        for tab in Tab:
            self.build_page(tab)

    def build_current_page(self) -> None:
        """Build the page on screen; the others are built when shown or by :meth:`build_rest`.

        Called after the first paint: a page loads the core and the libraries it uses, and
        the other three pages need much that the first one does not (DNS checks, dialogs).
        """
        self._build_on_show = True
        self.build_page(Tab.at(self.tabs.currentIndex()))

    async def build_rest(self) -> None:
        """Build the pages not shown yet, one by one, importing their code off the GUI thread;
        then load what the pages' actions import, so no click waits for an import."""
        from postdesk.gui.asyncutil import run_blocking

        for tab in Tab:
            if tab not in self._pages:
                await run_blocking(tab.page_class)  # the import: the slow part
                self.build_page(tab)
        for page in self.pages:
            await run_blocking(lambda page=page: import_all(page.later_modules))

    def show_first_read(self) -> bool:
        """Show the data of the page on screen read with sqlite3, before the full store loads.

        True when it is shown: the workspace is SQLite and at the newest schema, and the page
        has such a read (:meth:`Page.read_first`). Otherwise the page shows its data when the
        store is attached (which also creates, migrates or explains a workspace that needs it).

        Called once at start, on the GUI thread before the event loop (and asyncio) starts: the
        read is a few rows in one sqlite3 transaction on a local SQLite file in WAL mode, where
        a reader never waits for a writer, so it takes milliseconds, and the window is usable
        before asyncio and qasync (a good part of start-up) are imported.
        """
        from postdesk.gui.tabs.base import Page

        page = self.current_page()
        if type(page).read_first is Page.read_first:
            return False
        try:
            from postdesk.core.store.lite import read_or_none

            data = read_or_none(page.read_first)
            if data is None or self.store is not None:
                return False
            page.show_first(data)
        except Exception:  # a shortcut only: the full store reads the same data, or explains
            logging.getLogger(__name__).exception("The first read of the workspace failed")
            return False
        return True

    def build_page(self, tab: Tab) -> Page:
        """The page of ``tab``, built into its tab now if it was an empty frame until now."""
        page = self._pages.get(tab)
        if page is not None:
            return page
        page = tab.page_class()()
        page.context = self.context
        page.navigate.connect(self.open_domain)
        current = self.tabs.currentIndex()
        self.tabs.blockSignals(True)
        placeholder = self.tabs.widget(tab.index)
        self.tabs.removeTab(tab.index)
        self.tabs.insertTab(tab.index, page, page.title)
        placeholder.deleteLater()
        self.tabs.setCurrentIndex(current)
        self.tabs.blockSignals(False)
        self._pages[tab] = page
        if self.relay_status is not None:  # the services are shown already: this page too
            self._connect_page(page)
        if self.store is not None:
            from postdesk.gui.asyncutil import start_task

            start_task(page.attach(self.store), banner=page.banner)
        return page

    async def attach_store(self, store: Store) -> None:
        """Hand the opened workspace to every page built so far and let each show its data."""
        import asyncio

        pages = self.pages  # a page built from now on attaches itself
        self.store = store
        self.context.open_workspace(store)
        self._show_services()
        self.settings_button.setEnabled(True)
        for action in self.mail_menu.actions():
            action.setEnabled(True)
        await asyncio.gather(*(page.attach(store) for page in pages))

    def _show_services(self) -> None:
        """Show what the context's services report: status bar, banner, pages."""
        from postdesk.gui.relaycontrol import RelayStatusWidget

        context = self.context
        if self.relay_status is not None or context.relay is None:
            return
        self.relay_status = RelayStatusWidget(context.relay)
        self.statusBar().insertPermanentWidget(0, self.relay_status, 1)
        context.relay.failed.connect(self._relay_failed)
        context.relay.changed.connect(self._relay_changed)
        self.closed.connect(self.relay_status.close_queue)
        if context.usage_watch is not None:
            context.usage_watch.alert.connect(self._usage_alert)
        if context.recheck is not None:
            context.recheck.broke.connect(self.show_broken)
        if context.alerts is not None:
            context.alerts.alert.connect(self._deliverability_alert)
        for page in self.pages:
            self._connect_page(page)

    def _connect_page(self, page: Page) -> None:
        """Let ``page`` follow the services that report to it (today's usage, rechecks)."""
        from postdesk.gui.widgets.usage_panel import UsagePanel

        context = self.context
        if context.usage_watch is not None:
            for panel in page.findChildren(UsagePanel):
                context.usage_watch.today_changed.connect(panel.show_today)
        if context.recheck is not None and page.key is Tab.DOMAINS:
            context.recheck.busy = page.is_verifying  # type: ignore[attr-defined]
            context.recheck.checked.connect(page.domain_checked)  # type: ignore[attr-defined]

    @property
    def relay_control(self) -> RelayControl | None:
        """The built-in relay (None before the workspace is open)."""
        return self.context.relay

    def _relay_failed(self, error: UserError) -> None:
        self.banner.show_message("warning", error.message, error.hint)
        self._relay_warning = error.message

    def _relay_changed(self) -> None:
        # The earlier "could not start" warning is out of date once the relay listens.
        relay = self.context.relay
        warning = self._relay_warning
        if relay is not None and relay.running and warning is not None:
            if self.banner.message_label.text() == warning:
                self.banner.clear()
            self._relay_warning = None

    def _usage_alert(self, alert: UsageAlert) -> None:
        from postdesk.gui.usagewatch import show_in_banner

        show_in_banner(self.banner, alert, self.select_tab)
        if self.context.notifier is not None:
            self.context.notifier.notify(alert)

    def _build_mail_menu(self) -> None:
        """The Mail menu: Activity and the suppression list, each bound to a method and enabled
        once the workspace is open."""
        from PySide6.QtWidgets import QMenu

        # A menu behind a status-bar button, beside Settings…: no menu bar for two entries.
        self.mail_menu = QMenu("Mail", self)
        entries = (
            ("&Activity…", "Ctrl+Shift+A", lambda: self.open_activity()),
            ("&Suppression list…", "Ctrl+Shift+S", lambda: self.open_suppression()),
        )
        for text, shortcut, slot in entries:
            action = self.mail_menu.addAction(text)
            action.setShortcut(shortcut)
            action.triggered.connect(slot)
            action.setEnabled(False)  # until the workspace is open
            self.addAction(action)  # the shortcut works while the menu is closed
        self.mail_button = QToolButton()
        self.mail_button.setText("Mail")
        self.mail_button.setToolTip("What became of the mail sent, and who gets none")
        self.mail_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.mail_button.setMenu(self.mail_menu)
        self.statusBar().addPermanentWidget(self.mail_button)
        self.suppression_dialog: QWidget | None = None

    def open_activity(
        self, domain: str | None = None, message_id: int | None = None
    ) -> QWidget | None:
        """Open an Activity window (for one domain or message); None before a workspace."""
        from postdesk.gui.dialogs.activity import open_activity

        if self.store is None:
            return None
        return open_activity(
            self, self.store, domain=domain, message_id=message_id, changes=self.context.changes
        )

    def open_suppression(self) -> QWidget | None:
        """Open the suppression list (one window at a time); None before a workspace."""
        from PySide6.QtCore import Qt

        from postdesk.gui.dialogs.suppression import SuppressionDialog

        if self.store is None:
            return None
        if self.suppression_dialog is not None:
            self.suppression_dialog.raise_()
            return self.suppression_dialog
        dialog = SuppressionDialog(self.store, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_args: setattr(self, "suppression_dialog", None))
        self.suppression_dialog = dialog
        dialog.show()
        return dialog

    def _deliverability_alert(self, alert: DeliverabilityAlert) -> None:
        from postdesk.gui.alerts import show_in_banner

        show_in_banner(self.banner, alert, self.open_activity)
        if self.context.notifier is not None:
            self.context.notifier.notify(alert)  # type: ignore[arg-type]

    def show_broken(self, name: str) -> None:
        """Tell the user, in the banner and the tray, that a verified domain broke."""
        from postdesk.gui.recheck import broke_alert

        alert = broke_alert(name)
        self.banner.show_message(
            "warning",
            alert.message,
            alert.hint,
            action=(f"Open {Tab.DOMAINS.title}", lambda: self.open_domain(Tab.DOMAINS, name)),
        )
        if self.context.notifier is not None:
            self.context.notifier.notify(alert)  # type: ignore[arg-type]

    def page(self, tab: Tab) -> Page:
        """The page of ``tab`` (built now if it was not yet)."""
        return self.build_page(tab)

    def open_domain(self, tab: Tab, domain: str) -> None:
        """Show ``tab`` switched to ``domain`` (the ⋯ menu's SMTP / Domain Settings)."""
        self.tabs.setCurrentIndex(tab.index)
        if self._build_on_show:
            self.page(tab).show_domain(domain)

    def open_settings(self) -> WorkspaceSettingsDialog | None:
        """Open the workspace Settings dialog (one at a time; None before a workspace is open)."""
        from postdesk.gui.asyncutil import start_task
        from postdesk.gui.dialogs.workspace_settings import WorkspaceSettingsDialog

        if self.store is None:
            return None
        if self.settings_dialog is not None:
            self.settings_dialog.raise_()
            return self.settings_dialog
        dialog = WorkspaceSettingsDialog(self.store, self)
        self.settings_dialog = dialog  # held until it closes
        dialog.accepted.connect(lambda: self._settings_saved(dialog.changed_keys))
        dialog.finished.connect(self._settings_closed)
        dialog.open()
        start_task(dialog.load(), banner=self.banner)
        return dialog

    def _settings_closed(self) -> None:
        if self.settings_dialog is not None:
            self.settings_dialog.deleteLater()
        self.settings_dialog = None

    def _settings_saved(self, keys: set[str]) -> None:
        from postdesk.core import events
        from postdesk.gui.asyncutil import start_task
        from postdesk.gui.dialogs.workspace_settings import RELAY_KEYS

        # Pages show these settings (connection details, records).
        events.publish(events.Change.SETTINGS, origin=self)
        control = self.relay_control
        if keys & RELAY_KEYS and control is not None and control.running:
            self.banner.show_message(
                "info",
                "Settings saved. The relay is restarting to use the new connection details.",
                "Queued mail is kept. Change the same details in your apps' SMTP settings.",
            )
            start_task(self._restart_relay(control), banner=self.banner)

    async def _restart_relay(self, control: RelayControl) -> None:
        await control.stop()
        await control.start()

    def _changed(self, event: ChangeEvent) -> None:
        """Core says data changed: the page on screen reloads now, the others when shown."""
        for tab, page in self._pages.items():
            if event.change not in page.watches or page is event.origin:
                continue
            self._stale.add(tab.index)
        self._tab_shown(self.tabs.currentIndex())

    def _tab_shown(self, index: int) -> None:
        if self._build_on_show:
            self.build_page(Tab.at(index))  # a page not built yet reads its data as it attaches
        if index in self._stale and self.store is not None and self.pages:
            self._stale.discard(index)
            self._due.add(index)
            self._refresh_timer.start()

    def _refresh_due(self) -> None:
        from postdesk.gui.asyncutil import start_task

        due, self._due = self._due, set()
        for index in due:
            page = self.page(Tab.at(index))
            start_task(page.refresh(), banner=page.banner)

    def select_tab(self, tab: Tab) -> None:
        """Show ``tab``."""
        self.tabs.setCurrentIndex(tab.index)

    def current_page(self) -> Page:
        return self.page(Tab.at(self.tabs.currentIndex()))

    async def check_secure_storage(self) -> None:
        """Warn (banner and dialog) when passwords cannot be stored in an OS keyring."""
        # Loaded after the window shows, to keep start-up lean.
        from postdesk.core import secrets
        from postdesk.gui.asyncutil import run_blocking

        try:
            # By the backend's kind only: no keyring call before a secret is needed (saving one
            # proves the keyring with a round trip first). Loading the backend may ask D-Bus,
            # so it runs off the GUI thread.
            await run_blocking(secrets.check_kind)
        except secrets.SecretsUnavailable as error:
            self.show_no_secure_storage(error)

    def show_no_secure_storage(self, error: UserError) -> QMessageBox:
        """Tell the user, in a banner and a non-modal dialog, that secrets cannot be saved."""
        from PySide6.QtWidgets import QMessageBox

        self.banner.show_message(
            "warning",
            f"{NO_KEYRING_TITLE}: Postdesk cannot save passwords until this is fixed.",
            f"{error.message} {error.hint}",
            dismissable=False,
        )
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(NO_KEYRING_TITLE)
        box.setText(error.message)
        box.setInformativeText(error.hint)
        box.setStandardButtons(QMessageBox.StandardButton.Close)
        box.open()
        return box

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.settings is not None:
            self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
            self.settings.sync()
        super().closeEvent(event)
        # A closed window reloads nothing more (its workspace may be closing under it).
        with contextlib.suppress(RuntimeError):
            self.context.changes.changed.disconnect(self._changed)
        self._refresh_timer.stop()
        self.closed.emit()

    def _restore_geometry(self) -> None:
        saved = self.settings.value(GEOMETRY_KEY) if self.settings is not None else None
        restored = False
        if saved is not None:  # never in screenshots, which have no settings
            from PySide6.QtCore import QByteArray

            restored = isinstance(saved, QByteArray) and self.restoreGeometry(saved)
        if not restored:
            self.resize(*DEFAULT_SIZE)


def import_all(modules: tuple[str, ...]) -> None:
    """Import ``modules`` (run off the GUI thread: a later import of them then costs nothing)."""
    from importlib import import_module

    for name in modules:
        import_module(name)
