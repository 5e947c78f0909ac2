"""SMTP test sends and connection tests: the whole conversation, TLS details and a verdict.

Pure: it takes connection parameters (password included) and a message and returns a result.
It never reads the database or the keyring; the workflow that calls it does that.
"""

from postdesk.core.smtptest.endpoint import (
    SECURITY_CHOICES,
    MessageSigner,
    Security,
    SmtpEndpoint,
    TestResult,
)
from postdesk.core.smtptest.message import build_test_message
from postdesk.core.smtptest.session import run_test
from postdesk.core.smtptest.tlsinfo import fingerprint_sha256, normalize_pin
from postdesk.core.smtptest.transcript import TranscriptLine
from postdesk.core.smtptest.verdicts import CATEGORIES

__all__ = [
    "CATEGORIES",
    "SECURITY_CHOICES",
    "MessageSigner",
    "Security",
    "SmtpEndpoint",
    "TestResult",
    "TranscriptLine",
    "build_test_message",
    "fingerprint_sha256",
    "normalize_pin",
    "run_test",
]
