"""A timer that runs one round of async work every interval, never two rounds at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

if TYPE_CHECKING:
    from postdesk.core.store import Store


class Poller(QObject):
    """Subclasses implement ``async round()``; it runs now and then every ``interval_ms``.

    The workspace arrives after the first paint (``store_source`` returns None until then), and
    a slow round is never started a second time while it still runs.
    """

    def __init__(
        self,
        store_source: Callable[[], Store | None],
        interval_ms: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store_source = store_source
        self._running = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        """Run a round now, then every interval until :meth:`stop`."""
        self.timer.start()
        self._tick()

    def stop(self) -> None:
        self.timer.stop()

    def poll_now(self) -> None:
        """Run a round now, without waiting for the interval (unless one is running)."""
        self._tick()

    def _tick(self) -> None:
        if self._running or self._store_source() is None:
            return
        from postdesk.gui.asyncutil import start_task

        start_task(self._guarded())

    async def _guarded(self) -> object:
        if self._running:
            return None
        self._running = True
        try:
            return await self.round()
        finally:
            self._running = False

    async def round(self) -> object:
        raise NotImplementedError
