"""The usage watch: every ~30 s, read today's count and warn the user before (and after) the limit.

Mail can be counted by a relay in another process sharing the workspace, so the watch polls the
database instead of listening to this window's own sends. Each warning is shown once per level per
day, in the window's banner and, where the desktop has a system tray, as a notification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QSystemTrayIcon

from postdesk.core.usagewatch import UsageAlert, UsageWatcher
from postdesk.gui.poller import Poller
from postdesk.gui.qtutils import app_icon
from postdesk.gui.tabs import Tab

if TYPE_CHECKING:
    from postdesk.core.store import Store
    from postdesk.gui.widgets.banner import Banner

POLL_INTERVAL_MS = 30_000
NOTIFICATION_MS = 15_000


class UsageWatch(Poller):
    """Polls the workspace and emits each usage alert once; ``today_changed`` on every poll."""

    alert = Signal(object)  # UsageAlert
    today_changed = Signal(object)  # usage.Today

    def __init__(
        self,
        store_source: Callable[[], Store | None],
        parent: QObject | None = None,
        *,
        interval_ms: int = POLL_INTERVAL_MS,
    ) -> None:
        super().__init__(store_source, interval_ms, parent)
        self._watcher: UsageWatcher | None = None

    async def round(self) -> list[UsageAlert]:
        return await self.poll()

    async def poll(self) -> list[UsageAlert]:
        """Read the count once; emit ``today_changed`` and any alert not given before."""
        store = self._store_source()
        if store is None:
            return []
        if self._watcher is None or self._watcher.store is not store:
            self._watcher = UsageWatcher(store)
        from postdesk.gui.asyncutil import run_blocking

        # A shared PostgreSQL workspace may be across the network: keep the window responsive.
        today, alerts = await run_blocking(self._watcher.check)
        self.today_changed.emit(today)
        for alert in alerts:
            self.alert.emit(alert)
        return alerts


def show_in_banner(banner: Banner, alert: UsageAlert, open_tab: Callable[[Tab], object]) -> None:
    """Put an alert in the window's banner; after a deletion, offer the way to new credentials."""
    action = None
    if alert.kind == "deleted":
        action = (f"Open {Tab.SMTP_SETTINGS.title}", lambda: open_tab(Tab.SMTP_SETTINGS))
    banner.show_message(alert.severity, alert.message, alert.hint, action=action)


class DesktopNotifier(QObject):
    """Shows alerts as desktop notifications through a tray icon, made on first use."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tray: QSystemTrayIcon | None = None

    def notify(self, alert: UsageAlert) -> bool:
        """Show ``alert`` as a notification; False when the desktop has no system tray."""
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return False
        if self.tray is None:
            self.tray = QSystemTrayIcon(app_icon(), self)
            self.tray.setToolTip("Postdesk")
            self.tray.show()  # a notification needs a visible icon on most desktops
        icon = (
            QSystemTrayIcon.MessageIcon.Critical
            if alert.severity == "error"
            else QSystemTrayIcon.MessageIcon.Warning
        )
        self.tray.showMessage("Postdesk", f"{alert.message}\n{alert.hint}", icon, NOTIFICATION_MS)
        return True
