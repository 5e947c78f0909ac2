"""The relay's queue: what apps sent, what waits, what bounced, and the SMTP service's answers.

A non-modal window. It reloads every few seconds while open; reading and changing the queue
runs off the GUI thread (the workspace may be a PostgreSQL server across the network).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHeaderView,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from postdesk.core import domains
from postdesk.core.relay import queue
from postdesk.core.relay.queue import MessageInfo
from postdesk.core.store import Store
from postdesk.gui.asyncutil import LatestRead, busy, run_blocking, start_task
from postdesk.gui.qtutils import PAGE_MARGIN, SPACE_M, SPACE_S, hbox, label, muted, vbox
from postdesk.gui.widgets.banner import Banner
from postdesk.gui.widgets.emptystate import EmptyState
from postdesk.gui.widgets.stats_panel import heading, local_time

REFRESH_MS = 3000
DIALOG_SIZE = (1240, 660)
TABLE_STRETCH, DETAIL_STRETCH = 3, 2
PAGE_SIZE = 500
COLUMNS = (
    "Accepted",
    "From",
    "To",
    "Subject",
    "Status",
    "Attempts",
    "Next attempt",
    "Opens / clicks",
    "Last answer from the SMTP service",
)
STATUS_COLUMN = COLUMNS.index("Status")
# Long addresses and subjects give way so the answer stays in view (tooltips show them whole).
TEXT_COLUMNS = tuple(COLUMNS.index(c) for c in ("From", "To", "Subject"))
TEXT_COLUMN_MAX_WIDTH = 190
# In a narrow window they give way further, down to this, before any column leaves the view.
TEXT_COLUMN_MIN_WIDTH = 90
# The answer column starts this wide and then takes whatever room is left.
REPLY_MIN_WIDTH = 180
STATUS_WORDS = {"pending": "Pending", "sending": "Sending", "sent": "Sent", "bounced": "Bounced"}
# Fixed background/text pairs (as the status badges use), readable in light and dark themes.
STATUS_COLOURS = {
    "pending": ("#fff4dc", "#4a3300"),
    "sending": ("#e8f1fb", "#16324f"),
    "sent": ("#e3f4e6", "#1d4d27"),
    "bounced": ("#fdecea", "#5f1a12"),
}
ALL = ""
# The empty list: nothing sent yet, or nothing the filters let through.
EMPTY_UNFILTERED = (
    "No mail here",
    "Messages your apps send through the relay appear here — waiting, sent or bounced — with "
    "the answer of the SMTP service that delivered them. Point an app at the relay with an "
    "SMTP user from the SMTP Settings tab.",
)
EMPTY_FILTERED = (
    "No mail matches",
    "Nothing in the queue has this status or domain. Choose All statuses and All domains to "
    "see the rest.",
)
DELETE_QUESTION = {
    "pending": "It has not been sent yet and will not be sent.",
    "sending": "It is being handed to the SMTP service right now; it may still arrive.",
    "sent": "It was already delivered; only Postdesk's record of it goes.",
    "bounced": "It was not delivered; only Postdesk's record of it goes.",
}


def _when(at: dt.datetime | None) -> str:
    return local_time(at, never="")


def _next_attempt(message: MessageInfo) -> str:
    if message.next_attempt_at is None:
        return ""
    at = message.next_attempt_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return "Now" if at <= dt.datetime.now(dt.UTC) else _when(at)


def _attempts(message: MessageInfo) -> str:
    if message.attempts == 0:
        return "not tried yet"
    return f"{message.attempts} attempt{'s' if message.attempts != 1 else ''}"


def describe(message: MessageInfo) -> str:
    """Everything about one message, for the detail pane (the full answer included)."""
    lines = [
        f"Subject: {message.subject or '(no subject)'}",
        f"From: {message.mail_from} (domain {message.domain})",
        f"To: {', '.join(message.rcpt_tos)}",
        f"Accepted: {_when(message.accepted_at)}",
        f"Status: {STATUS_WORDS.get(message.status, message.status)}, {_attempts(message)}",
    ]
    if message.sent_at is not None:
        lines.append(f"Sent: {_when(message.sent_at)}")
    if message.next_attempt_at is not None:
        lines.append(f"Next attempt: {_next_attempt(message)}")
    lines.append(f"Size: {max(1, round(message.size / 1024))} KB")
    lines.append(f"Opens: {message.opens}   Clicks: {message.clicks}")
    lines += ["", "Last answer from the SMTP service:", message.last_reply or "(none yet)"]
    return "\n".join(lines)


class QueueDialog(QDialog):
    """Lists the relay's messages with filters, Retry now and Delete; refreshes while open."""

    def __init__(
        self,
        store: Store,
        *,
        wake: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.wake = wake
        self.messages: list[MessageInfo] = []
        self._sized_for: list[int] = []
        self._text_widths: dict[int, int] = {}  # what the address and subject columns need
        self.setWindowTitle("Relay queue")
        self.setModal(False)
        self.resize(*DIALOG_SIZE)
        self.banner = Banner()
        self.reads = LatestRead(self.refresh, banner=self.banner)
        self.summary_label = muted(label(wrap=False))
        self.status_filter = QComboBox()
        self.status_filter.addItem("All statuses", ALL)
        for status, words in STATUS_WORDS.items():
            self.status_filter.addItem(words, status)
        self.domain_filter = QComboBox()
        self.domain_filter.addItem("All domains", ALL)
        for combo in (self.status_filter, self.domain_filter):
            combo.currentIndexChanged.connect(self.reload)
        self.retry_button = QPushButton("Retry now")
        self.retry_button.setToolTip("Send a pending or bounced message at the next chance")
        self.retry_button.clicked.connect(lambda: start_task(self.retry_now(), banner=self.banner))
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self.confirm_delete)
        self.activity_button = QPushButton("Activity…")
        self.activity_button.setToolTip("The selected message's timeline, recipient by recipient")
        self.activity_button.clicked.connect(self.open_activity)
        self.action_status = muted(label(wrap=False))
        self.table = self._build_table()
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText("Select a message to see its details and the full answer.")
        self.empty = EmptyState("icons/empty-logins.png", *EMPTY_UNFILTERED)
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_split())
        self.stack.addWidget(self.empty)
        filters = hbox(
            label("Status", wrap=False),
            self.status_filter,
            SPACE_M,
            label("Domain", wrap=False),
            self.domain_filter,
            spacing=SPACE_S,
        )
        filters.addStretch(1)
        filters.addWidget(self.action_status)
        filters.addWidget(self.activity_button)
        filters.addWidget(self.retry_button)
        filters.addWidget(self.delete_button)
        intro = muted(
            label(
                "Mail your apps sent as SMTP users. Postdesk keeps trying pending messages and "
                "shows what each domain's SMTP service answered."
            )
        )
        self.setLayout(
            vbox(
                heading("Relay queue"),
                intro,
                self.banner,
                self.summary_label,
                filters,
                self.stack,
                margin=PAGE_MARGIN,
                spacing=SPACE_S,
            )
        )
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.reload)
        self._update_buttons()

    def _build_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        for column, name in enumerate(COLUMNS):  # a narrow column cuts its heading short
            table.horizontalHeaderItem(column).setToolTip(name)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setShowGrid(False)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # The answer is last and takes what is left (the detail pane shows it whole).
        header.setStretchLastSection(True)
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

    # --- loading ------------------------------------------------------------------------------

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

    async def refresh(self) -> None:
        """Read the queue with the chosen filters and show it, keeping the selected message."""
        status = self.status_filter.currentData() or None
        domain = self.domain_filter.currentData() or None
        store = self.store
        messages, counts, names = await run_blocking(
            lambda: (
                queue.list_messages(store, status=status, domain=domain, limit=PAGE_SIZE),
                queue.counts(store),
                [d.name for d in domains.list_domains(store)],
            )
        )
        self._show_domains(names)
        self._show_summary(counts)
        self._show(messages)

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

    def _show_summary(self, counts: dict[str, int]) -> None:
        parts = [
            f"{counts.get(status, 0)} {words.lower()}"
            for status, words in STATUS_WORDS.items()
            if counts.get(status) or status != "sending"  # "0 sending" is only noise
        ]
        self.summary_label.setText("In the queue: " + " · ".join(parts))

    def _show(self, messages: list[MessageInfo]) -> None:
        chosen = self.selected()
        self.messages = messages
        self.stack.setCurrentIndex(0 if messages else 1)
        filtered = bool(self.status_filter.currentData() or self.domain_filter.currentData())
        heading_text, text = EMPTY_FILTERED if filtered else EMPTY_UNFILTERED
        self.empty.heading_label.setText(heading_text)
        self.empty.text_label.setText(text)
        self.table.blockSignals(True)
        self.table.setRowCount(len(messages))
        for row, message in enumerate(messages):
            self._fill_row(row, message)
        if [m.id for m in messages] != self._sized_for:
            # Only when the rows change: a refresh every few seconds must not undo the user's
            # own column widths.
            self._size_columns()
            self._sized_for = [m.id for m in messages]
        self.table.clearSelection()
        ids = [m.id for m in messages]
        if chosen is not None and chosen.id in ids:
            self.table.selectRow(ids.index(chosen.id))
        self.table.blockSignals(False)
        self._selection_changed()

    def _size_columns(self) -> None:
        self.table.resizeColumnsToContents()
        self._text_widths = {c: self.table.columnWidth(c) for c in TEXT_COLUMNS}
        self._fit_text_columns()
        self.table.setColumnWidth(len(COLUMNS) - 1, REPLY_MIN_WIDTH)

    def _fit_text_columns(self) -> None:
        """Narrow the address and subject columns so the status, attempts and next attempt
        stay in view without scrolling sideways (their tooltips show them whole)."""
        if not self._text_widths:
            return
        table = self.table
        fixed = sum(table.columnWidth(c) for c in range(len(COLUMNS) - 1) if c not in TEXT_COLUMNS)
        room = table.viewport().width() - fixed - REPLY_MIN_WIDTH
        needed = sorted(self._text_widths.items(), key=lambda item: item[1])
        for left, (column, width) in enumerate(needed):
            # A column that needs less than its share leaves the rest to the wider ones.
            share = room // (len(needed) - left)
            width = min(width, TEXT_COLUMN_MAX_WIDTH, max(share, TEXT_COLUMN_MIN_WIDTH))
            table.setColumnWidth(column, width)
            room -= width

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self._fit_text_columns()

    def _fill_row(self, row: int, message: MessageInfo) -> None:
        reply = (message.last_reply or "").replace("\n", " ")
        cells = (
            _when(message.accepted_at),
            message.mail_from,
            ", ".join(message.rcpt_tos),
            message.subject,
            STATUS_WORDS.get(message.status, message.status),
            str(message.attempts),
            _next_attempt(message),
            f"{message.opens} / {message.clicks}",
            reply,
        )
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.table.setItem(row, column, item)
        colours = STATUS_COLOURS.get(message.status)
        status_item = self.table.item(row, STATUS_COLUMN)
        if colours is not None and status_item is not None:
            status_item.setBackground(QColor(colours[0]))
            status_item.setForeground(QColor(colours[1]))

    # --- selection and actions ----------------------------------------------------------------

    def selected(self) -> MessageInfo | None:
        """The message whose row is selected, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.messages):
            return None
        return self.messages[rows[0].row()]

    def select_message(self, message_id: int) -> bool:
        """Select the row of one message; False when it is not listed."""
        for row, message in enumerate(self.messages):
            if message.id == message_id:
                self.table.selectRow(row)
                return True
        return False

    def _selection_changed(self) -> None:
        message = self.selected()
        if message is None:
            self.detail.clear()
        elif self.detail.toPlainText() != describe(message):
            self.detail.setPlainText(describe(message))
        self._update_buttons()

    def _update_buttons(self) -> None:
        message = self.selected()
        self.retry_button.setEnabled(
            message is not None and message.status in ("pending", "bounced")
        )
        self.delete_button.setEnabled(message is not None)
        self.activity_button.setEnabled(message is not None)

    def open_activity(self) -> QDialog | None:
        """Show the selected message in the Activity window, its timeline open."""
        from postdesk.gui.dialogs.activity import open_activity

        message = self.selected()
        if message is None:
            return None
        return open_activity(self, self.store, message_id=message.id)

    async def retry_now(self) -> None:
        """Put the selected pending or bounced message back in line to be sent now."""
        message = self.selected()
        if message is None:
            return
        store = self.store
        with busy(self.retry_button, self.action_status, "Putting it back in line…"):
            found = await run_blocking(lambda: queue.retry_now(store, message.id))
        if not found:
            self.banner.show_message(
                "info",
                "That message was already sent or removed meanwhile.",
                "The list now shows where it is.",
            )
        elif self.wake is not None:
            self.wake()
        await self.refresh()

    def confirm_delete(self) -> QMessageBox | None:
        """Ask before deleting the selected message (a non-blocking question)."""
        message = self.selected()
        if message is None:
            return None
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete this message?",
            f"Delete “{message.subject or '(no subject)'}” to {', '.join(message.rcpt_tos)}?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(DELETE_QUESTION.get(message.status, ""))
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered() -> None:
            if box.clickedButton() is delete:
                start_task(self.delete(message.id), banner=self.banner)

        box.finished.connect(answered)
        box.open()
        return box

    async def delete(self, message_id: int) -> None:
        """Remove one message from the queue, then show the list again."""
        store = self.store
        with busy(self.delete_button, self.action_status, "Deleting…"):
            await run_blocking(lambda: queue.delete_message(store, message_id))
        await self.refresh()
