"""The Activity window, walked like a user: search, filter, read a timeline, export."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QWidget

from postdesk.core import activity
from postdesk.core.relay import queue
from postdesk.core.store import Store
from postdesk.core.store.models import DedicatedDomain
from postdesk.gui.dialogs.activity import COLUMNS, ActivityDialog
from postdesk.gui.dialogs.queue import QueueDialog
from postdesk.gui.tabs.domains_detail import DomainActions, domain_menu
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain

NOW = dt.datetime.now(dt.UTC)
RAW = (
    b"From: Shop <orders@shop.example>\r\nTo: ann@gmail.test\r\nSubject: Order 1042\r\n"
    b"Message-ID: <1042@shop.example>\r\n\r\nThanks!\r\n"
)


def accepted(store: Store, domain: str, to: list[str], subject: str, at: dt.datetime) -> int:
    with store.session() as s:
        domain_id = s.query(DedicatedDomain).filter_by(name=domain).one().id
        row = queue.enqueue(
            s,
            domain_id=domain_id,
            smtp_user_id=None,
            mail_from=f"orders@{domain}",
            rcpt_tos=to,
            raw=RAW,
            subject=subject,
            message_id=f"<{subject}@{domain}>",
            now=at,
        )
        s.flush()
        activity.add_recipients(s, row.id, to)
        activity.record_event(s, row.id, "accepted", detail="from orders@shop.example", at=at)
        return row.id


@pytest.fixture
def messages(store: Store) -> dict[str, int]:
    add_verified_domain(store, "shop.example")
    add_verified_domain(store, "news.example")
    order = accepted(store, "shop.example", ["ann@gmail.test"], "Order 1042", NOW)
    bounce = accepted(store, "shop.example", ["gone@yahoo.test"], "Order 1043", NOW)
    old = accepted(
        store, "news.example", ["bob@gmail.test"], "Newsletter", NOW - dt.timedelta(days=40)
    )
    with store.session() as s:
        activity.record_event(
            s,
            order,
            "handed_over",
            detail="250 2.0.0 Ok: queued as 4XyZ",
            at=NOW + dt.timedelta(seconds=1),
        )
        activity.record_event(
            s,
            order,
            "delivered",
            recipient="ann@gmail.test",
            source="sendgrid",
            at=NOW + dt.timedelta(seconds=5),
        )
        activity.set_recipient_status(s, order, "ann@gmail.test", "delivered")
        activity.record_event(
            s,
            bounce,
            "bounced",
            recipient="gone@yahoo.test",
            source="upstream",
            detail="554 5.7.9 Message not accepted for policy reasons",
            bounce_class="hard.policy",
            at=NOW + dt.timedelta(seconds=2),
        )
        activity.set_recipient_status(
            s,
            bounce,
            "gone@yahoo.test",
            "bounced",
            bounce_class="hard.policy",
            reason="refused by policy",
        )
        activity.set_recipient_status(s, old, "bob@gmail.test", "delivered")
    return {"order": order, "bounce": bounce, "old": old}


@pytest.fixture
def window(qtbot: Any, qapp: QApplication, store: Store, messages) -> ActivityDialog:
    dialog = ActivityDialog(store)
    qtbot.addWidget(dialog)
    dialog.resize(900, 640)  # readable at 900 px
    return dialog


def subjects(dialog: ActivityDialog) -> list[str]:
    column = COLUMNS.index("Subject")
    if dialog.stack.currentIndex() != 0:
        return []
    return [dialog.table.item(r, column).text() for r in range(dialog.table.rowCount())]


async def shows(dialog: ActivityDialog, expected: list[str]) -> None:
    await wait_for(lambda: subjects(dialog) == expected and not dialog.reads.running)


ALL_THREE = ["Order 1043", "Order 1042", "Newsletter"]


def test_every_message_is_listed_newest_first_with_its_status(qapp, window) -> None:
    async def scenario() -> None:
        window.show()
        await shows(window, ALL_THREE)
        status = COLUMNS.index("Status")
        assert [window.table.item(r, status).text() for r in range(3)] == [
            "Bounced",
            "Delivered",
            "Delivered",
        ]

    run_on_qt_loop(qapp, scenario())


def test_at_900_px_long_addresses_never_hide_the_status(qapp, store, window) -> None:
    long_to = [f"customer.number.{i}@a-rather-long-mailbox-provider.test" for i in range(3)]
    wide = accepted(store, "shop.example", long_to, "Your order 1044 " + "and more " * 12, NOW)
    with store.session() as s:
        activity.set_recipient_status(s, wide, long_to[0], "bounced", bounce_class="hard.other")
        activity.set_recipient_status(s, wide, long_to[1], "delivered")

    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(subjects(window)) == 4 and not window.reads.running)

    run_on_qt_loop(qapp, scenario())
    table, status = window.table, COLUMNS.index("Status")
    text = table.item(0, status).text()
    assert "/" in text  # bounced for one, delivered for another: the longest status
    needed = table.fontMetrics().horizontalAdvance(text)
    assert table.columnWidth(status) > needed
    right = table.horizontalHeader().sectionViewportPosition(status) + table.columnWidth(status)
    assert right <= table.viewport().width(), "the status is on screen without scrolling"


def test_typing_a_recipient_and_enter_finds_their_mail(qapp, qtbot, window) -> None:
    async def scenario() -> None:
        window.show()
        await shows(window, ALL_THREE)
        window.search_edit.setFocus()
        qtbot.keyClicks(window.search_edit, "@gmail.test")
        qtbot.keyClick(window.search_edit, Qt.Key.Key_Return)
        await shows(window, ["Order 1042", "Newsletter"])
        window.field_combo.setCurrentIndex(window.field_combo.findData("subject"))
        window.search_edit.setText("newsletter")
        window.search_button.click()
        await shows(window, ["Newsletter"])
        window.search_edit.setText("nothing like this")
        window.search_button.click()
        await shows(window, [])
        assert window.empty.isVisible()

    run_on_qt_loop(qapp, scenario())


def test_status_and_date_filters_narrow_the_list(qapp, window) -> None:
    async def scenario() -> None:
        window.show()
        await shows(window, ALL_THREE)
        window.status_filter.setCurrentIndex(window.status_filter.findData("bounced"))
        await shows(window, ["Order 1043"])
        window.status_filter.setCurrentIndex(0)
        week_ago = QDate.currentDate().addDays(-7)
        window.since_edit.setDate(week_ago)
        await shows(window, ["Order 1043", "Order 1042"])
        window.until_edit.setDate(week_ago)
        await shows(window, [])

    run_on_qt_loop(qapp, scenario())


def test_a_message_shows_its_timeline_and_headers(qapp, window, messages) -> None:
    async def scenario() -> None:
        window.show()
        await shows(window, ALL_THREE)
        window.select_message(messages["bounce"])
        await wait_for(lambda: window.detail_for == messages["bounce"])

    run_on_qt_loop(qapp, scenario())
    text = window.detail.toPlainText()
    assert "gone@yahoo.test: Bounced (hard.policy) — refused by policy" in text
    timeline = text.split("Timeline:")[1].split("Headers:")[0]
    assert timeline.index("Accepted") < timeline.index("Bounced gone@yahoo.test [hard.policy]")
    assert "554 5.7.9 Message not accepted for policy reasons" in timeline
    assert "Subject: Order 1042" in text.split("Headers:")[1]  # the raw message's own headers


def test_opened_for_one_domain_and_one_message(qapp, qtbot, store, messages) -> None:
    dialog = ActivityDialog(store, domain="news.example", message_id=messages["old"])
    qtbot.addWidget(dialog)

    async def scenario() -> None:
        dialog.show()
        await shows(dialog, ["Newsletter"])
        await wait_for(lambda: dialog.detail_for == messages["old"])

    run_on_qt_loop(qapp, scenario())
    assert dialog.domain_filter.currentText() == "news.example"


def test_export_writes_the_listed_messages(qapp, window, tmp_path: Path) -> None:
    target = tmp_path / "activity.csv"

    async def scenario() -> None:
        window.show()
        await shows(window, ALL_THREE)
        await window.export(target)

    run_on_qt_loop(qapp, scenario())
    lines = target.read_text().splitlines()
    assert lines[0].startswith("accepted_at,domain,from,to,subject,status")
    assert len(lines) == 4 and "gone@yahoo.test" in lines[1] and ",bounced," in lines[1]
    assert "Saved 3 messages" in window.action_status.text()


def test_a_message_asked_for_by_number_shows_even_when_not_listed(qapp, qtbot, store, messages):
    dialog = ActivityDialog(store, domain="shop.example", message_id=messages["old"])
    qtbot.addWidget(dialog)

    async def scenario() -> None:
        dialog.show()
        await shows(dialog, ["Order 1043", "Order 1042"])
        await wait_for(lambda: dialog.detail_for == messages["old"])
        dialog.reload()  # the next poll keeps it on screen
        await asyncio.sleep(0.2)
        await shows(dialog, ["Order 1043", "Order 1042"])

    run_on_qt_loop(qapp, scenario())
    assert dialog.detail.toPlainText().startswith("Subject: Newsletter")


def test_the_queue_window_opens_the_selected_message_in_activity(qapp, qtbot, store, messages):
    queue_window = QueueDialog(store)
    qtbot.addWidget(queue_window)

    async def scenario() -> None:
        queue_window.show()
        await wait_for(lambda: len(queue_window.messages) == 3)
        assert not queue_window.activity_button.isEnabled()
        queue_window.select_message(messages["bounce"])
        queue_window.activity_button.click()
        await wait_for(
            lambda: any(d.detail_for == messages["bounce"] for d in dialogs_of(ActivityDialog))
        )

    run_on_qt_loop(qapp, scenario())
    for dialog in [*dialogs_of(ActivityDialog), queue_window]:
        dialog.close()


def test_the_domain_menu_has_activity_for_that_domain(qtbot) -> None:
    opened: list[str] = []
    actions = DomainActions(
        smtp_settings=print,
        domain_settings=print,
        verify=print,
        cancel_verify=print,
        remove=print,
        activity=opened.append,
    )
    host = QWidget()
    qtbot.addWidget(host)
    button = domain_menu(host, actions, lambda: "shop.example")
    (item,) = [a for a in button.menu().actions() if a.text() == "Activity"]
    item.trigger()
    assert opened == ["shop.example"]


def test_tab_reaches_the_search_the_filters_the_list_and_export(qapp, window) -> None:
    from gui.test_keyboard import tab_chain

    async def scenario() -> None:
        window.show()
        await shows(window, ALL_THREE)

    run_on_qt_loop(qapp, scenario())
    # Tabbing into the list selects a message, whose detail would be read with no loop running
    # here (tab_chain drives Qt directly); the focus order is what this test is about.
    window.table.blockSignals(True)
    chain = tab_chain(window.field_combo)
    window.table.blockSignals(False)
    for widget in (
        window.search_edit,
        window.search_button,
        window.status_filter,
        window.domain_filter,
        window.since_edit,
        window.until_edit,
        window.export_button,
        window.table,
    ):
        assert widget in chain, [type(w).__name__ for w in chain]
