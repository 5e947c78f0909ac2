"""The DNS records to publish: type, host and value with copy buttons, status, required or not."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QWidget,
)

from postdesk.core.domainview import UNCHECKED, RecordView
from postdesk.gui.qtutils import SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.widgets.status_badge import State, StatusBadge

COLUMNS = ("Type", "Host", "Value", "Status", "")
TYPE_COLUMN, HOST_COLUMN, VALUE_COLUMN, STATUS_COLUMN, REQUIRED_COLUMN = range(len(COLUMNS))
COPY_TEXT, COPIED_TEXT = "Copy", "Copied"
COPIED_FEEDBACK_MS = 1500
# A value narrower than this is no longer recognisable; the full value is in the tooltip.
VALUE_MIN_WIDTH = 160
HOST_MAX_WIDTH = 300
KIND_WORDS = {
    "ownership": "Ownership",
    "spf": "SPF",
    "dkim": "DKIM",
    "dmarc": "DMARC",
    "return_path": "Bounce address",
    "tracking": "Tracking links",
    "mx": "Bounce delivery",
}
#: A record status as the table shows it: badge colours and the word.
STATUS_WORDS: dict[str, tuple[State, str]] = {
    "ok": ("ok", "OK"),
    "missing": ("failed", "Missing"),
    "mismatch": ("failed", "Wrong value"),
    "conflict": ("failed", "Conflict"),
    "error": ("failed", "Could not check"),
    "pending": ("testing", "Waiting for DNS"),
    UNCHECKED: ("untested", "Not checked yet"),
}


class ElidedLabel(QLabel):
    """One line that ends in "…" when it does not fit; the whole text is in the tooltip."""

    def __init__(self, text: str, *, monospace: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = text
        if monospace:
            self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setToolTip(text)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setMinimumWidth(VALUE_MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(self._full, Qt.TextElideMode.ElideRight, self.width()))


class CopyButton(QToolButton):
    """A small "Copy" button that puts ``value`` on the clipboard and says "Copied" for a moment."""

    def __init__(self, value: str, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.value = value
        self.setText(COPY_TEXT)
        self.setToolTip(f"Copy the {what}")
        self.setAccessibleName(f"Copy the {what}")
        # As wide as "Copied", so the row does not move when the text changes.
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance(COPIED_TEXT) + 2 * SPACE_S)
        self._reset = QTimer(self)
        self._reset.setSingleShot(True)
        self._reset.setInterval(COPIED_FEEDBACK_MS)
        self._reset.timeout.connect(lambda: self.setText(COPY_TEXT))
        self.clicked.connect(self.copy)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.value)
        self.setText(COPIED_TEXT)
        self._reset.start()


def _cell(*items: QWidget) -> QWidget:
    widget = QWidget()
    widget.setLayout(hbox(*items, margin=SPACE_XS, spacing=SPACE_S))
    return widget


class RecordsTable(QTableWidget):
    """The records of one domain; ``set_short_hosts(True)`` shows hosts without the domain."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.records: list[RecordView] = []
        self.short_hosts = False
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setAccessibleName("DNS records to publish")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setShowGrid(False)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.verticalHeader().hide()
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # As tall as its rows: the page scrolls, not the table.
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        # Fixed columns sized from their cells (see _fit_columns); the value takes what is left.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(VALUE_COLUMN, QHeaderView.ResizeMode.Stretch)
        # Two lines of text (host and its short form) and a little air.
        two_lines = 2 * self.fontMetrics().height() + 3 * SPACE_XS + 2 * SPACE_XS
        self.verticalHeader().setDefaultSectionSize(two_lines)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)

    def set_records(self, records: Sequence[RecordView]) -> None:
        """Show ``records`` in the order given (the order to work through them)."""
        self.records = list(records)
        self.setRowCount(len(self.records))
        for row, record in enumerate(self.records):
            self._fill(row, record)
        self._fit_columns()
        self.updateGeometry()

    def set_short_hosts(self, short: bool) -> None:
        """Show (and copy) hosts without the domain, as many DNS hosts want them typed."""
        self.short_hosts = short
        for row, record in enumerate(self.records):
            self.setCellWidget(row, HOST_COLUMN, self._host_cell(record))
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Give every column but the value the width of its widest cell or its title."""
        header = self.horizontalHeader()
        for column in (TYPE_COLUMN, HOST_COLUMN, STATUS_COLUMN, REQUIRED_COLUMN):
            widths = [header.sectionSizeFromContents(column).width()]
            for row in range(self.rowCount()):
                widget = self.cellWidget(row, column)
                if widget is not None:
                    widths.append(widget.sizeHint().width())
                elif (item := self.item(row, column)) is not None:
                    widths.append(self.fontMetrics().horizontalAdvance(item.text()) + 2 * SPACE_S)
            header.resizeSection(column, max(widths) + SPACE_S)

    def _fill(self, row: int, record: RecordView) -> None:
        kind = KIND_WORDS.get(record.kind, record.kind)
        type_cell = QWidget()
        type_cell.setLayout(
            vbox(label(record.type, wrap=False), muted(label(kind, wrap=False)), margin=SPACE_XS)
        )
        type_cell.layout().setSpacing(0)
        self.setCellWidget(row, TYPE_COLUMN, type_cell)
        self.setCellWidget(row, HOST_COLUMN, self._host_cell(record))
        value = ElidedLabel(record.value, monospace=True)
        value.setAccessibleName(f"{kind} value")
        self.setCellWidget(
            row, VALUE_COLUMN, _cell(value, CopyButton(record.value, f"{kind} value"))
        )
        self.setCellWidget(row, STATUS_COLUMN, self._status_cell(record))
        required = QTableWidgetItem("Required" if record.required else "Optional")
        required.setToolTip(
            "Needed before the domain counts as verified."
            if record.required
            else "Recommended; the domain is verified without it."
        )
        self.setItem(row, REQUIRED_COLUMN, required)

    def _host_cell(self, record: RecordView) -> QWidget:
        kind = KIND_WORDS.get(record.kind, record.kind)
        shown, other = record.host, f"short form: {record.short_host}"
        if self.short_hosts:
            shown, other = record.short_host, f"full name: {record.host}"
        host = label(shown, wrap=False, selectable=True)
        host.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        host.setAccessibleName(f"{kind} host")
        host.setMaximumWidth(HOST_MAX_WIDTH)
        second = muted(label(other, wrap=False, selectable=True))
        text = QWidget()
        text.setLayout(vbox(host, second, spacing=0))
        return _cell(text, CopyButton(shown, f"{kind} host"))

    def _status_cell(self, record: RecordView) -> QWidget:
        state, word = STATUS_WORDS.get(record.status, ("untested", record.status))
        badge = StatusBadge()
        badge.set_state(state, word)
        cell = _cell(badge)
        first = next((p for p in record.problems if p.severity != "info"), None)
        note = first or next(iter(record.problems), None)
        cell.setToolTip(note.message if note else "")
        return cell

    # --- what a user (or a test) reads back ---------------------------------------------------

    def host_text(self, row: int) -> str:
        return self._copy_button(row, HOST_COLUMN).value

    def value_text(self, row: int) -> str:
        return self._copy_button(row, VALUE_COLUMN).value

    def status_text(self, row: int) -> str:
        return self.cellWidget(row, STATUS_COLUMN).findChild(StatusBadge).text()

    def host_copy_button(self, row: int) -> CopyButton:
        return self._copy_button(row, HOST_COLUMN)

    def value_copy_button(self, row: int) -> CopyButton:
        return self._copy_button(row, VALUE_COLUMN)

    def _copy_button(self, row: int, column: int) -> CopyButton:
        button = self.cellWidget(row, column).findChild(CopyButton)
        assert button is not None
        return button

    def row_of(self, kind: str) -> int:
        """The row of the first record of ``kind`` ("dkim", "spf"…), or -1."""
        return next((i for i, r in enumerate(self.records) if r.kind == kind), -1)
