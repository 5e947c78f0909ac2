"""The one way Postdesk asks before something that cannot be undone (remove, delete)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox, QWidget


def confirm_destructive(
    parent: QWidget,
    *,
    title: str,
    text: str,
    explanation: str,
    action: str,
    on_confirm: Callable[[], object],
) -> QMessageBox:
    """Open (never exec) a warning with ``action`` and Cancel, Cancel being the default.

    ``on_confirm`` runs only when the user pressed ``action``. The box deletes itself when closed.
    """
    # Imported here: PySide6 builds a class's enums when it is first used, and the pages that
    # import this module are built at start.
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(explanation)
    chosen = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))

    def answered(_result: int) -> None:
        if box.clickedButton() is chosen:
            on_confirm()
        box.deleteLater()

    box.finished.connect(answered)
    box.open()
    return box
