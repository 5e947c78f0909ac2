"""What a test connects to (SmtpEndpoint) and what it found out (TestResult)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from postdesk.core.errors import UserError
from postdesk.core.smtptest.tlsinfo import normalize_pin
from postdesk.core.smtptest.transcript import TranscriptLine

Security = Literal["starttls", "tls", "none"]
SECURITY_CHOICES: tuple[str, ...] = ("starttls", "tls", "none")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class SmtpEndpoint:
    """Where and how to connect: host, port, security, login and optional certificate pin.

    ``cafile`` adds a trust anchor (a PEM file) on top of the system's trusted authorities.
    """

    host: str
    port: int
    security: Security
    username: str | None = None
    # The password never shows in repr() (logs, tracebacks, bug reports).
    password: str | None = field(default=None, repr=False)
    pinned_sha256: str | None = None
    timeout: float = 10
    cafile: str | None = None

    def __post_init__(self) -> None:
        host = (self.host or "").strip()
        if not host or _CONTROL.search(host):
            raise UserError(
                "smtp.invalid_host",
                "The SMTP host is empty or contains spaces or line breaks.",
                "Enter the host name the provider lists, for example smtp.example.com.",
            )
        object.__setattr__(self, "host", host)
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise UserError(
                "smtp.invalid_port",
                f"The port “{self.port}” is not a valid port number.",
                "Use the port the provider lists: usually 587 (STARTTLS) or 465 (TLS).",
            )
        if self.security not in SECURITY_CHOICES:
            raise UserError(
                "smtp.invalid_security",
                f"The security setting “{self.security}” is unknown.",
                "Choose STARTTLS, TLS or none.",
            )
        if self.timeout <= 0:
            raise UserError("smtp.invalid_timeout", "The timeout must be more than zero seconds.")
        if self.pinned_sha256:
            object.__setattr__(self, "pinned_sha256", normalize_pin(self.pinned_sha256))
        else:
            object.__setattr__(self, "pinned_sha256", None)


@dataclass(frozen=True)
class MessageSigner:
    """Signs the message's wire bytes just before DATA, as the relay would (e.g. DKIM)."""

    label: str  # shown in the transcript, e.g. "DKIM d=shop.example s=pd2026"
    sign: Callable[[bytes], bytes]


@dataclass
class TestResult:
    """The outcome of a test: verdict, advice, where it stopped, transcript, TLS and timings."""

    __test__ = False  # not a pytest test class, despite the name

    ok: bool
    category: str
    advice: str
    stage: str
    transcript: list[TranscriptLine]
    tls: dict[str, Any] | None = None
    timings: dict[str, int] = field(default_factory=dict)
    reply_code: int | None = None
    reply_text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data for ``--json`` output and tickets."""
        return {
            "ok": self.ok,
            "category": self.category,
            "advice": self.advice,
            "stage": self.stage,
            "reply_code": self.reply_code,
            "reply_text": self.reply_text,
            "transcript": [line.as_dict() for line in self.transcript],
            "tls": dict(self.tls) if self.tls is not None else None,
            "timings": dict(self.timings),
        }

    def transcript_text(self) -> str:
        """The transcript as text that can be pasted into a ticket."""
        return "\n".join(str(line) for line in self.transcript)
