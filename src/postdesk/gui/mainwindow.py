"""The main window: a window-wide banner, the four tabs, and a status bar.

The window receives the application context (the relay, the watches, change notifications)
and shows what they report; pages are told about changes to the data they show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget, QToolButton, QWidget

from postdesk import APP_NAME, __version__
from postdesk.core.errors import UserError
from postdesk.gui.context import AppContext
from postdesk.gui.qtutils import SPACE_S, app_icon, label, muted, vbox
from postdesk.gui.tabs import Tab
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
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
        self.pages: list[Page] = []
        self.tabs = QTabWidget()
        for tab in Tab:  # empty frames until build_pages(): the window paints first
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

    def build_pages(self) -> None:
        """Put the real pages into the tabs (this loads the core; done once, after first paint)."""
        if self.pages:
            return
        current = self.tabs.currentIndex()
        self.tabs.blockSignals(True)
        for index, tab in enumerate(Tab):
            page = tab.page_class()()
            page.context = self.context
            page.navigate.connect(self.open_domain)
            placeholder = self.tabs.widget(index)
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, page, page.title)
            placeholder.deleteLater()
            self.pages.append(page)
        self.tabs.setCurrentIndex(current)
        self.tabs.blockSignals(False)

    async def attach_store(self, store: Store) -> None:
        """Hand the opened workspace to every page and let each show its data."""
        import asyncio

        self.store = store
        self.context.open_workspace(store)
        self._show_services()
        self.settings_button.setEnabled(True)
        await asyncio.gather(*(page.attach(store) for page in self.pages))

    def _show_services(self) -> None:
        """Show what the context's services report: status bar, banner, pages."""
        from postdesk.gui.relaycontrol import RelayStatusWidget
        from postdesk.gui.tabs.domains import DomainsPage
        from postdesk.gui.widgets.usage_panel import UsagePanel

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
            for panel in self.findChildren(UsagePanel):
                context.usage_watch.today_changed.connect(panel.show_today)
        if context.recheck is not None:
            domains_page = self.page(Tab.DOMAINS) if self.pages else None
            if isinstance(domains_page, DomainsPage):
                context.recheck.busy = domains_page.is_verifying
                context.recheck.checked.connect(domains_page.domain_checked)
            context.recheck.broke.connect(self.show_broken)

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
        """The page of ``tab`` (after :meth:`build_pages`)."""
        return self.pages[tab.index]

    def open_domain(self, tab: Tab, domain: str) -> None:
        """Show ``tab`` switched to ``domain`` (the ⋯ menu's SMTP / Domain Settings)."""
        self.tabs.setCurrentIndex(tab.index)
        if self.pages:
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
        for index, page in enumerate(self.pages):
            if event.change not in page.watches or page is event.origin:
                continue
            self._stale.add(index)
        self._tab_shown(self.tabs.currentIndex())

    def _tab_shown(self, index: int) -> None:
        if index in self._stale and self.store is not None and self.pages:
            self._stale.discard(index)
            self._due.add(index)
            self._refresh_timer.start()

    def _refresh_due(self) -> None:
        from postdesk.gui.asyncutil import start_task

        due, self._due = self._due, set()
        for index in due:
            page = self.pages[index]
            start_task(page.refresh(), banner=page.banner)

    def select_tab(self, tab: Tab) -> None:
        """Show ``tab``."""
        self.tabs.setCurrentIndex(tab.index)

    def current_page(self) -> Page:
        return self.pages[self.tabs.currentIndex()]

    async def check_secure_storage(self) -> None:
        """Warn (banner and dialog) when passwords cannot be stored in an OS keyring."""
        # Loaded after the window shows, to keep start-up lean.
        from postdesk.core import secrets
        from postdesk.gui.asyncutil import run_blocking

        try:
            # A keyring round trip can block on D-Bus, so it runs off the GUI thread.
            await run_blocking(secrets.check_backend)
        except secrets.SecretsUnavailable as error:
            self.show_no_secure_storage(error)

    def show_no_secure_storage(self, error: UserError) -> QMessageBox:
        """Tell the user, in a banner and a non-modal dialog, that secrets cannot be saved."""
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
        self.closed.emit()

    def _restore_geometry(self) -> None:
        saved = self.settings.value(GEOMETRY_KEY) if self.settings is not None else None
        if not (isinstance(saved, QByteArray) and self.restoreGeometry(saved)):
            self.resize(*DEFAULT_SIZE)
