"""The list of conversations of one domain: newest first, unread in bold, one row each."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QWidget,
)

from postdesk.gui.qtutils import SPACE_S, SPACE_XS, hbox, label, muted, vbox
from postdesk.gui.widgets.elided import ElidingLabel

if TYPE_CHECKING:
    from postdesk.core.conversations import ThreadSummary

THREAD_ID_ROLE = Qt.ItemDataRole.UserRole
SNIPPET_CHARS = 120


def short_time(at: dt.datetime, now: dt.datetime | None = None) -> str:
    """Today's time as 14:05, this year's days as 3 Nov, older ones with the year."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)  # stored times are UTC
    local = at.astimezone()
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    if local.date() == now.date():
        return local.strftime("%H:%M")
    if local.year == now.year:
        return f"{local.day} {local:%b}"
    return f"{local.day} {local:%b %Y}"


def sender_name(header: str) -> str:
    """The display name of a From header, else its address ("Ann <ann@x>" → "Ann")."""
    name, address = email.utils.parseaddr(header)
    return name or address or header


def _bold(widget: QLabel, on: bool) -> None:
    font = QFont(widget.font())
    font.setWeight(QFont.Weight.Bold if on else QFont.Weight.Normal)
    widget.setFont(font)


class ThreadRow(QWidget):
    """Sender and time on the first line, subject, then a snippet of the newest message."""

    def __init__(self, thread: ThreadSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thread_id = thread.id
        who = thread.correspondent or thread.last_from  # the customer, even after a reply
        self.message_count = thread.message_count
        self.unread_count = thread.unread_count
        # Long names, subjects and snippets end in "…" at the list's edge instead of widening
        # the row (which would push the time out of sight); the tooltip has them whole.
        self.sender_label = ElidingLabel(sender_name(who) or "(no sender)")
        self.time_label = muted(label(short_time(thread.last_at), wrap=False))
        self.count_label = muted(label(wrap=False))
        self.subject_label = ElidingLabel(thread.subject or "(no subject)")
        snippet = " ".join(thread.snippet.split())[:SNIPPET_CHARS]
        self.snippet_label = muted(ElidingLabel(snippet))
        first = hbox(spacing=SPACE_XS)
        first.addWidget(self.sender_label, 1)
        first.addWidget(self.count_label)
        first.addWidget(self.time_label)
        self.setLayout(
            vbox(first, self.subject_label, self.snippet_label, margin=SPACE_S, spacing=2)
        )
        self.setToolTip(f"{thread.subject}\n{who}")
        self.set_unread(thread.unread_count > 0)

    def set_unread(self, unread: bool) -> None:
        """Bold and "N new" while unread; a conversation just read loses both at once."""
        self.unread = unread
        if not unread:
            self.unread_count = 0
        count = f"({self.message_count})" if self.message_count > 1 else ""
        if unread:
            count = f"{count} · {max(1, self.unread_count)} new".lstrip(" ·")
        self.count_label.setText(count)
        for widget in (self.sender_label, self.subject_label):
            _bold(widget, unread)
        self.setAccessibleName(("Unread: " if unread else "") + self.subject_label.text())


class ThreadList(QListWidget):
    """Emits ``thread_chosen(thread_id)`` when the user opens a conversation."""

    thread_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Conversations")
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setUniformItemSizes(True)
        self.currentItemChanged.connect(self._current_changed)

    def show_threads(self, threads: list[ThreadSummary]) -> None:
        """Show ``threads`` in their order (newest first), keeping the selection if still there."""
        current = self.current_thread()
        self.blockSignals(True)
        self.clear()
        for thread in threads:
            item = QListWidgetItem()
            item.setData(THREAD_ID_ROLE, thread.id)
            row = ThreadRow(thread)
            item.setSizeHint(QSize(0, row.sizeHint().height()))
            self.addItem(item)
            self.setItemWidget(item, row)
            if thread.id == current:
                self.setCurrentItem(item)
        self.blockSignals(False)

    def rows(self) -> list[ThreadRow]:
        """The row widgets, top to bottom."""
        return [self.itemWidget(self.item(i)) for i in range(self.count())]  # type: ignore[misc]

    def row_of(self, thread_id: int) -> ThreadRow | None:
        return next((row for row in self.rows() if row.thread_id == thread_id), None)

    def current_thread(self) -> int | None:
        item = self.currentItem()
        return int(item.data(THREAD_ID_ROLE)) if item is not None else None

    def select_thread(self, thread_id: int) -> None:
        """Open ``thread_id`` as if the user had clicked it."""
        for i in range(self.count()):
            if self.item(i).data(THREAD_ID_ROLE) == thread_id:
                self.setCurrentRow(i)
                return

    def mark_read(self, thread_id: int) -> None:
        row = self.row_of(thread_id)
        if row is not None:
            row.set_unread(False)

    def _current_changed(self, item: QListWidgetItem | None, _previous: object) -> None:
        if item is not None:
            self.thread_chosen.emit(int(item.data(THREAD_ID_ROLE)))
