"""Per-address limits of the inbound server: open connections, and messages per minute.

An inbound port is open to the whole internet, so one sender must not be able to hold every
connection or fill the workspace. Both limits are answered with a temporary (4xx) reply: a real
mail server waits and sends again, which is what a legitimate burst needs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 60.0


class PeerLimits:
    """Connection and message counts per remote address, for one inbound server."""

    def __init__(
        self,
        *,
        connections: int,
        messages_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_connections = connections
        self.messages_per_minute = messages_per_minute
        self._clock = clock
        self._open: dict[str, int] = {}
        self._sent: dict[str, deque[float]] = {}

    def connect(self, ip: str) -> bool:
        """Count a new connection; False (and nothing counted) when the address has too many."""
        if self._open.get(ip, 0) >= self.max_connections:
            return False
        self._open[ip] = self._open.get(ip, 0) + 1
        return True

    def disconnect(self, ip: str) -> None:
        """A connection counted by ``connect`` closed."""
        left = self._open.get(ip, 0) - 1
        if left > 0:
            self._open[ip] = left
        else:
            self._open.pop(ip, None)

    def message(self, ip: str) -> float:
        """Count a message about to be sent: 0 when allowed, else seconds until one is."""
        now = self._clock()
        times = self._sent.setdefault(ip, deque())
        while times and now - times[0] >= WINDOW:
            times.popleft()
        if len(times) >= self.messages_per_minute:
            return WINDOW - (now - times[0])
        times.append(now)
        if len(self._sent) > 10_000:  # many addresses sending once: keep memory bounded
            for key in [k for k, v in self._sent.items() if not v or now - v[-1] >= WINDOW]:
                del self._sent[key]
        return 0.0
