"""The keyboard in every dialog: Enter does the primary action, Tab reaches every control."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QLineEdit, QWidget

from postdesk.core import services
from postdesk.core.services import ServiceForm
from postdesk.core.smtptest import TestResult
from postdesk.gui.dialogs.add_domain import AddDomainDialog
from postdesk.gui.dialogs.add_ip import AddIpDialog
from postdesk.gui.dialogs.add_suppression import AddSuppressionDialog
from postdesk.gui.dialogs.analyze import AnalyzeDialog
from postdesk.gui.dialogs.diagnose import DiagnoseDialog
from postdesk.gui.dialogs.dmarc_sources import DmarcSourcesDialog
from postdesk.gui.dialogs.forwarding import ForwardingDialog
from postdesk.gui.dialogs.new_smtp_user import NewSmtpUserDialog
from postdesk.gui.dialogs.reset_password import ResetPasswordDialog
from postdesk.gui.dialogs.sender_addresses import SenderAddressesDialog
from postdesk.gui.dialogs.service_form import ServiceFormDialog
from postdesk.gui.dialogs.test_send import TestSendDialog
from postdesk.gui.dialogs.workspace_settings import WorkspaceSettingsDialog
from support.qtloop import run_on_qt_loop, wait_for


@pytest.fixture
def host(qtbot: Any) -> QWidget:
    # Dialogs open over a window, as in Postdesk.
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    return window


def shown(qtbot: Any, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitExposed(dialog)
    return dialog


def type_then_enter(qtbot: Any, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_enter_adds_the_domain(qtbot, host, store) -> None:
    dialog = shown(qtbot, AddDomainDialog(store, [], host))
    type_then_enter(qtbot, dialog.domain_edit, "shop.com")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.domain() == "shop.com"


def test_enter_adds_the_ip(qtbot, host) -> None:
    dialog = shown(qtbot, AddIpDialog([], host))
    type_then_enter(qtbot, dialog.address_edit, "203.0.113.25")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.address() == "203.0.113.25"


def test_enter_on_a_label_still_adds_the_ip(qtbot, host) -> None:
    dialog = shown(qtbot, AddIpDialog([], host))
    dialog.address_edit.setText("203.0.113.25")
    type_then_enter(qtbot, dialog.label_edit, "SendGrid dedicated IP")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.ip_label() == "SendGrid dedicated IP"


def test_enter_with_bad_input_neither_adds_nor_cancels(qtbot, host) -> None:
    dialog = shown(qtbot, AddIpDialog([], host))
    type_then_enter(qtbot, dialog.address_edit, "not an address")
    assert dialog.isVisible(), "what was typed is kept, so it can be corrected"
    assert dialog.address_message.isVisible()


def test_enter_creates_the_smtp_user(qtbot, host) -> None:
    dialog = shown(qtbot, NewSmtpUserDialog("example.com", [], host))
    type_then_enter(qtbot, dialog.login_edit, "shop")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.login() == "shop"


def test_enter_goes_to_the_confirmation_then_resets_the_password(qtbot, host) -> None:
    dialog = shown(qtbot, ResetPasswordDialog("shop", "shop@example.com", host))
    dialog.password_choice.own_radio.click()
    type_then_enter(qtbot, dialog.password_choice.password_edit, "Correct-Horse-Battery-9")
    assert dialog.isVisible() and dialog.steps.currentIndex() == 1, "Enter pressed Next"
    qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.password() == "Correct-Horse-Battery-9"


def test_enter_adds_the_service(qtbot, host) -> None:
    dialog = shown(qtbot, ServiceFormDialog([], parent=host))
    type_then_enter(qtbot, dialog.password_edit, "SG.a-real-looking-api-key")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.form().host == "smtp.sendgrid.net"


def test_enter_saves_an_edited_service(qtbot, host, store, secret_service) -> None:
    form = ServiceForm("Office", "smtp.example.com", "587", "starttls", "me", "secret-1")
    services.add_service(store, form)
    service = services.get_service(store, "Office")
    dialog = shown(qtbot, ServiceFormDialog(["Office"], service, host))
    type_then_enter(qtbot, dialog.name_edit, "Office server")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.form().name == "Office server"


def test_enter_sends_the_test_email(qapp, qtbot, host, store) -> None:
    sent: list[Any] = []

    async def work(email: Any, _on_line: Any) -> TestResult:
        sent.append(email)
        raise asyncio_cancelled()

    dialog = TestSendDialog(
        store, "Send a test email", "test", work, with_message=True, senders=["hello@shop.com"]
    )
    shown(qtbot, dialog)

    async def press() -> None:
        type_then_enter(qtbot, dialog.to_edit, "you@example.com")
        await wait_for(lambda: sent)

    run_on_qt_loop(qapp, press())
    assert sent[0].to_addr == "you@example.com"
    assert dialog.isVisible(), "sending keeps the dialog open to show the conversation"


def asyncio_cancelled() -> BaseException:
    import asyncio

    return asyncio.CancelledError()


def test_enter_saves_the_settings(qapp, qtbot, host, store) -> None:
    dialog = shown(qtbot, WorkspaceSettingsDialog(store, host))

    async def press() -> None:
        await dialog.load()
        type_then_enter(qtbot, dialog.relay_host, "relay.brightshop.com")
        await wait_for(lambda: dialog.result() == QDialog.DialogCode.Accepted)

    run_on_qt_loop(qapp, press())
    assert dialog.changed_keys == {"relay_host"}


def test_enter_starts_the_diagnosis(qapp, qtbot, host) -> None:
    dialog = shown(qtbot, DiagnoseDialog(host))

    async def press() -> None:
        type_then_enter(qtbot, dialog.domain_edit, "example.com")
        assert dialog.isVisible()
        assert dialog._task is not None, "Enter started a check"
        dialog.cancel_check()
        await wait_for(lambda: dialog._task is None)

    run_on_qt_loop(qapp, press())
    assert dialog.check_button.isEnabled(), "a cancelled check can be started again"


# --- Tab --------------------------------------------------------------------------------------


def tab_chain(start: QWidget, limit: int = 60) -> list[QWidget]:
    """The widgets Tab visits from ``start`` until it comes back round."""
    chain = [start]
    start.setFocus()
    for _ in range(limit):
        QApplication.processEvents()
        current = QApplication.focusWidget()
        assert current is not None
        from PySide6.QtTest import QTest

        QTest.keyClick(current, Qt.Key.Key_Tab)
        following = QApplication.focusWidget()
        if following is start or following is None:
            break
        chain.append(following)
    return chain


def test_tab_leaves_the_message_body_and_reaches_send(qtbot, host, store) -> None:
    async def never(_email: Any, _on_line: Any) -> TestResult:
        raise AssertionError("not sent")

    dialog = TestSendDialog(
        store, "Send a test email", "test", never, with_message=True, senders=["a@shop.com"]
    )
    shown(qtbot, dialog)
    body_before = dialog.body_edit.toPlainText()
    chain = tab_chain(dialog.to_edit)
    assert dialog.body_edit in chain
    assert dialog.run_button in chain
    assert dialog.body_edit.toPlainText() == body_before, "Tab typed nothing into the message"


def test_tab_reaches_every_field_of_add_service(qtbot, host) -> None:
    dialog = shown(qtbot, ServiceFormDialog([], parent=host))
    chain = tab_chain(dialog.provider_combo)
    for widget in (
        dialog.name_edit,
        dialog.host_edit,
        dialog.port_edit,
        dialog.security_combo,
        dialog.password_edit,
        dialog.show_password,
        dialog.default_box,
        dialog.save_button,
    ):
        assert widget in chain, widget.accessibleName() or widget.objectName()


# --- the newer dialogs --------------------------------------------------------------------------


def test_enter_suppresses_the_address(qtbot, host) -> None:
    dialog = shown(qtbot, AddSuppressionDialog(["shop.com"], host))
    type_then_enter(qtbot, dialog.address_edit, "Customer@Example.com")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.values()[0] == "Customer@Example.com"


def test_enter_on_the_note_still_suppresses(qtbot, host) -> None:
    dialog = shown(qtbot, AddSuppressionDialog([], host))
    dialog.address_edit.setText("customer@example.com")
    type_then_enter(qtbot, dialog.note_edit, "asked by phone")
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.values()[3] == "asked by phone"


def test_enter_with_a_bad_address_neither_suppresses_nor_cancels(qtbot, host) -> None:
    dialog = shown(qtbot, AddSuppressionDialog([], host))
    type_then_enter(qtbot, dialog.address_edit, "customer at example")
    assert dialog.isVisible()
    assert dialog.address_message.isVisible() and dialog.address_message.text()
    assert dialog.address_edit.text() == "customer at example"


def test_tab_leaves_the_pasted_message_and_reaches_analyze(qtbot, host) -> None:
    dialog = shown(qtbot, AnalyzeDialog(host))
    dialog.text_edit.setPlainText("From: a@example.com\nSubject: hi\n")
    before = dialog.text_edit.toPlainText()
    chain = tab_chain(dialog.text_edit)
    for widget in (dialog.open_button, dialog.live_check, dialog.analyze_button):
        assert widget in chain, widget.text()
    assert dialog.text_edit.toPlainText() == before, "Tab typed nothing into the message"


def test_ctrl_enter_in_the_pasted_message_analyzes(qapp, qtbot, host) -> None:
    dialog = shown(qtbot, AnalyzeDialog(host))
    dialog.live_check.setChecked(False)  # offline: no DNS

    async def press() -> None:
        dialog.text_edit.setFocus()
        qtbot.keyClicks(dialog.text_edit, "From: a@example.com")
        qtbot.keyClick(dialog.text_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        await wait_for(lambda: dialog.analysis is not None)

    run_on_qt_loop(qapp, press())
    assert dialog.text_edit.toPlainText() == "From: a@example.com", "no new line was typed"


def test_escape_closes_the_analyzer(qtbot, host) -> None:
    dialog = shown(qtbot, AnalyzeDialog(host))
    qtbot.keyClick(dialog.text_edit, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


@pytest.fixture
def receiving_domain(store) -> str:
    from postdesk.core.store.models import SmtpService
    from support.workspace import add_verified_domain

    with store.session() as s:
        service = SmtpService(name="Mailgun", host="smtp.mailgun.org", port=587, security="tls")
        s.add(service)
        s.flush()
        service_id = service.id
    add_verified_domain(store, "example.com", service_id=service_id)
    return "example.com"


def loaded(qapp: Any, qtbot: Any, dialog: Any) -> Any:
    shown(qtbot, dialog)

    async def load() -> None:
        await dialog.load()

    run_on_qt_loop(qapp, load())
    return dialog


def test_enter_with_an_address_of_another_domain_keeps_it_and_says_why(
    qapp, qtbot, host, store, receiving_domain
) -> None:
    dialog = loaded(qapp, qtbot, SenderAddressesDialog(store, receiving_domain, host))

    async def press() -> None:
        type_then_enter(qtbot, dialog.address_edit, "sales@elsewhere.example")
        await wait_for(dialog.address_message.isVisible)

    run_on_qt_loop(qapp, press())
    assert "example.com" in dialog.address_message.text()
    assert dialog.address_edit.text() == "sales@elsewhere.example"
    assert dialog.table.rowCount() == 0


def test_enter_adds_the_forwarding_rule_from_either_field(
    qapp, qtbot, host, store, receiving_domain
) -> None:
    dialog = loaded(qapp, qtbot, ForwardingDialog(store, receiving_domain, host))
    dialog.destination_edit.setText("team@elsewhere.example")

    async def press() -> None:
        type_then_enter(qtbot, dialog.local_edit, "info")
        await wait_for(lambda: dialog.table.rowCount() == 1)

    run_on_qt_loop(qapp, press())
    assert dialog.isVisible(), "Enter added the rule; it did not close the window"


def test_enter_with_a_malformed_address_keeps_it_and_says_why(
    qapp, qtbot, host, store, receiving_domain
) -> None:
    dialog = loaded(qapp, qtbot, SenderAddressesDialog(store, receiving_domain, host))

    async def press() -> None:
        type_then_enter(qtbot, dialog.address_edit, "sales at example.com")
        await wait_for(dialog.address_message.isVisible)

    run_on_qt_loop(qapp, press())
    assert dialog.address_edit.text() == "sales at example.com"
    assert not dialog.banner.isVisible(), "the problem is told under the field, once"


def test_tab_reaches_the_period_and_import_of_who_sends(
    qapp, qtbot, host, store, receiving_domain
) -> None:
    dialog = loaded(qapp, qtbot, DmarcSourcesDialog(store, receiving_domain, host))
    chain = tab_chain(dialog.period_combo)
    assert dialog.import_button in chain


@pytest.mark.parametrize("kind", ["suppression", "forwarding", "senders", "dmarc", "queue"])
def test_escape_closes_the_window(qapp, qtbot, host, store, receiving_domain, kind) -> None:
    from postdesk.gui.dialogs.queue import QueueDialog
    from postdesk.gui.dialogs.suppression import SuppressionDialog

    make = {
        "suppression": lambda: SuppressionDialog(store, host),
        "forwarding": lambda: ForwardingDialog(store, receiving_domain, host),
        "senders": lambda: SenderAddressesDialog(store, receiving_domain, host),
        "dmarc": lambda: DmarcSourcesDialog(store, receiving_domain, host),
        "queue": lambda: QueueDialog(store, parent=host),
    }
    dialog = make[kind]()

    async def escape() -> None:
        shown(qtbot, dialog)  # on the running loop, where its first read runs and ends
        await wait_for(lambda: not dialog.reads.running)
        qtbot.keyClick(dialog.focusWidget() or dialog, Qt.Key.Key_Escape)

    run_on_qt_loop(qapp, escape())
    assert not dialog.isVisible()


def test_forwarding_and_sender_addresses_open_ready_to_type(
    qapp, qtbot, host, store, receiving_domain
) -> None:
    forwarding = loaded(qapp, qtbot, ForwardingDialog(store, receiving_domain, host))
    assert forwarding.focusWidget() is forwarding.local_edit
    forwarding.close()
    addresses = loaded(qapp, qtbot, SenderAddressesDialog(store, receiving_domain, host))
    assert addresses.focusWidget() is addresses.address_edit
