"""Dialogs show every message whole and keep their width while the user works in them."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QDialog, QLabel, QWidget

from postdesk.gui.dialogs.new_smtp_user import NewSmtpUserDialog
from postdesk.gui.dialogs.service_form import ServiceFormDialog


def cut_off(dialog: QDialog) -> list[str]:
    """Visible word-wrapped labels shorter than their text needs (the last lines are hidden)."""
    return [
        w.text()
        for w in dialog.findChildren(QLabel)
        if w.isVisible() and w.wordWrap() and w.height() < w.heightForWidth(w.width())
    ]


def opened(qtbot: Any, dialog: QDialog) -> QDialog:
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.waitExposed(dialog)
    return dialog


def test_two_line_errors_in_add_service_are_shown_whole(qtbot: Any) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    dialog = opened(qtbot, ServiceFormDialog([], parent=host))
    dialog.provider_combo.setCurrentIndex(dialog.provider_combo.findData("custom"))
    dialog.host_edit.setText("bad host!")
    dialog.port_edit.setText("abc")
    dialog.save_button.click()  # marks every field as reached, so every error shows
    qtbot.wait(10)
    messages = [m for m in dialog.messages.values() if m.isVisible()]
    assert any(m.heightForWidth(m.width()) > m.fontMetrics().lineSpacing() for m in messages)
    assert cut_off(dialog) == []


def test_add_service_keeps_its_width_when_the_provider_changes(qtbot: Any) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    dialog = opened(qtbot, ServiceFormDialog([], parent=host))
    width = dialog.width()
    for index in range(dialog.provider_combo.count()):
        dialog.provider_combo.setCurrentIndex(index)
        qtbot.wait(5)
        assert dialog.width() == width, dialog.provider_combo.currentText()
        assert cut_off(dialog) == [], dialog.provider_combo.currentText()


def test_two_line_errors_in_create_smtp_user_are_shown_whole(qtbot: Any) -> None:
    host = QWidget()
    qtbot.addWidget(host)
    dialog = opened(qtbot, NewSmtpUserDialog("example.com", [], host))
    dialog.login_edit.setText("a login with spaces!")
    dialog.password_choice.own_radio.click()
    dialog.password_choice.password_edit.setText("short")
    qtbot.wait(10)
    assert dialog.login_message.isVisible() and dialog.password_choice.message.isVisible()
    assert cut_off(dialog) == []
