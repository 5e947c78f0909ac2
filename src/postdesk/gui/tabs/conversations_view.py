"""The open conversation: its messages oldest first, and a box to reply from the domain."""

from __future__ import annotations

import asyncio
import email.utils
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QWidget,
)

from postdesk.gui.asyncutil import async_slot
from postdesk.gui.qtutils import SPACE_M, SPACE_S, TITLE_FONT_SCALE, hbox, label, muted, vbox
from postdesk.gui.tabs.conversations_message import MessageCard
from postdesk.gui.widgets.banner import Banner

if TYPE_CHECKING:
    from postdesk.core.conversations import ThreadView
    from postdesk.core.store import Store

REPLY_LINES = 4
FROM_MIN_CHARS = 16
SUBJECT_SCALE = (TITLE_FONT_SCALE + 1) / 2


def _read_thread(store: Store, thread_id: int, mark_read: bool) -> ThreadView:
    from postdesk.core import conversations

    if mark_read:
        conversations.mark_read(store, thread_id)
    return conversations.get_thread(store, thread_id)


def reply_addresses(thread: ThreadView) -> list[str]:
    """The addresses on the thread's domain the received mail was sent to, newest first."""
    domain = thread.domain.lower()
    found: dict[str, None] = {}
    for message in reversed(thread.messages):
        headers = [message.to_header, message.cc_header]
        if message.direction == "out":
            headers = [message.from_header]
        for _name, address in email.utils.getaddresses(headers):
            host = address.rpartition("@")[2].lower()
            if host == domain or host.endswith("." + domain):
                found.setdefault(address.lower())
    return list(found)


