"""The newer windows walked as a stranger would: at 900 px, with data changing under them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain, SmtpService
from postdesk.gui.dialogs.queue import COLUMNS as QUEUE_COLUMNS
from postdesk.gui.dialogs.queue import QueueDialog
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
