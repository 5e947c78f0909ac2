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

    Every login attempt counts as a failure *before* its password is checked (``admit``), so
    parallel attempts from one address cannot all be checked before the first answer comes back:
    once ``ban_after`` attempts are counted within the window, further ones are refused unchecked
    and the address is refused for ``ban_for`` seconds. Each failure makes its answer wait longer
    (``delay * 2**(n-1)``, up to ``delay_max``). A successful login forgets the address's count.
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

    def admit(self, address: str) -> float:
        """Count a login attempt before checking it: 0 when it may be checked, otherwise the
        seconds the address is refused for (the attempt must then be refused unchecked)."""
        wait = self.banned_for(address)
        if wait > 0:
            return wait
        now = self._clock()
        record = self._records.setdefault(address, _Record())
        record.failures = [t for t in record.failures if now - t < self.window]
        if len(record.failures) >= self.ban_after:
            record.banned_until = now + self.ban_for
            record.failures.clear()
            return self.ban_for
        record.failures.append(now)
        self._forget_old(now)
        return 0.0

    def failure(self, address: str) -> float:
        """An admitted attempt failed (it is already counted); how long to wait before answering."""
        now = self._clock()
        record = self._records.setdefault(address, _Record())
        count = len(record.failures)
        if count >= self.ban_after:
            record.banned_until = now + self.ban_for
            record.failures.clear()
        return min(self.delay * 2 ** (max(count, 1) - 1), self.delay_max)

    def withdraw(self, address: str) -> None:
        """An admitted attempt could not be checked at all: it no longer counts."""
        record = self._records.get(address)
        if record is not None and record.failures:
            record.failures.pop()

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
