"""The DNS records to publish: type, host and value with copy buttons, status, required or not.

The value is what the user copies and compares with what their DNS host shows, so it is always
shown whole: it wraps (anywhere: a DKIM key has no spaces) and the row grows to fit it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QFontDatabase,
    QGuiApplication,
    QPalette,
    QResizeEvent,
)
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
from postdesk.gui.widgets.wrappedtext import WrappedText

COLUMNS = ("Type", "Host", "Status")
TYPE_COLUMN, HOST_COLUMN, STATUS_COLUMN = range(len(COLUMNS))
COPY_TEXT, COPIED_TEXT = "Copy", "Copied"
COPIED_FEEDBACK_MS = 1500
# A one-line label or value is never narrower than this.
VALUE_MIN_WIDTH = 160
HOST_MIN_WIDTH = 120
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


def _text_cell(*items: QWidget) -> QWidget:
    """Wrapping text and its Copy button; the button stays beside the first line."""
    cell = _cell(*items)
    layout = cell.layout()
    assert layout is not None
    for item in items:
        if isinstance(item, QToolButton | QLabel):
            layout.setAlignment(item, Qt.AlignmentFlag.AlignTop)
    return cell


class RecordsTable(QTableWidget):
    """The records of one domain; ``set_short_hosts(True)`` shows hosts without the domain.

    Each record takes two rows: its type, host and status, then its value across the whole
    width, so a long value (a DKIM key) wraps in as few lines as the window allows. Methods
    that take a ``row`` count records, not table rows.
    """

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
        self.verticalHeader().hide()
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # As tall as its rows: the page scrolls, not the table.
        self.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        # Columns sized from their cells and the room there is (see _fit_columns).
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self._value_captions: list[QLabel] = []

    def set_records(self, records: Sequence[RecordView]) -> None:
        """Show ``records`` in the order given (the order to work through them)."""
        self.clearSpans()
        self.records = list(records)
        self.setRowCount(2 * len(self.records))
        self._value_captions = []
        for index, record in enumerate(self.records):
            self._fill(index, record)
        self._fit_columns()

    def set_short_hosts(self, short: bool) -> None:
        """Show (and copy) hosts without the domain, as many DNS hosts want them typed."""
        self.short_hosts = short
        for index, record in enumerate(self.records):
            self.setCellWidget(2 * index, HOST_COLUMN, self._host_cell(record))
        self._fit_columns()

    # --- sizes --------------------------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Type and Status as wide as their cells, the host the rest; then the row heights.

        Nothing is wider than the table: the host and the value wrap instead of pushing
        Status (or a Copy button) out of view.
        """
        header = self.horizontalHeader()
        fixed = 0
        for column in (TYPE_COLUMN, STATUS_COLUMN):
            widths = [header.sectionSizeFromContents(column).width()]
            widths += [
                cell.sizeHint().width()
                for row in range(0, self.rowCount(), 2)
                if (cell := self.cellWidget(row, column)) is not None
            ]
            header.resizeSection(column, max(widths))
            fixed += max(widths)
        header.resizeSection(HOST_COLUMN, max(self.viewport().width() - fixed, HOST_MIN_WIDTH))
        for caption in self._value_captions:
            # "Value" sits under "Type", so every value starts where its host starts.
            caption.setFixedWidth(max(self.columnWidth(TYPE_COLUMN) - SPACE_S - SPACE_XS, 0))
        self._fit_rows()

    def _fit_rows(self) -> None:
        """Make each row as tall as its tallest cell needs at the current column widths."""
        full = sum(self.columnWidth(c) for c in range(self.columnCount()))
        for row in range(self.rowCount()):
            needed = 0
            for column in range(self.columnCount()):
                cell = self.cellWidget(row, column)
                layout = cell.layout() if cell is not None else None
                if layout is None:
                    continue
                width = full if row % 2 else self.columnWidth(column)
                height = (
                    layout.totalHeightForWidth(width)
                    if layout.hasHeightForWidth()
                    else layout.totalSizeHint().height()
                )
                needed = max(needed, height)
            self.setRowHeight(row, needed)
        self.updateGeometry()

    # --- filling ------------------------------------------------------------------------------

    def _fill(self, index: int, record: RecordView) -> None:
        top, below = 2 * index, 2 * index + 1
        kind = KIND_WORDS.get(record.kind, record.kind)
        required = muted(label("Required" if record.required else "Optional", wrap=False))
        required.setToolTip(
            "Needed before the domain counts as verified."
            if record.required
            else "Recommended; the domain is verified without it."
        )
        type_cell = QWidget()
        type_cell.setLayout(
            vbox(
                label(record.type, wrap=False),
                muted(label(kind, wrap=False)),
                required,
                margin=SPACE_XS,
                spacing=0,
            )
        )
        self.setCellWidget(top, TYPE_COLUMN, type_cell)
        self.setCellWidget(top, HOST_COLUMN, self._host_cell(record))
        self.setCellWidget(top, STATUS_COLUMN, self._status_cell(record))
        self.setSpan(below, 0, 1, len(COLUMNS))
        caption = muted(label("Value", wrap=False))
        self._value_captions.append(caption)
        value = WrappedText(record.value, monospace=True)
        value.setAccessibleName(f"{kind} value")
        copy = CopyButton(record.value, f"{kind} value")
        self.setCellWidget(below, 0, _text_cell(caption, value, copy))
        # One record, one shade: its two rows read as one.
        if index % 2:
            for row in (top, below):
                for column in range(len(COLUMNS)):
                    item = QTableWidgetItem()
                    item.setBackground(self.palette().alternateBase())
                    self.setItem(row, column, item)

    def _host_cell(self, record: RecordView) -> QWidget:
        kind = KIND_WORDS.get(record.kind, record.kind)
        shown, other = record.host, f"short form: {record.short_host}"
        if self.short_hosts:
            shown, other = record.short_host, f"full name: {record.host}"
        host = WrappedText(shown, monospace=True)
        host.setAccessibleName(f"{kind} host")
        second = WrappedText(other)
        second.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        text = QWidget()
        lines = vbox(host, second, spacing=0)
        lines.addStretch(1)
        text.setLayout(lines)
        text.setSizePolicy(host.sizePolicy())
        return _text_cell(text, CopyButton(shown, f"{kind} host"))

    def _status_cell(self, record: RecordView) -> QWidget:
        state, word = STATUS_WORDS.get(record.status, ("untested", record.status))
        badge = StatusBadge()
        badge.set_state(state, word)
        cell = _cell(badge)
        cell.layout().setAlignment(badge, Qt.AlignmentFlag.AlignTop)  # type: ignore[union-attr]
        first = next((p for p in record.problems if p.severity != "info"), None)
        note = first or next(iter(record.problems), None)
        cell.setToolTip(note.message if note else "")
        return cell

    # --- what a user (or a test) reads back; ``row`` is the record's index ---------------------

    def host_text(self, row: int) -> str:
        return self.host_copy_button(row).value

    def value_text(self, row: int) -> str:
        return self.value_copy_button(row).value

    def value_widget(self, row: int) -> WrappedText:
        """The value as shown on screen (whole, wrapped)."""
        shown = self.cellWidget(2 * row + 1, 0).findChild(WrappedText)
        assert shown is not None
        return shown

    def status_text(self, row: int) -> str:
        return self.cellWidget(2 * row, STATUS_COLUMN).findChild(StatusBadge).text()

    def host_copy_button(self, row: int) -> CopyButton:
        return self._copy_button(2 * row, HOST_COLUMN)

    def value_copy_button(self, row: int) -> CopyButton:
        return self._copy_button(2 * row + 1, 0)

    def _copy_button(self, row: int, column: int) -> CopyButton:
        button = self.cellWidget(row, column).findChild(CopyButton)
        assert button is not None
        return button

    def row_of(self, kind: str) -> int:
        """The index of the first record of ``kind`` ("dkim", "spf"…), or -1."""
        return next((i for i, r in enumerate(self.records) if r.kind == kind), -1)
