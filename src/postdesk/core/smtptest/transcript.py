"""The SMTP conversation as the user sees it: who said what, and when."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Direction = Literal["server", "client", "info"]

#: What stands in for a secret (a password, an AUTH exchange) in the transcript.
REDACTED = "********"


@dataclass(frozen=True)
class TranscriptLine:
    """One line of the conversation: who (server, client or Postdesk itself), when, what."""

    direction: Direction
    ms: int
    text: str

    def as_dict(self) -> dict[str, object]:
        """The line as plain data for ``--json`` output and tickets."""
        return {"direction": self.direction, "ms": self.ms, "text": self.text}

    def __str__(self) -> str:
        arrow = {"server": "S:", "client": "C:", "info": "--"}[self.direction]
        return f"{self.ms:>6} ms {arrow} {self.text}"


class Transcript:
    """Collects transcript lines, hands each one to a listener as it happens, hides secrets."""

    def __init__(
        self,
        on_line: Callable[[TranscriptLine], None] | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.lines: list[TranscriptLine] = []
        self._on_line = on_line
        # Structural redaction (AUTH lines) is the real guard; this catches a secret that shows up
        # anywhere else, for example echoed back in a server reply. Very short secrets are left
        # out: replacing every "a" or "250" would make the transcript unreadable.
        self._secrets = [s for s in secrets if s and len(s) >= 4]
        self._start = time.monotonic()

    def elapsed_ms(self) -> int:
        """Milliseconds since the test started."""
        return int((time.monotonic() - self._start) * 1000)

    def add(self, direction: Direction, text: str) -> TranscriptLine:
        """Record one line and pass it to the listener."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        line = TranscriptLine(direction, self.elapsed_ms(), text)
        self.lines.append(line)
        if self._on_line is not None:
            self._on_line(line)
        return line

    def info(self, text: str) -> None:
        """A note from Postdesk itself (what it is doing, what it found)."""
        self.add("info", text)

    def client(self, text: str) -> None:
        """A command Postdesk sent."""
        self.add("client", text)

    def server(self, code: int, message: str) -> None:
        """A server reply, one transcript line per reply line, as it appeared on the wire."""
        parts = message.split("\n") if message else [""]
        for index, part in enumerate(parts):
            separator = " " if index == len(parts) - 1 else "-"
            self.add("server", f"{code}{separator}{part}".rstrip())
