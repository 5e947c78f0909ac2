"""Read a window's data again every few seconds while it is shown.

The relay and the command line may run in other processes sharing the workspace (a bounce
suppresses an address, a confirmation code arrives, a rule is added); their changes are not
announced to this process, so an open window looks again on a timer. A hidden window reads
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from postdesk.gui.asyncutil import LatestRead

REFRESH_MS = 3000


class ShownRefresh(QObject):
    """Runs ``reads`` every ``interval_ms`` while ``window`` is shown, never two at once."""

    def __init__(self, window: QWidget, reads: LatestRead, interval_ms: int = REFRESH_MS) -> None:
        super().__init__(window)
        self._reads = reads
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The window still sends events (its Hide) while Python takes this object apart.
        timer = getattr(self, "timer", None)
        if timer is None:
            return False
        if event.type() == QEvent.Type.Show:
            timer.start()
        elif event.type() == QEvent.Type.Hide:
            timer.stop()
        return False

    def _tick(self) -> None:
        if not self._reads.running:  # a slow read is not queued behind itself
            self._reads()
