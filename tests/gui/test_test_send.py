"""The Test Send dialog against a real SMTP server: a live transcript, Cancel, the report."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from postdesk.core import credentials, services, settings, usage
from postdesk.core.services import ServiceForm
from postdesk.gui.dialogs.test_send import TestSendDialog
from postdesk.gui.tabs.smtp_settings import SmtpSettingsPage
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.services import free_port
from support.smtpd import SMTP_PASSWORD, SMTP_USER, Handler
from support.workspace import add_verified_domain

DOMAIN = "shop.example"


class Gate:
    """Holds the server at DATA until the test lets it go, so the send is caught midway."""

    def __init__(self, handler: Handler) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()
        original = handler.handle_DATA

        async def held_data(server: Any, session: Any, envelope: Any) -> str:
            self.reached.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
            return await original(server, session, envelope)

        # aiosmtpd looks up the handler's hooks for each new connection.
        handler.handle_DATA = held_data  # type: ignore[method-assign]


@pytest.fixture
def pinned_service(store: Any, secret_service: Any, smtp_server: Any) -> Any:
    server = smtp_server(security="starttls")
    services.add_service(
        store,
        ServiceForm(
            "Office server", "localhost", server.port, "starttls", SMTP_USER, SMTP_PASSWORD
        ),
    )
    services.pin_certificate(store, "Office server", server.fingerprint)
    add_verified_domain(store, DOMAIN)
    return server


def open_dialog(qtbot: Any, store: Any) -> TestSendDialog:
    dialog = TestSendDialog.through_service(store, services.get_service(store, "Office server"))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_transcript_fills_in_while_sending(qapp, qtbot, store, pinned_service) -> None:
    server = pinned_service
    gate = Gate(server.handler)
    dialog = open_dialog(qtbot, store)
    senders = [dialog.from_combo.itemText(i) for i in range(dialog.from_combo.count())]
    assert senders == [SMTP_USER, f"hello@{DOMAIN}"]  # the service's own address first
    assert dialog.subject_edit.text() == "Postdesk test email"
    assert "test email sent with Postdesk" in dialog.body_edit.toPlainText()
    assert not dialog.copy_button.isEnabled(), "nothing to copy before a run"

    async def walk() -> None:
        dialog.from_combo.setCurrentText(f"hello@{DOMAIN}")
        dialog.to_edit.setText("owner@example.org")
        dialog.run_button.click()
        await wait_for(gate.reached.is_set)
        # Midway: the conversation so far is on screen, and the window still answers.
        await wait_for(lambda: "DATA" in dialog.detail.transcript.text())
        assert dialog.running()
        assert "EHLO" in dialog.detail.transcript.text()
        assert dialog.cancel_button.isVisible() and not dialog.close_button.isVisible()
        assert not dialog.run_button.isEnabled()
        assert dialog.detail.verdict.tone == "running"
        gate.release.set()
        await wait_for(lambda: not dialog.running())

    run_on_qt_loop(qapp, walk())
    assert dialog.detail.verdict.tone == "ok"
    assert dialog.detail.verdict.heading_label.text().startswith("Sent — ")
    assert len(server.handler.messages) == 1
    assert server.handler.messages[0].mail_from == f"hello@{DOMAIN}"
    assert dialog.detail.tls_details.values["Protocol"].text().startswith("TLS")
    assert "localhost" in dialog.detail.tls_details.values["Certificate for"].text()
    assert usage.today(store).sent == 1, "a successful test send counts as one email"

    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert "EHLO" in copied and "Sent — the server accepted the test email" in copied
    assert "Secure connection (TLS)" in copied and server.fingerprint in copied
    assert SMTP_PASSWORD not in copied


def test_cancel_stops_the_send(qapp, qtbot, store, pinned_service) -> None:
    server = pinned_service
    gate = Gate(server.handler)
    dialog = open_dialog(qtbot, store)

    async def walk() -> None:
        dialog.to_edit.setText("owner@example.org")
        dialog.run_button.click()
        await wait_for(gate.reached.is_set)
        dialog.cancel_button.click()
        await wait_for(lambda: not dialog.running())
        await asyncio.sleep(0.2)  # the closed connection's last callbacks run on this loop

    try:
        run_on_qt_loop(qapp, walk())
    finally:
        gate.release.set()
    assert dialog.detail.verdict.heading_label.text() == "Cancelled"
    assert dialog.run_button.isEnabled() and dialog.close_button.isVisible()
    assert usage.today(store).sent == 0


def test_closing_the_window_mid_send_stops_quietly(
    qapp, qtbot, store, pinned_service, monkeypatch
) -> None:
    gate = Gate(pinned_service.handler)
    failures: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda _type, error, _tb: failures.append(error))
    # As in Postdesk itself: closing the last window does not stop the event loop.
    qapp.setQuitOnLastWindowClosed(False)
    dialog = TestSendDialog.through_service(store, services.get_service(store, "Office server"))
    dialog.finished.connect(dialog.deleteLater)  # as the pages do
    dialog.show()

    async def walk() -> None:
        dialog.to_edit.setText("owner@example.org")
        dialog.run_button.click()
        await wait_for(gate.reached.is_set)
        task = dialog._task
        dialog.reject()
        await wait_for(lambda: task.done())
        await asyncio.sleep(0.2)  # let the deferred deletion and the last callbacks run

    try:
        run_on_qt_loop(qapp, walk())
    finally:
        gate.release.set()
        qapp.setQuitOnLastWindowClosed(True)
    assert failures == []
    assert pinned_service.handler.messages == []


def test_addresses_are_checked_before_sending(qapp, qtbot, store, pinned_service) -> None:
    dialog = open_dialog(qtbot, store)
    dialog.run_button.click()
    assert "Type the address" in dialog.to_message.text()
    dialog.to_edit.setText("owner at example.org")
    dialog.run_button.click()
    assert "not a valid email address" in dialog.to_message.text()
    assert not dialog.running()
    assert pinned_service.handler.messages == []


def test_a_foreign_sender_is_explained(qapp, qtbot, store, pinned_service) -> None:
    dialog = open_dialog(qtbot, store)

    async def walk() -> None:
        dialog.from_combo.setCurrentText("someone@elsewhere.example")
        dialog.to_edit.setText("owner@example.org")
        dialog.run_button.click()
        await wait_for(lambda: dialog.detail.verdict.tone == "failed")

    run_on_qt_loop(qapp, walk())
    assert "not on one of your dedicated domains" in dialog.detail.verdict.heading_label.text()
    assert pinned_service.handler.messages == []


def test_save_report_writes_the_verdict_and_transcript(
    qapp, qtbot, store, pinned_service, tmp_path: Path
) -> None:
    pinned_service.handler.rcpt_reply = "550 5.7.1 Relay access denied"
    dialog = open_dialog(qtbot, store)

    async def walk() -> None:
        dialog.to_edit.setText("owner@example.org")
        dialog.run_button.click()
        await wait_for(lambda: not dialog.running() and dialog.detail.result is not None)

    run_on_qt_loop(qapp, walk())
    assert dialog.detail.verdict.heading_label.text() == "Failed — the recipient was refused"
    assert "Relay denied" in dialog.detail.verdict.advice_label.text()
    assert not dialog.trust_row.isVisible()

    chooser = dialog.ask_where_to_save()
    assert isinstance(chooser, QFileDialog) and chooser.isVisible()
    chooser.reject()
    path = tmp_path / "report.txt"
    dialog.save_report(str(path))
    report = path.read_text(encoding="utf-8")
    assert "Failed — the recipient was refused" in report
    assert "RCPT TO:<owner@example.org>" in report
    assert "550 5.7.1 Relay access denied" in report
    assert SMTP_PASSWORD not in report
    assert dialog.status_label.text() == "Saved report.txt"


def test_send_as_smtp_user_from_smtp_settings(qapp, qtbot, store, secret_service) -> None:
    add_verified_domain(store, DOMAIN)
    credentials.create_smtp_user(store, DOMAIN, "shop")
    with store.session() as s:
        settings.put(s, "relay_port", free_port())  # nothing listens there: the relay is off
    page = SmtpSettingsPage()
    qtbot.addWidget(page)
    page.show()
    run_on_qt_loop(qapp, page.attach(store))
    assert not page.test_send_button.isEnabled(), "first pick a user"
    page.table.selectRow(0)
    assert page.test_send_button.isEnabled()

    async def walk() -> None:
        page.test_send_button.click()
        (dialog,) = dialogs_of(TestSendDialog)
        assert dialog.from_combo.currentText() == f"shop@{DOMAIN}"
        dialog.to_edit.setText("owner@example.org")
        dialog.run_button.click()
        await wait_for(lambda: not dialog.running() and dialog.detail.result is not None)
        assert dialog.detail.result.category == "relay_stopped"
        assert "built-in relay is not running" in dialog.detail.verdict.advice_label.text()
        assert "Nothing is accepting connections" not in dialog.detail.verdict.advice_label.text()
        dialog.close_button.click()

    run_on_qt_loop(qapp, walk())
