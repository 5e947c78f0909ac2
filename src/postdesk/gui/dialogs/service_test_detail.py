"""The detail of one test: verdict, the live conversation, TLS facts, and the report text.

Used by the Test Send dialog for test emails and for connection tests alike.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractButton,
    QFrame,
    QGridLayout,
    QLabel,
    QMessageBox,
    QWidget,
)

from postdesk.core.smtptest import TestResult, TranscriptLine
from postdesk.gui.qtutils import SPACE_M, SPACE_XS, label, muted, scaled_font, vbox
from postdesk.gui.widgets.transcript_view import TranscriptView
from postdesk.gui.widgets.verdict_banner import Tone, VerdictBanner, verdict_heading

CERT_CATEGORIES = ("cert_untrusted", "cert_hostname", "cert_expired")
NO_TRANSCRIPT = (
    "The conversation of this test was not kept after Postdesk closed. Run the test again to "
    "see every step."
)
TLS_TITLE = "Secure connection (TLS)"
FINGERPRINT_LENGTH = 95  # 32 bytes as AB:CD:…
TRUST_RISK = (
    "Postdesk will accept this exact certificate for {name} from now on, even though no "
    "authority this computer trusts vouches for it. Do this only for your own server, or when the "
    "provider confirms this fingerprint:\n\n{sha256}\n\nIf the server later presents another "
    "certificate, the test fails again."
)


def _yes_no(value: object) -> str:
    return {True: "yes", False: "no"}.get(value, "unknown")  # type: ignore[call-overload]


def tls_facts(tls: dict[str, Any]) -> list[tuple[str, str]]:
    """The TLS details as (label, value) pairs, in the order the dialog and the report show them."""
    cipher = str(tls.get("cipher") or "unknown")
    if tls.get("bits"):
        cipher += f" ({tls['bits']} bits)"
    expires = str(tls.get("not_after") or "")[:10] or "unknown"
    if tls.get("expired"):
        expires += " (expired)"
    checks = (
        f"signed by a trusted authority: {_yes_no(tls.get('verified'))}, "
        f"name matches: {_yes_no(tls.get('hostname_matched'))}"
    )
    if tls.get("pinned"):
        checks += ", accepted because you trusted this certificate"
    return [
        ("Protocol", str(tls.get("protocol") or "unknown")),
        ("Cipher", cipher),
        ("Certificate for", ", ".join(tls.get("names") or []) or str(tls.get("subject") or "")),
        ("Issued by", str(tls.get("issuer") or "unknown")),
        ("Expires", expires),
        ("Checks", checks),
        ("SHA-256", str(tls.get("sha256") or "unknown")),
    ]


def report_text(
    title: str, target: str, heading: str, advice: str, lines: list[TranscriptLine], tls: Any
) -> str:
    """The whole report for a ticket: what was tested, the verdict, the conversation, TLS."""
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [f"{title}", f"{target}", f"Run at {when}", "", heading]
    if advice:
        parts.append(advice)
    parts += ["", "Conversation:"]
    parts += [str(line) for line in lines] or ["(not kept)"]
    if tls:
        parts += ["", f"{TLS_TITLE}:"]
        parts += [f"  {name}: {value}" for name, value in tls_facts(tls)]
    return "\n".join(parts) + "\n"


def write_report(path: str, text: str) -> str:
    """Save a report; returns what to tell the user about it."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        return f"Could not save the report: {error.strerror or error}. Choose another folder."
    return f"Saved {Path(path).name}"


def trust_question(
    parent: QWidget, service_name: str, sha256: str
) -> tuple[QMessageBox, QAbstractButton]:
    """The confirmation before pinning a certificate: the risk in plain words, and the button."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Trust this certificate")
    box.setText(f"Trust this certificate for {service_name}?")
    box.setInformativeText(TRUST_RISK.format(name=service_name, sha256=sha256))
    trust = box.addButton("Trust this certificate", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.finished.connect(box.deleteLater)
    return box, trust


class TlsDetails(QFrame):
    """The TLS facts of a test in a compact grid; hidden when the test had no TLS."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = label(TLS_TITLE)
        self.title.setFont(scaled_font(self.title, 1.0))
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(SPACE_M)
        self.grid.setVerticalSpacing(SPACE_XS)
        self.values: dict[str, QLabel] = {}
        self.setLayout(vbox(self.title, self.grid, spacing=SPACE_XS))
        self.hide()

    def show_tls(self, tls: dict[str, Any] | None) -> None:
        if not tls:
            self.hide()
            return
        while (item := self.grid.takeAt(0)) is not None:
            if widget := item.widget():
                widget.deleteLater()
        self.values = {}
        for row, (name, value) in enumerate(tls_facts(tls)):
            value_label = label(value, selectable=True)
            if name == "SHA-256" and len(value) == FINGERPRINT_LENGTH:
                # Two lines of 16 bytes: an unbroken 95-character line would widen the dialog.
                half = FINGERPRINT_LENGTH // 2 + 1
                value_label.setText(f"{value[:half]}\n{value[half:]}")
                value_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
            self.grid.addWidget(muted(label(name, wrap=False)), row, 0)
            self.grid.addWidget(value_label, row, 1)
            self.values[name] = value_label
        self.grid.setColumnStretch(1, 1)
        self.show()


class TestDetail:
    """Verdict banner, live transcript and TLS facts of one test (the dialog lays them out)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.verdict = VerdictBanner()
        self.transcript = TranscriptView()
        self.tls_details = TlsDetails()
        self.result: TestResult | None = None
        self.heading = ""
        self.advice = ""

    def start(self, heading: str) -> None:
        """Clear the last run and say what is happening now."""
        self.result = None
        self.transcript.clear_lines()
        self.tls_details.show_tls(None)
        self.show_verdict("running", heading)

    def finish(self, result: TestResult, *, message_sent: bool) -> None:
        """Show a finished test: verdict, every line (if not shown live already), TLS."""
        self.result = result
        if len(self.transcript.lines) != len(result.transcript):
            self.transcript.show_lines(result.transcript)
        self.heading = verdict_heading(result.ok, result.category, message_sent=message_sent)
        self.advice = result.advice
        self.verdict.show_result(result, message_sent=message_sent)
        self.tls_details.show_tls(result.tls)

    def show_stored(self, ok: bool, category: str, detail: str) -> None:
        """Show a test from an earlier session: only its verdict and advice were kept."""
        self.result = None
        self.transcript.show_note(NO_TRANSCRIPT)
        self.tls_details.show_tls(None)
        heading = verdict_heading(ok, category, message_sent=False)
        self.show_verdict("ok" if ok else "failed", heading, "" if ok else detail)

    def show_verdict(self, tone: Tone, heading: str, advice: str = "") -> None:
        self.heading, self.advice = heading, advice
        self.verdict.show_text(tone, heading, advice)

    def has_run(self) -> bool:
        return bool(self.heading)

    def fingerprint_to_trust(self) -> str | None:
        """The certificate a user may choose to trust: only after a certificate verdict."""
        result = self.result
        if result is None or result.category not in CERT_CATEGORIES or not result.tls:
            return None
        return result.tls.get("sha256")

    def report(self, title: str, target: str) -> str:
        tls = self.result.tls if self.result else None
        return report_text(title, target, self.heading, self.advice, self.transcript.lines, tls)
