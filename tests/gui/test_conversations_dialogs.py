"""The Conversations tab's dialogs: forwarding rules, sender addresses, who sends as a domain."""

from __future__ import annotations

import datetime as dt
import re
import time
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QLineEdit, QMessageBox, QWidget

from postdesk.core import forwarding, senders
from postdesk.core.store import Store
from postdesk.core.store.models import QueuedMessage, SmtpService
from postdesk.gui.dialogs.dmarc_sources import DmarcSourcesDialog
from postdesk.gui.dialogs.forwarding import ForwardingDialog
from postdesk.gui.dialogs.sender_addresses import SenderAddressesDialog
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

DOMAIN = "example.com"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "dmarc"


@pytest.fixture
def host(qtbot: Any) -> QWidget:
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def domain(store: Store) -> str:
    with store.session() as s:
        service = SmtpService(name="Mailgun", host="smtp.mailgun.org", port=587, security="tls")
        s.add(service)
        s.flush()
        service_id = service.id
    add_verified_domain(store, DOMAIN, service_id=service_id)
    return DOMAIN


def shown(qtbot: Any, qapp: QApplication, dialog: QDialog) -> Any:
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitExposed(dialog)
    run_on_qt_loop(qapp, _loaded(dialog))
    return dialog


async def _loaded(dialog: Any) -> None:
    await dialog.load()


