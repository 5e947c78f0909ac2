"""The one failure type a user sees: an expected problem with a code, a message and a hint."""

from __future__ import annotations


class UserError(Exception):
    """An expected failure the user can act on.

    ``code`` is stable (for scripts and tests), ``message`` says what went wrong in plain words,
    ``hint`` says what to do about it. None of them may contain a secret.
    """

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def as_dict(self) -> dict[str, str]:
        """The error as plain data for ``--json`` output."""
        return {"code": self.code, "message": self.message, "hint": self.hint}
