"""The suppression list window, walked like a user: find, add, remove (asked, audited), CSV."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox
from sqlalchemy import select

from postdesk.core import suppression
from postdesk.core.store import Store
from postdesk.core.store.models import AuditEvent
from postdesk.gui.dialogs.suppression import COLUMNS, SuppressionDialog
from support.qtloop import dialogs_of, run_on_qt_loop, wait_for
from support.workspace import add_verified_domain


@pytest.fixture
def listed(store: Store) -> Store:
    add_verified_domain(store, "shop.example")
    with store.session() as s:
        suppression.suppress(s, "gone@yahoo.test", "hard_bounce", detail="550 5.1.1 no such user")
        suppression.suppress(s, "angry@gmail.test", "complaint", detail="via SendGrid")
        suppression.suppress(s, "bye@gmail.test", "unsubscribe", scope="shop.example")
    return store


@pytest.fixture
def window(qtbot: Any, qapp: QApplication, listed: Store) -> SuppressionDialog:
    dialog = SuppressionDialog(listed)
    qtbot.addWidget(dialog)
    dialog.resize(900, 560)
    yield dialog
    for box in dialogs_of(QMessageBox):
        box.close()


def rows(dialog: SuppressionDialog) -> list[list[str]]:
    if dialog.stack.currentIndex() != 0:
        return []
    table = dialog.table
    return [[table.item(r, c).text() for c in range(len(COLUMNS))] for r in range(table.rowCount())]


def addresses(dialog: SuppressionDialog) -> set[str]:
    return {row[0] for row in rows(dialog)}


def audit_actions(store: Store) -> list[tuple[str, str]]:
    with store.session() as s:
        return [
            (e.action, e.subject) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


def test_the_list_says_why_and_for_which_domain(qapp, window) -> None:
    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)

    run_on_qt_loop(qapp, scenario())
    by_address = {row[0]: row for row in rows(window)}
    assert by_address["gone@yahoo.test"][1:3] == ["All domains", "Hard bounce"]
    assert by_address["gone@yahoo.test"][4] == "550 5.1.1 no such user"
    assert by_address["bye@gmail.test"][1:3] == ["shop.example", "Unsubscribed"]
    assert window.summary_label.text() == "3 addresses suppressed"


def test_search_and_reason_filter(qapp, qtbot, window) -> None:
    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)
        qtbot.keyClicks(window.search_edit, "gmail")
        await wait_for(lambda: addresses(window) == {"angry@gmail.test", "bye@gmail.test"})
        window.reason_filter.setCurrentIndex(window.reason_filter.findData("complaint"))
        await wait_for(lambda: addresses(window) == {"angry@gmail.test"})
        window.search_edit.setText("nobody")
        await wait_for(lambda: window.empty.isVisible())

    run_on_qt_loop(qapp, scenario())
    # Three are listed: the empty page names the filters, not an empty list.
    assert window.empty.heading_label.text() == "No address matches"
    assert "Every reason" in window.empty.text_label.text()


def test_add_by_hand_with_enter_checks_the_address_and_is_audited(
    qapp, qtbot, window, listed
) -> None:
    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)
        dialog = window.open_add()
        qtbot.keyClicks(dialog.address_edit, "not an address")
        assert dialog.address_message.isVisible() and not dialog.add_button.isEnabled()
        qtbot.keyClick(dialog.address_edit, Qt.Key.Key_Return)
        assert dialog.isVisible()  # Enter does not add a bad address
        dialog.address_edit.setText("Quiet@Example.NET")
        dialog.note_edit.setFocus()
        qtbot.keyClicks(dialog.note_edit, "asked by phone")
        qtbot.keyClick(dialog.note_edit, Qt.Key.Key_Return)
        assert dialog.result() == QDialog.DialogCode.Accepted
        await wait_for(lambda: "quiet@example.net" in addresses(window))
        assert window.selected().address == "quiet@example.net"

    run_on_qt_loop(qapp, scenario())
    assert ("suppression.added", "quiet@example.net") in audit_actions(listed)
    entry = suppression.list_entries(listed, search="quiet")[0]
    assert (entry.reason, entry.detail) == ("manual", "asked by phone")


def test_remove_asks_first_and_is_audited(qapp, window, listed) -> None:
    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)
        window.select_address("gone@yahoo.test")
        window.remove_button.click()
        (box,) = dialogs_of(QMessageBox)
        assert "gone@yahoo.test" in box.text()
        assert "hard bounce" in box.informativeText()
        box.button(QMessageBox.StandardButton.Cancel).click()
        await asyncio.sleep(0.2)
        assert "gone@yahoo.test" in addresses(window)
        window.select_address("gone@yahoo.test")
        window.remove_button.click()
        (box,) = dialogs_of(QMessageBox)
        next(b for b in box.buttons() if b.text() == "Remove").click()
        await wait_for(lambda: "gone@yahoo.test" not in addresses(window))

    run_on_qt_loop(qapp, scenario())
    assert ("suppression.removed", "gone@yahoo.test") in audit_actions(listed)
    assert "removed: mail can reach it again" in window.action_status.text()
    with listed.session() as s:
        assert suppression.is_suppressed(s, "gone@yahoo.test", "shop.example") is None


def test_export_then_import_into_another_list(qapp, window, listed, tmp_path: Path) -> None:
    exported = tmp_path / "list.csv"
    mine = tmp_path / "mine.csv"
    mine.write_text("address,reason\nnew@x.test,unsubscribe\ngone@yahoo.test,manual\nbad address\n")

    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)
        await window.export_file(exported)
        await window.import_file(mine)
        await wait_for(lambda: "new@x.test" in addresses(window))

    run_on_qt_loop(qapp, scenario())
    assert exported.read_text().splitlines()[0] == "address,reason,scope,created_at,detail"
    assert len(exported.read_text().splitlines()) == 4
    assert window.action_status.text() == "Imported 1; 1 were already on the list."
    assert "1 line(s) of mine.csv were not imported" in window.banner.message_label.text()


def test_an_empty_file_says_so_and_a_note_column_is_kept(qapp, window, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    noted = tmp_path / "noted.csv"
    noted.write_text("address,reason,note\nold@x.test,manual,from the old tool\n")

    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)
        await window.import_file(empty)
        assert "empty.csv holds no addresses" in window.banner.message_label.text()
        await window.import_file(noted)
        await wait_for(lambda: "old@x.test" in addresses(window))

    run_on_qt_loop(qapp, scenario())
    detail = COLUMNS.index("Detail")
    assert [r[detail] for r in rows(window) if r[0] == "old@x.test"] == ["from the old tool"]


def test_tab_reaches_every_control_of_the_list_and_of_add(qapp, qtbot, window) -> None:
    from gui.test_keyboard import tab_chain

    async def scenario() -> None:
        window.show()
        await wait_for(lambda: len(rows(window)) == 3)

    run_on_qt_loop(qapp, scenario())
    chain = tab_chain(window.search_edit)
    for widget in (
        window.reason_filter,
        window.add_button,
        window.import_button,
        window.export_button,
        window.table,
    ):
        assert widget in chain
    dialog = window.open_add()
    qtbot.waitExposed(dialog)
    dialog.address_edit.setText("someone@example.net")
    chain = tab_chain(dialog.address_edit)
    for widget in (dialog.reason_combo, dialog.domain_combo, dialog.note_edit, dialog.add_button):
        assert widget in chain
    dialog.reject()
