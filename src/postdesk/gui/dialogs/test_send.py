"""Test Send: send a test email (or only test the connection) and watch the conversation live.

Three ways in: through an SMTP service, as an SMTP user through the built-in relay, or the
details of a service's connection test. The run is a task on the GUI's event loop, so the window
keeps working and Cancel stops it.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QWidget,
)

from postdesk.core import credentials, domains, events, sending, services
from postdesk.core.errors import UserError
from postdesk.core.sending import DEFAULT_HTML, DEFAULT_SUBJECT, DEFAULT_TEXT, TestEmail
from postdesk.core.smtptest import TestResult, TranscriptLine
from postdesk.core.smtptest.message import parse_address
from postdesk.core.store import Store
from postdesk.core.views import ServiceView
from postdesk.gui.asyncutil import run_blocking, start_task
from postdesk.gui.dialogs.fields import inline_message, show_inline
from postdesk.gui.dialogs.service_test_detail import TestDetail, trust_question, write_report
from postdesk.gui.qtutils import (
    HEADING_FONT_SCALE,
    PAGE_MARGIN,
    SPACE_L,
    SPACE_M,
    SPACE_S,
    SPACE_XS,
    hbox,
    label,
    make_default,
    muted,
    scaled_font,
    vbox,
)

if TYPE_CHECKING:
    from postdesk.gui.relaycontrol import RelayControl

Work = Callable[[TestEmail | None, Callable[[TranscriptLine], None]], Awaitable[TestResult]]
BODY_LINES = 3
DIALOG_SIZE = (1040, 640)
SIDE_STRETCH, CONVERSATION_STRETCH = 2, 3


def _html_of(text: str) -> str:
    if text == DEFAULT_TEXT:
        return DEFAULT_HTML
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return f"<html><body>{paragraphs.replace(chr(10), '<br>')}</body></html>"


def sender_suggestions(store: Store, own_address: str | None = None) -> list[str]:
    """From addresses to offer: the given address, then hello@ each dedicated domain."""
    found = sorted(domains.list_domains(store), key=lambda d: (d.status != "verified", d.name))
    suggestions = [f"hello@{d.name}" for d in found]
    if own_address and "@" in own_address:
        suggestions.insert(0, own_address)
    return list(dict.fromkeys(suggestions))


class TestSendDialog(QDialog):
    """The form (unless it only tests the connection), the run, and the verdict with its report."""

    __test__ = False  # not a pytest test class

    #: A run finished (a TestResult); the SMTP Service page updates the row's badge.
    result_ready = Signal(object)
    #: The certificate of this service is now trusted.
    pinned = Signal()

    def __init__(
        self,
        store: Store,
        title: str,
        target: str,
        work: Work,
        *,
        with_message: bool,
        service_name: str | None = None,
        senders: list[str] | None = None,
        relay: RelayControl | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store, self.title, self.target = store, title, target
        #: The built-in relay the test goes through (as an SMTP user), or None.
        self.relay = relay
        self._work, self.with_message, self.service_name = work, with_message, service_name
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.setWindowTitle(title)
        heading = label(title)
        heading.setFont(scaled_font(heading, HEADING_FONT_SCALE))
        self.target_label = muted(label(target, selectable=True))
        self.form_widget = self._build_form(senders or [])
        self.form_widget.setVisible(with_message)
        self.detail = TestDetail()
        self.detail.transcript.setPlaceholderText(
            ("Press Send" if with_message else "Press Test connection")
            + " to start. Every step of the conversation with the server appears here."
        )
        self.trust_row = self._build_trust_row()
        self.relay_row = self._build_relay_row()
        # Left: what to send and what was found out about TLS; right: the conversation, full
        # height, so the dialog fits a laptop screen.
        self.side = QWidget()
        side = vbox(
            self.form_widget,
            self.relay_row,
            self.detail.tls_details,
            self.trust_row,
            spacing=SPACE_L,
        )
        side.addStretch(1)
        self.side.setLayout(side)
        conversation = QWidget()
        conversation.setLayout(
            vbox(muted(label("Conversation with the server")), self.detail.transcript)
        )
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.side)
        splitter.addWidget(conversation)
        splitter.setStretchFactor(0, SIDE_STRETCH)
        splitter.setStretchFactor(1, CONVERSATION_STRETCH)
        layout = vbox(heading, self.target_label, self.detail.verdict, margin=PAGE_MARGIN)
        layout.setSpacing(SPACE_M)
        layout.addWidget(splitter, 1)
        layout.addLayout(self._build_buttons())
        self.setLayout(layout)
        make_default(self.run_button)
        self.resize(*DIALOG_SIZE)
        self._set_running(False)

    def _build_buttons(self) -> QHBoxLayout:
        self.status_label = muted(label(wrap=False))
        self.copy_button = QPushButton("Copy transcript")
        self.copy_button.clicked.connect(self.copy_transcript)
        self.save_button = QPushButton("Save report…")
        self.save_button.clicked.connect(self.ask_where_to_save)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_run)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        self.run_button = QPushButton("Send" if self.with_message else "Test again")
        self.run_button.clicked.connect(self.start_run)
        buttons = hbox(self.copy_button, self.save_button, self.status_label, spacing=SPACE_S)
        buttons.addStretch(1)
        for button in (self.cancel_button, self.close_button, self.run_button):
            buttons.addWidget(button)
        return buttons

    # --- ways in ------------------------------------------------------------------------------

    @classmethod
    def through_service(
        cls, store: Store, service: ServiceView, parent: QWidget | None = None
    ) -> TestSendDialog:
        """Send a test email through an SMTP service."""
        name = service.name
        return cls(
            store,
            f"Send a test email through {name}",
            _target(service),
            lambda email, on_line: sending.send_through_service(
                store, name, email, on_line=on_line
            ),
            with_message=True,
            service_name=name,
            senders=sender_suggestions(store, service.username),
            parent=parent,
        )

    @classmethod
    def connection_test(
        cls,
        store: Store,
        service: ServiceView,
        result: TestResult | None = None,
        parent: QWidget | None = None,
    ) -> TestSendDialog:
        """The last connection test of a service (this session's, or the stored verdict)."""
        name = service.name
        dialog = cls(
            store,
            f"Connection test: {name}",
            _target(service) + " — no email is sent",
            lambda _email, on_line: sending.test_service_connection(store, name, on_line=on_line),
            with_message=False,
            service_name=name,
            parent=parent,
        )
        if result is not None:
            dialog.show_result(result)
        elif service.last_test_at is not None:
            dialog.detail.show_stored(
                bool(service.last_test_ok),
                service.last_test_category or "",
                service.last_test_detail or "",
            )
            dialog._set_running(False)  # the stored verdict can be copied for a ticket
        else:
            dialog.run_button.setText("Test connection")
        return dialog

    @classmethod
    def as_smtp_user(
        cls,
        store: Store,
        domain: str,
        login: str,
        parent: QWidget | None = None,
        *,
        relay: RelayControl | None = None,
    ) -> TestSendDialog:
        """Send a test email as an SMTP user, through the built-in relay like an app would.

        With ``relay`` (the window's), a stopped relay is explained, with a Start button.
        """
        username = credentials.username(login, domain)
        return cls(
            store,
            f"Send a test email as {username}",
            "Through Postdesk's built-in relay, signed in as this SMTP user — exactly as your "
            "app would send.",
            lambda email, on_line: sending.send_as_smtp_user(
                store, domain, login, email, on_line=on_line
            ),
            with_message=True,
            senders=sender_suggestions(store, username),
            relay=relay,
            parent=parent,
        )

    # --- building -----------------------------------------------------------------------------

    def _build_form(self, senders: list[str]) -> QWidget:
        self.from_combo = QComboBox()
        self.from_combo.setEditable(True)
        self.from_combo.addItems(senders)
        self.from_combo.setAccessibleName("From")
        assert self.from_combo.lineEdit() is not None
        self.from_combo.lineEdit().setPlaceholderText("hello@your-domain")
        self.to_edit = QLineEdit()
        self.to_edit.setPlaceholderText("An inbox you can check, e.g. you@example.com")
        self.to_edit.setAccessibleName("To")
        self.subject_edit = QLineEdit(DEFAULT_SUBJECT)
        self.subject_edit.setAccessibleName("Subject")
        self.body_edit = QPlainTextEdit(DEFAULT_TEXT)
        self.body_edit.setAccessibleName("Message")
        # Tab moves on to the next field, as everywhere else; a test email needs no tab characters.
        self.body_edit.setTabChangesFocus(True)
        self.body_edit.setFixedHeight(self.body_edit.fontMetrics().lineSpacing() * (BODY_LINES + 2))
        self.from_message, self.to_message = inline_message(), inline_message()
        form = QFormLayout()
        form.setSpacing(SPACE_S)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("From", vbox(self.from_combo, self.from_message, spacing=SPACE_XS))
        form.addRow("To", vbox(self.to_edit, self.to_message, spacing=SPACE_XS))
        form.addRow("Subject", self.subject_edit)
        form.addRow("Message", self.body_edit)
        widget = QWidget()
        widget.setLayout(form)
        return widget

    def _build_trust_row(self) -> QWidget:
        self.trust_label = label(
            "If this is your own server, or the provider confirms the fingerprint, you can tell "
            "Postdesk to trust this one certificate."
        )
        self.trust_button = QPushButton("Trust this certificate…")
        self.trust_button.clicked.connect(self.ask_to_trust)
        row = QWidget()
        buttons = hbox(self.trust_button)
        buttons.addStretch(1)
        row.setLayout(vbox(self.trust_label, buttons, spacing=SPACE_S))
        row.hide()
        return row

    def _build_relay_row(self) -> QWidget:
        self.start_relay_button = QPushButton("Start the relay")
        self.start_relay_button.setToolTip("Start accepting mail from your apps, then send")
        self.start_relay_button.clicked.connect(self.start_relay)
        row = QWidget()
        buttons = hbox(self.start_relay_button)
        buttons.addStretch(1)
        row.setLayout(buttons)
        row.hide()
        return row

    # --- running ------------------------------------------------------------------------------

    def email(self) -> TestEmail | None:
        """The test email from the form, or None after showing what is wrong with it."""
        sender, recipient = self.from_combo.currentText().strip(), self.to_edit.text().strip()
        problems = {}
        for key, field, value in (
            ("from", "sender address", sender),
            ("to", "recipient", recipient),
        ):
            try:
                parse_address(field, value) if value else None
            except UserError as error:
                problems[key] = f"{error.message} {error.hint}"
        if not recipient:
            problems["to"] = "Type the address the test email should go to."
        if not sender:
            problems["from"] = "Choose or type the address the test email comes from."
        show_inline(self.from_message, problems.get("from", ""), error=True)
        show_inline(self.to_message, problems.get("to", ""), error=True)
        if problems:
            return None
        text = self.body_edit.toPlainText()
        return TestEmail(sender, recipient, self.subject_edit.text(), text, _html_of(text))

    def start_run(self) -> None:
        email = self.email() if self.with_message else None
        if self.with_message and email is None:
            return
        if self.relay is not None and not self.relay.running:
            self.show_relay_stopped()
            return
        self.relay_row.hide()
        self._closed = False
        self._task = start_task(self._run(email))

    def show_relay_stopped(self) -> None:
        """Say that the built-in relay is not running (rather than "nothing listens on 2525")."""
        self.detail.show_verdict(
            "failed",
            "The built-in relay is stopped",
            "Apps, and this test, send through Postdesk's relay, and it is not running. "
            "Press Start the relay: the test email is sent as soon as it listens.",
        )
        self.relay_row.show()
        self.start_relay_button.setEnabled(True)
        self.start_relay_button.setFocus()

    def start_relay(self) -> None:
        """Start the built-in relay, then send the test email."""
        if self.relay is not None:
            self._task = start_task(self._start_relay_and_send(self.relay))

    async def _start_relay_and_send(self, relay: RelayControl) -> None:
        self.start_relay_button.setEnabled(False)
        self.detail.show_verdict("running", "Starting the built-in relay…")
        # Shielded: closing this window must not cut the relay's start-up short.
        started = await asyncio.shield(relay.start())
        self._task = None
        if not started:
            error = relay.error
            self.detail.show_verdict(
                "failed",
                error.message if error else "The built-in relay could not start",
                error.hint if error else "",
            )
            self.start_relay_button.setEnabled(True)
            return
        self.start_run()

    async def _run(self, email: TestEmail | None) -> None:
        self.trust_row.hide()
        self.detail.start("Sending the test email…" if email else "Testing the connection…")
        self._set_running(True)
        try:
            result = await self._work(email, self._show_line)
        except UserError as error:
            self.detail.show_verdict("failed", error.message, error.hint)
            return
        except asyncio.CancelledError:
            if not self._closed:
                self.detail.show_verdict(
                    "neutral", "Cancelled", "The test was stopped and the connection closed."
                )
            raise
        finally:
            self._task = None
            if not self._closed:
                self._set_running(False)
        self.show_result(result)
        if email is not None:
            # The send was counted: usage figures and "last used" are out of date elsewhere.
            events.publish(events.Change.USAGE, origin=self)
        self.result_ready.emit(result)

    def _show_line(self, line: TranscriptLine) -> None:
        # After the window closed its widgets may be gone; the last lines have no one to read them.
        if not self._closed:
            self.detail.transcript.append_line(line)

    def show_result(self, result: TestResult) -> None:
        """Show a finished test (also used to open an earlier result)."""
        self.detail.finish(result, message_sent=self.with_message and result.ok)
        can_trust = self.service_name is not None and self.detail.fingerprint_to_trust()
        self.trust_row.setVisible(bool(can_trust))
        # The relay stopped (or never started) after the dialog opened: offer to start it.
        stopped = self.relay is not None and result.category == "relay_stopped"
        self.relay_row.setVisible(stopped)
        self.start_relay_button.setEnabled(stopped)
        self.trust_button.setEnabled(True)
        self._set_running(False)

    def cancel_run(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def running(self) -> bool:
        return self._task is not None

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.form_widget.setEnabled(not running)
        self.cancel_button.setVisible(running)
        self.close_button.setVisible(not running)
        has_report = not running and self.detail.has_run()
        self.copy_button.setEnabled(has_report)
        self.save_button.setEnabled(has_report)
        if self.detail.has_run():
            self.run_button.setText("Send again" if self.with_message else "Test again")
        # Without a form, the side only has something to show once TLS facts are known.
        self.side.setVisible(
            self.with_message
            or not self.detail.tls_details.isHidden()
            or not self.trust_row.isHidden()
        )

    def done(self, result: int) -> None:
        # Closing the window stops a run that is still going.
        self._closed = True
        self.cancel_run()
        super().done(result)

    # --- trusting a certificate ---------------------------------------------------------------

    def ask_to_trust(self) -> QMessageBox:
        sha256 = self.detail.fingerprint_to_trust()
        assert sha256 is not None and self.service_name is not None
        box, trust = trust_question(self, self.service_name, sha256)

        def answered(_result: int) -> None:
            if box.clickedButton() is trust:
                start_task(self._trust(sha256))

        box.finished.connect(answered)
        box.open()
        return box

    async def _trust(self, sha256: str) -> None:
        store, name = self.store, self.service_name
        assert name is not None
        self.trust_button.setEnabled(False)
        await run_blocking(lambda: services.pin_certificate(store, name, sha256))
        self.trust_row.hide()
        self.detail.show_verdict(
            "neutral",
            "Certificate trusted — run the test again to use it",
            "You can remove the pin later in the service's Edit dialog.",
        )
        self.pinned.emit()

    # --- the report ---------------------------------------------------------------------------

    def report(self) -> str:
        return self.detail.report(self.title, self.target)

    def copy_transcript(self) -> None:
        QGuiApplication.clipboard().setText(self.report())
        self.status_label.setText("Copied to the clipboard")

    def ask_where_to_save(self) -> QFileDialog:
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        from postdesk.gui.reportsave import FILTERS

        name = "postdesk-test-report.html"
        dialog = QFileDialog(self, "Save report", str(Path(folder) / name), FILTERS)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("html")
        dialog.fileSelected.connect(self.save_report)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def save_report(self, path: str) -> None:
        """Write the report to ``path`` and say how it went (.html and .json: the full report)."""
        result = self.detail.result
        if Path(path).suffix.lower() in (".html", ".htm", ".json") and result is not None:
            from postdesk.core.report import from_test_result
            from postdesk.gui.reportsave import save

            subject = f"{self.title}: {self.target}"
            build = lambda: from_test_result(result, subject)  # noqa: E731
            start_task(save(build, Path(path), self.status_label))
            return
        self.status_label.setText(write_report(path, self.report()))


def _target(service: ServiceView) -> str:
    security = services.SECURITY_LABELS.get(service.security, service.security)
    return f"{service.host} port {service.port}, {security}"
