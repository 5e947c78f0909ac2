"""The relay built into the window: started with Postdesk, stopped on quit, shown in the status bar.

The relay runs on the GUI's own event loop (qasync), so starting, stopping and delivering never
block the window. The status bar shows where it listens and how much mail waits; Start/Stop and
Queue… sit next to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from enum import StrEnum
from importlib import import_module
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QToolButton, QWidget

from postdesk.core.errors import UserError
from postdesk.gui.qtutils import SPACE_S, hbox, label

if TYPE_CHECKING:
    from postdesk.core.relay import Relay, RelayOptions
    from postdesk.core.store import Store
    from postdesk.gui.dialogs.queue import QueueDialog


class RelayState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"


# The queue count comes from the worker's last look at the database (about once a second).
STATUS_REFRESH_MS = 2000
LOOPBACK = "127.0.0.1"


class RelayControl(QObject):
    """Owns the embedded relay; ``changed`` is emitted whenever its state changes."""

    changed = Signal()
    failed = Signal(object)  # UserError, when a start did not succeed

    def __init__(
        self, store: Store, options: RelayOptions | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.store = store
        self._options = options
        self.relay: Relay | None = None
        self.state = RelayState.STOPPED
        self.error: UserError | None = None
        self.port: int | None = None
        # Start and stop never overlap: a quit during start-up waits for it, then stops.
        self._lock = asyncio.Lock()

    @property
    def running(self) -> bool:
        return self.state == RelayState.RUNNING

    async def start(self) -> bool:
        """Listen on loopback at the ``relay_port`` setting; False (and ``error``) when it can't."""
        async with self._lock:
            if self.relay is not None:
                return True
            self._set(RelayState.STARTING)
            # Importing the relay (aiosmtpd, DKIM, …) takes a while: off the GUI thread.
            await asyncio.to_thread(import_module, "postdesk.core.relay")
            from postdesk.core.relay import Relay, RelayOptions

            options = dataclasses.replace(self._options or RelayOptions(listen_host=LOOPBACK))
            if options.listen_port is None:
                options.listen_port = await asyncio.to_thread(self._setting_port)
            self.port = options.listen_port
            relay = Relay(self.store, options)
            try:
                await relay.start()
            except UserError as error:
                self.error = _explained(error, options.listen_port)
                self._set(RelayState.FAILED)
                self.failed.emit(self.error)
                return False
            except BaseException:
                # A bug goes to the report dialog; the status must not say "starting" forever.
                self.error = None
                self._set(RelayState.FAILED)
                raise
            self.relay, self.error, self.port = relay, None, relay.port
            self._set(RelayState.RUNNING)
            return True

    async def stop(self) -> None:
        """Stop listening; the message being handed over finishes, the rest wait in the queue."""
        async with self._lock:
            relay, self.relay = self.relay, None
            if relay is None:
                if self.state == RelayState.FAILED:
                    self._set(RelayState.STOPPED)
                return
            self._set(RelayState.STOPPING)
            try:
                await relay.stop()
            finally:
                self._set(RelayState.STOPPED)

    async def toggle(self) -> None:
        """Start when stopped (or failed), stop when running."""
        if self.relay is not None:
            await self.stop()
        else:
            await self.start()

    def wake(self) -> None:
        """Have the relay look at the queue now (after Retry now)."""
        if self.relay is not None:
            self.relay.wake()

    def queued(self) -> int:
        """Messages waiting to be handed over (as of the relay's last look)."""
        if self.relay is None:
            return 0
        counts = self.relay.status.queue
        return counts.get("pending", 0) + counts.get("sending", 0)

    def status_text(self) -> str:
        """The words in the status bar."""
        if self.state == RelayState.RUNNING and self.relay is not None:
            waiting = self.queued()
            queue = f"{waiting} queued" if waiting else "queue empty"
            text = f"Relay: listening on {self.relay.status.smtp_address} · {queue}"
            inbound = self.relay.status.inbound_address  # the inbound_listen setting
            return f"{text} · receiving mail on {inbound}" if inbound else text
        if self.state == RelayState.FAILED:
            if self.error is not None and self.error.code == "relay.port_in_use":
                return f"Relay could not start: port {self.port} is in use"
            return "Relay could not start"
        return {
            RelayState.STARTING: "Relay starting…",
            RelayState.STOPPING: "Relay stopping…",
        }.get(self.state, "Relay stopped")

    def status_tip(self) -> str:
        """The longer explanation shown on hover."""
        if self.state == RelayState.FAILED and self.error is not None:
            return f"{self.error.message}\n{self.error.hint}"
        if self.state == RelayState.RUNNING:
            return (
                "Apps log in here as one of your SMTP users. Postdesk keeps their mail in its "
                "queue and hands it to each domain's SMTP service."
            )
        return "Apps cannot send through Postdesk while the relay is stopped. Press Start."

    def _setting_port(self) -> int:
        from postdesk.core import settings

        with self.store.session() as s:
            return int(settings.get(s, "relay_port"))

    def _set(self, state: RelayState) -> None:
        self.state = state
        self.changed.emit()


