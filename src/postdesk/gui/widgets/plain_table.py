"""A read-only table of rows of text: whole-row selection, no grid, columns sized to fit."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class PlainTable(QTableWidget):
    """Columns named by ``columns``; ``stretch`` is the one that takes the spare width."""

    def __init__(self, columns: Sequence[str], *, stretch: int = 0) -> None:
        super().__init__(0, len(columns))
        self.setHorizontalHeaderLabels(list(columns))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        # Tab moves on to the next control; the arrow keys move between rows.
        self.setTabKeyNavigation(False)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setDefaultAlignment(LEFT)
        header.setHighlightSections(False)
        for column in range(len(columns)):
            mode = QHeaderView.ResizeMode.ResizeToContents
            if column == stretch:
                mode = QHeaderView.ResizeMode.Stretch
            header.setSectionResizeMode(column, mode)

    def fill(self, rows: Sequence[Sequence[object]], *, numeric: Sequence[int] = ()) -> None:
        """Replace the rows; numbers in the ``numeric`` columns are right-aligned."""
        self.setRowCount(len(rows))
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                item = QTableWidgetItem("" if value is None else str(value))
                item.setTextAlignment(RIGHT if column in numeric else LEFT)
                item.setToolTip(item.text())
                self.setItem(row, column, item)

    def texts(self, column: int) -> list[str]:
        """The texts of one column, top to bottom."""
        return [self.item(row, column).text() for row in range(self.rowCount())]

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None
