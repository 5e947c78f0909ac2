"""SMTP Settings, walked like a user: pick a domain, create, reset and delete SMTP users."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton

from postdesk.core import credentials, usage
from postdesk.core.errors import UserError
from postdesk.core.store.models import DedicatedDomain
from postdesk.gui.dialogs.new_smtp_user import NewSmtpUserDialog
from postdesk.gui.dialogs.password_shown import ONLY_ONCE, PasswordShownDialog
from postdesk.gui.dialogs.reset_password import ResetPasswordDialog
from postdesk.gui.tabs import Tab
from postdesk.gui.tabs.smtp_settings import ACTIONS_COLUMN, LOGIN_COLUMN, SmtpSettingsPage
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

DOMAIN = "example.com"


def visible_texts(widget: Any) -> list[str]:
    return [w.text() for w in widget.findChildren(QLabel) if w.isVisible()]


def logins_shown(page: SmtpSettingsPage) -> list[str]:
    table = page.table
    if not table.isVisible():
        return []
    return [table.item(row, LOGIN_COLUMN).text() for row in range(table.rowCount())]


def row_button(page: SmtpSettingsPage, login: str, text: str) -> QPushButton:
    row = logins_shown(page).index(login)
    cell = page.table.cellWidget(row, ACTIONS_COLUMN)
    (button,) = [b for b in cell.findChildren(QPushButton) if b.text() == text]
    return button


def only(kind: type) -> Any:
    found = dialogs_of(kind)
    assert len(found) == 1, f"expected one {kind.__name__}, found {len(found)}"
    return found[0]


@pytest.fixture
def page(qtbot: Any, qapp: QApplication, store: Any) -> SmtpSettingsPage:
    widget = SmtpSettingsPage()
    qtbot.addWidget(widget)
    widget.resize(1200, 760)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    for dialog in dialogs_of(QMessageBox) + dialogs_of(PasswordShownDialog):
        dialog.close()


def attach(qapp: QApplication, page: SmtpSettingsPage, store: Any) -> None:
    run_on_qt_loop(qapp, page.attach(store))


async def create_user(page: SmtpSettingsPage, login: str) -> str:
    """Create a user with a generated password through the dialog; returns the password shown."""
    page.create_button.click()
    dialog = only(NewSmtpUserDialog)
    dialog.login_edit.setText(login)
    assert f"{login}@{DOMAIN}" in dialog.username_label.text()
    assert dialog.password_choice.generate_radio.isChecked(), "generating is the default"
    dialog.create_button.click()
    await wait_for(lambda: dialogs_of(PasswordShownDialog))
    shown = only(PasswordShownDialog)
    assert ONLY_ONCE in visible_texts(shown)
    assert shown.username_field.value() == f"{login}@{DOMAIN}"
    password = shown.password_field.value()
    shown.password_field.copy_button.click()
    assert QGuiApplication.clipboard().text() == password
    shown.done_button.click()
    await wait_for(lambda: not dialogs_of(PasswordShownDialog))
    return password


def authenticates(store: Any, username: str, password: str) -> bool:
    with store.session() as s:
        return credentials.authenticate(s, username, password) is not None


def test_no_domains_shows_where_to_start(qapp, page, store) -> None:
    attach(qapp, page, store)
    assert "No SMTP users yet" in visible_texts(page)
    assert not page.domain_combo.isVisible()


def test_five_users_reset_and_delete(qapp, qtbot, page, store, secret_service) -> None:
    add_verified_domain(store, DOMAIN)
    attach(qapp, page, store)
    logins = ["shop", "crm", "warmup", "news", "billing"]

    async def walk() -> None:
        assert "No SMTP users yet" in visible_texts(page)
        passwords = {}
        for login in logins:
            passwords[login] = await create_user(page, login)
            assert page.banner.message_label.text() == f"SMTP user {login}@{DOMAIN} created"
        assert len(set(passwords.values())) == len(logins)
        assert logins_shown(page) == logins
        assert page.count_label.text() == "5 of 5 SMTP users"
        assert not page.create_button.isEnabled()
        assert "already has 5 SMTP users" in page.create_button.toolTip()
        with pytest.raises(UserError):
            credentials.create_smtp_user(store, DOMAIN, "sixth")

        # Reset Password: choose, confirm that the old password stops working, see the new one.
        row_button(page, "crm", "Reset Password").click()
        dialog = only(ResetPasswordDialog)
        dialog.next_button.click()
        assert "stops working immediately" in dialog.confirm_text.text()
        dialog.reset_button.click()
        await wait_for(lambda: dialogs_of(PasswordShownDialog))
        shown = only(PasswordShownDialog)
        new_password = shown.password_field.value()
        shown.done_button.click()
        assert new_password != passwords["crm"]
        assert authenticates(store, f"crm@{DOMAIN}", new_password)
        assert not authenticates(store, f"crm@{DOMAIN}", passwords["crm"])
        assert page.banner.message_label.text() == f"New password set for crm@{DOMAIN}"

        # Delete: confirm, then the row is gone and there is room again.
        row_button(page, "news", "Delete").click()
        box = only(QMessageBox)
        assert "Sending with this login stops immediately" in box.informativeText()
        (delete,) = [b for b in box.buttons() if b.text() == "Delete"]
        delete.click()
        await wait_for(lambda: "news" not in logins_shown(page))
        assert page.count_label.text() == "4 of 5 SMTP users"
        assert page.create_button.isEnabled()
        assert not authenticates(store, f"news@{DOMAIN}", passwords["news"])

    run_on_qt_loop(qapp, walk())


def test_cancelling_delete_keeps_the_user(qapp, page, store, secret_service) -> None:
    add_verified_domain(store, DOMAIN)
    credentials.create_smtp_user(store, DOMAIN, "shop")
    attach(qapp, page, store)

    async def walk() -> None:
        row_button(page, "shop", "Delete").click()
        only(QMessageBox).button(QMessageBox.StandardButton.Cancel).click()
        await wait_for(lambda: not dialogs_of(QMessageBox))
        assert logins_shown(page) == ["shop"]

    run_on_qt_loop(qapp, walk())


def test_create_dialog_checks_login_and_typed_password(qapp, page, store, secret_service):
    add_verified_domain(store, DOMAIN)
    credentials.create_smtp_user(store, DOMAIN, "shop")
    attach(qapp, page, store)

    async def walk() -> None:
        page.create_button.click()
        dialog = only(NewSmtpUserDialog)
        dialog.login_edit.setText("has space")
        assert "can't be used as a login name" in dialog.login_message.text()
        assert not dialog.create_button.isEnabled()
        dialog.login_edit.setText("shop")
        assert "already exists" in dialog.login_message.text()
        dialog.login_edit.setText("CRM")
        assert not dialog.login_message.isVisible()
        assert f"crm@{DOMAIN}" in dialog.username_label.text()

        dialog.password_choice.own_radio.click()
        dialog.password_choice.password_edit.setText("abc123")
        assert "too short" in dialog.password_choice.message.text()
        assert not dialog.create_button.isEnabled()
        dialog.password_choice.password_edit.setText("crm-Password-2024")
        assert "contains the login name" in dialog.password_choice.message.text()
        dialog.password_choice.password_edit.setText("Correct-Horse-42")
        assert dialog.create_button.isEnabled()
        dialog.create_button.click()
        await wait_for(lambda: dialogs_of(PasswordShownDialog))
        assert only(PasswordShownDialog).password_field.value() == "Correct-Horse-42"
        assert authenticates(store, f"crm@{DOMAIN}", "Correct-Horse-42")

    run_on_qt_loop(qapp, walk())


def test_reset_with_a_typed_password(qapp, page, store, secret_service) -> None:
    add_verified_domain(store, DOMAIN)
    credentials.create_smtp_user(store, DOMAIN, "shop")
    attach(qapp, page, store)

    async def walk() -> None:
        row_button(page, "shop", "Reset Password").click()
        dialog = only(ResetPasswordDialog)
        dialog.password_choice.own_radio.click()
        dialog.password_choice.password_edit.setText("short1")
        assert not dialog.next_button.isEnabled()
        dialog.password_choice.password_edit.setText("Another-Strong-77")
        dialog.next_button.click()
        dialog.reset_button.click()
        await wait_for(lambda: dialogs_of(PasswordShownDialog))
        assert authenticates(store, f"shop@{DOMAIN}", "Another-Strong-77")

    run_on_qt_loop(qapp, walk())


def test_unverified_domain_explains_and_links_to_domains(qapp, qtbot, page, store) -> None:
    add_verified_domain(store, DOMAIN)
    with store.session() as s:
        s.add(DedicatedDomain(name="new.example", ownership_token="t"))
    attach(qapp, page, store)
    assert page.current_domain() == DOMAIN, "a verified domain is chosen first"
    items = [page.domain_combo.itemText(i) for i in range(page.domain_combo.count())]
    assert "new.example — waiting for DNS records" in items

    page.show_domain("new.example")
    texts = visible_texts(page)
    assert any("is still waiting for its DNS records" in t for t in texts)
    assert not page.table.isVisible()
    assert not page.create_button.isVisible()
    with qtbot.waitSignal(page.navigate) as signal:
        page.not_verified.button.click()
    assert signal.args == [Tab.DOMAINS, "new.example"]


def test_show_domain_switches_between_verified_domains(qapp, page, store, secret_service):
    add_verified_domain(store, "a.example")
    add_verified_domain(store, "b.example")
    credentials.create_smtp_user(store, "b.example", "crm")
    attach(qapp, page, store)
    assert page.current_domain() == "a.example"

    async def switch() -> None:  # on the loop, as in the window (the page starts reads)
        page.show_domain("b.example")

    run_on_qt_loop(qapp, switch())
    assert page.current_domain() == "b.example"
    assert logins_shown(page) == ["crm"]


def test_stats_panel_shows_usage_connection_and_activity(qapp, page, store, secret_service):
    add_verified_domain(store, DOMAIN)
    credentials.create_smtp_user(store, DOMAIN, "shop")
    credentials.create_smtp_user(store, DOMAIN, "crm")
    users = {u.login: u for u in credentials.list_smtp_users(store, DOMAIN)}
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name=DOMAIN).one().id
    usage.record_sent(store, recipients=7, smtp_user_id=users["shop"].id, domain_id=domain_id)
    usage.record_sent(store, recipients=5, smtp_user_id=users["crm"].id, domain_id=domain_id)
    attach(qapp, page, store)
    panel = page.panel

    # No user selected: the whole domain.
    assert panel.subject_label.text() == f"All SMTP users of {DOMAIN}"
    assert panel.tiles["Sent today"].value_label.text() == "12"
    assert panel.tiles["Last 30 days"].value_label.text() == "12"
    assert panel.tiles["Last used"].value_label.text() != "Never"
    assert panel.host.value() == "localhost"
    assert panel.port.value() == "2525"
    assert panel.security.value() == "STARTTLS"
    assert not panel.username.isVisible()
    assert f"shop@{DOMAIN} created" in ", ".join(panel.activity_texts())
    assert logins_shown(page)[1:] == ["crm"]
    assert page.table.item(1, 2).text() != "never"

    page.table.selectRow(logins_shown(page).index("shop"))
    assert panel.subject_label.text() == f"shop@{DOMAIN}"
    assert panel.tiles["Sent today"].value_label.text() == "7"
    assert panel.tiles["Last 7 days"].value_label.text() == "7"
    assert panel.username.isVisible()
    assert panel.username.value() == f"shop@{DOMAIN}"
    panel.username.copy_button.click()
    assert QGuiApplication.clipboard().text() == f"shop@{DOMAIN}"

    panel.whole_domain_button.click()
    assert panel.subject_label.text() == f"All SMTP users of {DOMAIN}"
