"""SMTP Service, walked like a user: add services, test them, trust a certificate, remove."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton, QToolButton

from postdesk.core import services
from postdesk.core.services import ServiceForm
from postdesk.gui.dialogs.service_form import KEEP_PASSWORD, ServiceFormDialog
from postdesk.gui.dialogs.test_send import TestSendDialog
from postdesk.gui.tabs.smtp_service import (
    ACTIONS_COLUMN,
    DEFAULT_COLUMN,
    DEFAULT_MARKER,
    NAME_COLUMN,
    SERVER_COLUMN,
    TEST_COLUMN,
    SmtpServicePage,
)
from postdesk.gui.widgets.status_badge import StatusBadge
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.smtpd import SMTP_PASSWORD, SMTP_USER
from support.workspace import add_verified_domain


def only(kind: type) -> Any:
    found = dialogs_of(kind)
    assert len(found) == 1, f"expected one {kind.__name__}, found {len(found)}"
    return found[0]


def names_shown(page: SmtpServicePage) -> list[str]:
    if not page.table.isVisible():
        return []
    return [page.table.item(row, NAME_COLUMN).text() for row in range(page.table.rowCount())]


def cell(page: SmtpServicePage, name: str, column: int) -> str:
    return page.table.item(names_shown(page).index(name), column).text()


def badge(page: SmtpServicePage, name: str) -> StatusBadge:
    widget = page.table.cellWidget(names_shown(page).index(name), TEST_COLUMN)
    return widget.findChild(StatusBadge)


def badge_time(page: SmtpServicePage, name: str) -> str:
    widget = page.table.cellWidget(names_shown(page).index(name), TEST_COLUMN)
    shown = [w.text() for w in widget.findChildren(QLabel) if w.isVisible()]
    return " ".join(shown)


def connection_button(page: SmtpServicePage, name: str) -> QPushButton:
    widget = page.table.cellWidget(names_shown(page).index(name), ACTIONS_COLUMN)
    (button,) = [b for b in widget.findChildren(QPushButton) if b.text() == "Test connection"]
    return button


def menu_action(page: SmtpServicePage, name: str, text: str) -> Any:
    widget = page.table.cellWidget(names_shown(page).index(name), ACTIONS_COLUMN)
    menu = widget.findChild(QToolButton).menu()
    (action,) = [a for a in menu.actions() if a.text() == text]
    return action


@pytest.fixture
def page(qtbot: Any, qapp: QApplication, store: Any) -> SmtpServicePage:
    widget = SmtpServicePage()
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    for dialog in dialogs_of(QMessageBox) + dialogs_of(ServiceFormDialog):
        dialog.close()
    for dialog in dialogs_of(TestSendDialog):
        dialog.close()


def attach(qapp: QApplication, page: SmtpServicePage, store: Any) -> None:
    run_on_qt_loop(qapp, page.attach(store))


def add_local(store: Any, server: Any, name: str = "Office server") -> None:
    services.add_service(
        store,
        ServiceForm(name, "localhost", server.port, server.security, SMTP_USER, SMTP_PASSWORD),
    )


def test_add_a_service_from_a_preset(qapp, page, store, secret_service) -> None:
    attach(qapp, page, store)

    async def walk() -> None:
        assert page.empty.isVisible()
        assert "No SMTP services yet" in page.empty.heading_label.text()
        page.empty.button.click()
        dialog = only(ServiceFormDialog)
        # SendGrid is offered first and fills everything but the API key.
        assert dialog.provider_combo.currentText() == "SendGrid"
        assert dialog.host_edit.text() == "smtp.sendgrid.net"
        assert dialog.port_edit.text() == "587"
        assert dialog.security_combo.currentText() == "STARTTLS"
        assert dialog.username_edit.text() == "apikey"
        assert dialog.username_edit.isReadOnly()
        assert dialog.password_label.text() == "API key"
        assert "include:sendgrid.net" in dialog.spf_label.text()
        assert not dialog.region_combo.isVisible()

        # Another provider: its host, and no SendGrid username left behind.
        dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findText("Mailgun"))
        assert dialog.host_edit.text() == "smtp.mailgun.org"
        assert dialog.username_edit.text() == ""
        assert not dialog.username_edit.isReadOnly()
        assert "EU region" in dialog.note_label.text()
        # Amazon SES: the region picks the host.
        dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findText("Amazon SES"))
        assert dialog.region_combo.isVisible()
        dialog.region_combo.setCurrentText("eu-west-1")
        assert dialog.host_edit.text() == "email-smtp.eu-west-1.amazonaws.com"
        assert dialog.name_edit.text() == "Amazon SES"

        dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findText("SendGrid"))
        assert dialog.name_edit.text() == "SendGrid"
        assert dialog.password_edit.echoMode() == dialog.password_edit.EchoMode.Password
        dialog.show_password.click()
        assert dialog.password_edit.echoMode() == dialog.password_edit.EchoMode.Normal
        dialog.password_edit.setText("SG.secret-api-key")
        dialog.save_button.click()
        await wait_for(lambda: names_shown(page) == ["SendGrid"])
        assert cell(page, "SendGrid", SERVER_COLUMN) == "smtp.sendgrid.net:587"
        assert cell(page, "SendGrid", DEFAULT_COLUMN) == DEFAULT_MARKER  # the first is default
        assert badge(page, "SendGrid").text() == "Not tested"
        assert page.banner.message_label.text() == "SendGrid added"
        saved = services.get_service(store, "SendGrid")
        assert services.service_password(saved) == "SG.secret-api-key"

    run_on_qt_loop(qapp, walk())


def test_the_form_explains_bad_input_inline(qapp, page, store, secret_service) -> None:
    attach(qapp, page, store)

    async def walk() -> None:
        page.add_button.click()
        dialog = only(ServiceFormDialog)
        dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findText("Custom"))
        assert dialog.host_edit.text() == ""
        dialog.name_edit.setText("Office server")
        dialog.host_edit.setText("mail.example.com")
        dialog.username_edit.setText(SMTP_USER)
        dialog.password_edit.setText(SMTP_PASSWORD)
        dialog.port_edit.setText("70000")
        dialog.save_button.click()
        assert dialog.isVisible(), "an error blocks saving"
        assert "out of range" in dialog.messages["port"].text()

        dialog.port_edit.setText("465")  # with STARTTLS still chosen
        dialog.save_button.click()
        assert dialog.isVisible()
        assert not dialog.messages["port"].isVisible()
        assert "choose 'TLS (implicit)'" in dialog.messages["security"].text()

        # Port 25 is a warning: shown, but saving is allowed.
        dialog.port_edit.setText("25")
        dialog.security_combo.setCurrentIndex(dialog.security_combo.findData("starttls"))
        assert "blocked by most internet providers" in dialog.messages["port"].text()
        assert "#a15c00" in dialog.messages["port"].styleSheet()
        dialog.save_button.click()
        await wait_for(lambda: names_shown(page) == ["Office server"])
        assert cell(page, "Office server", SERVER_COLUMN) == "mail.example.com:25"

        # A second service may not take the same name.
        page.add_button.click()
        dialog = only(ServiceFormDialog)
        dialog.name_edit.setText("office server")
        dialog.save_button.click()
        assert "already exists" in dialog.messages["name"].text()
        dialog.reject()

    run_on_qt_loop(qapp, walk())


def test_test_connection_then_trust_the_certificate(
    qapp, page, store, secret_service, smtp_server
) -> None:
    server = smtp_server(security="starttls")  # signed by a test CA this computer does not trust
    add_local(store, server)
    attach(qapp, page, store)

    async def walk() -> None:
        assert badge(page, "Office server").text() == "Not tested"
        connection_button(page, "Office server").click()
        await asyncio.sleep(0)  # the test starts; the keyring read is still on its way
        assert badge(page, "Office server").text() == "Testing…"
        assert not connection_button(page, "Office server").isEnabled()
        await wait_for(lambda: badge(page, "Office server").state == "failed")
        assert badge(page, "Office server").text() == "Failed: the certificate is not trusted"
        assert "Today" in badge_time(page, "Office server")
        assert page.banner.level == "error"
        assert "not signed by an authority" in page.banner.hint_label.text()
        assert page.banner.action_button.text() == "Details"

        # Details: the conversation of that test, and the offer to trust the certificate.
        page.banner.action_button.click()
        dialog = only(TestSendDialog)
        assert not dialog.form_widget.isVisible(), "a connection test has no message fields"
        assert "STARTTLS" in dialog.detail.transcript.text()
        assert (
            dialog.detail.tls_details.values["SHA-256"]
            .text()
            .replace("\n", "")
            .startswith(server.fingerprint[:47])
        )
        assert dialog.trust_row.isVisible()
        dialog.trust_button.click()
        box = only(QMessageBox)
        assert server.fingerprint in box.informativeText()
        (trust,) = [b for b in box.buttons() if b.text() == "Trust this certificate"]
        trust.click()
        await wait_for(lambda: "Certificate trusted" in dialog.detail.verdict.heading_label.text())
        assert services.get_service(store, "Office server").pinned_sha256 == server.fingerprint

        # The next test passes, and the row's badge follows.
        dialog.run_button.click()
        await wait_for(lambda: not dialog.running() and dialog.detail.result is not None)
        assert dialog.detail.verdict.tone == "ok"
        assert "accepted because you trusted" in dialog.detail.tls_details.values["Checks"].text()
        assert badge(page, "Office server").text() == "OK"
        assert server.handler.messages == []  # a connection test sends nothing
        dialog.close_button.click()

        # Clicking the badge opens this session's result again.
        badge(page, "Office server").click()
        again = only(TestSendDialog)
        assert again.detail.verdict.tone == "ok"
        assert "AUTH PLAIN ********" in again.detail.transcript.text()
        again.close_button.click()

    run_on_qt_loop(qapp, walk())


def test_a_test_from_an_earlier_session_shows_its_advice(qapp, page, store, secret_service):
    services.add_service(
        store, ServiceForm("Mailgun", "smtp.mailgun.org", 587, "starttls", "pm@example.com", "pw")
    )
    services.record_test(store, "Mailgun", False, "auth_failed", "Check both in the dashboard.")
    attach(qapp, page, store)

    async def walk() -> None:
        assert badge(page, "Mailgun").text() == "Failed: the username or password was rejected"
        badge(page, "Mailgun").click()
        dialog = only(TestSendDialog)
        assert dialog.detail.verdict.advice_label.text() == "Check both in the dashboard."
        assert "not kept" in dialog.detail.transcript.placeholderText()
        assert dialog.run_button.text() == "Test again"
        dialog.close_button.click()

    run_on_qt_loop(qapp, walk())


def test_edit_keeps_the_password_and_can_remove_the_pin(
    qapp, page, store, secret_service, smtp_server
) -> None:
    server = smtp_server(security="starttls")
    add_local(store, server)
    services.pin_certificate(store, "Office server", server.fingerprint)
    attach(qapp, page, store)

    async def walk() -> None:
        menu_action(page, "Office server", "Edit…").trigger()
        dialog = only(ServiceFormDialog)
        assert dialog.password_edit.placeholderText() == KEEP_PASSWORD
        assert dialog.host_edit.text() == "localhost"
        assert server.fingerprint in dialog.pin_label.text()
        dialog.remove_pin_button.click()
        dialog.name_edit.setText("Own server")
        dialog.save_button.click()
        await wait_for(lambda: names_shown(page) == ["Own server"])
        saved = services.get_service(store, "Own server")
        assert saved.pinned_sha256 is None
        assert services.service_password(saved) == SMTP_PASSWORD

    run_on_qt_loop(qapp, walk())


def test_remove_is_refused_while_a_domain_sends_through_it(qapp, page, store, secret_service):
    for name in ("SendGrid", "Mailgun"):
        services.add_service(
            store, ServiceForm(name, f"smtp.{name.lower()}.net", 587, "starttls", "u", "pw")
        )
    add_verified_domain(store, "shop.example", services.get_service(store, "SendGrid").id)
    attach(qapp, page, store)

    async def remove(name: str) -> None:
        menu_action(page, name, "Remove…").trigger()
        box = only(QMessageBox)
        assert "password or API key is deleted" in box.informativeText()
        (button,) = [b for b in box.buttons() if b.text() == "Remove"]
        button.click()

    async def walk() -> None:
        await remove("SendGrid")
        await wait_for(lambda: page.banner.level == "error" and page.banner.isVisible())
        assert "shop.example" in page.banner.message_label.text()
        assert "Domain Settings" in page.banner.hint_label.text()
        assert names_shown(page) == ["SendGrid", "Mailgun"]

        await remove("Mailgun")
        await wait_for(lambda: names_shown(page) == ["SendGrid"])
        assert page.banner.message_label.text() == "Mailgun removed"

    run_on_qt_loop(qapp, walk())


def test_set_as_default_moves_the_marker(qapp, page, store, secret_service) -> None:
    for name in ("SendGrid", "Postmark"):
        services.add_service(
            store, ServiceForm(name, f"smtp.{name.lower()}.net", 587, "starttls", "u", "pw")
        )
    attach(qapp, page, store)

    async def walk() -> None:
        assert cell(page, "SendGrid", DEFAULT_COLUMN) == DEFAULT_MARKER
        assert cell(page, "Postmark", DEFAULT_COLUMN) == ""
        assert not menu_action(page, "SendGrid", "Set as default").isEnabled()
        menu_action(page, "Postmark", "Set as default").trigger()
        await wait_for(lambda: cell(page, "Postmark", DEFAULT_COLUMN) == DEFAULT_MARKER)
        assert cell(page, "SendGrid", DEFAULT_COLUMN) == ""
        assert names_shown(page)[0] == "Postmark"  # the default is listed first
        assert page.banner.message_label.text() == "Postmark is now the default service"

    run_on_qt_loop(qapp, walk())


def test_usage_today_is_shown_under_the_services(qapp, page, store) -> None:
    from postdesk.core import usage

    usage.record_sent(store, recipients=42)
    attach(qapp, page, store)
    assert page.usage_panel.isVisible()
    assert page.usage_panel.today_label.text().startswith("Today: 42 / 1,500")
