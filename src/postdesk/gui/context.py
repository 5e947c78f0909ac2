"""The GUI's long-lived services, built once at start and handed to the window.

The window shows what these services report (the relay's state in the status bar, usage alerts
and broken domains in its banner, changes on its pages); the services never reach into it.

Built before the workspace opens and before asyncio is loaded (the window paints first); the
services themselves are made by :meth:`AppContext.open_workspace`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

if TYPE_CHECKING:
    from collections.abc import Callable

    from postdesk.core.events import ChangeEvent
    from postdesk.core.relay import RelayOptions
    from postdesk.core.store import Store
    from postdesk.gui.alerts import AlertWatch
    from postdesk.gui.recheck import Recheck
    from postdesk.gui.relaycontrol import RelayControl
    from postdesk.gui.usagewatch import DesktopNotifier, UsageWatch


class ChangeBridge(QObject):
    """Core's change notifications, delivered on the GUI thread as ``changed(ChangeEvent)``.

    The relay publishes from its worker threads; a queued signal carries the news to the
    thread that owns the widgets.
    """

    changed = Signal(object)  # core.events.ChangeEvent
    _arrived = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from postdesk.core import events

        # Always queued, also from the GUI thread: a page reloads after the workflow that
        # published the change has finished its own updates, never in the middle of them.
        self._arrived.connect(self.changed.emit, Qt.ConnectionType.QueuedConnection)
        arrived = self._arrived

        def deliver(event: ChangeEvent) -> None:
            try:
                arrived.emit(event)
            except RuntimeError:  # Qt deleted the bridge (its window closed) before close()
                unsubscribe()

        unsubscribe = events.subscribe(deliver)
        self._unsubscribe: Callable[[], None] | None = unsubscribe
        # Not a bound method of this object: Qt would no longer call it while deleting it.
        self.destroyed.connect(lambda *_args: unsubscribe())

    def close(self) -> None:
        """Stop listening (the core keeps no reference to a closed bridge)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class AppContext(QObject):
    """The relay control, the background re-check, the usage watch, change notifications."""

    def __init__(
        self, *, relay_options: RelayOptions | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.store: Store | None = None
        self.relay_options = relay_options
        self.changes = ChangeBridge(self)
        self.relay: RelayControl | None = None
        self.usage_watch: UsageWatch | None = None
        self.recheck: Recheck | None = None
        self.alerts: AlertWatch | None = None
        self.notifier: DesktopNotifier | None = None

    def open_workspace(self, store: Store) -> None:
        """Build the services over the opened workspace; nothing starts until :meth:`start`."""
        if self.store is store:
            return
        from postdesk.gui.alerts import AlertWatch
        from postdesk.gui.recheck import Recheck
        from postdesk.gui.relaycontrol import RelayControl
        from postdesk.gui.usagewatch import DesktopNotifier, UsageWatch

        self.store = store
        self.relay = RelayControl(store, self.relay_options, parent=self)
        self.usage_watch = UsageWatch(lambda: self.store, self)
        self.recheck = Recheck(lambda: self.store, parent=self)
        self.alerts = AlertWatch(lambda: self.store, self)
        self.notifier = DesktopNotifier(self)  # one tray icon, shared by both
        self.changes.changed.connect(self._count_again)

    def start(self, *, relay: bool = True, watch: bool = True) -> None:
        """Start the relay and the background watches (screenshots start neither)."""
        from postdesk.gui.asyncutil import start_task

        if relay and self.relay is not None:
            start_task(self.relay.start())
        if watch:
            if self.usage_watch is not None:
                self.usage_watch.start()
            if self.recheck is not None:
                self.recheck.start()
            if self.alerts is not None:
                self.alerts.start()

    async def close(self) -> None:
        """Stop everything: the watches, then the relay (the message being handed over ends)."""
        for poller in (self.usage_watch, self.recheck, self.alerts):
            if poller is not None:
                poller.stop()
        if self.relay is not None:
            await self.relay.stop()
        self.changes.close()

    def _count_again(self, event: ChangeEvent) -> None:
        from postdesk.core.events import Change

        # Mail was counted here (a send, the relay): show the new total now, not at the next poll.
        if event.change in (Change.USAGE, Change.USERS) and self.usage_watch is not None:
            self.usage_watch.poll_now()
