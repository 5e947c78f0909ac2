"""The main window: a window-wide banner, the four tabs, and a status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget, QToolButton, QWidget

from postdesk import APP_NAME, __version__
from postdesk.core.errors import UserError
from postdesk.gui.qtutils import SPACE_S, app_icon, label, muted, vbox
from postdesk.gui.tabs import TAB_TITLES, page_classes, tab_index
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
    from postdesk.core.store import Store
    from postdesk.gui.dialogs.workspace_settings import WorkspaceSettingsDialog
    from postdesk.gui.relaycontrol import RelayControl, RelayStatusWidget
    from postdesk.gui.tabs.base import Page

DEFAULT_SIZE = (1100, 720)
GEOMETRY_KEY = "window/geometry"
NO_KEYRING_TITLE = "No secure password storage"


class MainWindow(QMainWindow):
    """Postdesk's window. With ``settings`` it remembers its size and place between runs."""

    closed = Signal()

    def __init__(
        self,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        *,
        build_pages: bool = True,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.banner = Banner()
        self.pages: list[Page] = []
        self.tabs = QTabWidget()
        for title in TAB_TITLES:  # empty frames until build_pages(): the window paints first
            self.tabs.addTab(QWidget(), title)
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
        # Set by install_relay_control once the workspace is open.
        self.relay_control: RelayControl | None = None
        self.relay_status: RelayStatusWidget | None = None
        self._stale: set[int] = set()
        self.tabs.currentChanged.connect(self._tab_shown)
        self._restore_geometry()
        if build_pages:
            self.build_pages()

    def build_pages(self) -> None:
        """Put the real pages into the tabs (this loads the core; done once, after first paint)."""
        if self.pages:
            return
        current = self.tabs.currentIndex()
        self.tabs.blockSignals(True)
        for index, page_class in enumerate(page_classes()):
            page = page_class()
            page.navigate.connect(self.open_domain)
            page.changed.connect(self._mark_stale)
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
        self.settings_button.setEnabled(True)
        await asyncio.gather(*(page.attach(store) for page in self.pages))

    def open_domain(self, title: str, domain: str) -> None:
        """Show tab ``title`` switched to ``domain`` (the ⋯ menu's SMTP / Domain Settings)."""
        index = tab_index(title)
        if index is None:
            return
        self.tabs.setCurrentIndex(index)
        self.pages[index].show_domain(domain)

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
        from postdesk.gui.asyncutil import start_task
        from postdesk.gui.dialogs.workspace_settings import RELAY_KEYS

        # Pages show these settings (connection details, records); they reload when shown.
        self._stale = set(range(len(self.pages)))
        if self.pages:
            self._tab_shown(self.tabs.currentIndex())
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

    def _mark_stale(self) -> None:
        sender = self.sender()
        self._stale = {i for i, page in enumerate(self.pages) if page is not sender}

    def _tab_shown(self, index: int) -> None:
        if index in self._stale and self.store is not None and self.pages:
            from postdesk.gui.asyncutil import start_task

            self._stale.discard(index)
            page = self.pages[index]
            start_task(page.refresh(), banner=page.banner)

    def select_tab(self, title: str) -> bool:
        """Show the tab called ``title`` (any letter case); False if there is no such tab."""
        index = tab_index(title)
        if index is None:
            return False
        self.tabs.setCurrentIndex(index)
        return True

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