class ThreadPanel(QStackedWidget):
    """Shows one thread; ``thread_changed`` when it was read or a reply went out."""

    thread_changed = Signal()

    def __init__(self, banner: Banner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = banner
        self.store: Store | None = None
        self.thread: ThreadView | None = None
        self.cards: list[MessageCard] = []
        self.nothing_open = muted(label("Choose a conversation to read it here."))
        self.nothing_open.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(self.nothing_open)
        self.addWidget(self._build_thread_view())

    def _build_thread_view(self) -> QWidget:
        self.subject_label = label(selectable=True)
        font = self.subject_label.font()
        font.setPointSizeF(font.pointSizeF() * SUBJECT_SCALE)
        font.setBold(True)
        self.subject_label.setFont(font)
        self.count_label = muted(label(wrap=False))
        self.unread_button = QPushButton("Mark unread")
        self.unread_button.setToolTip("Show this conversation in bold again, to come back to it")
        self.unread_button.clicked.connect(self.mark_unread)
        self.messages_box = QWidget()
        self.messages_layout = vbox(spacing=SPACE_M)
        self.messages_box.setLayout(self.messages_layout)
        self.scroller = QScrollArea()
        self.scroller.setWidget(self.messages_box)
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        reply_box = self._build_reply_box()
        # Spare height goes to the messages, never to the reply box.
        reply_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        header = hbox(self.subject_label, self.count_label, self.unread_button, spacing=SPACE_S)
        header.setStretch(0, 1)
        layout = vbox(
            header,
            self.scroller,
            reply_box,
            spacing=SPACE_S,
        )
        layout.setStretch(1, 1)
        view = QWidget()
        view.setLayout(layout)
        return view

    def _build_reply_box(self) -> QGroupBox:
        self.from_combo = QComboBox()
        self.from_combo.setAccessibleName("Reply from")
        self.from_combo.setEditable(True)
        self.from_combo.setMinimumContentsLength(FROM_MIN_CHARS)
        self.reply_edit = QPlainTextEdit()
        self.reply_edit.setAccessibleName("Reply")
        self.reply_edit.setPlaceholderText(
            "Write your reply. The message you answer is quoted below it when it is sent."
        )
        self.reply_edit.setTabChangesFocus(True)
        self.reply_edit.installEventFilter(self)  # Ctrl+Enter sends (Enter is a new line)
        line = self.reply_edit.fontMetrics().lineSpacing()
        self.reply_edit.setFixedHeight(line * REPLY_LINES)
        self.reply_edit.textChanged.connect(self._update_send)
        self.send_button = QPushButton("Send reply")
        self.send_button.setToolTip(
            "Queued through the domain's SMTP service, DKIM-signed (Ctrl+Enter in the reply)"
        )
        self.send_button.clicked.connect(self.send_reply)
        self.reply_status = muted(label(wrap=False))
        sender = hbox(label("From", wrap=False), self.from_combo, spacing=SPACE_S)
        sender.setStretch(1, 1)
        bottom = hbox(self.reply_status, spacing=SPACE_S)
        bottom.addStretch(1)
        bottom.addWidget(self.send_button)
        box = QGroupBox("Reply")
        box.setLayout(vbox(sender, self.reply_edit, bottom, margin=SPACE_S, spacing=SPACE_S))
        self._update_send()
        return box

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+Enter in the reply sends it, as the Send reply button would."""
        if (
            watched is self.reply_edit
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            if self.send_button.isEnabled():
                self.send_reply()
            return True
        return super().eventFilter(watched, event)

    @property
    def thread_id(self) -> int | None:
        return self.thread.id if self.thread is not None else None

    def clear(self) -> None:
        """Show nothing (another domain was chosen)."""
        self.thread = None
        self._set_cards([])
        self.setCurrentWidget(self.nothing_open)

    async def open_thread(self, thread_id: int) -> None:
        """Read the thread (marking it read) off the GUI thread and show it."""
        assert self.store is not None
        thread = await asyncio.to_thread(_read_thread, self.store, thread_id, True)
        changed = self.thread_id != thread_id
        self._show(thread, new=changed)
        self.thread_changed.emit()

    async def reload(self) -> None:
        """Read the open thread again (new mail arrived in it)."""
        if self.store is None or self.thread is None:
            return
        thread_id = self.thread.id
        thread = await asyncio.to_thread(_read_thread, self.store, thread_id, self.isVisible())
        if self.thread_id == thread_id:
            self._show(thread, new=False)

    def _show(self, thread: ThreadView, *, new: bool) -> None:
        if not new and self.thread is not None and self.thread.messages == thread.messages:
            return  # unchanged: keep the cards (and images the user asked for)
        self.thread = thread
        self.subject_label.setText(thread.subject or "(no subject)")
        count = len(thread.messages)
        self.count_label.setText(f"{count} messages" if count != 1 else "1 message")
        self._set_cards([MessageCard(self.store, m, self.banner) for m in thread.messages])  # type: ignore[arg-type]
        if new:
            self._fill_from(thread)
            self.reply_edit.clear()
            self.reply_status.clear()
        self.setCurrentIndex(1)
        last = self.cards[-1] if self.cards else None
        if last is not None:
            # The newest message is the one to read first.
            self.scroller.ensureWidgetVisible(last)

    def _set_cards(self, cards: list[MessageCard]) -> None:
        for card in self.cards:
            self.messages_layout.removeWidget(card)
            card.deleteLater()
        while self.messages_layout.count():
            self.messages_layout.takeAt(0)
        self.cards = cards
        for card in cards:
            self.messages_layout.addWidget(card)
        self.messages_layout.addStretch(1)

    def _fill_from(self, thread: ThreadView) -> None:
        self.from_combo.clear()
        for address in reply_addresses(thread):
            self.from_combo.addItem(address)
        self.from_combo.lineEdit().setPlaceholderText(f"you@{thread.domain}")

    def _update_send(self) -> None:
        self.send_button.setEnabled(bool(self.reply_edit.toPlainText().strip()))

    @async_slot(button="unread_button")
    async def mark_unread(self) -> None:
        """Mark the open conversation unread (it is read again when next opened)."""
        from postdesk.core import conversations

        if self.store is None or self.thread is None:
            return
        await asyncio.to_thread(conversations.mark_read, self.store, self.thread.id, False)
        self.thread_changed.emit()

    @async_slot(button="send_button")
    async def send_reply(self) -> None:
        """Queue the reply through the domain's service; it then shows in the thread."""
        from postdesk.core import replies

        if self.store is None or self.thread is None:
            return
        store, thread_id = self.store, self.thread.id
        sender = self.from_combo.currentText().strip()
        text = self.reply_edit.toPlainText()
        self.reply_status.setText("Sending…")
        self.banner.show_message("info", f"Sending your reply from {sender}…")
        try:
            sent = await asyncio.to_thread(replies.send_reply, store, thread_id, sender, text)
        except BaseException:
            self.reply_status.clear()
            raise
        self.reply_edit.clear()
        self.reply_status.setText("Sent.")
        self.banner.show_message(
            "info",
            f"Reply to {sent.to} queued from {sender}",
            "The relay hands it to the domain's SMTP service; it counts in today's usage.",
        )
        await self.reload()
        self.thread_changed.emit()
