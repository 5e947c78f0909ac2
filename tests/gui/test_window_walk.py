"""The newer windows walked as a stranger would: at 900 px, with data changing under them."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from postdesk.core import forwarding, senders, suppression
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, QueuedMessage, SmtpService
from postdesk.gui.dialogs.diagnose import DiagnoseDialog
from postdesk.gui.dialogs.forwarding import ForwardingDialog
from postdesk.gui.dialogs.queue import COLUMNS as QUEUE_COLUMNS
from postdesk.gui.dialogs.queue import QueueDialog
from postdesk.gui.dialogs.sender_addresses import SenderAddressesDialog
from postdesk.gui.dialogs.suppression import SuppressionDialog
from postdesk.gui.qtutils import SPACE_M
from support.qtloop import run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

DOMAIN = "example.com"
# The main window's narrowest width: a window opened over it may be shrunk to it.
NARROW = 900


@pytest.fixture
def domain(store: Store) -> str:
    with store.session() as s:
        service = SmtpService(name="Mailgun", host="smtp.mailgun.org", port=587, security="tls")
        s.add(service)
        s.flush()
        service_id = service.id
    add_verified_domain(store, DOMAIN, service_id=service_id)
    return DOMAIN


def run(qapp: QApplication, work: Any) -> None:
    async def go() -> None:
        await work()

    run_on_qt_loop(qapp, go())


def fully_in_view(table: Any, column: int) -> bool:
    header = table.horizontalHeader()
    left = header.sectionViewportPosition(column)
    return left >= 0 and left + header.sectionSize(column) <= table.viewport().width()


# --- the queue at 900 px ----------------------------------------------------------------------


def _long_pending_message(store: Store) -> None:
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name=DOMAIN).one().id
        message = queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=None,
            mail_from="order-confirmations-and-receipts@example.com",
            rcpt_tos=["a.very.long.customer.address@customers.example.net"],
            raw=b"Subject: x\r\n\r\nhello\r\n",
            subject="Your order 100234 has shipped and is on its way to the parcel shop",
        )
        message.attempts = 2
        message.next_attempt_at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=20)


def test_the_queue_shows_next_attempt_whole_at_900_px(qapp, qtbot, store, domain) -> None:
    _long_pending_message(store)
    dialog = QueueDialog(store)
    qtbot.addWidget(dialog)
    dialog.resize(NARROW, 600)

    async def work() -> None:
        dialog.show()
        await wait_for(lambda: len(dialog.messages) == 1)

    run(qapp, work)
    QApplication.processEvents()
    for name in ("Status", "Attempts", "Next attempt"):
        assert fully_in_view(dialog.table, QUEUE_COLUMNS.index(name)), name


def test_the_queue_shrunk_to_900_px_keeps_next_attempt_in_view(qapp, qtbot, store, domain) -> None:
    _long_pending_message(store)
    dialog = QueueDialog(store)
    qtbot.addWidget(dialog)

    async def work() -> None:
        dialog.show()
        await wait_for(lambda: len(dialog.messages) == 1)

    run(qapp, work)
    dialog.resize(NARROW, 600)
    QApplication.processEvents()
    assert fully_in_view(dialog.table, QUEUE_COLUMNS.index("Next attempt"))
    subject = QUEUE_COLUMNS.index("Subject")
    assert dialog.table.item(0, subject).toolTip().endswith("to the parcel shop")


# --- data changing under an open window -----------------------------------------------------
# Another process (the relay, the command line) changes the workspace; only polling sees it.


def opened(qtbot: Any, qapp: QApplication, dialog: Any) -> Any:
    qtbot.addWidget(dialog)
    dialog.resize(NARROW, 600)

    async def work() -> None:
        dialog.show()
        if hasattr(dialog, "load"):
            await dialog.load()

    run(qapp, work)
    return dialog


def wait(qapp: QApplication, condition: Any) -> None:
    async def work() -> None:
        await wait_for(condition)

    run(qapp, work)


def test_a_bounce_suppressed_meanwhile_appears_in_the_open_list(qapp, qtbot, store) -> None:
    dialog = opened(qtbot, qapp, SuppressionDialog(store))
    wait(qapp, lambda: dialog.stack.currentWidget() is dialog.empty)
    with store.session() as s:
        suppression.suppress(s, "gone@yahoo.test", "hard_bounce", detail="550 5.1.1 no such user")
    wait(qapp, lambda: dialog.table.rowCount() == 1 and dialog.stack.currentIndex() == 0)
    assert dialog.table.item(0, 0).text() == "gone@yahoo.test"


def test_a_rule_added_meanwhile_appears_in_open_forwarding(qapp, qtbot, store, domain) -> None:
    dialog = opened(qtbot, qapp, ForwardingDialog(store, domain))
    assert dialog.stack.currentWidget() is dialog.empty
    forwarding.add_rule(store, domain, "info", "team@elsewhere.example")
    wait(qapp, lambda: dialog.table.rowCount() == 1)
    assert dialog.stack.currentWidget() is dialog.table
    assert dialog.table.texts(1) == ["team@elsewhere.example"]

    # The chosen rule stays chosen when another one is listed above it.
    dialog.table.selectRow(0)
    forwarding.add_rule(store, domain, "billing", "books@elsewhere.example")
    wait(qapp, lambda: dialog.table.rowCount() == 2)
    assert dialog.selected() is not None and dialog.selected().local_part == "info"
    assert dialog.pause_button.isEnabled()


def sent_code(store: Store, address: str) -> str:
    """The code in the newest confirmation mail queued to ``address`` (what its inbox gets)."""
    with store.session() as s:
        rows = s.query(QueuedMessage).filter(QueuedMessage.source == "confirm").all()
        raw = [r.raw for r in rows if address in r.rcpt_tos][-1]
    text = b"".join(
        part.get_payload(decode=True) or b""
        for part in message_from_bytes(raw).walk()
        if part.get_content_type() == "text/plain"
    )
    return re.search(rb"\b(\d{6})\b", text).group(1).decode()


def test_a_code_confirmed_by_itself_shows_in_open_sender_addresses(
    qapp, qtbot, store, domain
) -> None:
    senders.add_sender(store, "sales@example.com")
    dialog = opened(qtbot, qapp, SenderAddressesDialog(store, domain))
    assert dialog.table.texts(1) == ["Waiting for the code"]
    # What Conversations does when the code's mail arrives on a domain Postdesk receives.
    senders.confirm_sender(store, "sales@example.com", sent_code(store, "sales@example.com"))
    wait(qapp, lambda: dialog.table.texts(1) == ["Confirmed"])


def test_a_report_arriving_meanwhile_shows_in_open_who_sends(
    qapp, qtbot, store, domain, tmp_path, monkeypatch
) -> None:
    from test_conversations_dialogs import recent_copy

    from postdesk.core import dmarcreports
    from postdesk.gui.dialogs import dmarc_sources

    monkeypatch.setattr(dmarc_sources, "REFRESH_MS", 200)  # reports come daily; no half minute
    dialog = opened(qtbot, qapp, dmarc_sources.DmarcSourcesDialog(store, domain))
    assert dialog.stack.currentWidget() is dialog.empty
    dmarcreports.import_files(store, [recent_copy(tmp_path, "outlook.xml", "r-live")])
    wait(qapp, lambda: dialog.sources.rowCount() == 1)
    assert dialog.stack.currentWidget() is not dialog.empty


# --- empty windows say what they are for --------------------------------------------------------


def test_sender_addresses_without_any_says_what_they_are_for(qapp, qtbot, store, domain) -> None:
    dialog = opened(qtbot, qapp, SenderAddressesDialog(store, domain))
    assert dialog.stack.currentWidget() is dialog.empty
    assert dialog.empty.heading_label.text() == "No sender addresses yet"
    assert "Only the confirmed addresses" in dialog.empty.text_label.text(), "what to do"
    senders.add_sender(store, "sales@example.com")
    wait(qapp, lambda: dialog.stack.currentWidget() is dialog.table)
    assert dialog.table.texts(0) == ["sales@example.com"]


# --- dialogs before their first result ----------------------------------------------------------


def test_diagnose_keeps_its_fields_together_before_the_first_check(qtbot) -> None:
    dialog = DiagnoseDialog()
    qtbot.addWidget(dialog)
    dialog.resize(NARROW, 640)
    dialog.show()
    qtbot.waitExposed(dialog)
    domain_label = next(w for w in dialog.findChildren(QLabel) if w.text() == "Domain")
    gap = dialog.domain_edit.geometry().top() - domain_label.geometry().bottom()
    assert gap <= 2 * SPACE_M, "the label stays by its field"
    check_bottom = dialog.check_button.geometry().bottom()
    assert dialog.buttons.geometry().top() - check_bottom > dialog.height() // 3, (
        "the room below Check is free for the results"
    )


def test_an_empty_queue_says_how_mail_gets_there_or_which_filter_hides_it(
    qapp, qtbot, store, domain
) -> None:
    dialog = QueueDialog(store)
    qtbot.addWidget(dialog)

    async def work() -> None:
        dialog.show()
        await wait_for(lambda: dialog.stack.currentWidget() is dialog.empty)

    run(qapp, work)
    assert dialog.empty.heading_label.text() == "No mail here"
    assert "SMTP Settings" in dialog.empty.text_label.text(), "what to do"
    _long_pending_message(store)

    async def filtered() -> None:  # the filter's read starts on the running loop
        dialog.status_filter.setCurrentIndex(dialog.status_filter.findData("bounced"))
        await wait_for(lambda: dialog.empty.heading_label.text() == "No mail matches")

    run(qapp, filtered)
    assert "All statuses" in dialog.empty.text_label.text()


def test_empty_activity_says_what_it_shows_or_which_filter_hides_it(qapp, qtbot, store) -> None:
    from postdesk.gui.dialogs.activity import ActivityDialog

    dialog = ActivityDialog(store)
    qtbot.addWidget(dialog)

    async def work() -> None:
        dialog.show()
        await wait_for(lambda: dialog.stack.currentIndex() == 1)

    run(qapp, work)
    assert dialog.empty.heading_label.text() == "No mail sent yet"
    assert "test email" in dialog.empty.text_label.text(), "what to do"

    async def searched() -> None:  # the search's read starts on the running loop
        dialog.search_edit.setText("nobody@example.net")
        dialog.search_button.click()
        await wait_for(lambda: dialog.empty.heading_label.text() == "No messages match")

    run(qapp, searched)