def _explained(error: UserError, port: int | None) -> UserError:
    """The core's listen error in GUI words (the core's hint names command-line options)."""
    if error.code != "relay.cannot_listen":
        return error
    if "in use" not in error.message:
        return UserError(
            error.code,
            error.message,
            "Check that the relay port is a free port above 1024, then press Start.",
        )
    return UserError(
        "relay.port_in_use",
        f"Another program is already using port {port}, so the built-in relay could not start.",
        "Often it is another Postdesk window or a 'postdesk relay' running in the background; "
        "if it uses this workspace, it sends your apps' mail. Otherwise close that program or "
        "choose another port (e.g. 'postdesk settings relay_port 2526'), then press Start.",
    )


class RelayStatusWidget(QWidget):
    """Status bar part: "Relay: listening on 127.0.0.1:2525 · 3 queued", Start/Stop, Queue…."""

    def __init__(self, control: RelayControl, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.control = control
        self.status_label = label(wrap=False)
        self.toggle_button = QToolButton()
        self.toggle_button.setText("Start")
        self.toggle_button.clicked.connect(self._toggle)
        self.queue_button = QToolButton()
        self.queue_button.setText("Queue…")
        self.queue_button.setToolTip("See the mail your apps sent through the relay")
        self.queue_button.clicked.connect(self.open_queue)
        row = hbox(self.status_label, self.toggle_button, self.queue_button, spacing=SPACE_S)
        row.addStretch(1)  # left-aligned; the version stays at the far right
        self.setLayout(row)
        self.queue_dialog: QueueDialog | None = None
        control.changed.connect(self.update_status)
        # The queue count changes as mail comes and goes, not only on start and stop.
        self.timer = QTimer(self)
        self.timer.setInterval(STATUS_REFRESH_MS)
        self.timer.timeout.connect(self.update_status)
        self.timer.start()
        self.update_status()

    def update_status(self) -> None:
        control = self.control
        self.status_label.setText(control.status_text())
        self.status_label.setToolTip(control.status_tip())
        busy = control.state in (RelayState.STARTING, RelayState.STOPPING)
        self.toggle_button.setEnabled(not busy)
        self.toggle_button.setText("Stop" if control.relay is not None else "Start")
        self.toggle_button.setToolTip(
            "Stop accepting mail from your apps (queued mail waits)"
            if control.relay is not None
            else "Start accepting mail from your apps"
        )
        colour = "#b3261e" if control.state == RelayState.FAILED else ""
        self.status_label.setStyleSheet(f"color: {colour};" if colour else "")

    def _toggle(self) -> None:
        from postdesk.gui.asyncutil import start_task

        start_task(self.control.toggle())

    def open_queue(self) -> QueueDialog:
        """Show the queue window (one at a time; brought to the front when already open)."""
        from postdesk.gui.dialogs.queue import QueueDialog

        if self.queue_dialog is None:
            self.queue_dialog = QueueDialog(
                self.control.store, wake=self.control.wake, parent=self.window()
            )
        self.queue_dialog.show()
        self.queue_dialog.raise_()
        self.queue_dialog.activateWindow()
        return self.queue_dialog

    def close_queue(self) -> None:
        """Close the queue window (when Postdesk quits: it must not read a closed workspace)."""
        if self.queue_dialog is not None:
            self.queue_dialog.close()
        self.timer.stop()
