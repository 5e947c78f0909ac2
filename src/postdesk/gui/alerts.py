"""The deliverability watch: a domain bouncing or drawing complaints, a critical message failed.

Like the usage watch, it polls the workspace (a relay in another process may be the one that
saw the bounce) and gives each alert once, in the window's banner and as a tray notification.
The thresholds are workspace settings (``alert_bounce_rate_percent``,
``alert_complaint_rate_percent``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from postdesk.gui.poller import Poller

if TYPE_CHECKING:
    from postdesk.core.deliverability import AlertWatcher, DeliverabilityAlert
    from postdesk.core.store import Store
    from postdesk.gui.widgets.banner import Banner

# A critical failure should be known within minutes; the read is a few indexed counts.
POLL_INTERVAL_MS = 60_000


class AlertWatch(Poller):
    """Polls the deliverability numbers and emits each alert once."""

    alert = Signal(object)  # core.deliverability.DeliverabilityAlert

    def __init__(
        self,
        store_source: Callable[[], Store | None],
        parent: QObject | None = None,
        *,
        interval_ms: int = POLL_INTERVAL_MS,
    ) -> None:
        super().__init__(store_source, interval_ms, parent)
        self._watcher: AlertWatcher | None = None

    async def round(self) -> list[DeliverabilityAlert]:
        return await self.poll()

    async def poll(self) -> list[DeliverabilityAlert]:
        """Read the numbers once and emit every alert not given before."""
        from postdesk.core.deliverability import AlertWatcher
        from postdesk.gui.asyncutil import run_blocking

        store = self._store_source()
        if store is None:
            return []
        if self._watcher is None or self._watcher.store is not store:
            self._watcher = AlertWatcher(store)
        alerts = await run_blocking(self._watcher.check)
        for alert in alerts:
            self.alert.emit(alert)
        return alerts


def show_in_banner(
    banner: Banner,
    alert: DeliverabilityAlert,
    open_activity: Callable[[str | None, int | None], object],
) -> None:
    """Put an alert in the window's banner with the way to the messages behind it."""
    banner.show_message(
        alert.severity,
        alert.message,
        alert.hint,
        action=("Open Activity", lambda: open_activity(alert.domain or None, alert.message_id)),
    )
