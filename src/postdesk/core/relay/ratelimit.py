"""Slowing down and then refusing addresses that keep failing to log in (password guessing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    banned_until: float = 0.0


class LoginLimiter:
    """Per-address failed-login memory of one relay process.

    Each failure within the window makes the next answer wait longer (``delay * 2**(n-1)``, up to
    ``delay_max``); ``ban_after`` failures within the window refuse the address for ``ban_for``
    seconds. A successful login forgets the address's failures.
    """

    def __init__(
        self,
        *,
        delay: float = 1.0,
        delay_max: float = 8.0,
        ban_after: int = 10,
        window: float = 900.0,
        ban_for: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.delay, self.delay_max = delay, delay_max
        self.ban_after, self.window, self.ban_for = ban_after, window, ban_for
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def banned_for(self, address: str) -> float:
        """Seconds the address is still refused for (0 when it may try)."""
        record = self._records.get(address)
        if record is None:
            return 0.0
        return max(0.0, record.banned_until - self._clock())

    def failure(self, address: str) -> float:
        """Note a failed login; returns how long to wait before answering it."""
        now = self._clock()
        record = self._records.setdefault(address, _Record())
        record.failures = [t for t in record.failures if now - t < self.window] + [now]
        if len(record.failures) >= self.ban_after:
            record.banned_until = now + self.ban_for
            record.failures.clear()
        self._forget_old(now)
        return min(self.delay * 2 ** (len(record.failures) - 1), self.delay_max)

    def success(self, address: str) -> None:
        """A correct login from the address: its earlier failures no longer count."""
        record = self._records.get(address)
        if record is not None and record.banned_until <= self._clock():
            del self._records[address]

    def _forget_old(self, now: float) -> None:
        # Keeps memory bounded when many addresses each fail once.
        if len(self._records) > 10_000:
            for key in [
                k
                for k, r in self._records.items()
                if r.banned_until < now and all(now - t >= self.window for t in r.failures)
            ]:
                del self._records[key]