def type_then_enter(qtbot: Any, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def cut_off(dialog: QDialog) -> list[str]:
    """Visible word-wrapped labels shorter than their text needs (the last lines are hidden)."""
    return [
        w.text()
        for w in dialog.findChildren(QLabel)
        if w.isVisible() and w.wordWrap() and w.height() < w.heightForWidth(w.width())
    ]


def act(qapp: QApplication, action: Any, until: Any) -> None:
    """Do ``action`` on the running loop (its slots start tasks there), then wait for ``until``."""

    async def go() -> None:
        action()
        await wait_for(until)

    run_on_qt_loop(qapp, go())


# --- forwarding ---------------------------------------------------------------------------------


def test_a_rule_typed_and_entered_is_added_and_listed(qapp, qtbot, host, store, domain) -> None:
    dialog = shown(qtbot, qapp, ForwardingDialog(store, domain, host))
    assert dialog.stack.currentWidget() is dialog.empty
    dialog.local_edit.setText("info")
    act(
        qapp,
        lambda: type_then_enter(qtbot, dialog.destination_edit, "team@elsewhere.example"),
        lambda: dialog.table.rowCount() == 1,
    )
    assert dialog.isVisible(), "Enter adds the rule; the dialog stays for the next one"
    assert dialog.table.texts(0) == ["info@example.com"]
    assert dialog.table.texts(1) == ["team@elsewhere.example"]
    assert [r.address for r in forwarding.list_rules(store, domain)] == ["info@example.com"]


def test_catch_all_and_a_refused_destination(qapp, qtbot, host, store, domain) -> None:
    dialog = shown(qtbot, qapp, ForwardingDialog(store, domain, host))
    dialog.catch_all.setChecked(True)
    assert not dialog.local_edit.isEnabled()
    act(
        qapp,
        lambda: type_then_enter(qtbot, dialog.destination_edit, "loop@example.com"),
        dialog.add_message.isVisible,
    )
    assert "dedicated domains" in dialog.add_message.text()
    QApplication.processEvents()
    assert cut_off(dialog) == [], "the whole message and its hint are readable"
    assert dialog.destination_edit.text() == "loop@example.com", "kept, to be corrected"
    act(
        qapp,
        lambda: type_then_enter(qtbot, dialog.destination_edit, "all@elsewhere.example"),
        lambda: dialog.table.rowCount() == 1,
    )
    assert dialog.table.texts(0) == ["any other address @example.com"]
    assert forwarding.list_rules(store, domain)[0].local_part == "*"


def test_remove_asks_then_removes(qapp, qtbot, host, store, domain) -> None:
    forwarding.add_rule(store, domain, "info", "team@elsewhere.example")
    dialog = shown(qtbot, qapp, ForwardingDialog(store, domain, host))
    dialog.table.selectRow(0)
    box = dialog.confirm_remove()
    assert isinstance(box, QMessageBox) and "team@elsewhere.example" in box.text()
    act(
        qapp,
        lambda: next(b for b in box.buttons() if b.text() == "Remove").click(),
        lambda: dialog.stack.currentWidget() is dialog.empty,
    )
    assert forwarding.list_rules(store, domain) == []


def test_pause_then_resume_keeps_the_rule(qapp, qtbot, host, store, domain) -> None:
    forwarding.add_rule(store, domain, "info", "team@elsewhere.example")
    dialog = shown(qtbot, qapp, ForwardingDialog(store, domain, host))
    assert not dialog.pause_button.isEnabled(), "nothing selected yet"
    dialog.table.selectRow(0)
    assert dialog.pause_button.text() == "Pause"
    act(qapp, dialog.pause_button.click, lambda: dialog.table.texts(2) == ["Paused"])
    assert [r.enabled for r in forwarding.list_rules(store, domain)] == [False]
    assert "kept here" in dialog.banner.message_label.text()
    assert dialog.pause_button.text() == "Resume", "the rule stays selected and can be resumed"
    act(qapp, dialog.pause_button.click, lambda: dialog.table.texts(2) == ["Forwarding"])
    assert [r.enabled for r in forwarding.list_rules(store, domain)] == [True]


# --- sender addresses ---------------------------------------------------------------------------


def sent_code(store: Store, address: str) -> str:
    """The code in the newest confirmation mail queued to ``address`` (what its inbox gets)."""
    with store.session() as s:
        rows = s.query(QueuedMessage).filter(QueuedMessage.source == "confirm").all()
        raw = [r.raw for r in rows if address in r.rcpt_tos][-1]
    body = message_from_bytes(raw).get_payload(decode=True)
    if body is None:  # multipart: the text part
        body = next(
            p.get_payload(decode=True)
            for p in message_from_bytes(raw).walk()
            if p.get_content_type() == "text/plain"
        )
    return re.search(rb"\b(\d{6})\b", body).group(1).decode()


def test_add_sends_a_code_and_the_code_confirms(qapp, qtbot, host, store, domain) -> None:
    dialog = shown(qtbot, qapp, SenderAddressesDialog(store, domain, host))
    act(
        qapp,
        lambda: type_then_enter(qtbot, dialog.address_edit, "sales@example.com"),
        lambda: dialog.table.rowCount() == 1,
    )
    assert dialog.table.texts(1) == ["Waiting for the code"]
    assert "code was sent to sales@example.com" in dialog.banner.message_label.text()
    assert dialog.selected() is not None, "the new address is selected, ready for its code"

    code = sent_code(store, "sales@example.com")
    act(
        qapp,
        lambda: type_then_enter(
            qtbot, dialog.code_edit, "000000" if code != "000000" else "111111"
        ),
        dialog.code_message.isVisible,
    )
    assert "not the one sent" in dialog.code_message.text()

    act(
        qapp,
        lambda: type_then_enter(qtbot, dialog.code_edit, code),
        lambda: dialog.table.texts(1) == ["Confirmed"],
    )
    assert senders.list_senders(store, domain)[0].status == "verified"


def test_the_policy_is_saved_and_warns_without_confirmed_addresses(
    qapp, qtbot, host, store, domain
) -> None:
    dialog = shown(qtbot, qapp, SenderAddressesDialog(store, domain, host))
    assert dialog.any_radio.isChecked()
    act(
        qapp,
        lambda: dialog.listed_radio.click(),
        lambda: senders.get_policy(store, domain)[0] == "listed",
    )
    assert dialog.policy_message.isVisible()
    assert "refuses all mail" in dialog.policy_message.text()
    act(
        qapp,
        lambda: dialog.any_radio.click(),
        lambda: senders.get_policy(store, domain)[0] == "any",
    )
    assert not dialog.policy_message.isVisible()


# --- who sends as this domain -------------------------------------------------------------------


def recent_copy(tmp_path: Path, name: str, report_id: str) -> Path:
    """A sample report with its dates moved to yesterday (the view shows recent reports)."""
    text = (FIXTURES / name).read_text()
    end = int(time.time()) - 3600
    text = re.sub(r"<begin>\d+</begin>", f"<begin>{end - 86400}</begin>", text)
    text = re.sub(r"<end>\d+</end>", f"<end>{end}</end>", text)
    text = re.sub(r"<report_id>[^<]*</report_id>", f"<report_id>{report_id}</report_id>", text)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_reports_then_sources_by_ip_and_by_day(
    qapp, qtbot, host, store, domain, tmp_path
) -> None:
    dialog = shown(qtbot, qapp, DmarcSourcesDialog(store, domain, host))
    assert dialog.stack.currentWidget() is dialog.empty
    assert dialog.empty.heading_label.text() == "No DMARC reports yet"
    report = recent_copy(tmp_path, "outlook.xml", "r-1")
    broken = tmp_path / "broken.xml"
    broken.write_text("<feedback><report_metadata>")

    async def importing() -> Any:
        return await dialog.import_files([report, broken])

    results = run_on_qt_loop(qapp, importing())
    assert [r.status for r in results] == ["imported", "refused"]
    assert dialog.banner.level == "warning"
    assert "1 report imported" in dialog.banner.message_label.text()
    assert "broken.xml" in dialog.banner.hint_label.text()
    assert dialog.sources.rowCount() == 1
    assert dialog.sources.texts(0) == ["100.24.188.149"]
    assert dialog.sources.texts(2) == ["1"]
    assert dialog.sources.texts(3) == ["0 (0 %)"], "SPF and DKIM both failed: no DMARC pass"
    assert dialog.sources.texts(7) == ["Outlook.com"]
    assert dialog.daily.texts(1) == ["Outlook.com"]
    assert "1 message from 1 source in 1 report" in dialog.summary_label.text()


def test_old_reports_show_under_all_reports(qapp, qtbot, host, store, domain) -> None:
    from postdesk.core import dmarcreports

    dmarcreports.import_files(store, [FIXTURES / "outlook.xml"])  # dated March 2024
    dialog = shown(qtbot, qapp, DmarcSourcesDialog(store, domain, host))
    assert dialog.stack.currentWidget() is dialog.empty
    # not "No DMARC reports yet": there is one, older than the period, and it says where
    assert dialog.empty.heading_label.text() == "No reports in this period"
    assert "covers 31 Mar 2024" in dialog.empty.text_label.text()
    assert "All reports" in dialog.empty.text_label.text()
    act(
        qapp,
        lambda: dialog.period_combo.setCurrentIndex(dialog.period_combo.count() - 1),
        lambda: dialog.sources.rowCount() == 1,
    )
    assert dialog.daily.texts(0) == [str(dt.date(2024, 3, 30))]


def test_import_opens_a_file_chooser_without_blocking(qapp, qtbot, host, store, domain) -> None:
    from PySide6.QtWidgets import QFileDialog

    dialog = shown(qtbot, qapp, DmarcSourcesDialog(store, domain, host))
    chooser = dialog.ask_for_files()
    assert chooser.isVisible() and chooser in dialogs_of(QFileDialog)
    chooser.reject()


# --- the keyboard -------------------------------------------------------------------------------


def tab_chain(start: QWidget, limit: int = 60) -> list[QWidget]:
    """The widgets Tab visits from ``start`` until it comes back round."""
    from PySide6.QtTest import QTest

    chain = [start]
    start.setFocus()
    for _ in range(limit):
        QApplication.processEvents()
        current = QApplication.focusWidget()
        assert current is not None
        QTest.keyClick(current, Qt.Key.Key_Tab)
        following = QApplication.focusWidget()
        if following is start or following is None:
            break
        chain.append(following)
    return chain


def test_tab_reaches_every_control_of_forwarding(qapp, qtbot, host, store, domain) -> None:
    forwarding.add_rule(store, domain, "info", "team@elsewhere.example")
    dialog = shown(qtbot, qapp, ForwardingDialog(store, domain, host))
    dialog.table.selectRow(0)
    dialog.local_edit.setText("sales")
    dialog.destination_edit.setText("x@elsewhere.example")
    chain = tab_chain(dialog.local_edit)
    for widget in (
        dialog.table,
        dialog.pause_button,
        dialog.remove_button,
        dialog.catch_all,
        dialog.destination_edit,
        dialog.add_button,
    ):
        assert widget in chain, widget.accessibleName() or widget.text()


def test_tab_reaches_every_control_of_sender_addresses(qapp, qtbot, host, store, domain) -> None:
    senders.add_sender(store, "sales@example.com")  # without addresses the list is not shown
    dialog = shown(qtbot, qapp, SenderAddressesDialog(store, domain, host))
    chain = tab_chain(dialog.address_edit)
    for widget in (dialog.add_button, dialog.table):
        assert widget in chain, widget.accessibleName() or widget.text()
    assert dialog.any_radio in chain or dialog.listed_radio in chain
