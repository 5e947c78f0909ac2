"""Activity: what became of every message Postdesk sent, searched and shown with its timeline.

A non-modal window. The search runs off the GUI thread (a year of mail may sit in a PostgreSQL
workspace across the network); selecting a message reads its headers and timeline the same way.
The window follows new activity while open (change notifications, and a slow poll for a relay
in another process).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core import activity
from postdesk.core.activity import ActivityQuery, ActivityRow
from postdesk.core.store import Store
from postdesk.gui.asyncutil import LatestRead, async_slot, run_blocking, start_task
from postdesk.gui.dialogs.activity_text import (
    EMPTY_FILTERED,
    EMPTY_UNFILTERED,
    SEARCH_FIELDS,
    STATUS_WORDS,
    describe,
    rows_csv,
    status_words,
)
from postdesk.gui.qtutils import (
    PAGE_MARGIN,
    SPACE_M,
    SPACE_S,
    hbox,
    label,
    make_default,
    muted,
    vbox,
)
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.stats_panel import heading, local_time

if TYPE_CHECKING:
    from postdesk.core.events import ChangeEvent
    from postdesk.gui.context import ChangeBridge

DIALOG_SIZE = (1100, 680)
POLL_MS = 15_000
PAGE_SIZE = 500
TABLE_STRETCH, DETAIL_STRETCH = 3, 2
# Status right after the time: in a narrow window the last column is the one cut short, and
# that is better the subject (its tooltip has it whole) than what became of the message.
COLUMNS = ("Accepted", "Status", "From", "To", "Subject")
STATUS_COLUMN = COLUMNS.index("Status")
TEXT_COLUMN_MAX_WIDTH = 220
# The worst status of a message colours its row (fixed pairs, readable in both themes).
STATUS_COLOURS = {
    "bounced": ("#fdecea", "#5f1a12"),
    "suppressed": ("#fdecea", "#5f1a12"),
    "complained": ("#fdecea", "#5f1a12"),
    "deferred": ("#fff4dc", "#4a3300"),
    "pending": ("#fff4dc", "#4a3300"),
    "delivered": ("#e3f4e6", "#1d4d27"),
    "sent": ("#e8f1fb", "#16324f"),
}
ALL = ""
# The date edits' lowest date stands for "no limit" and reads "Any".
NO_DATE = QDate(2000, 1, 1)


class DateEdit(QDateEdit):
    """A date picker that Tab leaves at once (the arrow keys move between day, month and year).

    Qt's own moves Tab from section to section, and on the "Any" text it never leaves at all.
    """

    def focusNextPrevChild(self, next: bool) -> bool:
        return QWidget.focusNextPrevChild(self, next)


def _worst(status: str) -> str:
    parts = status.split("/")
    return next((s for s in STATUS_COLOURS if s in parts), "")


class ActivityDialog(QDialog):
    """Search messages by recipient, sender, subject or Message-ID; filter; see a timeline."""

    def __init__(
        self,
        store: Store,
        *,
        domain: str | None = None,
        message_id: int | None = None,
        changes: ChangeBridge | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.rows: list[ActivityRow] = []
        self.detail_for: int | None = None
        self._wanted_message = message_id
        self._unlisted = False
        self.setWindowTitle("Activity")
        self.setModal(False)
        self.resize(*DIALOG_SIZE)
        self.banner = Banner()
        self.reads = LatestRead(self.refresh, banner=self.banner, when=self.isVisible)
        self.field_combo = QComboBox()
        for words, key in SEARCH_FIELDS:
            self.field_combo.addItem(words, key)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("an address, part of one (@gmail.com), or a word")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.returnPressed.connect(self.reload)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.reload)
        self.status_filter = QComboBox()
        self.status_filter.addItem("Any status", ALL)
        for status, words in STATUS_WORDS.items():
            self.status_filter.addItem(words, status)
        self.domain_filter = QComboBox()
        self.domain_filter.addItem("All domains", ALL)
        if domain:
            self.domain_filter.addItem(domain, domain)
            self.domain_filter.setCurrentIndex(1)
        self.since_edit, self.until_edit = self._date_edit(), self._date_edit()
        for combo in (self.status_filter, self.domain_filter):
            combo.currentIndexChanged.connect(self.reload)
        for edit in (self.since_edit, self.until_edit):
            edit.dateChanged.connect(self.reload)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the messages listed here as a CSV file")
        self.export_button.clicked.connect(self.ask_export)
        self.summary_label = muted(label(wrap=False))
        self.action_status = muted(label(wrap=False))
        self.table = self._build_table()
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select a message to see its headers and its timeline.")
        self.empty = EmptyState("icons/empty-logins.png", *EMPTY_UNFILTERED)
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_split())
        self.stack.addWidget(self.empty)
        search = hbox(self.field_combo, self.search_edit, self.search_button, spacing=SPACE_S)
        search.setStretch(1, 1)
        filters = hbox(
            self.status_filter,
            self.domain_filter,
            SPACE_M,
            label("From", wrap=False),
            self.since_edit,
            label("to", wrap=False),
            self.until_edit,
            spacing=SPACE_S,
        )
        filters.addStretch(1)
        filters.addWidget(self.export_button)
        self.setLayout(
            vbox(
                heading("Activity"),
                muted(
                    label("What became of each message after Postdesk accepted it, per recipient.")
                ),
                self.banner,
                search,
                filters,
                hbox(self.summary_label, self.action_status, spacing=SPACE_M),
                self.stack,
                margin=PAGE_MARGIN,
                spacing=SPACE_S,
            )
        )
        make_default(self.search_button)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.reload)
        if changes is not None:
            # The relay counts each message it accepts and settles: follow it while on screen.
            changes.changed.connect(self._changed)

    def _changed(self, event: ChangeEvent) -> None:
        from postdesk.core.events import Change

        if self.isVisible() and event.change in (Change.USAGE, Change.DOMAINS):
            self.reload()

    def _date_edit(self) -> QDateEdit:
        edit = DateEdit()
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("d MMM yyyy")
        edit.setMinimumDate(NO_DATE)
        edit.setSpecialValueText("Any")
        edit.setDate(NO_DATE)
        return edit

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # The last column takes the room left (also when the rows are shown for the first time).
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        table.itemSelectionChanged.connect(self._selection_changed)
        return table

    def _build_split(self) -> QSplitter:
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(self.table)
        split.addWidget(self.detail)
        split.setStretchFactor(0, TABLE_STRETCH)
        split.setStretchFactor(1, DETAIL_STRETCH)
        return split

    # --- searching ----------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().showEvent(event)
        self.timer.start()
        self.reload()

    def hideEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.timer.stop()
        super().hideEvent(event)

    def reload(self) -> None:
        """Read again: now, or right after the read that is running."""
        self.reads()

    def query(self) -> ActivityQuery:
        """What the search bar and the filters ask for."""
        text = self.search_edit.text().strip()
        wanted: dict[str, object] = {}
        if text:
            wanted[self.field_combo.currentData()] = text
        since, until = self.since_edit.date(), self.until_edit.date()
        if since != NO_DATE:
            wanted["since"] = _start_of(since)
        if until != NO_DATE:
            wanted["until"] = _start_of(until.addDays(1))  # the whole "to" day
        return ActivityQuery(
            domain=self.domain_filter.currentData() or None,
            status=self.status_filter.currentData() or None,
            limit=PAGE_SIZE,
            **wanted,  # type: ignore[arg-type]
        )

    async def refresh(self) -> None:
        """Run the search and show the rows, keeping the selected message selected."""
        store, query = self.store, self.query()
        rows, names = await run_blocking(
            lambda: (activity.search(store, query), _domain_names(store))
        )
        self._show_domains(names)
        self._show(rows)

    def _show_domains(self, names: list[str]) -> None:
        known = [self.domain_filter.itemData(i) for i in range(1, self.domain_filter.count())]
        if known == names:
            return
        chosen = self.domain_filter.currentData()
        self.domain_filter.blockSignals(True)
        self.domain_filter.clear()
        self.domain_filter.addItem("All domains", ALL)
        for name in names:
            self.domain_filter.addItem(name, name)
        self.domain_filter.setCurrentIndex(max(0, self.domain_filter.findData(chosen)))
        self.domain_filter.blockSignals(False)

    def _show(self, rows: list[ActivityRow]) -> None:
        chosen = self._wanted_message or self.selected_id()
        self.rows = rows
        more = (
            " (the newest shown; narrow the search for older ones)"
            if len(rows) >= PAGE_SIZE
            else ""
        )
        self.summary_label.setText(f"{len(rows)} message{'s' if len(rows) != 1 else ''}{more}")
        self.stack.setCurrentIndex(0 if rows else 1)
        query = self.query()
        filtered = query != ActivityQuery(limit=PAGE_SIZE)
        heading_text, text = EMPTY_FILTERED if filtered else EMPTY_UNFILTERED
        self.empty.heading_label.setText(heading_text)
        self.empty.text_label.setText(text)
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            self._fill_row(index, row)
        for column in range(len(COLUMNS) - 1):
            self.table.resizeColumnToContents(column)
            if self.table.columnWidth(column) > TEXT_COLUMN_MAX_WIDTH:
                self.table.setColumnWidth(column, TEXT_COLUMN_MAX_WIDTH)
        self.table.clearSelection()
        ids = [r.id for r in rows]
        wanted, self._wanted_message = self._wanted_message, None
        if chosen is not None and chosen in ids:
            self.table.selectRow(ids.index(chosen))
        self.table.blockSignals(False)
        if wanted is not None and wanted not in ids:
            # Asked for by its number (queue, alert) but older than the rows listed: show it.
            start_task(self.show_detail(wanted, listed=False), banner=self.banner)
            return
        self._selection_changed()

    def _fill_row(self, index: int, row: ActivityRow) -> None:
        to = ", ".join(r.address for r in row.recipients)
        cells = (
            local_time(row.accepted_at),
            status_words(row.status),
            row.mail_from,
            to,
            row.subject,
        )
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.table.setItem(index, column, item)
        colours = STATUS_COLOURS.get(_worst(row.status))
        item = self.table.item(index, STATUS_COLUMN)
        if colours is not None and item is not None:
            item.setBackground(QColor(colours[0]))
            item.setForeground(QColor(colours[1]))

    # --- the detail -----------------------------------------------------------------------------

    def selected_id(self) -> int | None:
        """The number of the message whose row is selected, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.rows):
            return None
        return self.rows[rows[0].row()].id

    def select_message(self, message_id: int) -> bool:
        """Select one message's row; False when it is not listed."""
        ids = [r.id for r in self.rows]
        if message_id not in ids:
            return False
        self.table.selectRow(ids.index(message_id))
        return True

    def _selection_changed(self) -> None:
        if not self.isVisible():
            return  # closing: Qt clears the selection while it takes the table apart
        chosen = self.selected_id()
        if chosen is None and self._unlisted:
            return  # keep showing the message asked for by number until a row is chosen
        if chosen is None:
            self.detail_for = None
            self.detail.clear()
            return
        # Reading again also on a refresh: new events (an open, a bounce) show in the timeline.
        start_task(self.show_detail(chosen), banner=self.banner)

    async def show_detail(self, message_id: int, *, listed: bool = True) -> None:
        """Read one message's headers and timeline and show them in the detail pane."""
        store = self.store
        detail = await run_blocking(lambda: activity.message_detail(store, message_id))
        if listed and self.selected_id() != message_id:
            return  # another row was chosen meanwhile
        self._unlisted = not listed
        text = describe(detail)
        if self.detail.toPlainText() != text:
            self.detail.setPlainText(text)
        self.detail_for = message_id

    # --- export -------------------------------------------------------------------------------

    def ask_export(self) -> QFileDialog:
        """Ask where to save the listed messages (a non-blocking dialog)."""
        start = Path.home() / f"postdesk-activity-{dt.date.today():%Y%m%d}.csv"
        dialog = QFileDialog(self, "Export activity", str(start), "CSV (*.csv)")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("csv")
        dialog.fileSelected.connect(lambda path: self.export(Path(path)))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    @async_slot(button="export_button")
    async def export(self, path: Path) -> None:
        """Write the listed messages to ``path`` as CSV (off the GUI thread)."""
        text = rows_csv(self.rows)
        try:
            await run_blocking(lambda: path.write_text(text, encoding="utf-8"))
        except OSError as error:
            self.action_status.setText(f"Could not save {path.name}: {error.strerror}.")
            return
        self.action_status.setText(f"Saved {len(self.rows)} messages to {path.name}.")


def open_activity(
    parent: QWidget,
    store: Store,
    *,
    domain: str | None = None,
    message_id: int | None = None,
    changes: ChangeBridge | None = None,
) -> ActivityDialog:
    """Show a new Activity window over ``parent`` (non-modal; it is deleted when closed)."""
    dialog = ActivityDialog(
        store, domain=domain, message_id=message_id, changes=changes, parent=parent
    )
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def _start_of(day: QDate) -> dt.datetime:
    """Local midnight of ``day``, in UTC (the dates the user picks are in their own time)."""
    local = dt.datetime(day.year(), day.month(), day.day()).astimezone()
    return local.astimezone(dt.UTC)


def _domain_names(store: Store) -> list[str]:
    from postdesk.core import domains

    return [d.name for d in domains.list_domains(store)]
