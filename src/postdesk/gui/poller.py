"""A timer that runs one round of async work every interval, never two rounds at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

if TYPE_CHECKING:
    from postdesk.core.store import Store
    from postdesk.gui.asyncutil import LatestRead


class Poller(QObject):
    """Subclasses implement ``async round()``; it runs now and then every ``interval_ms``.

    The workspace arrives after the first paint (``store_source`` returns None until then), and
    a slow round is never started a second time while it still runs. :meth:`poll_now` asked
    while a round runs is not lost: one more round follows it, since the running one may have
    read before the change that prompted the call.
    """

    def __init__(
        self,
        store_source: Callable[[], Store | None],
        interval_ms: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store_source = store_source
        self._latest: LatestRead | None = None
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
        """Run a round now, without waiting for the interval (or right after the running one)."""
        self._rounds()()

    def _tick(self) -> None:
        rounds = self._rounds()
        if not rounds.running:  # a timer tick never queues behind a slow round
            rounds()

    def _rounds(self) -> LatestRead:
        if self._latest is None:
            from postdesk.gui.asyncutil import LatestRead

            self._latest = LatestRead(self.round, when=lambda: self._store_source() is not None)
        return self._latest

    async def round(self) -> object:
        raise NotImplementedError
