"""A domain's DKIM keys: selector, size, when it was made, and whether it signs or waits for DNS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core.views import DkimKeyView

KEY_STATES = {"active": "Active", "pending": "Waiting for DNS", "retired": "Retired"}
KEY_COLUMNS = ("Selector", "Size", "Created", "State")


def created_text(at: dt.datetime) -> str:
    """A stored (UTC) moment in the user's time zone, e.g. "25 Nov 2026, 13:17"."""
    local = at.astimezone()
    return f"{local.day} {local:%b %Y, %H:%M}"


class DkimKeyTable(QTableWidget):
    """The keys, newest first; read only, and Tab moves past it (it has nothing to edit)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(KEY_COLUMNS), parent)
        self.setHorizontalHeaderLabels(KEY_COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setAccessibleName("DKIM keys")
        self.setTabKeyNavigation(False)
        # As tall as its few rows: a domain has one or two keys, rarely more.
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)

    def show_keys(self, keys: Sequence[DkimKeyView]) -> None:
        self.setRowCount(len(keys))
        for row, key in enumerate(keys):
            cells = (
                key.selector,
                f"{key.bits}-bit",
                created_text(key.created_at),
                KEY_STATES.get(key.state, key.state),
            )
            for column, text in enumerate(cells):
                self.setItem(row, column, QTableWidgetItem(text))
